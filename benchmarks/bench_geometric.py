"""Core-set and BADGE: labelwise vs scikit-activeml / small-text, same inputs, one run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_geometric.py            # full run, prints a table
    .venv/bin/python benchmarks/bench_geometric.py --quick    # small sizes, smoke test

Inputs are generated once (seeded) and saved as ``.npy``; every implementation then runs in
its own subprocess (labelwise in ``.venv``, the peers in ``.venv-bench``) so that peak RSS is
per implementation. Each child reports the wall time of the selection call alone, its peak
RSS (``VmHWM``) and the extra memory over its RSS right after loading the inputs. Peers
are killed after ``--timeout`` seconds (default 600) and reported as capped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OURS_PY = ROOT / ".venv" / "bin" / "python"
PEER_PY = ROOT / ".venv-bench" / "bin" / "python"


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    # VmHWM (this process's peak RSS). Not ru_maxrss: Linux carries ru_maxrss across
    # fork + exec, so a child would inherit the (large) parent's peak.
    return _status_mb("VmHWM")


# --------------------------------------------------------------------------- inputs


def make_inputs(d: Path, quick: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    n_b, dim_b, c = (5_000, 64, 10) if quick else (50_000, 512, 10)
    n_big, dim_big = (20_000, 32) if quick else (1_000_000, 128)

    def mixture(n: int, dim: int) -> np.ndarray:
        centres = rng.normal(scale=3.0, size=(20, dim)).astype(np.float32)
        x = rng.normal(size=(n, dim)).astype(np.float32)
        x += centres[rng.integers(0, 20, size=n)]
        return x

    emb = mixture(n_b, dim_b)
    w = rng.normal(scale=0.05, size=(dim_b, c)).astype(np.float32)
    logits = emb @ w
    logits -= logits.max(1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(1, keepdims=True)
    np.save(d / "emb.npy", emb)
    np.save(d / "probs.npy", probs.astype(np.float32))
    labeled = np.sort(rng.choice(n_b, size=n_b // 50, replace=False))
    np.save(d / "labeled.npy", labeled)
    big = mixture(n_big, dim_big)
    np.save(d / "big.npy", big)
    np.save(d / "big_labeled.npy", np.sort(rng.choice(n_big, size=1000, replace=False)))
    return {
        "badge": {"N": n_b, "D": dim_b, "C": c, "b": 10 if quick else 100},
        "coreset": {"N": n_b, "D": dim_b, "labeled": int(labeled.size), "b": 10 if quick else 100},
        "coreset_big": {"N": n_big, "D": dim_big, "labeled": 1000, "b": 50 if quick else 1000},
        "big_input_mb": big.nbytes / 2**20,
    }


# --------------------------------------------------------------------------- jobs (children)


def job_badge_labelwise(d: Path, b: int) -> list[int]:
    import torch

    torch.set_num_threads(2)
    from labelwise.select.badge import badge

    emb, probs = np.load(d / "emb.npy"), np.load(d / "probs.npy")
    badge(probs[:200, None, :], emb[:200], 5, rng=0)  # warm-up: BLAS/thread-pool buffers
    base = _rss_mb()
    t = time.perf_counter()
    sel = badge(probs[:, None, :], emb, b, rng=0)
    return _done(t, base, sel.indices)


def job_badge_skactiveml(d: Path, b: int) -> list[int]:
    from skactiveml.base import SkactivemlClassifier
    from skactiveml.pool import Badge

    emb, probs = np.load(d / "emb.npy"), np.load(d / "probs.npy")

    class FixedProbs(SkactivemlClassifier):  # returns the benchmark's probabilities
        def __init__(self, classes: Any = None, missing_label: Any = np.nan) -> None:
            super().__init__(classes=classes, missing_label=missing_label)

        def fit(self, X: Any, y: Any, sample_weight: Any = None) -> FixedProbs:
            return self

        def predict_proba(self, X: Any, **kw: Any) -> np.ndarray:
            return self.p_

    y = np.full(emb.shape[0], np.nan)
    warm = FixedProbs(classes=np.arange(probs.shape[1]))
    warm.p_ = probs[:200]
    Badge(random_state=0).query(X=emb[:200], y=y[:200], clf=warm, fit_clf=False, batch_size=5)
    clf = FixedProbs(classes=np.arange(probs.shape[1]))
    clf.p_ = probs
    base = _rss_mb()
    t = time.perf_counter()
    idx = Badge(random_state=0).query(X=emb, y=y, clf=clf, fit_clf=False, batch_size=b)
    return _done(t, base, np.asarray(idx))


def job_badge_smalltext(d: Path, b: int) -> list[int]:
    from small_text.integrations.pytorch.query_strategies.strategies import BADGE

    emb, probs = np.load(d / "emb.npy"), np.load(d / "probs.npy")
    n = emb.shape[0]
    BADGE(num_classes=probs.shape[1]).sample(  # warm-up on a slice
        None, None, np.arange(200), np.array([], dtype=np.int64), None, 5, emb[:200],
        embeddings_proba=probs[:200],
    )
    base = _rss_mb()
    t = time.perf_counter()
    idx = BADGE(num_classes=probs.shape[1]).sample(
        None, None, np.arange(n), np.array([], dtype=np.int64), None, b, emb,
        embeddings_proba=probs,
    )
    return _done(t, base, np.asarray(idx))


def job_coreset_labelwise(d: Path, b: int) -> list[int]:
    import torch

    torch.set_num_threads(2)
    from labelwise.select.coreset import k_center_greedy

    emb, lab = np.load(d / "emb.npy"), np.load(d / "labeled.npy")
    k_center_greedy(emb[:200], 5, exclude=[0, 1])  # warm-up: BLAS/thread-pool buffers
    base = _rss_mb()
    t = time.perf_counter()
    sel = k_center_greedy(emb, b, exclude=lab)
    return _done(t, base, sel.indices)


def job_coreset_skactiveml(d: Path, b: int) -> list[int]:
    from skactiveml.pool import CoreSet

    emb, lab = np.load(d / "emb.npy"), np.load(d / "labeled.npy")
    y = np.full(emb.shape[0], np.nan)
    y[lab] = 0
    CoreSet(random_state=0).query(X=emb[:200], y=y[:200], batch_size=5)  # warm-up
    base = _rss_mb()
    t = time.perf_counter()
    idx = CoreSet(random_state=0).query(X=emb, y=y, batch_size=b)
    return _done(t, base, np.asarray(idx))


def job_coreset_big_labelwise(d: Path, b: int) -> list[int]:
    import torch

    torch.set_num_threads(2)
    from labelwise.select.coreset import k_center_greedy

    x, lab = np.load(d / "big.npy"), np.load(d / "big_labeled.npy")
    k_center_greedy(x[:200], 5, exclude=[0, 1])  # warm-up: BLAS/thread-pool buffers
    base = _rss_mb()
    t = time.perf_counter()
    sel = k_center_greedy(x, b, exclude=lab)
    return _done(t, base, sel.indices)


def _done(t0: float, base: float, idx: Any) -> list[int]:
    sec = time.perf_counter() - t0
    out = {
        "seconds": sec,
        "peak_mb": _peak_mb(),
        "extra_mb": _peak_mb() - base,
        "indices": [int(i) for i in np.asarray(idx).reshape(-1)],
    }
    print("RESULT " + json.dumps(out))
    return out["indices"]


JOBS = {
    "badge_labelwise": (OURS_PY, job_badge_labelwise, "badge"),
    "badge_skactiveml": (PEER_PY, job_badge_skactiveml, "badge"),
    "badge_smalltext": (PEER_PY, job_badge_smalltext, "badge"),
    "coreset_labelwise": (OURS_PY, job_coreset_labelwise, "coreset"),
    "coreset_skactiveml": (PEER_PY, job_coreset_skactiveml, "coreset"),
    "coreset_big_labelwise": (OURS_PY, job_coreset_big_labelwise, "coreset_big"),
}


# --------------------------------------------------------------------------- driver


def run_job(name: str, d: Path, b: int, timeout: float) -> dict[str, Any]:
    py = JOBS[name][0]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
           "OPENBLAS_NUM_THREADS": "2", "PYTHONWARNINGS": "ignore"}
    cmd = [str(py), str(Path(__file__).resolve()), "--job", name, "--dir", str(d), "--b", str(b)]
    try:
        p = subprocess.run(
            cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"status": f"capped at {timeout:.0f} s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return {"status": "ok", **json.loads(line[7:])}
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"status": "failed: " + " | ".join(tail)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--job")
    ap.add_argument("--dir")
    ap.add_argument("--b", type=int)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--only", default="", help="comma-separated job names")
    args = ap.parse_args()
    if args.job:
        JOBS[args.job][1](Path(args.dir), args.b)
        return
    with tempfile.TemporaryDirectory(prefix="lw_bench_geo_") as tmp:
        d = Path(tmp)
        meta = make_inputs(d, args.quick)
        print("inputs:", json.dumps(meta))
        names = [n for n in JOBS if not args.only or n in args.only.split(",")]
        res: dict[str, dict[str, Any]] = {}
        for name in names:
            cfg = meta[JOBS[name][2]]
            res[name] = run_job(name, d, cfg["b"], args.timeout)
            r = res[name]
            print(name, {k: v for k, v in r.items() if k != "indices"}, flush=True)
    _table(res, meta)


def _agreement(a: dict[str, Any], b: dict[str, Any]) -> str:
    if "indices" not in a or "indices" not in b:
        return "-"
    ia, ib = a["indices"], b["indices"]
    same_order = ia == ib
    overlap = len(set(ia) & set(ib)) / len(ia)
    first = "same first pick" if ia[0] == ib[0] else "different first pick"
    return ("identical batch, same order" if same_order else f"overlap {overlap:.0%}, {first}")


def _table(res: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    rows = []
    groups = {
        "badge": ("badge_labelwise", ["badge_skactiveml", "badge_smalltext"]),
        "coreset": ("coreset_labelwise", ["coreset_skactiveml"]),
        "coreset_big": ("coreset_big_labelwise", []),
    }
    print()
    print("| task | implementation | seconds | peak RSS MB | extra MB | ours faster by | agreement with ours |")
    print("|---|---|---:|---:|---:|---:|---|")
    for g, (ours, peers) in groups.items():
        if ours not in res:
            continue
        o = res[ours]
        cfg = meta[g]
        task = g + " " + ", ".join(f"{k}={v:,}" for k, v in cfg.items())
        for name in [ours] + peers:
            if name not in res:
                continue
            r = res[name]
            if r["status"] != "ok":
                rows.append(f"| {task} | {name} | {r['status']} | | | | |")
                continue
            ratio = "" if name == ours or o.get("status") != "ok" else f"{r['seconds'] / o['seconds']:.1f}x"
            agree = "" if name == ours else _agreement(o, r)
            rows.append(
                f"| {task} | {name} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | "
                f"{r['extra_mb']:.0f} | {ratio} | {agree} |"
            )
    print("\n".join(rows))
    print(f"\n1M input size: {meta['big_input_mb']:.0f} MB")


if __name__ == "__main__":
    main()
