"""BatchBALD: labelwise vs batchbald-redux, baal and scikit-activeml, in one run.

Every implementation runs in its own subprocess on the same synthetic predictive samples
(written once to an .npy file), with the same number of sampled configurations M. Peak
memory is ``ru_maxrss`` of the subprocess minus its value right after the input was
loaded (and converted to the peer's layout). Peers run in ``.venv-bench`` (their
dependencies); labelwise runs in the same interpreter, with ``src`` on the path, so every
implementation uses the same torch build.

    .venv-bench/bin/python benchmarks/bench_batchbald.py [--quick] [--timeout 600] \
        [--mem-cap-gb 14]

Each subprocess is capped in time (``--timeout``) and address space (``--mem-cap-gb``,
RLIMIT_AS) so that a peer that needs more memory than the shared machine has fails
cleanly instead of invoking the OOM killer; a capped run is reported as such.

Agreement is the overlap of the selected index sets with labelwise's batch (|A ∩ B| / b).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: Sampled joint configurations per step, the same for every implementation of a case.
M = 40_000


def synth(n: int, k: int, c: int, seed: int) -> np.ndarray:
    """Predictive samples [n, k, c]: items of varied confidence and disagreement."""
    r = np.random.default_rng(seed)
    mu = r.normal(size=(n, 1, c)) * r.uniform(1, 6, size=(n, 1, 1))
    sig = r.exponential(0.7, size=(n, 1, 1))
    x = mu + sig * r.normal(size=(n, k, c))
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ----------------------------------------------------------------------------- workers
def _worker(impl: str, path: str, b: int, m: int) -> dict:
    import resource

    import torch

    probs = np.load(path)
    k = probs.shape[1]
    if impl == "labelwise":
        sys.path.insert(0, str(ROOT / "src"))
        from labelwise.select.batchbald import batchbald

        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        sel = batchbald(probs, b, rng=0, max_configurations=m)
        sec = time.perf_counter() - t
        idx, extra = sel.indices.tolist(), sel.info
    elif impl == "batchbald-redux":
        from batchbald_redux.batchbald import get_batchbald_batch

        lp = torch.from_numpy(np.log(probs))
        torch.manual_seed(0)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        out = get_batchbald_batch(lp, b, m, dtype=torch.double, device="cpu")
        sec = time.perf_counter() - t
        idx, extra = list(out.indices), {}
    elif impl == "baal":
        from baal.active.heuristics import BatchBALD

        pred = np.ascontiguousarray(probs.transpose(0, 2, 1))  # [N, C, K]
        torch.manual_seed(0)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        # baal draws num_draw configurations per posterior sample: M = K * num_draw.
        h = BatchBALD(num_samples=b, num_draw=m // k)
        scores = h.compute_score(pred)
        sec = time.perf_counter() - t
        # baal returns a score per item (not the pick order): its batch is the top b.
        idx, extra = np.argsort(-scores)[:b].tolist(), {"note": "top-b of returned scores"}
    elif impl == "scikit-activeml":
        from skactiveml.pool._bald import batch_bald

        pk = np.ascontiguousarray(probs.transpose(1, 0, 2))  # [K, N, C]
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        util = batch_bald(pk, b, n_MC_samples=m, random_state=0)
        sec = time.perf_counter() - t
        idx = [int(np.nanargmax(u)) for u in util]
        extra = {}
    else:
        raise ValueError(impl)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return {"impl": impl, "seconds": sec, "peak_mb": peak, "indices": idx,
            "torch": torch.__version__, "info": extra}


def run(impl: str, path: str, b: int, m: int, timeout: float, mem_gb: float) -> dict:
    import resource

    def cap() -> None:  # keep a peer's allocation from taking the shared machine down
        lim = int(mem_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    cmd = [sys.executable, __file__, "--worker", impl, path, str(b), str(m)]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=cap, check=False)
    except subprocess.TimeoutExpired:
        return {"impl": impl, "error": f"timeout after {timeout:.0f} s (capped)",
                "seconds": time.perf_counter() - t}
    if p.returncode != 0:
        tail = (p.stderr or "").strip().splitlines()[-1:] or [f"exit {p.returncode}"]
        return {"impl": impl, "error": f"failed (exit {p.returncode}): {tail[0][:160]}",
                "seconds": time.perf_counter() - t}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=4)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--mem-cap-gb", type=float, default=14.0)
    args = ap.parse_args()
    if args.worker:
        impl, path, b, m = args.worker
        print(json.dumps(_worker(impl, path, int(b), int(m))))
        return
    # (title, shape, b, M, implementations). scikit-activeml holds three [N, M, C] float64
    # arrays per step (24 GB at N = 10,000 and M = 10,000), so its case uses the largest M
    # that fits this 24 GB machine with room to spare, M = 2,000, for both implementations.
    cases = [
        ("N=1,000 K=20 C=10 b=10 M=40,000", (1_000, 20, 10), 10, M,
         ["labelwise", "batchbald-redux", "baal"]),
        ("N=10,000 K=20 C=10 b=100 M=40,000", (10_000, 20, 10), 100, M,
         ["labelwise", "scikit-activeml"]),
        ("N=10,000 K=20 C=10 b=100 M=2,000", (10_000, 20, 10), 100, 2_000,
         ["labelwise", "scikit-activeml"]),
    ]
    if args.quick:
        cases = [("N=300 K=20 C=10 b=6 M=40,000", (300, 20, 10), 6, M,
                  ["labelwise", "batchbald-redux", "baal", "scikit-activeml"])]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for title, shape, b, m, impls in cases:
            if args.only and args.only not in title:
                continue
            path = os.path.join(tmp, "probs.npy")
            np.save(path, synth(*shape, seed=0))
            results = [run(i, path, b, m, args.timeout, args.mem_cap_gb) for i in impls]
            ours = results[0]
            for r in results:
                if "error" in r:
                    rows.append((title, r["impl"], f"> {r['seconds']:.0f}" if "timeout"
                                 in r["error"] else "-", "-", "-", "-", r["error"]))
                    continue
                ratio = r["seconds"] / ours["seconds"]
                agree = len(set(r["indices"]) & set(ours["indices"])) / b
                note = json.dumps(r.get("info", {}), default=str)[:120]
                rows.append((title, r["impl"], f"{r['seconds']:.2f}", f"{r['peak_mb']:.0f}",
                             f"{ratio:.1f}x", f"{agree:.2f}", note))
                print(title, r["impl"], r["seconds"], r["peak_mb"], r["indices"],
                      file=sys.stderr, flush=True)
    print("| case | implementation | seconds | peak MB | time / labelwise | overlap | notes |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
