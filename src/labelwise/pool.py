"""Labeling state of a pool: which items are labeled, with what, by whom and in which round.

A :class:`Pool` covers the ``N`` items of one dataset, addressed by whole-dataset indices
``0..N-1`` (the one index space of DESIGN.md). It keeps the state in numpy arrays and,
when it is backed by a file, mirrors every change into an embedded SQLite database.

Durability
----------
A file-backed pool commits every :meth:`Pool.label` (and :meth:`~Pool.unlabel`,
:meth:`~Pool.relabel`, :meth:`~Pool.next_round`) in one SQLite transaction *before* it
returns, and only then updates the in-memory arrays. A process killed at any point
therefore loses no acknowledged label, and a batch is written either completely or not
at all.

The database uses ``journal_mode=WAL`` with ``synchronous=FULL``. WAL appends each
commit to a log instead of rewriting pages, so a commit costs one sequential write and
readers (a reporting CLI, the web app) never block the labeler. ``synchronous=NORMAL``
would already survive a killed *process* in WAL mode, but it does not fsync the log at
commit time, so an OS crash or power cut could roll back the last few acknowledged
labels; ``FULL`` adds one fsync per commit. Labels arrive at human speed (or in whole
batches in a simulation), so that fsync is cheap next to what it protects: a person's
work. Simulations that label millions of items per second should use an in-memory pool.

Several processes
-----------------
Any number of processes may open the same file. Every write is checked against what this
``Pool`` last read: :meth:`Pool.label` only fills items that are still unlabeled in the
file, :meth:`~Pool.relabel` and :meth:`~Pool.unlabel` only change a label that is still
the one this process saw (same class, same timestamp), and :meth:`~Pool.next_round` only
advances from the round this process saw. Otherwise nothing is written and
:class:`~labelwise.errors.AlreadyLabeledError` (label) or
:class:`~labelwise.errors.PoolConflictError` (the others) asks for :meth:`~Pool.refresh`.
A writer waits up to :data:`LOCK_TIMEOUT` seconds for another's lock, then raises
:class:`~labelwise.errors.PoolBusyError`. Two :meth:`Pool.create` calls on one path
never both succeed (the second gets ``FileExistsError``).

Copies and backups
------------------
While a pool is open, its latest commits may live in the ``-wal`` file beside it; copying
the ``.sqlite`` file alone (``cp``) can miss them. :meth:`Pool.close` folds the log back
into the file when no other process has it open; to copy an open pool use
:meth:`Pool.save`.

File layout (schema version 1)
------------------------------
``meta(key TEXT PRIMARY KEY, value TEXT)``
    JSON-encoded values: ``schema_version`` (1), ``created_at`` (ISO 8601, UTC),
    ``created_by`` (labelwise version), ``n_items``, ``classes``, ``has_keys`` and
    ``current_round``.
``items(idx INTEGER PRIMARY KEY, key TEXT, label INTEGER NOT NULL, round INTEGER NOT NULL,
annotator TEXT, ts REAL)``
    One row per item; ``label`` is the class position (``-1`` = unlabeled), ``ts`` the
    labeling time in seconds since the epoch. ``idx`` is the rowid, so a row costs a few
    bytes when the item is unlabeled and has no key.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import json
import numbers
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from labelwise._validation import RNGLike, check_indices, check_rng
from labelwise.errors import (
    AlreadyLabeledError,
    BudgetError,
    IndexValidationError,
    PoolBusyError,
    PoolConflictError,
    SchemaVersionError,
    UnknownClassError,
)
from labelwise.select._selection import Selection

if TYPE_CHECKING:
    from typing import Self

__all__ = ["SCHEMA_VERSION", "LabelRecord", "Pool"]

#: Version of the SQLite layout written by this module.
SCHEMA_VERSION = 1

ClassValue = int | str
PathLike = str | os.PathLike[str]

_UNLABELED = -1
_MAX_SHOWN_CLASSES = 20

#: Seconds a write waits for another process's write lock before :class:`PoolBusyError`.
#: One ``label`` call of 10^6 items holds the lock for ~10 s on a slow disk.
LOCK_TIMEOUT = 60.0


@dataclass(frozen=True)
class LabelRecord:
    """The label of one item, as returned by :meth:`Pool.history`."""

    index: int
    """Whole-dataset index of the item."""
    label: ClassValue
    """The class value (not its position)."""
    round: int
    """Round in which the item was labeled."""
    annotator: str | None
    """Who labeled it (``None`` when not recorded)."""
    timestamp: float
    """When the label was written (or last corrected), seconds since the epoch (UTC)."""


def _check_classes(classes: Any) -> tuple[ClassValue, ...]:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        raise TypeError(
            f"classes must be a sequence of class values (ints or strings), got {classes!r}"
        )
    out: list[ClassValue] = []
    for c in classes:
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, (numbers.Integral, np.integer)) and not isinstance(c, (bool, np.bool_)):
            out.append(int(c))
        else:
            raise TypeError(f"classes must hold ints or strings, got {c!r} ({type(c).__name__})")
    if not out:
        raise ValueError("classes is empty; a pool needs at least one class")
    kinds = {type(c) for c in out}
    if len(kinds) > 1:
        raise TypeError(
            f"classes mixes ints and strings ({out[:_MAX_SHOWN_CLASSES]!r}); use one kind"
        )
    if len(set(out)) != len(out):
        seen: set[ClassValue] = set()
        dup: ClassValue = out[0]
        for c in out:
            if c in seen:
                dup = c
                break
            seen.add(c)
        raise ValueError(f"classes must be unique, but {dup!r} appears more than once")
    return tuple(out)


def _check_n_items(n_items: Any) -> int:
    if isinstance(n_items, bool) or not isinstance(n_items, (numbers.Integral, np.integer)):
        raise TypeError(f"n_items must be a positive integer, got {n_items!r}")
    if int(n_items) < 1:
        raise ValueError(f"n_items must be >= 1, got {int(n_items)}")
    return int(n_items)


def _check_keys(keys: Any, n_items: int) -> tuple[str, ...] | None:
    if keys is None:
        return None
    if isinstance(keys, str):
        raise TypeError("keys must be a sequence of strings (one per item), got a single string")
    out = tuple(keys)
    if len(out) != n_items:
        raise ValueError(f"keys has {len(out)} entries but n_items is {n_items}")
    for i, k in enumerate(out):
        if not isinstance(k, str):
            raise TypeError(f"keys must be strings; keys[{i}] is {k!r} ({type(k).__name__})")
    return out


def _check_annotator(annotator: Any) -> str | None:
    if annotator is not None and not isinstance(annotator, str):
        raise TypeError(f"annotator must be a string or None, got {annotator!r}")
    if annotator is not None:
        try:
            annotator.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"annotator {annotator!r} is not valid Unicode text ({exc.reason} at "
                f"position {exc.start}); pass a plain string"
            ) from None
    return annotator


def _fmt_classes(classes: Sequence[ClassValue]) -> str:
    shown = list(classes[:_MAX_SHOWN_CLASSES])
    more = f" ... ({len(classes)} in all)" if len(classes) > _MAX_SHOWN_CLASSES else ""
    return f"{shown!r}{more}"


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``folder`` for the duration (a no-op without ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a million result tuples are built.

    Rows of ints, strings and floats form no cycles, but each allocation counts towards the
    collector's thresholds, so it traverses the growing list again and again: ~40% of
    opening a fully labeled 10^6-item pool. The previous state is restored on exit (also on
    errors, and left alone if the caller had already disabled the collector)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _remove_sidecars(path: Path) -> None:
    """Remove SQLite WAL/shared-memory files left next to ``path`` (stale or orphaned)."""
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.unlink()


class Pool:
    """Labeling state of the ``N`` items of one dataset.

    Parameters
    ----------
    n_items : int
        Number of items ``N``; items are addressed by whole-dataset indices ``0..N-1``.
    classes : sequence of int or sequence of str
        The ordered class values. Labels are stored as class positions ``0..C-1``;
        :meth:`label` accepts class values and maps them.
    keys : sequence of str, optional
        One identifier per item (e.g. a file path), for the labeling app and the CLI.

    Notes
    -----
    ``Pool(...)`` builds an in-memory pool; :meth:`create` and :meth:`open` give a pool
    backed by an SQLite file in which every change is committed before the call returns
    (see the module docstring). :meth:`save` writes any pool to a new file.

    One ``Pool`` object should be the writer of a file. Writes are guarded against other
    writers (a label written by another process makes :meth:`label` fail rather than
    overwrite it), but the in-memory view only reflects changes from other processes
    after :meth:`refresh`.

    Examples
    --------
    >>> pool = Pool(5, ["cat", "dog"])
    >>> pool.label([0, 3], ["dog", "cat"], annotator="ann")
    >>> pool.labels_of([0, 1, 3]).tolist()
    [1, -1, 0]
    >>> pool.unlabeled_indices().tolist()
    [1, 2, 4]
    """

    def __init__(
        self,
        n_items: int,
        classes: Sequence[ClassValue],
        *,
        keys: Sequence[str] | None = None,
    ) -> None:
        n = _check_n_items(n_items)
        self._init_state(n, _check_classes(classes), _check_keys(keys, n), current_round=0)
        self._conn: sqlite3.Connection | None = None
        self._path: Path | None = None
        self._closed = False
        self._created_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self._lock = threading.RLock()

    def _init_state(
        self,
        n: int,
        classes: tuple[ClassValue, ...],
        keys: tuple[str, ...] | None,
        current_round: int,
    ) -> None:
        self._n = n
        self._classes = classes
        self._class_pos: dict[ClassValue, int] = {c: i for i, c in enumerate(classes)}
        self._str_classes = isinstance(classes[0], str)
        self._keys = keys
        self._has_keys = keys is not None
        self._labels = np.full(n, _UNLABELED, dtype=np.int64)
        self._rounds = np.full(n, _UNLABELED, dtype=np.int64)
        self._annotators = np.full(n, None, dtype=object)
        self._timestamps = np.full(n, np.nan, dtype=np.float64)
        self._n_labeled = 0
        self._round = current_round

    # ------------------------------------------------------------------ files

    @classmethod
    def create(
        cls,
        path: PathLike,
        n_items: int,
        classes: Sequence[ClassValue],
        *,
        keys: Sequence[str] | None = None,
        overwrite: bool = False,
    ) -> Pool:
        """Create a new, empty pool file and open it.

        All ``N`` rows are inserted in one transaction into a temporary file that is then
        renamed to ``path``, so a crash during creation never leaves a half-written pool.

        Parameters
        ----------
        path : str or os.PathLike
            The SQLite file to create.
        n_items, classes, keys
            As for :class:`Pool`.
        overwrite : bool, default False
            Replace an existing file. Never overwrite a pool that is open elsewhere.

        Returns
        -------
        Pool
            A file-backed pool; close it (or use ``with``) when done.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False.
        """
        mem = cls(n_items, classes, keys=keys)
        mem._write_file(Path(path), overwrite=overwrite)
        return cls.open(path)

    @classmethod
    def open(cls, path: PathLike) -> Pool:
        """Open a pool file written by :meth:`create` or :meth:`save`.

        Loads the labels of the labeled items with one ``SELECT``; keys are read on first
        access of :attr:`keys`.

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        SchemaVersionError
            The file is not a labelwise pool, or was written with another schema version.
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(
                f"no pool file at {str(p)!r}; create one with Pool.create(path, n_items, classes)"
            )
        conn = sqlite3.connect(
            p, isolation_level=None, check_same_thread=False, timeout=LOCK_TIMEOUT
        )
        try:
            meta = cls._read_meta(conn, p)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self = cls.__new__(cls)
            self._init_state(
                meta["n_items"], meta["classes"], None, current_round=meta["current_round"]
            )
            self._has_keys = meta["has_keys"]
            self._created_at = str(meta.get("created_at", ""))
            self._conn = conn
            self._path = p
            self._closed = False
            self._lock = threading.RLock()
            self._load_labels()
        except BaseException:
            conn.close()
            raise
        return self

    @staticmethod
    def _read_meta(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
        try:
            rows = conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as exc:
            raise SchemaVersionError(
                f"{str(path)!r} is not a labelwise pool file ({exc}); "
                "create pools with Pool.create() or Pool.save()"
            ) from exc
        damaged = f"{str(path)!r} is a damaged pool file"
        try:
            meta = {k: json.loads(v) for k, v in rows}
        except (TypeError, ValueError) as exc:
            raise SchemaVersionError(f"{damaged}: its meta table is not JSON ({exc})") from exc
        version = meta.get("schema_version")
        if version is None:
            raise SchemaVersionError(
                f"{str(path)!r} has no schema_version in its meta table, so it is not a "
                "labelwise pool file; create pools with Pool.create() or Pool.save()"
            )
        if type(version) is not int:
            raise SchemaVersionError(
                f"{damaged}: its schema_version is {version!r}, not a version number"
            )
        if version != SCHEMA_VERSION:
            if version > SCHEMA_VERSION:
                hint = (
                    f"it was written by a newer labelwise ({meta.get('created_by', '?')}); "
                    "upgrade labelwise (pip install -U labelwise) to open it"
                )
            else:
                hint = (
                    "it was written by an older labelwise; open it with that version and "
                    "export the labels, or recreate the pool"
                )
            raise SchemaVersionError(
                f"{str(path)!r} has pool schema version {version!r}, but this labelwise "
                f"reads schema version {SCHEMA_VERSION}: {hint}"
            )
        missing = {"n_items", "classes", "current_round", "has_keys"} - meta.keys()
        if missing:
            raise SchemaVersionError(
                f"{str(path)!r} claims schema version {SCHEMA_VERSION} but its meta table "
                f"lacks {sorted(missing)}; the file is damaged"
            )
        try:
            meta["n_items"] = _check_n_items(meta["n_items"])
            meta["classes"] = _check_classes(meta["classes"])
        except (TypeError, ValueError) as exc:
            raise SchemaVersionError(f"{damaged}: {exc}") from exc
        rnd, has_keys = meta["current_round"], meta["has_keys"]
        if type(rnd) is not int or rnd < 0 or type(has_keys) is not bool:
            raise SchemaVersionError(
                f"{damaged}: current_round {rnd!r} (expected an int >= 0) or has_keys "
                f"{has_keys!r} (expected true / false)"
            )
        return meta

    def _load_labels(self) -> None:
        assert self._conn is not None
        where = f"{str(self._path)!r}"
        try:
            count, first, last = self._conn.execute(
                "SELECT count(*), min(idx), max(idx) FROM items"
            ).fetchone()
            with _cyclic_gc_paused():
                rows = self._conn.execute(
                    "SELECT idx, label, round, annotator, ts FROM items WHERE label != -1"
                ).fetchall()
                columns = tuple(zip(*rows, strict=True)) if rows else ()
        except sqlite3.DatabaseError as exc:
            raise SchemaVersionError(
                f"{where} is a damaged pool file: its items table cannot be read ({exc})"
            ) from exc
        if (count, first, last) != (self._n, 0, self._n - 1):
            raise SchemaVersionError(
                f"{where} declares {self._n} items but its items table has {count} rows "
                f"(indices {first}..{last}); the file is damaged"
            )
        self._labels.fill(_UNLABELED)
        self._rounds.fill(_UNLABELED)
        self._annotators.fill(None)
        self._timestamps.fill(np.nan)
        if rows:
            idx, lab, rnd, ann, ts = columns
            ia = np.fromiter(idx, dtype=np.int64, count=len(rows))
            try:
                la = np.fromiter(lab, dtype=np.int64, count=len(rows))
                rounds = np.fromiter(rnd, dtype=np.int64, count=len(rows))
            except (TypeError, ValueError) as exc:
                raise SchemaVersionError(
                    f"{where} is a damaged pool file: a label or round is not an integer"
                ) from exc
            if int(la.max()) >= len(self._classes) or int(la.min()) < 0:
                bad = int(la.max()) if int(la.max()) >= len(self._classes) else int(la.min())
                raise SchemaVersionError(
                    f"{where} holds label position {bad} but has {len(self._classes)} "
                    "classes (positions 0..C-1, -1 = unlabeled); the file is damaged"
                )
            self._labels[ia] = la
            self._rounds[ia] = rounds
            self._annotators[ia] = np.array(ann, dtype=object)
            self._timestamps[ia] = np.array(
                [np.nan if t is None else t for t in ts], dtype=np.float64
            )
        self._n_labeled = len(rows)

    def refresh(self) -> None:
        """Reload the state from the file (to see changes made by another process)."""
        with self._lock:
            self._check_open()
            if self._conn is None:
                return
            meta = self._read_meta(self._conn, self._path or Path("?"))
            self._round = meta["current_round"]
            self._load_labels()

    def _write_file(self, path: Path, *, overwrite: bool) -> None:
        """Write the whole state to a new SQLite file at ``path`` (atomically).

        Holds an exclusive lock on ``path``'s folder (where the platform has ``flock``)
        from the existence check to the rename, so that two creators of one path cannot
        both succeed, and one never removes the other's ``-wal`` file."""
        with _folder_lock(path.parent):
            self._write_file_locked(path, overwrite=overwrite)

    def _write_file_locked(self, path: Path, *, overwrite: bool) -> None:
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"{str(path)!r} already exists; pass overwrite=True to replace it, "
                "or Pool.open(path) to continue with it"
            )
        if path.exists() and path.is_dir():
            raise IsADirectoryError(f"{str(path)!r} is a directory, expected a file path")
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        _remove_sidecars(tmp)
        if tmp.exists():
            tmp.unlink()
        meta = {
            "schema_version": SCHEMA_VERSION,
            "created_at": self._created_at,
            "created_by": f"labelwise {_version()}",
            "n_items": self._n,
            "classes": list(self._classes),
            "has_keys": self._has_keys,
            "current_round": self._round,
        }
        keys = self.keys
        try:
            self._fill_new_file(tmp, meta, keys)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                _remove_sidecars(tmp)
                tmp.unlink(missing_ok=True)
            raise
        _remove_sidecars(path)  # a stale WAL must never be replayed onto the new file
        os.replace(tmp, path)

    def _fill_new_file(
        self, tmp: Path, meta: dict[str, Any], keys: tuple[str, ...] | None
    ) -> None:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=OFF")  # temp file: atomicity comes from rename
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("BEGIN")
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute(
                "CREATE TABLE items (idx INTEGER PRIMARY KEY, key TEXT, "
                "label INTEGER NOT NULL DEFAULT -1, round INTEGER NOT NULL DEFAULT -1, "
                "annotator TEXT, ts REAL)"
            )
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in meta.items()],
            )
            self._insert_items(conn, keys)
            lab = np.flatnonzero(self._labels >= 0)
            conn.executemany(
                "UPDATE items SET label = ?, round = ?, annotator = ?, ts = ? WHERE idx = ?",
                (
                    (
                        int(self._labels[i]),
                        int(self._rounds[i]),
                        self._annotators[i],
                        None if np.isnan(self._timestamps[i]) else float(self._timestamps[i]),
                        int(i),
                    )
                    for i in lab
                ),
            )
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")  # persistent in the file header
        finally:
            conn.close()

    def _insert_items(self, conn: sqlite3.Connection, keys: tuple[str, ...] | None) -> None:
        """Insert the ``N`` item rows, generating them inside SQLite.

        A recursive CTE (no keys) or ``json_each`` over one JSON array (keys) builds the
        rows in C: 3.6x resp. 2.6x faster than ``executemany`` over Python tuples for
        N = 200,000 on the development machine, which matters for pools of 1e6 items.
        """
        if keys is None:
            conn.execute(
                "INSERT INTO items (idx) WITH RECURSIVE s(x) AS "
                "(SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x < ?) SELECT x FROM s",
                (self._n - 1,),
            )
            return
        try:
            conn.execute(
                "INSERT INTO items (idx, key) SELECT CAST(key AS INTEGER), value FROM json_each(?)",
                (json.dumps(keys),),
            )
        except sqlite3.OperationalError:  # pragma: no cover - SQLite built without JSON1
            conn.executemany(
                "INSERT INTO items (idx, key) VALUES (?, ?)", zip(range(self._n), keys)
            )

    def save(self, path: PathLike, *, overwrite: bool = False) -> None:
        """Write the complete state (labels, rounds, annotators, keys) to a new pool file.

        The file is written to a temporary name and renamed, so ``path`` either holds the
        previous content or the complete new one. Open it with :meth:`open`.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False.
        ValueError
            ``path`` is this pool's own file (it is saved already).
        """
        with self._lock:
            self._check_open()
            p = Path(path)
            if self._path is not None and p.resolve() == self._path.resolve():
                raise ValueError(
                    f"{str(p)!r} is this pool's own file, which already holds every "
                    "committed change; save to another path to make a copy"
                )
            self._write_file(p, overwrite=overwrite)

    def close(self) -> None:
        """Close the file (a no-op for an in-memory pool). Further calls raise ``ValueError``."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            where = f" ({str(self._path)!r})" if self._path is not None else ""
            raise ValueError(f"this pool{where} is closed; reopen it with Pool.open(path)")

    # ------------------------------------------------------------------ properties

    @property
    def path(self) -> Path | None:
        """The backing file, or ``None`` for an in-memory pool."""
        return self._path

    @property
    def n_items(self) -> int:
        """Number of items ``N``."""
        return self._n

    def __len__(self) -> int:
        return self._n

    @property
    def classes(self) -> tuple[ClassValue, ...]:
        """The ordered class values; a label's position in this tuple is what is stored."""
        return self._classes

    @property
    def n_classes(self) -> int:
        """Number of classes ``C``."""
        return len(self._classes)

    @property
    def keys(self) -> tuple[str, ...] | None:
        """Per-item identifiers (e.g. file paths), or ``None`` when the pool has none."""
        if self._has_keys and self._keys is None:
            with self._lock:
                self._check_open()
                assert self._conn is not None
                rows = self._conn.execute("SELECT key FROM items ORDER BY idx").fetchall()
                self._keys = tuple(r[0] for r in rows)
        return self._keys

    @property
    def n_labeled(self) -> int:
        """Number of labeled items."""
        return self._n_labeled

    @property
    def n_unlabeled(self) -> int:
        """Number of unlabeled items."""
        return self._n - self._n_labeled

    @property
    def current_round(self) -> int:
        """The current round (starts at 0); :meth:`label` records it unless told otherwise."""
        return self._round

    @property
    def labels(self) -> np.ndarray:
        """Class positions of all items, int64 ``[N]``, ``-1`` = unlabeled (read-only view)."""
        v = self._labels.view()
        v.flags.writeable = False
        return v

    @property
    def label_round(self) -> np.ndarray:
        """Round in which each item was labeled, int64 ``[N]``, ``-1`` = never (read-only)."""
        v = self._rounds.view()
        v.flags.writeable = False
        return v

    @property
    def annotator(self) -> np.ndarray:
        """Who labeled each item: object array ``[N]`` of str or ``None`` (a copy)."""
        return self._annotators.copy()

    def __repr__(self) -> str:
        where = f", path={str(self._path)!r}" if self._path is not None else ""
        return (
            f"Pool(n_items={self._n}, n_labeled={self._n_labeled}, "
            f"classes={_fmt_classes(self._classes)}, current_round={self._round}{where})"
        )

    # ------------------------------------------------------------------ queries

    def labeled_indices(self) -> np.ndarray:
        """Whole-dataset indices of the labeled items, ascending, int64."""
        return np.flatnonzero(self._labels >= 0).astype(np.int64, copy=False)

    def unlabeled_indices(self) -> np.ndarray:
        """Whole-dataset indices of the unlabeled items, ascending, int64."""
        return np.flatnonzero(self._labels < 0).astype(np.int64, copy=False)

    def labels_of(self, indices: Any) -> np.ndarray:
        """Class positions of ``indices`` (int64, ``-1`` for unlabeled items).

        Use :meth:`decode` to turn positions into class values.
        """
        idx = check_indices(indices, self._n, "indices")
        return self._labels[idx].copy()

    def encode(self, values: Any) -> np.ndarray:
        """Map class values to class positions (int64).

        Raises
        ------
        UnknownClassError
            A value is not one of :attr:`classes`.
        """
        return self._encode(values, "values")

    def decode(self, positions: Any) -> list[ClassValue | None]:
        """Map class positions to class values (``-1`` -> ``None``)."""
        pos = np.asarray(positions).reshape(-1)
        if pos.size and (pos.dtype.kind not in "iu"):
            raise IndexValidationError(f"positions must be integers, got dtype {pos.dtype}")
        bad = (pos < -1) | (pos >= len(self._classes))
        if bad.any():
            raise UnknownClassError(
                f"positions must lie in [-1, {len(self._classes)}) (-1 = unlabeled), "
                f"got {int(pos[bad][0])}"
            )
        return [None if p < 0 else self._classes[p] for p in pos.tolist()]

    def class_counts(self) -> dict[ClassValue, int]:
        """Number of labeled items per class, in class order (zero counts included)."""
        lab = self._labels[self._labels >= 0]
        counts = np.bincount(lab, minlength=len(self._classes))
        return {c: int(n) for c, n in zip(self._classes, counts)}

    def history(self) -> list[LabelRecord]:
        """One :class:`LabelRecord` per labeled item, in the order the labels were written.

        Items labeled in the same call share a timestamp and appear by index.
        """
        idx = self.labeled_indices()
        order = np.lexsort((idx, self._timestamps[idx]))
        return [
            LabelRecord(
                int(i),
                self._classes[int(self._labels[i])],
                int(self._rounds[i]),
                self._annotators[i],
                float(self._timestamps[i]),
            )
            for i in idx[order]
        ]

    def candidates(self, max_candidates: int | None = None, *, rng: RNGLike = None) -> np.ndarray:
        """Unlabeled indices to score this round, optionally a random subset.

        Gal et al. (2017) score a random 2,000 of the unlabeled pool per round; pass
        ``max_candidates=2000`` and a seed for the same protocol.

        Parameters
        ----------
        max_candidates : int, optional
            Cap on the number returned. ``None`` returns every unlabeled item. When the
            pool has fewer unlabeled items, all are returned.
        rng : int, numpy Generator or None
            Draws the subset (uniformly, without replacement). Unused without a cap.

        Returns
        -------
        ndarray of int64
            Whole-dataset indices, ascending. Positions into this array (what a selector
            returns when given the candidates' scores) convert back with
            :meth:`to_dataset_indices`.
        """
        unl = self.unlabeled_indices()
        if max_candidates is None:
            return unl
        if isinstance(max_candidates, bool) or not isinstance(
            max_candidates, (numbers.Integral, np.integer)
        ):
            raise BudgetError(
                f"max_candidates must be a positive integer or None, got {max_candidates!r}"
            )
        m = int(max_candidates)
        if m < 1:
            raise BudgetError(f"max_candidates must be >= 1 (or None for all), got {m}")
        if m >= unl.size:
            return unl
        gen = check_rng(rng)
        return np.sort(gen.choice(unl, size=m, replace=False))

    @overload
    def to_dataset_indices(self, selected: Selection, candidates: Any) -> Selection: ...

    @overload
    def to_dataset_indices(self, selected: Any, candidates: Any) -> np.ndarray: ...

    def to_dataset_indices(self, selected: Any, candidates: Any) -> Selection | np.ndarray:
        """Convert positions into ``candidates`` to whole-dataset indices.

        Parameters
        ----------
        selected : Selection or array of int
            What a selector returned for arrays restricted to ``candidates``.
        candidates : array of int
            The whole-dataset indices those arrays covered (from :meth:`candidates`).

        Returns
        -------
        Selection or ndarray of int64
            A :class:`~labelwise.select.Selection` with mapped indices (gains and info
            kept) when given one, else the mapped index array.
        """
        cand = check_indices(candidates, self._n, "candidates")
        if isinstance(selected, Selection):
            check_indices(selected.indices, cand.size, "selection.indices")
            return selected.map_to(cand)
        pos = check_indices(selected, cand.size, "positions")
        return cand[pos]

    # ------------------------------------------------------------------ writes

    def _encode(self, values: Any, name: str) -> np.ndarray:
        if isinstance(values, np.ndarray):
            seq = values.reshape(-1).tolist() if values.ndim <= 1 else None
            if seq is None:
                raise IndexValidationError(f"{name} must be 1-D, got shape {values.shape}")
        elif isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            seq = [values]
        else:
            seq = list(values)
        out = np.empty(len(seq), dtype=np.int64)
        want = str if self._str_classes else int
        for i, v in enumerate(seq):
            ok = (
                isinstance(v, str)
                if self._str_classes
                else (
                    isinstance(v, (numbers.Integral, np.integer))
                    and not isinstance(v, (bool, np.bool_))
                )
            )
            pos = self._class_pos.get(v) if ok else None
            if pos is None:
                raise UnknownClassError(
                    f"{name}[{i}] = {v!r} is not a class of this pool; expected one of "
                    f"{_fmt_classes(self._classes)} ({want.__name__} values"
                    + (
                        ", or pass as_positions=True for positions 0..C-1)"
                        if name == "labels"
                        else ")"
                    )
                )
            out[i] = pos
        return out

    def _check_positions(self, labels: Any) -> np.ndarray:
        arr = np.asarray(labels)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise IndexValidationError(f"labels must be 1-D, got shape {arr.shape}")
        if arr.size and arr.dtype.kind not in "iu":
            raise UnknownClassError(
                f"labels with as_positions=True must be integer class positions, got dtype "
                f"{arr.dtype}"
            )
        arr = arr.astype(np.int64)
        bad = (arr < 0) | (arr >= len(self._classes))
        if bad.any():
            raise UnknownClassError(
                f"labels with as_positions=True must lie in [0, {len(self._classes)}), got "
                f"{int(arr[bad][0])}"
            )
        return arr

    def _prepare(
        self, indices: Any, labels: Any, as_positions: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        idx = check_indices(indices, self._n, "indices")
        pos = self._check_positions(labels) if as_positions else self._encode(labels, "labels")
        if pos.size != idx.size:
            raise IndexValidationError(
                f"indices has {idx.size} entries but labels has {pos.size}; "
                "pass one label per index"
            )
        return idx, pos

    def _check_round(self, round: Any) -> int:
        if round is None:
            return self._round
        if isinstance(round, bool) or not isinstance(round, (numbers.Integral, np.integer)):
            raise TypeError(f"round must be an int or None, got {round!r}")
        r = int(round)
        if not 0 <= r <= self._round:
            raise ValueError(
                f"round must lie in [0, {self._round}] (the current round), got {r}; "
                "call next_round() to start a new round"
            )
        return r

    def label(
        self,
        indices: Any,
        labels: Any,
        *,
        round: int | None = None,
        annotator: str | None = None,
        as_positions: bool = False,
    ) -> None:
        """Label unlabeled items, all or nothing.

        Everything is validated before anything is written; a file-backed pool commits
        the whole batch in one transaction before returning.

        Parameters
        ----------
        indices : int or array of int
            Whole-dataset indices of unlabeled items; no duplicates.
        labels : class value or sequence of class values
            One label per index (class values, e.g. ``"cat"``; class positions with
            ``as_positions=True``).
        round : int, optional
            Round to record, ``0 <= round <= current_round``; default the current round.
        annotator : str, optional
            Who labeled the batch.
        as_positions : bool, default False
            ``labels`` are class positions ``0..C-1`` (e.g. a dataset's ``y``), not values.

        Raises
        ------
        IndexValidationError
            Indices non-integer, not 1-D, out of range or duplicated; or a length mismatch.
        AlreadyLabeledError
            An index is labeled already (the first such index is named); use
            :meth:`relabel` for corrections.
        UnknownClassError
            A label is not one of :attr:`classes`.
        """
        with self._lock:
            self._check_open()
            idx, pos = self._prepare(indices, labels, as_positions)
            r = self._check_round(round)
            ann = _check_annotator(annotator)
            done = self._labels[idx] >= 0
            if done.any():
                first = int(idx[np.argmax(done)])
                stale = ", or refresh() if another process may have unlabeled it"
                raise AlreadyLabeledError(
                    f"item {first} is already labeled as "
                    f"{self._classes[int(self._labels[first])]!r} ({int(done.sum())} of the "
                    f"{idx.size} indices are labeled); nothing was written. Use relabel() to "
                    f"correct a label{'' if self._conn is None else stale}"
                )
            if idx.size == 0:
                return
            ts = time.time()
            if self._conn is not None:
                self._write(
                    "UPDATE items SET label = ?, round = ?, annotator = ?, ts = ? "
                    "WHERE idx = ? AND label = -1",
                    [(int(p), r, ann, ts, int(i)) for i, p in zip(idx, pos)],
                    idx,
                    "labeled by another process since this Pool read the file",
                    AlreadyLabeledError,
                )
            self._labels[idx] = pos
            self._rounds[idx] = r
            self._annotators[idx] = ann
            self._timestamps[idx] = ts
            self._n_labeled += int(idx.size)

    def _require_labeled(self, idx: np.ndarray, what: str) -> None:
        not_done = self._labels[idx] < 0
        if not_done.any():
            raise IndexValidationError(
                f"item {int(idx[np.argmax(not_done)])} is not labeled, so it cannot be "
                f"{what}; nothing was written. Use label() for new labels"
            )

    def relabel(
        self,
        indices: Any,
        labels: Any,
        *,
        annotator: str | None = None,
        as_positions: bool = False,
    ) -> None:
        """Correct the labels of labeled items, all or nothing.

        The item keeps the round in which it was first labeled (it stays in the labeled
        set); annotator and timestamp are updated.

        Raises
        ------
        IndexValidationError
            Invalid indices, a length mismatch, or an item that is not labeled yet.
        UnknownClassError
            A label is not one of :attr:`classes`.
        """
        with self._lock:
            self._check_open()
            idx, pos = self._prepare(indices, labels, as_positions)
            ann = _check_annotator(annotator)
            self._require_labeled(idx, "relabeled")
            if idx.size == 0:
                return
            ts = time.time()
            if self._conn is not None:
                # Only the label this process saw (same class and timestamp) is replaced.
                self._write(
                    "UPDATE items SET label = ?, annotator = ?, ts = ? "
                    "WHERE idx = ? AND label = ? AND ts IS ?",
                    [(int(p), ann, ts, *self._seen(int(i))) for i, p in zip(idx, pos)],
                    idx,
                    "relabeled or unlabeled by another process since this Pool read the file",
                )
            self._labels[idx] = pos
            self._annotators[idx] = ann
            self._timestamps[idx] = ts

    def unlabel(self, indices: Any) -> None:
        """Return labeled items to the unlabeled pool, all or nothing.

        Raises
        ------
        IndexValidationError
            Invalid indices or an item that is not labeled.
        """
        with self._lock:
            self._check_open()
            idx = check_indices(indices, self._n, "indices")
            self._require_labeled(idx, "unlabeled")
            if idx.size == 0:
                return
            if self._conn is not None:
                # Only the label this process saw (same class and timestamp) is removed.
                self._write(
                    "UPDATE items SET label = -1, round = -1, annotator = NULL, ts = NULL "
                    "WHERE idx = ? AND label = ? AND ts IS ?",
                    [self._seen(int(i)) for i in idx],
                    idx,
                    "relabeled or unlabeled by another process since this Pool read the file",
                )
            self._labels[idx] = _UNLABELED
            self._rounds[idx] = _UNLABELED
            self._annotators[idx] = None
            self._timestamps[idx] = np.nan
            self._n_labeled -= int(idx.size)

    def next_round(self) -> int:
        """Start the next round (persisted at once for a file) and return its number."""
        with self._lock:
            self._check_open()
            new = self._round + 1
            if self._conn is not None:
                self._write(
                    "UPDATE meta SET value = ? WHERE key = 'current_round' AND value = ?",
                    [(json.dumps(new), json.dumps(self._round))],
                    None,
                    f"advanced past round {self._round} by another process since this Pool "
                    "read the file",
                )
            self._round = new
            return new

    def _seen(self, i: int) -> tuple[int, int, float | None]:
        """``(idx, label, ts)`` of item ``i`` as this process last read or wrote it."""
        t = float(self._timestamps[i])
        return i, int(self._labels[i]), None if np.isnan(t) else t

    def _first_changed(self, idx: np.ndarray) -> int | None:
        """The first of ``idx`` whose (label, ts) in the file differs from this process's."""
        assert self._conn is not None
        for s0 in range(0, idx.size, 500):
            part = [int(i) for i in idx[s0 : s0 + 500]]
            marks = ",".join("?" * len(part))
            query = f"SELECT idx, label, ts FROM items WHERE idx IN ({marks})"
            rows = {int(i): (lab, ts) for i, lab, ts in self._conn.execute(query, part)}
            for i in part:
                _, lab, ts = self._seen(i)
                if rows.get(i) != (lab, ts):
                    return i
        return None

    def _write(
        self,
        sql: str,
        rows: list[tuple[Any, ...]],
        items: np.ndarray | None,
        conflict: str,
        error: type[Exception] = PoolConflictError,
    ) -> None:
        """Run ``sql`` for ``rows`` in one committed transaction that must touch one row per
        row of ``rows``; otherwise roll back and raise ``error`` naming the first item of
        ``items`` (None: the meta row) that another process changed."""
        assert self._conn is not None
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise PoolBusyError(
                f"{str(self._path)!r} stayed locked by another process's write for "
                f"{LOCK_TIMEOUT:g} s ({exc}); nothing was written, retry when it finishes"
            ) from exc
        try:
            cur = conn.executemany(sql, rows)
            if cur.rowcount != len(rows):
                conn.execute("ROLLBACK")
                which = "" if items is None else f"item {self._first_changed(items)}, "
                raise error(
                    f"{which}{len(rows) - cur.rowcount} of {len(rows)} rows in "
                    f"{str(self._path)!r}: {conflict}; nothing was written. Call refresh() "
                    "to see the file's state, then retry"
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _version() -> str:
    try:
        from labelwise import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"
