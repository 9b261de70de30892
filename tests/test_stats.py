"""Win matrix and paired tests on constructed runs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

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


def _rounds_run(
    strategy: str, seed: int, counts: list[list[int]], secs: list[tuple[float, float, float]]
) -> RunResult:
    """A run whose rounds acquired ``counts[i]`` (class histogram) and spent ``secs[i]``
    (train, predict, select); the last round acquires nothing, as in ``simulate``."""
    rounds = []
    for i, (c, (tr, pr, se)) in enumerate(zip(counts, secs, strict=True)):
        selected = list(range(sum(c)))
        rounds.append(RoundRecord(i, 20 + 10 * i, 0.5, 0.0, selected, c, tr, pr, se))
    return RunResult(strategy, seed, "toy", {}, [], rounds, True)


def test_class_balance_is_per_run_then_averaged() -> None:
    """Two seeds that each collapse onto two classes: the per-run entropies (0.234 each)
    are what is reported, not the entropy of the pooled histogram (0.734)."""
    from labelwise.bench.report import summarize

    secs = [(1.0, 0.0, 0.0)] * 2
    runs = [
        _rounds_run("s", 0, [[90, 10, 0, 0], [0, 0, 0, 0]], secs),
        _rounds_run("s", 1, [[0, 0, 90, 10], [0, 0, 0, 0]], secs),
    ]
    (summary,) = summarize(runs)
    per_run = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1)) / np.log(4)
    assert abs(summary.acquired_balance - per_run) < 1e-9
    assert abs(per_run - 0.2345) < 1e-3


def test_seconds_per_round_leave_out_the_round_that_acquires_nothing() -> None:
    """Every round trains; only the rounds that acquire predict and select (the last one
    only trains and evaluates), so those means are over the acquiring rounds."""
    from labelwise.bench.report import summarize

    run = _rounds_run(
        "s", 0, [[5, 5], [5, 5], [0, 0]], [(1.0, 4.0, 2.0), (3.0, 6.0, 4.0), (5.0, 0.0, 0.0)]
    )
    (summary,) = summarize([run])
    sp = summary.seconds_per_round
    assert sp["train"] == 3.0 and sp["predict"] == 5.0 and sp["select"] == 3.0
    assert sp["proxy_train"] == 0.0


def test_paired_p_of_differences_within_rounding_of_zero_is_a_tie() -> None:
    """Differences of [1e-9, 0, 0] are no difference (p = 1, as the win matrix calls it a
    tie), not a zero-variance 'significant' one (p = 0)."""
    base = [0.5, 0.6, 0.7]
    runs = []
    for seed in range(3):
        runs.append(_run("random", seed, base))
        bump = 1e-9 if seed == 0 else 0.0
        runs.append(_run("same", seed, [a + bump for a in base]))
    (cmp,) = paired_against(runs)
    assert cmp.p_value == 1.0
    names, W = win_matrix(runs)
    assert W[names.index("same"), names.index("random")] == 0.0


def test_win_matrix_entries_without_two_shared_seeds_are_nan_and_shown_as_dashes(
    tmp_path,
) -> None:
    from labelwise.bench.report import write_report

    rng = np.random.default_rng(1)
    runs = []
    for seed in range(3):
        noise = rng.normal(0, 0.002, size=4)
        runs.append(_run("random", seed, list(np.add([0.5, 0.6, 0.7, 0.8], noise))))
        runs.append(_run("good", seed, list(np.add([0.5, 0.7, 0.8, 0.9], noise))))
    runs.append(_run("lonely", 0, [0.5, 0.9, 0.9, 0.9]))  # one seed only
    names, W = win_matrix(runs)
    i, j, k = names.index("good"), names.index("random"), names.index("lonely")
    assert W[i, j] == 1.0 and W[j, i] == 0.0
    assert np.isnan(W[k]).all() and np.isnan(W[:, k]).all() and np.isnan(np.diag(W)).all()
    md = write_report(tmp_path, runs, targets=(0.8,))
    lonely_row = next(line for line in md.splitlines() if line.startswith("| lonely | — |"))
    assert lonely_row.count("—") == 3
    assert (tmp_path / "win_matrix.png").exists()
    import json

    saved = json.loads((tmp_path / "summary.json").read_text())["win_matrix"]["W"]
    assert saved[k] == [None, None, None]


def test_shared_label_range_is_what_every_run_covers() -> None:
    import pytest

    from labelwise.bench.stats import shared_label_range

    full = _run("a", 0, [0.5, 0.6, 0.7, 0.8])  # labels 20..50
    short = _run("b", 0, [0.5, 0.6])  # labels 20..30 (an unfinished run)
    assert shared_label_range([full]) == (20.0, 50.0)
    assert shared_label_range([full, short]) == (20.0, 30.0)
    late = RunResult("c", 0, "toy", {}, [], [
        RoundRecord(0, 60, 0.5, 0.0, [], [0, 0], 0.0, 0.0, 0.0)
    ], True)
    with pytest.raises(ValueError, match="share no label range"):
        shared_label_range([short, late])


def test_win_matrix_needs_three_shared_seeds_by_default() -> None:
    """Two seeds whose differences happen to be equal (0.01 on both) would be a
    zero-variance 'significant' win at every checkpoint; by default such pairs are not
    computed, and min_seeds=2 shows what the old rule counted."""
    import pytest

    runs = []
    for seed in range(2):
        runs.append(_run("random", seed, [0.5, 0.6, 0.7]))
        runs.append(_run("lucky", seed, [0.5, 0.61, 0.71]))
    names, W = win_matrix(runs)
    assert np.isnan(W).all()
    names, W2 = win_matrix(runs, min_seeds=2)
    assert W2[names.index("lucky"), names.index("random")] == 1.0
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="min_seeds"):
            win_matrix(runs, min_seeds=bad)  # type: ignore[arg-type]


def test_report_reads_labels_to_target_off_the_seed_mean_curve(tmp_path) -> None:
    """Two seeds cross 0.9 at different checkpoints; the mean curve (0.5, 0.8, 0.9, 0.95
    at 20..50 labels) reaches 0.9 at 40 exactly and 0.85 at 35 (interpolated), and the
    brackets subtract the runs' 2 initial labels."""
    import json

    from labelwise.bench.report import summarize, write_report

    runs = [_run("s", 0, [0.5, 0.7, 0.9, 0.95]), _run("s", 1, [0.5, 0.9, 0.9, 0.95])]
    for r in runs:
        r.initial = [0, 1]
    (summary,) = summarize(runs, targets=(0.85, 0.9, 0.99))
    assert summary.labels_to_mean_curve == {0.85: pytest.approx(35.0), 0.9: 40.0, 0.99: None}
    assert summary.initial_size == 2
    assert summary.labels_to[0.9] == (35.0, 2)  # median of the checkpoints 40 and 30
    md = write_report(tmp_path, runs, targets=(0.85, 0.9, 0.99))
    section = md.split("## Labels to target on the seed-mean curve")[1]
    assert "| s | 2 | 35 (33) | 40 (38) | — |" in section
    saved = json.loads((tmp_path / "summary.json").read_text())["strategies"][0]
    assert saved["labels_to_mean_curve"] == {"0.85": pytest.approx(35.0), "0.9": 40.0,
                                             "0.99": None}
    assert saved["initial_size"] == 2


