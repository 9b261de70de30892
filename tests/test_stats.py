"""Win matrix and paired tests on constructed runs with known answers."""

from __future__ import annotations

import numpy as np

from labelwise.bench.stats import paired_against, win_matrix
from labelwise.loop import RoundRecord, RunResult


def _run(strategy: str, seed: int, accs: list[float]) -> RunResult:
    rounds = [
        RoundRecord(i, 20 + 10 * i, a, 0.0, [], [0, 0], 0.0, 0.0, 0.0) for i, a in enumerate(accs)
    ]
    return RunResult(strategy, seed, "toy", {}, [], rounds, True)


def test_win_matrix_and_paired_test_known_answers() -> None:
    rng = np.random.default_rng(0)
    runs = []
    for seed in range(5):
        base = [0.5, 0.6, 0.7, 0.8]
        noise = rng.normal(0, 0.002, size=4)
        runs.append(_run("random", seed, list(np.add(base, noise))))
        # "good" is better by 0.05 at the last two checkpoints only
        runs.append(_run("good", seed, list(np.add(base, noise) + [0, 0, 0.05, 0.05])))
    names, W = win_matrix(runs)
    i, j = names.index("good"), names.index("random")
    # checkpoints after the initial point: 30, 40, 50 -> good wins at 40 and 50
    assert W[i, j] == 2 / 3 and W[j, i] == 0
    (cmp,) = paired_against(runs)
    assert cmp.strategy == "good" and cmp.n_pairs == 5
    # AUBC over [20, 50]: extra area = trapezoids (0+0.05)/2*10 + 0.05*10 = 0.75 over 30
    assert abs(cmp.mean_difference - 0.75 / 30) < 1e-9
    assert cmp.p_value < 1e-6
