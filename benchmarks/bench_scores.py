"""Benchmark the acquisition scores: labelwise vs a plain NumPy baseline and the peers
baal, small-text and scikit-activeml, on N x K x C float32 predictive samples.

Every run of an (implementation, score) pair is a fresh subprocess that

1. loads the seeded input from a cached ``.npy`` (fully into memory, not memory-mapped),
2. imports the implementation and makes a small warm-up call on a copy of 1,000 items,
3. resets the kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``) and records
   the RSS as the baseline,
4. times one call of ``score + top-100 selection``, and
5. reports ``VmHWM - baseline``: the peak extra resident memory of that call.

The parent repeats this ``--repeats`` times, interleaved (repetition 1 of every pair, then
repetition 2, ...) so that all implementations see the same mix of machine load, and reports
the best time and the largest peak. An implementation slower than ``--single-run-above``
seconds runs once.

RSS counts every touched page whoever allocated it (NumPy, torch's CPU allocator, BLAS), so
the memory column is honest for all implementations alike. Fresh processes also keep peers
that modify their input in place (scikit-activeml clips ``probas`` with ``out=``) from
affecting anyone else.

Usage (from the repository root)::

    .venv-bench/bin/python benchmarks/bench_scores.py            # N = 1,000,000, K = 20, C = 10
    .venv-bench/bin/python benchmarks/bench_scores.py --n 100000 --impls labelwise,numpy

labelwise runs with ``--ours-python`` (default: the project's ``.venv``, i.e. the pinned
torch 2.13.0 build; falls back to the running interpreter with ``src`` on ``sys.path``);
everything else runs with the interpreter running this script. A peer that is not installed
is reported as missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCORES = ("entropy", "bald", "margin")
TOP = 100

# (implementation id, label in the table)
IMPLS: list[tuple[str, str]] = [
    ("labelwise-1t", "labelwise (1 thread)"),
    ("labelwise-2t", "labelwise (2 threads, OMP_WAIT_POLICY=PASSIVE)"),
    ("labelwise-torch-1t", "labelwise without its compiled pass (torch path, 1 thread)"),
    ("labelwise", "labelwise (2 threads, default OpenMP settings)"),
    ("numpy", "NumPy baseline (whole-array)"),
    ("baal", "baal"),
    ("small-text", "small-text"),
    ("skactiveml", "scikit-activeml"),
    ("skactiveml-kl", "scikit-activeml average_kl_divergence"),
]
REFERENCE = "labelwise-1t"


# --------------------------------------------------------------------------- data


def data_path(cache_dir: Path, n: int, k: int, c: int, seed: int) -> Path:
    return cache_dir / f"labelwise_bench_probs_{n}x{k}x{c}_seed{seed}.npy"


def make_data(path: Path, n: int, k: int, c: int, seed: int) -> None:
    """Seeded Dirichlet(1) probabilities [n, k, c] float32 (normalised Gamma(1) draws),
    written chunk by chunk so that generating them needs little memory."""
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp.npy")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, k, c))
    step = 65_536
    for s in range(0, n, step):
        g = rng.standard_gamma(1.0, size=(min(step, n - s), k, c), dtype=np.float32)
        g /= g.sum(-1, keepdims=True)
        arr[s : s + len(g)] = g
    arr.flush()
    del arr
    os.replace(tmp, path)


# --------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- implementations


def _np_top(scores: np.ndarray, k: int = TOP) -> np.ndarray:
    idx = np.argpartition(-scores, k)[:k]
    return idx[np.argsort(-scores[idx], kind="stable")]


def impl_labelwise(
    score: str, threads: int | None, native: bool = True
) -> tuple[Callable[[np.ndarray], Any], str]:
    try:
        import labelwise  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
    import torch

    import labelwise.scores as S
    from labelwise.scores import _driver
    from labelwise.select import top_k

    if threads is not None:
        torch.set_num_threads(threads)  # the benchmark process only
    if not native:
        _driver._NATIVE = None  # this benchmark process only: the torch path
    elif not S.native_available():
        raise ImportError("labelwise.scores._native is not built (reinstall with a C compiler)")
    fn = getattr(S, score)

    def run(p: np.ndarray) -> Any:
        return top_k(fn(p), TOP, rng=0).indices

    path = "compiled pass" if native else "torch path"
    return run, f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {path}"


def impl_numpy(score: str) -> tuple[Callable[[np.ndarray], Any], str]:
    tiny = np.finfo(np.float32).tiny

    def entropy(p: np.ndarray) -> np.ndarray:
        pbar = p.mean(axis=1)
        return -(pbar * np.log(np.maximum(pbar, tiny))).sum(-1)

    def bald(p: np.ndarray) -> np.ndarray:
        k = p.shape[1]
        cond = -(p * np.log(np.maximum(p, tiny))).sum(axis=(1, 2)) / k
        return entropy(p) - cond

    def margin(p: np.ndarray) -> np.ndarray:
        part = np.partition(p.mean(axis=1), -2, axis=-1)
        return -(part[:, -1] - part[:, -2])

    fn = {"entropy": entropy, "bald": bald, "margin": margin}[score]
    return (lambda p: _np_top(fn(p))), f"numpy {np.__version__}"


def impl_baal(score: str) -> tuple[Callable[[np.ndarray], Any], str]:
    import importlib.metadata

    from baal.active.heuristics import BALD, Entropy, Margin

    heuristic = {"entropy": Entropy, "bald": BALD, "margin": Margin}[score]()

    def run(p: np.ndarray) -> Any:
        # baal's layout is [n_samples, n_classes, n_iterations]: a transposed view, no copy.
        # get_ranks = their scoring (mean over iterations inside) + full argsort ranking.
        ranks, _ = heuristic.get_ranks(np.transpose(p, (0, 2, 1)))
        return ranks[:TOP]

    return run, f"baal {importlib.metadata.version('baal')}"


class _FakeClassifier:
    """Stands in for a small-text classifier whose predictions are already computed."""

    def __init__(self, probs: np.ndarray):
        self.probs = probs

    def predict_proba(self, dataset: Any, dropout_sampling: int | None = None) -> np.ndarray:
        if dropout_sampling is None:
            return self.probs.mean(axis=1)  # the mean over samples is timed on their side
        return self.probs


def impl_small_text(score: str) -> tuple[Callable[[np.ndarray], Any], str]:
    import importlib.metadata

    from small_text.query_strategies import BALD, BreakingTies, PredictionEntropy

    def run(p: np.ndarray) -> Any:
        n, k, _ = p.shape
        qs = {
            "entropy": PredictionEntropy(),
            "margin": BreakingTies(),
            "bald": BALD(dropout_samples=k),
        }[score]
        empty = np.zeros(0, dtype=np.int64)
        return qs.query(_FakeClassifier(p), None, np.arange(n), empty, empty, n=TOP)

    return run, f"small-text {importlib.metadata.version('small-text')}"


def impl_skactiveml(score: str) -> tuple[Callable[[np.ndarray], Any], str]:
    import importlib.metadata

    from skactiveml.pool import batch_bald, uncertainty_scores

    def run(p: np.ndarray) -> Any:
        if score == "bald":
            # BALD per item = BatchBALD with batch_size=1; layout [n_estimators, n_samples, C].
            u = batch_bald(np.swapaxes(p, 0, 1), batch_size=1)[0]
        else:
            method = "entropy" if score == "entropy" else "margin_sampling"
            u = uncertainty_scores(p.mean(axis=1), method=method)
        return _np_top(u)

    return run, f"scikit-activeml {importlib.metadata.version('scikit-activeml')}"


def impl_skactiveml_kl(score: str) -> tuple[Callable[[np.ndarray], Any], str]:
    import importlib.metadata

    from skactiveml.pool import average_kl_divergence

    if score != "bald":
        raise LookupError("average_kl_divergence is the BALD-equivalent QBC score only")

    def run(p: np.ndarray) -> Any:
        return _np_top(average_kl_divergence(np.swapaxes(p, 0, 1)))

    return run, f"scikit-activeml {importlib.metadata.version('scikit-activeml')}"


def build(impl: str, score: str) -> tuple[Callable[[np.ndarray], Any], str]:
    if impl == "labelwise-1t":
        return impl_labelwise(score, 1)
    if impl == "labelwise-2t":
        return impl_labelwise(score, 2)
    if impl == "labelwise-torch-1t":
        return impl_labelwise(score, 1, native=False)
    if impl == "labelwise":
        return impl_labelwise(score, None)
    return {
        "numpy": impl_numpy,
        "baal": impl_baal,
        "small-text": impl_small_text,
        "skactiveml": impl_skactiveml,
        "skactiveml-kl": impl_skactiveml_kl,
    }[impl](score)


# --------------------------------------------------------------------------- worker


def worker(args: argparse.Namespace) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    probs = np.load(args.data)  # fully resident before the baseline is taken
    try:
        run, version = build(args.worker, args.score)
    except ImportError as exc:
        print(json.dumps({"ok": False, "missing": True, "error": str(exc)}))
        return
    except LookupError as exc:
        print(json.dumps({"ok": False, "skip": True, "error": str(exc)}))
        return
    run(np.ascontiguousarray(probs[:1000]).copy())  # warm-up: imports, lazy initialisation
    exact = _reset_peak()
    base_kb = _status_kb("VmRSS:")
    t0 = time.perf_counter()
    top = run(probs)
    seconds = time.perf_counter() - t0
    peak_kb = _status_kb("VmHWM:")
    print(
        json.dumps(
            {
                "ok": True,
                "version": version,
                "seconds": seconds,
                "baseline_mb": base_kb / 1024,
                "peak_extra_mb": (peak_kb - base_kb) / 1024,
                "peak_reset": exact,
                "top": [int(i) for i in np.asarray(top).reshape(-1)],
            }
        )
    )


# --------------------------------------------------------------------------- driver


def _default_ours_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run_one(python: str, impl: str, score: str, data: Path, args: argparse.Namespace) -> dict:
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--worker",
        impl,
        "--score",
        score,
        "--data",
        str(data),
    ]
    env = dict(os.environ)
    if impl == "labelwise-2t":
        # Idle OpenMP workers sleep instead of spinning: on a machine shared with other
        # busy processes, spinning workers make every parallel region wait for a CPU.
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {args.timeout} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"ok": False, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--c", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--repeats", type=int, default=3, help="best of this many runs (each a fresh process)"
    )
    ap.add_argument(
        "--single-run-above",
        type=float,
        default=120.0,
        help="seconds: an implementation slower than this runs once",
    )
    ap.add_argument("--scores", default=",".join(SCORES))
    ap.add_argument("--impls", default=",".join(i for i, _ in IMPLS))
    ap.add_argument("--cache-dir", default="/tmp")
    ap.add_argument("--ours-python", default=_default_ours_python())
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--json", help="also write the raw results here")
    # worker mode (internal)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--score", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    data = data_path(Path(args.cache_dir), args.n, args.k, args.c, args.seed)
    if not data.exists():
        print(f"generating {data} ...", file=sys.stderr)
        make_data(data, args.n, args.k, args.c, args.seed)
    input_mb = args.n * args.k * args.c * 4 / 2**20
    impls = [(i, label) for i, label in IMPLS if i in args.impls.split(",")]
    scores = args.scores.split(",")
    print(
        f"# N={args.n:,} K={args.k} C={args.c} float32 Dirichlet(1), seed {args.seed}; "
        f"input {input_mb:.0f} MB; best of {args.repeats}; top-{TOP} selection included; "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    # Repetitions are interleaved (rep 1 of everything, then rep 2, ...) so that every
    # implementation sees the same mix of machine load; each run is a fresh subprocess.
    results: dict[str, dict[str, dict]] = {}
    for rep in range(args.repeats):
        for score in scores:
            for impl, label in impls:
                cur = results.setdefault(score, {}).setdefault(
                    impl, {"ok": True, "times": [], "peak_extra_mb": 0.0}
                )
                slow = bool(cur.get("times")) and cur["times"][0] > args.single_run_above
                if not cur.get("ok") or slow:
                    continue  # failed / missing, or so slow that one run ranks it
                python = args.ours_python if impl.startswith("labelwise") else sys.executable
                res = run_one(python, impl, score, data, args)
                if not res.get("ok"):
                    results[score][impl] = res
                    state = res.get("error", "?")
                else:
                    cur["times"].append(res["seconds"])
                    cur["peak_extra_mb"] = max(cur["peak_extra_mb"], res["peak_extra_mb"])
                    cur["peak_reset"] = res["peak_reset"]
                    cur["version"], cur["top"] = res["version"], res["top"]
                    state = f"{res['seconds']:.3f} s, +{res['peak_extra_mb']:.0f} MB"
                print(
                    f"  rep {rep + 1} {score:8s} {label:40s} {state}", file=sys.stderr, flush=True
                )

    header = (
        "| score | implementation | seconds (best) | peak extra MB | extra / input "
        "| ratio to ours (s / our s) | top-100 overlap with ours |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    versions: dict[str, str] = {}
    for score in scores:
        ref = results[score].get(REFERENCE, {})
        ref_t = min(ref["times"]) if ref.get("ok") else None
        ref_top = set(ref.get("top", []))
        for impl, label in impls:
            res = results[score][impl]
            if res.get("skip"):
                continue
            if not res.get("ok"):
                why = "not installed" if res.get("missing") else res.get("error", "failed")
                lines.append(f"| {score} | {label} | {why} | | | | |")
                continue
            versions[label] = res["version"]
            t = min(res["times"])
            runs = len(res["times"])
            t_txt = f"{t:.3f}" + ("" if runs == args.repeats else f" ({runs} run)")
            speed = "" if impl == REFERENCE or ref_t is None else f"{t / ref_t:.1f}x"
            overlap = "" if impl == REFERENCE else f"{len(ref_top & set(res['top']))}/{TOP}"
            mem = res["peak_extra_mb"]
            lines.append(
                f"| {score} | {label} | {t_txt} | {mem:.0f} | {100 * mem / input_mb:.1f}% "
                f"| {speed} | {overlap} |"
            )
    print("\n".join(lines))
    print("\nversions: " + "; ".join(f"{k}: {v}" for k, v in versions.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