def test_report_has_the_final_nll_and_an_nll_curve(tmp_path) -> None:
    from labelwise.bench.report import plot_learning_curves, summarize, write_report

    def run(seed: int, nlls: list[float]) -> RunResult:
        rounds = [
            RoundRecord(i, 20 + 10 * i, 0.5 + 0.1 * i, v, [], [0, 0], 0.0, 0.0, 0.0)
            for i, v in enumerate(nlls)
        ]
        return RunResult("s", seed, "toy", {}, [], rounds, True)

    runs = [run(0, [2.0, 1.0, 0.5]), run(1, [2.0, 1.2, 0.7])]
    np.testing.assert_array_equal(runs[1].nll, [2.0, 1.2, 0.7])
    (summary,) = summarize(runs)
    assert summary.final_nll[0] == pytest.approx(0.6)
    # t(0.975, 1) = 12.706; std of (0.5, 0.7) = 0.1414; sqrt(2)
    assert summary.final_nll[1] == pytest.approx(12.7062 * 0.141421 / np.sqrt(2), rel=1e-4)
    md = write_report(tmp_path, runs)
    assert "| final NLL |" in md.splitlines()[2] and "| 0.600 ± " in md
    assert "![test NLL](nll_curve.png)" in md and (tmp_path / "nll_curve.png").stat().st_size
    with pytest.raises(ValueError, match="metric"):
        plot_learning_curves(runs, tmp_path / "x.png", metric="loss")


