"""The :class:`Dataset` container shared by bundled datasets and user-data loaders."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from labelwise.errors import LabelwiseError, ShapeError

__all__ = ["ClassValue", "Dataset", "UnknownDatasetError"]

ClassValue = int | str


class UnknownDatasetError(LabelwiseError, KeyError):
    """A dataset name is not registered; the message lists the available names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _shape(x: np.ndarray | None) -> str:
    return "None" if x is None else f"{x.dtype}{list(x.shape)}"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features and labels of one dataset, with an optional fixed test split.

    Attributes
    ----------
    name : str
        Short name (the registry name for bundled datasets).
    X_train : ndarray of float32
        The pool: images as ``[N, C, H, W]`` or vectors as ``[N, D]``.
    y_train : ndarray of int64, shape [N]
        Class positions ``0..C-1`` into :attr:`classes`; ``-1`` marks an unlabeled item
        (user data may be partly or wholly unlabeled; bundled datasets are fully labeled,
        the labels serving as the oracle of a simulation).
    X_test, y_test : ndarray or None
        A held-out, fully labeled test set with the same feature shape, or ``None``.
    classes : tuple of int or tuple of str
        The ordered class values (may be empty for wholly unlabeled data).
    description : str
        Where the data come from and how the split was made.
    keys : tuple of str or None
        One identifier per training item (e.g. the image's path relative to its folder).
    groups : ndarray of int64, shape [N], or None
        Near-duplicate groups of the pool: items with the same id are copies of one
        original (repeated-mnist: the three noisy copies of a digit). Reports count
        acquisitions of an item whose group was already labeled
        (:func:`labelwise.bench.metrics.redundant_acquisitions`).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    classes: tuple[ClassValue, ...]
    description: str
    keys: tuple[str, ...] | None = None
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        n_classes = len(self.classes)
        X, y = self.X_train, self.y_train
        self._check_pair("train", X, y, n_classes, allow_unlabeled=True)
        if (self.X_test is None) != (self.y_test is None):
            raise ValueError("give both X_test and y_test, or neither")
        if self.X_test is not None and self.y_test is not None:
            self._check_pair("test", self.X_test, self.y_test, n_classes, allow_unlabeled=False)
            if self.X_test.shape[1:] != X.shape[1:]:
                raise ShapeError(
                    f"X_test items have shape {self.X_test.shape[1:]} but X_train items "
                    f"have shape {X.shape[1:]}; they must match"
                )
        if self.keys is not None:
            keys = tuple(self.keys)
            if len(keys) != X.shape[0]:
                raise ValueError(f"keys has {len(keys)} entries but X_train has {X.shape[0]} rows")
            object.__setattr__(self, "keys", keys)
        g = self.groups
        if g is not None and (
            not isinstance(g, np.ndarray) or g.dtype != np.int64 or g.shape != (X.shape[0],)
        ):
            raise TypeError(
                f"groups must be an int64 numpy array of shape ({X.shape[0]},) (one group id "
                f"per pool item), got {_shape_of(g)}"
            )

    @staticmethod
    def _check_pair(
        split: str, X: np.ndarray, y: np.ndarray, n_classes: int, *, allow_unlabeled: bool
    ) -> None:
        if not isinstance(X, np.ndarray) or X.dtype != np.float32:
            raise TypeError(f"X_{split} must be a float32 numpy array, got {_shape_of(X)}")
        if X.ndim not in (2, 4):
            raise ShapeError(
                f"X_{split} must be [N, D] vectors or [N, C, H, W] images, got shape {X.shape}"
            )
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
            raise TypeError(f"y_{split} must be a 1-D int64 numpy array, got {_shape_of(y)}")
        if y.shape[0] != X.shape[0]:
            raise ShapeError(
                f"y_{split} has {y.shape[0]} entries but X_{split} has {X.shape[0]} rows"
            )
        low = -1 if allow_unlabeled else 0
        bad = (y < low) | (y >= n_classes)
        if bad.any():
            raise ValueError(
                f"y_{split} must hold class positions in [{low}, {n_classes})"
                + (" (-1 = unlabeled)" if allow_unlabeled else "")
                + f", got {int(y[bad][0])}"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one item: ``(C, H, W)`` for images, ``(D,)`` for vectors."""
        return tuple(int(s) for s in self.X_train.shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def n_train(self) -> int:
        """Number of pool (training) items."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test items (0 without a test set)."""
        return 0 if self.X_test is None else int(self.X_test.shape[0])

    def flatten(self) -> Dataset:
        """The same data with every item flattened to a vector ``[N, D]`` (for MLPs)."""
        if self.X_train.ndim == 2:
            return self
        X_test = None if self.X_test is None else self.X_test.reshape(self.n_test, -1)
        return replace(
            self,
            name=f"{self.name}-flat",
            X_train=self.X_train.reshape(self.n_train, -1),
            X_test=X_test,
            description=self.description
            + f" Flattened to vectors of {int(np.prod(self.input_shape))} features.",
        )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, X_train={_shape(self.X_train)}, "
            f"X_test={_shape(self.X_test)}, n_classes={self.n_classes}, "
            f"keys={'None' if self.keys is None else len(self.keys)})"
        )


def _shape_of(x: object) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__
