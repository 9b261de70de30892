"""Print the README's label-efficiency tables from a results folder's ``summary.json``.

The tables in ``benchmarks/README.md`` are pasted from this script's output rather than
copied by hand, so that they always equal the committed reports. For suites with published
numbers (mnist-dbal: Gal et al. 2017 Table 1 and Kirsch et al. 2019) the paper's column is
added next to ours.

    .venv/bin/python benchmarks/paper_tables.py benchmarks/results/mnist-dbal
    .venv/bin/python benchmarks/paper_tables.py benchmarks/results/fashion-mnist

Columns: seeds, final accuracy and AUBC (mean ± 95% t half-width over seeds), labels to
each target as the median over seeds of each run's first checkpoint at or above it (with
the number of seeds that reached it), the same read off the seed-mean curve with linear
interpolation and counted as labels acquired beyond the initial set, and the paired AUBC
difference to random with its p-value. A second table gives the seed-paired accuracy gain
over random at checkpoints along the budget.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: Published labels to 90% / 95% accuracy (images acquired; REFERENCES.md), per strategy.
PAPER: dict[str, dict[str, str]] = {
    "mnist-dbal": {
        "random": "255 / 835",
        "entropy": "165 / 355",
        "bald": "145 / 335",
        "variation-ratio": "120 / 295",
        "mean-std": "230 / 695 (unverified)",
        "batchbald": "90 / 200 (BatchBALD paper, median)",
    },
}

NAMES = {
    "entropy": "max entropy",
    "bald": "BALD",
    "variation-ratio": "variation ratios",
    "mean-std": "mean STD",
    "batchbald": "BatchBALD (b = 10)",
    "coreset": "core-set",
    "badge": "BADGE",
    "power-bald": "PowerBALD",
    "egl": "EGL",
    "label-dispersion": "label dispersion",
    "vaal": "VAAL",
}


def _pm(value: list[float], n_seeds: int) -> str:
    mean, half = value
    return f"{mean:.3f}" if n_seeds < 2 else f"{mean:.3f} ± {half:.3f}"


def _labels(entry: list[Any], n_seeds: int) -> str:
    median, reached = entry
    if median is None:
        return "—"
    return f"{median:.0f}" if reached == n_seeds else f"{median:.0f} ({reached}/{n_seeds})"


def table(results: Path) -> str:
    """The Markdown table for one results folder."""
    summary = json.loads((results / "summary.json").read_text())
    paper = PAPER.get(results.name, {})
    paired = {p["strategy"]: p for p in summary["paired_vs_random"]}
    strategies = summary["strategies"]
    targets = list(strategies[0]["labels_to"]) if strategies else []
    pct = [f"{float(t):.0%}" for t in targets]
    head = ["strategy", "seeds", "final acc", "AUBC"]
    head += [f"labels to {p} (total, median)" for p in pct]
    head += ["mean curve: acquired to " + " / ".join(pct)]
    head += ["paper: " + " / ".join(pct)] if paper else []
    head += ["ΔAUBC vs random", "p"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in strategies:
        n = s["n_seeds"]
        init = s.get("initial_size")
        on_mean = [s["labels_to_mean_curve"][t] for t in targets]
        row = [NAMES.get(s["strategy"], s["strategy"]), str(n), _pm(s["final_accuracy"], n),
               _pm(s["aubc"], n)]
        row += [_labels(s["labels_to"][t], n) for t in targets]
        # acquired beyond the initial set: unknown when the runs' initial sizes differ
        row += [" / ".join("—" if v is None or init is None else f"{v - init:.0f}"
                           for v in on_mean)]
        row += [paper.get(s["strategy"], "—")] if paper else []
        p = paired.get(s["strategy"])
        if p is None:
            row += ["—", "—"]
        elif p["p_value"] is None or p["p_value"] != p["p_value"]:  # one pair: no test
            row += [f"{p['mean_difference']:+.3f}", "—"]
        else:
            row += [f"{p['mean_difference']:+.3f}", f"{p['p_value']:.2g} ({p['n_pairs']} pairs)"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def gap_table(results: Path) -> str:
    """The seed-paired accuracy gain over the random baseline along the budget (points), or
    "" when the summary has none (no baseline, or written before it was recorded)."""
    gaps = json.loads((results / "summary.json").read_text()).get("paired_gaps") or {}
    points, rows = gaps.get("checkpoints") or [], gaps.get("rows") or []
    if not rows:
        return ""
    head = ["strategy", "pairs", *(str(c) for c in points)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [NAMES.get(r["strategy"], r["strategy"]), str(r["n_pairs"])]
        cells += [f"{100 * g:+.1f}" for g in r["accuracy_difference"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="results folders (summary.json)")
    args = parser.parse_args(argv)
    for folder in args.results:
        path = folder / "summary.json"
        strategies = json.loads(path.read_text())["strategies"] if path.is_file() else None
        if not strategies or "labels_to_mean_curve" not in strategies[0]:
            what = "no summary.json" if strategies is None else "an older summary.json"
            print(f"{folder}: {what} (run `labelwise report {folder}` first)", file=sys.stderr)
            return 2
        print(f"### {folder.name}\n\n{table(folder)}")
        gaps = gap_table(folder)
        if gaps:
            baseline = json.loads(path.read_text())["paired_gaps"]["baseline"]
            print(f"Accuracy gain over {baseline} along the budget (points; columns: labels)"
                  f"\n\n{gaps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