def test_win_matrix_at_ash_et_al_log_spaced_checkpoints() -> None:
    """Checkpoints after the initial set: 30, 40, ..., 100 (8 of them); log2 keeps the 1st,
    2nd, 4th and 8th (30, 40, 60, 100 labels = 20 + 2^(m-1) * 10)."""
    rng = np.random.default_rng(2)
    runs = []
    for seed in range(4):
        base = np.linspace(0.5, 0.9, 9)
        noise = rng.normal(0, 0.002, size=9)
        runs.append(_run("random", seed, list(base + noise)))
        # better by 0.05 at 40 and 60 labels only (positions 1 and 3 of the 8 checkpoints)
        bump = np.zeros(9)
        bump[[2, 4]] = 0.05
        runs.append(_run("good", seed, list(base + noise + bump)))
    names, W_all = win_matrix(runs)
    _, W_log = win_matrix(runs, checkpoints="log2")
    i, j = names.index("good"), names.index("random")
    assert W_all[i, j] == 2 / 8 and W_log[i, j] == 2 / 4
    assert W_all[j, i] == 0 and W_log[j, i] == 0
    with pytest.raises(ValueError, match="checkpoints"):
        win_matrix(runs, checkpoints="log10")


def test_paired_gaps_known_answers() -> None:
    from labelwise.bench.stats import paired_gaps

    base = [[0.5, 0.6, 0.7, 0.8, 0.9], [0.4, 0.6, 0.6, 0.7, 0.8]]
    runs = [_run("random", s, base[s]) for s in (0, 1)]
    # "a": +0.1 then +0.02 on seed 0, +0.0 / +0.04 on seed 1; "b": only seed 1, -0.1 everywhere
    runs.append(_run("a", 0, [0.5, 0.7, 0.8, 0.82, 0.92]))
    runs.append(_run("a", 1, [0.4, 0.6, 0.6, 0.74, 0.84]))
    runs.append(_run("b", 1, [0.4, 0.5, 0.5, 0.6, 0.7]))
    runs.append(_run("lone", 5, [0.4, 0.5, 0.5, 0.6, 0.7]))  # no seed shared with random
    points, rows = paired_gaps(runs)
    assert points == [30, 40, 50, 60]  # every checkpoint after the initial 20
    got = {g.strategy: g for g in rows}
    assert set(got) == {"a", "b"}
    assert got["a"].n_pairs == 2 and got["a"].baseline == "random"
    np.testing.assert_allclose(got["a"].mean, [0.05, 0.05, 0.03, 0.03])
    # two pairs: t(0.975, 1) = 12.706 times sd / sqrt(2); the differences 0.1 and 0.0 at 30
    np.testing.assert_allclose(got["a"].half_width[0], 12.7062 * np.std([0.1, 0.0], ddof=1)
                               / np.sqrt(2), rtol=1e-4)
    assert got["b"].n_pairs == 1
    np.testing.assert_allclose(got["b"].mean, [-0.1, -0.1, -0.1, -0.1])
    assert got["b"].half_width == (0.0,) * 4  # one pair: no interval
    hash(got["b"])  # frozen and hashable
    # fewer points: evenly spread, the last one kept (with one point, only the last)
    points, rows = paired_gaps(runs, n_points=2)
    assert points == [30, 60]
    np.testing.assert_allclose({g.strategy: g.mean for g in rows}["a"], [0.05, 0.03])
    assert paired_gaps(runs, n_points=1)[0] == [60]
    assert paired_gaps(runs, n_points=None)[0] == [30, 40, 50, 60]
    # a run that shares no seed with random takes no part, whatever its label grid
    other = RunResult("other", 9, "toy", {}, [], [
        RoundRecord(i, 20 + 25 * i, 0.5, 0.0, [], [0, 0], 0.0, 0.0, 0.0) for i in range(2)
    ], True)
    assert paired_gaps([*runs, other]) == paired_gaps(runs)
    # a larger initial set among those taking part moves the first checkpoint past it
    late = [_run("random", 0, base[0]), _run("a", 0, [0.5, 0.7, 0.8, 0.82, 0.92])]
    late[1].rounds = late[1].rounds[1:]  # "a" starts at 30 labels
    assert paired_gaps(late)[0] == [40, 50, 60]
    assert paired_gaps(runs, baseline="missing") == ([], [])
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_points"):
            paired_gaps(runs, n_points=bad)  # type: ignore[arg-type]


