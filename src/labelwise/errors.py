"""Exceptions raised by labelwise.

Every exception names the argument at fault, what was received and what was expected,
so that the message alone says how to fix the call (DESIGN rule 6).
"""

from __future__ import annotations

__all__ = [
    "AlreadyLabeledError",
    "BudgetError",
    "IndexValidationError",
    "LabelwiseError",
    "MissingExtraError",
    "PoolBusyError",
    "PoolConflictError",
    "PoolExhaustedError",
    "ProbabilityError",
    "SchemaVersionError",
    "ShapeError",
    "UnknownClassError",
    "UnknownStrategyError",
]


class LabelwiseError(Exception):
    """Base class of every error labelwise raises on purpose."""


class ShapeError(LabelwiseError, ValueError):
    """An array has the wrong rank or a wrong dimension (e.g. probs not ``[N, K, C]``)."""


class ProbabilityError(LabelwiseError, ValueError):
    """Probabilities are NaN/inf, outside [0, 1], or rows do not sum to 1."""


class BudgetError(LabelwiseError, ValueError):
    """``k`` (batch size) or a labeling budget is not a positive integer that fits the pool."""


class PoolExhaustedError(BudgetError):
    """More items were requested than remain selectable in the pool."""


class IndexValidationError(LabelwiseError, ValueError):
    """Indices are out of range, duplicated, non-integer or of the wrong rank."""


class AlreadyLabeledError(IndexValidationError):
    """An item that already has a label was labeled again."""


class UnknownClassError(LabelwiseError, ValueError):
    """A label is not one of the pool's classes."""


class UnknownStrategyError(LabelwiseError, KeyError):
    """A strategy name is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SchemaVersionError(LabelwiseError):
    """A saved file was written by an incompatible schema version."""


class PoolConflictError(LabelwiseError, RuntimeError):
    """Another process changed a pool file since this ``Pool`` last read it (the change
    would overwrite or erase theirs); nothing was written. ``Pool.refresh()`` reloads."""


class PoolBusyError(LabelwiseError, TimeoutError):
    """Another process held a pool file's write lock for longer than the wait allowed."""


class MissingExtraError(LabelwiseError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""
