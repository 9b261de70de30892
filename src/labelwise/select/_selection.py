"""The value every selector returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Selection"]


@dataclass(frozen=True)
class Selection:
    """A batch chosen by a selector.

    Attributes
    ----------
    indices : ndarray of int64, shape [k]
        Positions in the arrays given to the selector, in pick order. When those arrays
        cover the whole dataset these are whole-dataset indices; the pool converts
        candidate positions otherwise.
    gains : ndarray of float64, shape [k]
        What each pick contributed when it was made: the score for top-k, the marginal
        gain for greedy selectors (BatchBALD), the distance to the nearest centre for
        core-set, ``nan`` where a selector has no such notion.
    info : dict
        Selector-specific diagnostics (e.g. covering radius, number of configurations),
        JSON-serialisable.
    """

    indices: np.ndarray
    gains: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        idx = np.asarray(self.indices, dtype=np.int64).reshape(-1)
        gains = np.asarray(self.gains, dtype=np.float64).reshape(-1)
        if gains.shape != idx.shape:
            raise ValueError(
                f"Selection.gains has {gains.size} entries but indices has {idx.size}"
            )
        if np.unique(idx).size != idx.size:
            raise ValueError("Selection.indices must be unique")
        idx.setflags(write=False)
        gains.setflags(write=False)
        object.__setattr__(self, "indices", idx)
        object.__setattr__(self, "gains", gains)

    def __len__(self) -> int:
        return int(self.indices.size)

    def map_to(self, positions: np.ndarray) -> Selection:
        """Return the same selection with indices mapped through ``positions[indices]``.

        Used by the pool to turn candidate positions into whole-dataset indices.
        """
        positions = np.asarray(positions, dtype=np.int64)
        return Selection(positions[self.indices], self.gains, dict(self.info))