def test_report_shows_the_gain_over_random_along_the_budget(tmp_path) -> None:
    import json

    from labelwise.bench.report import write_report

    runs = [
        _run("random", 0, [0.5, 0.6, 0.7, 0.8]), _run("random", 1, [0.5, 0.6, 0.6, 0.7]),
        _run("a", 0, [0.5, 0.7, 0.8, 0.82]), _run("a", 1, [0.5, 0.6, 0.64, 0.74]),
    ]
    md = write_report(tmp_path, runs)
    section = md.split("## Accuracy gain over random along the budget")[1].split("##")[0]
    assert "| strategy | pairs | 30 | 40 | 50 |" in section
    assert "| a | 2 | +5.0 | +7.0 | +3.0 |" in section
    saved = json.loads((tmp_path / "summary.json").read_text())["paired_gaps"]
    assert saved["baseline"] == "random" and saved["checkpoints"] == [30, 40, 50]
    (row,) = saved["rows"]
    assert row["strategy"] == "a" and row["n_pairs"] == 2
    np.testing.assert_allclose(row["accuracy_difference"], [0.05, 0.07, 0.03])
    assert "![gain over the baseline](gain_curve.png)" in section
    assert (tmp_path / "gain_curve.png").stat().st_size > 0
    # without a random baseline there is no such section; with one but no shared seed, it
    # says why there is no table (and no plot, not even a stale one)
    alone = write_report(tmp_path / "alone", [r for r in runs if r.strategy == "a"])
    assert "along the budget" not in alone
    apart = write_report(tmp_path / "apart", [runs[0], _run("a", 7, [0.5, 0.7, 0.8, 0.82])])
    assert "along the budget\n\nNot computed: no strategy shares a seed with random" in apart
    assert "gain_curve.png" not in apart and not (tmp_path / "apart" / "gain_curve.png").exists()
    (tmp_path / "apart" / "gain_curve.png").write_bytes(b"stale")
    write_report(tmp_path / "apart", [runs[0], _run("a", 7, [0.5, 0.7, 0.8, 0.82])])
    assert not (tmp_path / "apart" / "gain_curve.png").exists()
    from labelwise.bench.report import plot_gain_curves

    with pytest.raises(ValueError, match="no strategy shares a seed and a checkpoint"):
        plot_gain_curves([runs[0]], "random", tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"no runs of the baseline 'nope' among the "
                                         r"strategies \['a', 'random'\]"):
        plot_gain_curves(runs, "nope", tmp_path / "x.png")


def test_gain_panels_each_carry_an_x_axis_and_one_checkpoint_is_drawn(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five strategies (4 + 1 panels): the three top-row panels with nothing below keep
    their tick labels; one shared checkpoint is drawn as a point, not an empty line; the
    y-range ignores two-seed bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labelwise.bench import report

    figures: list = []
    monkeypatch.setattr(report, "_save_figure", lambda fig, path: figures.append(fig))
    runs = [_run("random", s, [0.5, 0.6, 0.7]) for s in (0, 1, 2)]
    for k, name in enumerate("abcde"):
        runs += [_run(name, s, [0.5, 0.6 + 0.01 * k, 0.7 + 0.01 * s]) for s in (0, 1, 2)]
    runs += [_run("wild", s, [0.5, 0.6, 0.7 + 0.4 * s]) for s in (0, 1)]  # 2 pairs
    report.plot_gain_curves(runs, "random", tmp_path / "g.png")
    fig = figures.pop()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6  # a..e and wild: rows of 4 + 2
    for i, ax in enumerate(visible):
        assert ax.xaxis.get_tick_params()["labelbottom"] == (i >= 2), i
        assert (ax.get_xlabel() == "labeled items") == (i >= 2), i
    _, hi = visible[0].get_ylim()
    assert hi < 30  # "wild": mean +20 pts at 40, its t-band (+-250 pts) is not in the range
    plt.close(fig)
    # one checkpoint after the initial set: a marker with an error bar
    short = [_run("random", s, [0.5, 0.6]) for s in (0, 1, 2)]
    short += [_run("a", s, [0.5, 0.65 + 0.01 * s]) for s in (0, 1, 2)]
    report.plot_gain_curves(short, "random", tmp_path / "g1.png", title="t")
    fig = figures.pop()
    (ax,) = [a for a in fig.axes if a.get_visible()]
    lines = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(lines) == 1 and lines[0].get_ydata()[0] == pytest.approx(6.0)
    assert fig.get_size_inches()[0] >= 7  # room for the heading
    plt.close(fig)
