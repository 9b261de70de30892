"""Several processes (here: several Pool objects) on one pool file, and damaged files.

Every write is checked against what the writing Pool last read, so a stale Pool can never
overwrite or erase what another committed (labelwise.pool, "Several processes")."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from labelwise import pool as pool_module
from labelwise._validation import check_indices
from labelwise.errors import (
    AlreadyLabeledError,
    IndexValidationError,
    PoolBusyError,
    PoolConflictError,
    SchemaVersionError,
)
from labelwise.pool import Pool


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "team.sqlite"
    Pool.create(p, 20, ["a", "b"]).close()
    return p


def test_stale_next_round_cannot_move_the_round_backwards(path: Path) -> None:
    with Pool.open(path) as a, Pool.open(path) as b:
        for _ in range(3):
            a.next_round()
        with pytest.raises(PoolConflictError, match="advanced past round 0.*refresh"):
            b.next_round()
        assert b.current_round == 0
        b.refresh()
        assert b.current_round == 3 and b.next_round() == 4
    with Pool.open(path) as p:
        assert p.current_round == 4


def test_stale_unlabel_cannot_erase_a_newer_label(path: Path) -> None:
    with Pool.open(path) as a:
        a.label([5], ["a"], annotator="first")
    with Pool.open(path) as a, Pool.open(path) as b:
        a.unlabel([5])
        a.label([5], ["b"], annotator="second")  # a newer label of the same item
        with pytest.raises(PoolConflictError, match=r"item 5, 1 of 1 rows.*nothing was written"):
            b.unlabel([5])  # b still sees the first label
        assert b.labels_of([5]).tolist() == [0]  # b's view is untouched too
    with Pool.open(path) as p:
        assert p.labels_of([5]).tolist() == [1] and p.annotator[5] == "second"


def test_stale_relabel_cannot_overwrite_another_correction(path: Path) -> None:
    with Pool.open(path) as a:
        a.label([0, 1], ["a", "a"])
    with Pool.open(path) as a, Pool.open(path) as b:
        a.relabel([0], ["b"], annotator="reviewer-1")
        with pytest.raises(PoolConflictError, match="item 0, 1 of 2 rows"):
            b.relabel([1, 0], ["b", "a"], annotator="reviewer-2")  # all or nothing
        b.refresh()
        b.relabel([0], ["a"], annotator="reviewer-2")  # after refresh: a deliberate change
    with Pool.open(path) as p:
        assert p.labels_of([0, 1]).tolist() == [0, 0] and p.annotator[0] == "reviewer-2"


def test_label_conflict_names_the_item(path: Path) -> None:
    with Pool.open(path) as a, Pool.open(path) as b:
        a.label([7], ["a"])
        with pytest.raises(AlreadyLabeledError, match="item 7, 1 of 2 rows"):
            b.label([6, 7], ["b", "b"])


def test_a_writer_waiting_too_long_gets_pool_busy_and_writes_nothing(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "LOCK_TIMEOUT", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        with Pool.open(path) as p:
            with pytest.raises(PoolBusyError, match="locked by another process.*retry"):
                p.label([2], ["a"])
            assert p.n_labeled == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Pool.open(path) as p:
        p.label([2], ["a"])  # the lock is free again
        assert p.labeled_indices().tolist() == [2]


def test_concurrent_creates_of_one_path_never_both_succeed(tmp_path: Path) -> None:
    """Creators racing on one path: exactly one creates it, the others get FileExistsError
    and then open the same file, and every creator's label survives."""
    for attempt in range(3):
        target = tmp_path / f"race-{attempt}.sqlite"
        outcome: list[str] = []
        barrier = threading.Barrier(4)

        def creator(
            me: int,
            target: Path = target,
            outcome: list[str] = outcome,
            barrier: threading.Barrier = barrier,
        ) -> None:
            barrier.wait()
            try:
                p = Pool.create(target, 50_000, ["a", "b"])
                outcome.append("created")
            except FileExistsError:
                p = Pool.open(target)
                outcome.append("opened")
            with p:
                p.label([me], ["a"])

        threads = [threading.Thread(target=creator, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcome) == ["created", "opened", "opened", "opened"]
        with Pool.open(target) as p:
            assert p.labeled_indices().tolist() == [0, 1, 2, 3]


def _damage(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, args)
    conn.close()


@pytest.mark.parametrize(
    ("sql", "args", "match"),
    [
        ("UPDATE meta SET value = ? WHERE key = 'classes'", ("not json",), "not JSON"),
        ("UPDATE meta SET value = ? WHERE key = 'current_round'", ('"x"',), "current_round"),
        ("UPDATE meta SET value = ? WHERE key = 'current_round'", ("-2",), "current_round"),
        ("UPDATE meta SET value = ? WHERE key = 'classes'", ('"ab"',), "classes"),
        ("UPDATE meta SET value = ? WHERE key = 'has_keys'", ("3",), "has_keys"),
        ("UPDATE meta SET value = ? WHERE key = 'schema_version'", ("true",), "schema_version is True"),
        ("UPDATE meta SET value = ? WHERE key = 'schema_version'", ("1.0",), "schema_version is 1.0"),
        ("UPDATE meta SET value = ? WHERE key = 'schema_version'", ('"1"',), "schema_version is '1'"),
        ("DROP TABLE items", (), "items table cannot be read"),
        ("DELETE FROM items WHERE idx = 7", (), "has 19 rows"),
        ("UPDATE items SET label = 'x' WHERE idx = 3", (), "not an integer"),
        ("UPDATE items SET label = -5 WHERE idx = 3", (), "label position -5"),
        ("UPDATE items SET label = 2 WHERE idx = 3", (), "label position 2"),
    ],
)
def test_damaged_files_raise_schema_version_error(
    path: Path, sql: str, args: tuple, match: str
) -> None:
    _damage(path, sql, *args)
    with pytest.raises(SchemaVersionError, match=match):
        Pool.open(path)


def test_invalid_unicode_annotator_is_rejected_before_writing(path: Path) -> None:
    with Pool.open(path) as p:
        with pytest.raises(ValueError, match="not valid Unicode"):
            p.label([1], ["a"], annotator="\ud800")
        assert p.n_labeled == 0
    mem = Pool(3, ["a"])
    with pytest.raises(ValueError, match="not valid Unicode"):
        mem.label([0], ["a"], annotator="x\udfffy")


def test_a_failed_save_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mem = Pool(10, ["a"])

    def boom(self: Pool, conn: sqlite3.Connection, keys: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Pool, "_insert_items", boom)
    with pytest.raises(OSError, match="disk full"):
        mem.save(tmp_path / "copy.sqlite")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_out_of_range_indices_are_reported_as_given() -> None:
    """uint64 and huge float indices are reported with their real value, not a wrapped one."""
    with pytest.raises(IndexValidationError, match="got 9223372036854775813"):
        check_indices(np.array([2**63 + 5], dtype=np.uint64), 10)
    with pytest.raises(IndexValidationError, match=r"got 18446744073709551615"):
        check_indices(np.array([2**64 - 1], dtype=np.uint64), 10)
    with pytest.raises(IndexValidationError, match=r"got 1e\+20"):
        check_indices(np.array([1e20]), 10)
    assert check_indices(np.array([3], dtype=np.uint64), 10).tolist() == [3]


def test_meta_round_trip_types(path: Path) -> None:
    with sqlite3.connect(path) as c:
        meta = {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM meta")}
    assert meta["current_round"] == 0 and meta["has_keys"] is False
