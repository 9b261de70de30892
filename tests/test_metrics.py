"""Learning-curve metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.bench.metrics import (
    aubc,
    class_balance_entropy,
    labels_to_target,
    mean_and_ci,
    mean_curve,
    redundant_acquisitions,
)


def test_aubc_hand_computed() -> None:
    # trapezoid: (0.5+0.7)/2*10 + (0.7+0.9)/2*10 = 6 + 8 = 14 over 20
    assert aubc([10, 20, 30], [0.5, 0.7, 0.9]) == pytest.approx(0.7)
    assert aubc([10, 20], [0.4, 0.4]) == pytest.approx(0.4)
    # budget beyond the curve holds the last value: [10,30] area 14 + [30,50] 0.9*20=18 -> 32/40
    assert aubc([10, 20, 30], [0.5, 0.7, 0.9], budget=(10, 50)) == pytest.approx(0.8)
    # budget inside the curve interpolates: [15, 25]: 0.6..0.7..0.8 -> 0.7
    assert aubc([10, 20, 30], [0.5, 0.7, 0.9], budget=(15, 25)) == pytest.approx(0.7)


def test_aubc_errors() -> None:
    with pytest.raises(ValueError):
        aubc([10, 10], [0.1, 0.2])
    with pytest.raises(ValueError):
        aubc([10, 20], [0.1])


def test_labels_to_target() -> None:
    assert labels_to_target([20, 30, 40], [0.5, 0.91, 0.95], 0.9) == 30
    assert labels_to_target([20, 30, 40], [0.5, 0.6, 0.7], 0.9) is None


def test_labels_to_target_interpolated_by_hand() -> None:
    # 0.8 at 30, 0.95 at 40: 0.9 is two thirds of the way -> 36.67
    assert labels_to_target([20, 30, 40], [0.5, 0.8, 0.95], 0.9, interpolate=True) == (
        pytest.approx(30 + 10 * 0.1 / 0.15)
    )
    # reaching the target exactly at a checkpoint gives that checkpoint
    assert labels_to_target([20, 30, 40], [0.5, 0.7, 0.9], 0.9, interpolate=True) == 40
    # the first crossing counts, not a later one after a dip
    assert labels_to_target([10, 20, 30, 40], [0.0, 1.0, 0.0, 1.0], 0.5, interpolate=True) == 15
    # already there at the first checkpoint: nothing before it to interpolate from
    assert labels_to_target([20, 30], [0.95, 0.97], 0.9, interpolate=True) == 20
    assert labels_to_target([20, 30], [0.5, 0.6], 0.9, interpolate=True) is None
    # without interpolation: the checkpoint
    assert labels_to_target([20, 30, 40], [0.5, 0.8, 0.95], 0.9) == 40


def test_mean_curve_by_hand() -> None:
    grid, mean = mean_curve([([10, 20, 30], [0.2, 0.4, 0.6]), ([10, 20, 30], [0.4, 0.6, 1.0])])
    np.testing.assert_allclose(grid, [10, 20, 30])
    np.testing.assert_allclose(mean, [0.3, 0.5, 0.8])
    # different grids: the union inside the shared range [15, 30], each curve interpolated
    grid, mean = mean_curve([([10, 20, 30], [0.2, 0.4, 0.6]), ([15, 30], [0.5, 0.8])])
    np.testing.assert_allclose(grid, [15, 20, 30])
    np.testing.assert_allclose(mean, [(0.3 + 0.5) / 2, (0.4 + 0.6) / 2, (0.6 + 0.8) / 2])
    with pytest.raises(ValueError, match="share no label range"):
        mean_curve([([10, 20], [0.1, 0.2]), ([30, 40], [0.1, 0.2])])
    with pytest.raises(ValueError, match="at least one"):
        mean_curve([])
    with pytest.raises(ValueError, match="strictly increasing"):
        mean_curve([([10, 10], [0.1, 0.2])])


def test_class_balance_entropy() -> None:
    assert class_balance_entropy([5, 5, 5, 5]) == pytest.approx(1.0)
    assert class_balance_entropy([10, 0, 0]) == pytest.approx(0.0)
    assert class_balance_entropy([1, 1], normalise=False) == pytest.approx(np.log(2))


def test_mean_and_ci() -> None:
    m, h = mean_and_ci([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.302653; std = 1; sqrt(3)
    assert m == pytest.approx(2.0)
    assert h == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)
    assert mean_and_ci([4.0]) == (4.0, 0.0)


def test_redundant_acquisitions_by_hand() -> None:
    # items 0..5, groups: {0, 3} copies of digit 0, {1, 4} of digit 1, {2, 5} of digit 2
    groups = np.array([0, 1, 2, 0, 1, 2])
    assert redundant_acquisitions([0], [[1, 2]], groups) == 0
    assert redundant_acquisitions([0], [[3]], groups) == 1  # copy of an initial label
    assert redundant_acquisitions([0], [[1], [4, 2]], groups) == 1  # copy of an earlier batch
    assert redundant_acquisitions([], [[1, 4, 2, 5]], groups) == 2  # copies inside one batch
    assert redundant_acquisitions([], [], groups) == 0
    with pytest.raises(ValueError, match="integer"):
        redundant_acquisitions([0], [[1]], np.array([0.5, 1.0]))
