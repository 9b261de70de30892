"""Tests of labelwise.pool: validation, all-or-nothing writes, persistence, durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from labelwise.errors import (
    AlreadyLabeledError,
    BudgetError,
    IndexValidationError,
    SchemaVersionError,
    UnknownClassError,
)
from labelwise.pool import SCHEMA_VERSION, LabelRecord, Pool
from labelwise.select import Selection


def state(pool: Pool) -> tuple:
    """Everything observable about a pool, for equality checks."""
    return (
        pool.n_items,
        pool.classes,
        pool.current_round,
        pool.labels.tolist(),
        pool.label_round.tolist(),
        pool.annotator.tolist(),
        [(r.index, r.label, r.round, r.annotator, r.timestamp) for r in pool.history()],
        pool.keys,
    )


@pytest.fixture(params=["memory", "file"])
def pool(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pool]:
    """A 10-item pool with string classes, in memory or backed by a file."""
    if request.param == "memory":
        p = Pool(10, ["cat", "dog", "bird"])
    else:
        p = Pool.create(tmp_path / "p.db", 10, ["cat", "dog", "bird"])
    yield p
    p.close()


# ---------------------------------------------------------------- basic semantics


def test_label_and_queries(pool: Pool) -> None:
    assert (pool.n_items, pool.n_labeled, pool.n_unlabeled) == (10, 0, 10)
    pool.label([4, 1], ["dog", "bird"], annotator="ann")
    assert pool.n_labeled == 2 and pool.n_unlabeled == 8
    assert pool.labeled_indices().tolist() == [1, 4]
    assert pool.unlabeled_indices().tolist() == [0, 2, 3, 5, 6, 7, 8, 9]
    assert pool.labels_of([4, 1, 0]).tolist() == [1, 2, -1]
    assert pool.decode(pool.labels_of([4, 1, 0])) == ["dog", "bird", None]
    assert pool.class_counts() == {"cat": 0, "dog": 1, "bird": 1}
    assert pool.labels.dtype == np.int64
    assert pool.label_round.tolist()[1] == 0 and pool.label_round.tolist()[0] == -1
    assert pool.annotator[4] == "ann" and pool.annotator[0] is None
    with pytest.raises(ValueError):
        pool.labels[0] = 2  # read-only view


def test_scalar_index_and_label(pool: Pool) -> None:
    pool.label(3, "cat")
    assert pool.labels_of(3).tolist() == [0]


def test_as_positions(pool: Pool) -> None:
    pool.label(np.array([0, 2]), np.array([2, 0]), as_positions=True)
    assert pool.decode(pool.labels_of([0, 2])) == ["bird", "cat"]
    with pytest.raises(UnknownClassError, match=r"\[0, 3\).*got 3"):
        pool.label([5], [3], as_positions=True)
    with pytest.raises(UnknownClassError, match="integer class positions"):
        pool.label([5], [1.0], as_positions=True)


def test_rounds_and_history(pool: Pool) -> None:
    pool.label([0], ["cat"])
    assert pool.next_round() == 1 and pool.current_round == 1
    pool.label([5, 2], ["dog", "dog"], annotator="bob")
    pool.label([7], ["bird"], round=0)
    hist = pool.history()
    assert [r.index for r in hist] == [0, 2, 5, 7]
    assert [r.round for r in hist] == [0, 1, 1, 0]
    assert [r.label for r in hist] == ["cat", "dog", "dog", "bird"]
    assert hist[1].annotator == "bob" and hist[0].annotator is None
    assert hist[0].timestamp <= hist[1].timestamp == hist[2].timestamp <= hist[3].timestamp
    assert isinstance(hist[0], LabelRecord)


def test_relabel_and_unlabel(pool: Pool) -> None:
    pool.label([1, 2], ["cat", "dog"], annotator="a")
    pool.next_round()
    pool.relabel(1, "bird", annotator="reviewer")
    assert pool.decode(pool.labels_of([1])) == ["bird"]
    assert pool.label_round[1] == 0  # keeps the round it entered the labeled set
    assert pool.annotator[1] == "reviewer"
    pool.unlabel([2])
    assert pool.labels_of([2]).tolist() == [-1] and pool.label_round[2] == -1
    assert pool.annotator[2] is None and pool.n_labeled == 1
    pool.label([2], ["cat"])  # can be labeled again after unlabel
    assert pool.label_round[2] == 1


def test_int_classes_and_non_contiguous_values() -> None:
    pool = Pool(4, [10, 3, 7])
    pool.label([0, 1, 2], [7, np.int64(10), 3])
    assert pool.labels_of([0, 1, 2]).tolist() == [2, 0, 1]
    assert pool.encode([3, 7]).tolist() == [1, 2]
    with pytest.raises(UnknownClassError, match=r"labels\[0\] = 0 is not a class"):
        pool.label([3], [0])
    with pytest.raises(UnknownClassError, match="True"):
        pool.label([3], [True])  # bool is not a class value even though True == 1
    with pytest.raises(UnknownClassError):
        pool.label([3], [7.0])


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("indices", "labels", "exc", "match"),
    [
        ([10], ["cat"], IndexValidationError, r"\[0, 10\); got 10"),
        ([-1], ["cat"], IndexValidationError, r"got -1"),
        ([1, 1], ["cat", "dog"], IndexValidationError, "duplicates, e.g. 1"),
        ([1.5], ["cat"], IndexValidationError, "must be integers"),
        (["1"], ["cat"], IndexValidationError, "must be integers"),
        ([[1, 2]], ["cat", "dog"], IndexValidationError, "1-D"),
        ([1, 2], ["cat"], IndexValidationError, "indices has 2 entries but labels has 1"),
        ([1], ["cat", "dog"], IndexValidationError, "indices has 1 entries but labels has 2"),
        ([1, 2], ["cat", "cow"], UnknownClassError, r"labels\[1\] = 'cow'.*'cat', 'dog', 'bird'"),
        ([1], [0], UnknownClassError, r"labels\[0\] = 0 is not a class.*as_positions"),
    ],
)
def test_label_validation(
    pool: Pool, indices: list, labels: list, exc: type[Exception], match: str
) -> None:
    pool.label([0], ["cat"])
    before = state(pool)
    with pytest.raises(exc, match=match):
        pool.label(indices, labels)
    assert state(pool) == before


def test_already_labeled_names_first_index(pool: Pool) -> None:
    pool.label([3, 6], ["cat", "dog"])
    with pytest.raises(AlreadyLabeledError, match=r"item 6 is already labeled as 'dog'.*relabel"):
        pool.label([2, 6, 3], ["cat", "cat", "cat"])
    assert isinstance(AlreadyLabeledError("x"), IndexValidationError)
    assert pool.labels_of([2]).tolist() == [-1]  # nothing of the batch was written


def test_other_argument_validation(pool: Pool) -> None:
    with pytest.raises(ValueError, match=r"round must lie in \[0, 0\].*got 1"):
        pool.label([0], ["cat"], round=1)
    with pytest.raises(TypeError, match="annotator must be a string"):
        pool.label([0], ["cat"], annotator=3)  # type: ignore[arg-type]
    with pytest.raises(IndexValidationError, match="item 4 is not labeled"):
        pool.relabel([4], ["cat"])
    with pytest.raises(IndexValidationError, match="item 5 is not labeled"):
        pool.unlabel([5])
    assert pool.n_labeled == 0
    pool.label([], [])  # an empty batch is a no-op
    assert pool.n_labeled == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((0, ["a"]), {}, ValueError, "n_items must be >= 1, got 0"),
        ((2.0, ["a"]), {}, TypeError, "n_items must be a positive integer"),
        ((2, []), {}, ValueError, "classes is empty"),
        ((2, "ab"), {}, TypeError, "sequence of class values"),
        ((2, ["a", "a"]), {}, ValueError, "'a' appears more than once"),
        ((2, ["a", 1]), {}, TypeError, "mixes ints and strings"),
        ((2, [1.5]), {}, TypeError, "ints or strings, got 1.5"),
        ((2, ["a"]), {"keys": ["x"]}, ValueError, "keys has 1 entries but n_items is 2"),
        ((2, ["a"]), {"keys": ["x", 3]}, TypeError, r"keys\[1\] is 3"),
    ],
)
def test_constructor_validation(args: tuple, kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        Pool(*args, **kwargs)


def test_closed_pool_raises(pool: Pool) -> None:
    pool.close()
    with pytest.raises(ValueError, match="closed"):
        pool.label([0], ["cat"])
    with pytest.raises(ValueError, match="closed"):
        pool.next_round()


# ---------------------------------------------------------------- candidates


def test_candidates(pool: Pool) -> None:
    pool.label([0, 5], ["cat", "cat"])
    assert pool.candidates().tolist() == [1, 2, 3, 4, 6, 7, 8, 9]
    a = pool.candidates(4, rng=123)
    b = pool.candidates(4, rng=np.random.default_rng(123))
    assert a.tolist() == b.tolist()
    assert a.size == 4 and np.all(np.diff(a) > 0)
    assert not np.isin(a, [0, 5]).any()
    draws = {tuple(pool.candidates(4, rng=s).tolist()) for s in range(20)}
    assert len(draws) > 1  # the subset depends on the seed
    assert pool.candidates(100, rng=0).tolist() == pool.unlabeled_indices().tolist()
    with pytest.raises(BudgetError, match="max_candidates must be >= 1"):
        pool.candidates(0)
    with pytest.raises(BudgetError, match="positive integer"):
        pool.candidates(2.5)  # type: ignore[arg-type]


def test_to_dataset_indices(pool: Pool) -> None:
    pool.label([0, 1], ["cat", "cat"])
    cand = pool.candidates(5, rng=0)
    sel = Selection(np.array([3, 0]), np.array([0.9, 0.1]), {"x": 1})
    mapped = pool.to_dataset_indices(sel, cand)
    assert isinstance(mapped, Selection)
    assert mapped.indices.tolist() == [cand[3], cand[0]]
    assert mapped.gains.tolist() == [0.9, 0.1] and mapped.info == {"x": 1}
    assert pool.to_dataset_indices(np.array([4, 1]), cand).tolist() == [cand[4], cand[1]]
    with pytest.raises(IndexValidationError, match=r"positions must lie in \[0, 5\)"):
        pool.to_dataset_indices([5], cand)
    with pytest.raises(IndexValidationError, match=r"selection.indices must lie in \[0, 5\)"):
        pool.to_dataset_indices(Selection(np.array([7]), np.array([0.0])), cand)
    with pytest.raises(IndexValidationError, match="candidates"):
        pool.to_dataset_indices([0], [10])


# ---------------------------------------------------------------- persistence


def test_save_open_round_trip(tmp_path: Path) -> None:
    mem = Pool(6, ["a", "b"], keys=[f"img/{i}.png" for i in range(6)])
    mem.label([0, 4], ["b", "a"], annotator="x")
    mem.next_round()
    mem.label([2], ["b"])
    mem.save(tmp_path / "s.db")
    with Pool.open(tmp_path / "s.db") as disk:
        assert state(disk) == state(mem)
        assert disk.path == tmp_path / "s.db"
        disk.label([5], ["a"])
    with Pool.open(tmp_path / "s.db") as again:
        assert again.decode(again.labels_of([5])) == ["a"]
        assert again.keys == tuple(f"img/{i}.png" for i in range(6))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mem.save(tmp_path / "s.db")
    mem.save(tmp_path / "s.db", overwrite=True)
    with Pool.open(tmp_path / "s.db") as back:
        assert back.labels_of([5]).tolist() == [-1]  # replaced by the in-memory state


def test_reopen_after_close_shows_same_state(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    pool = Pool.create(path, 50, [0, 1, 2])
    rng = np.random.default_rng(0)
    for _ in range(6):
        idx = rng.choice(pool.unlabeled_indices(), size=4, replace=False)
        pool.label(idx, rng.integers(0, 3, size=4).tolist(), annotator=str(rng.integers(3)))
        pool.relabel(idx[:1], [2])
        pool.unlabel(idx[1:2])
        pool.next_round()
    before = state(pool)
    pool.close()
    with Pool.open(path) as reopened:
        assert state(reopened) == before
        assert reopened.current_round == 6


def test_disk_pool_saves_a_copy(tmp_path: Path) -> None:
    with Pool.create(tmp_path / "a.db", 5, ["x", "y"]) as a:
        a.label([1], ["y"])
        a.save(tmp_path / "b.db")
        with pytest.raises(ValueError, match="own file"):
            a.save(tmp_path / "a.db", overwrite=True)
        with Pool.open(tmp_path / "b.db") as b:
            assert state(b)[3] == state(a)[3]


def test_create_refuses_existing_file(tmp_path: Path) -> None:
    Pool.create(tmp_path / "c.db", 3, ["a"]).close()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        Pool.create(tmp_path / "c.db", 3, ["a"])
    Pool.create(tmp_path / "c.db", 4, ["a"], overwrite=True).close()
    with Pool.open(tmp_path / "c.db") as p:
        assert p.n_items == 4


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Pool.create"):
        Pool.open(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SchemaVersionError, match="not a labelwise pool"):
        Pool.open(junk)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(SchemaVersionError, match="not a labelwise pool"):
        Pool.open(other)


@pytest.mark.parametrize(
    ("version", "hint"), [(SCHEMA_VERSION + 1, "upgrade labelwise"), (0, "older")]
)
def test_schema_version_mismatch(tmp_path: Path, version: int, hint: str) -> None:
    path = tmp_path / "v.db"
    Pool.create(path, 3, ["a"]).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    conn.close()
    with pytest.raises(SchemaVersionError, match=f"schema version {version}.*{hint}"):
        Pool.open(path)


def test_file_metadata(tmp_path: Path) -> None:
    Pool.create(tmp_path / "m.db", 3, ["a", "b"], keys=["p", "q", "r"]).close()
    with sqlite3.connect(tmp_path / "m.db") as c:
        meta = dict(c.execute("SELECT key, value FROM meta"))
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert meta["schema_version"] == "1"
    assert meta["classes"] == '["a", "b"]'
    assert meta["created_at"].startswith('"20') and "labelwise" in meta["created_by"]


# ---------------------------------------------------------------- all or nothing on disk


def test_bad_batch_writes_nothing_to_disk(tmp_path: Path) -> None:
    path = tmp_path / "aon.db"
    with Pool.create(path, 10, ["a", "b"]) as pool:
        pool.label([0], ["a"])
        for idx, lab in [
            ([1, 2, 0], ["a", "b", "b"]),
            ([1, 2], ["a", "zzz"]),
            ([1, 99], ["a", "b"]),
        ]:
            with pytest.raises((AlreadyLabeledError, UnknownClassError, IndexValidationError)):
                pool.label(idx, lab)
    with Pool.open(path) as pool:
        assert pool.labeled_indices().tolist() == [0]


def test_conflicting_writer_is_rolled_back(tmp_path: Path) -> None:
    """A stale Pool object cannot overwrite a label another writer committed."""
    path = tmp_path / "two.db"
    Pool.create(path, 5, ["a", "b"]).close()
    with Pool.open(path) as first, Pool.open(path) as second:
        first.label([3], ["a"])
        with pytest.raises(AlreadyLabeledError, match="another process.*nothing was written"):
            second.label([1, 3], ["b", "b"])  # 3 passes the in-memory check, not the DB's
        assert second.labels_of([1]).tolist() == [-1]
        second.refresh()
        assert second.labels_of([3]).tolist() == [0]
    with Pool.open(path) as pool:
        assert pool.labeled_indices().tolist() == [3]
        assert pool.labels_of([3]).tolist() == [0]


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from labelwise.pool import Pool

    pool = Pool.open(sys.argv[1])
    print("ready", flush=True)
    for i in range(pool.n_items):
        pool.label([i], [i % 3], annotator="crash")
        print(i, flush=True)  # acknowledged: label() has returned
        time.sleep(0.002)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_process_loses_no_acknowledged_label(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    Pool.create(path, 2000, [0, 1, 2]).close()
    script = tmp_path / "writer.py"
    script.write_text(CRASH_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
    )
    acked: list[int] = []
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        while len(acked) < 60:
            line = proc.stdout.readline()
            assert line, "writer exited early"
            acked.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    acked += [int(x) for x in rest.split()]
    assert len(acked) < 2000, "the kill must land mid-stream"
    with Pool.open(path) as pool:
        labeled = set(pool.labeled_indices().tolist())
        assert set(acked) <= labeled
        # at most the one label committed between commit and print is unacknowledged
        assert labeled <= set(acked) | {max(acked) + 1}
        assert pool.labels_of(acked).tolist() == [i % 3 for i in acked]


def test_large_pool_create_and_open(tmp_path: Path) -> None:
    n = 200_000
    path = tmp_path / "big.db"
    with Pool.create(path, n, list(range(10))) as pool:
        pool.label(np.arange(0, n, 1000), np.arange(200) % 10)
    with Pool.open(path) as pool:
        assert pool.n_items == n and pool.n_labeled == 200
        assert pool.labels_of([0, 1000, 199_000, 1]).tolist() == [0, 1, 9, -1]
        assert pool.unlabeled_indices().size == n - 200
    assert path.stat().st_size < 40 * n  # compact rows: a few bytes per unlabeled item


@pytest.mark.parametrize("enabled_before", [True, False])
def test_loading_labels_restores_the_garbage_collector(tmp_path: Path, enabled_before: bool) -> None:
    """Opening pauses the cyclic GC while the rows are fetched (~40% of opening a fully
    labeled 10^6-item pool); the caller's setting comes back, also after a damaged file."""
    import gc

    path = tmp_path / "p.sqlite"
    with Pool.create(path, 50, ["a", "b"]) as pool:
        pool.label([1, 2, 3], ["a", "b", "a"], annotator="ann")
    damaged = tmp_path / "d.sqlite"
    damaged.write_bytes(path.read_bytes())
    con = sqlite3.connect(damaged)
    con.execute("UPDATE items SET label = 7 WHERE idx = 2")  # no class position 7
    con.commit()
    con.close()
    try:
        gc.enable() if enabled_before else gc.disable()
        with Pool.open(path) as pool:
            assert pool.n_labeled == 3 and pool.annotator[2] == "ann"
            assert gc.isenabled() == enabled_before
            pool.refresh()
            assert gc.isenabled() == enabled_before
        with pytest.raises(SchemaVersionError, match="label position 7"):
            Pool.open(damaged)
        assert gc.isenabled() == enabled_before
    finally:
        gc.enable()
