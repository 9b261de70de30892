"""Does K = 20 MC-dropout samples saturate BatchBALD's joint mutual information on mnist-dbal?

The mnist-dbal suite finds BatchBALD (b = 10) level with top-k BALD, where Kirsch et al.
(2019) found it 30 labels ahead with K = 100 samples. One explanation the benchmarks README
offers: the joint mutual information of K posterior samples is at most log K (3.0 nats for
K = 20), so with K = 20 the greedy's later picks have ~zero gain and are filled by tie-break.

This script measures that on the suite's own states. It replays a committed run (default:
BatchBALD, seed 0 of ``results/mnist-dbal``) to the start of a round: the same labeled set,
the same model initialisation and training seed, the same 2,000 candidates. It then draws
consistent MC-dropout samples with K = 20 and K = 100 (two independent draws each) and
reports, per K:

- the joint MI of the 10-item batch (the sum of the gains) and its share of log K;
- the gain of the last picks, and the picks whose gain is below 1% of the first;
- how many of BatchBALD's picks are also in top-10 BALD (on the same samples);
- the overlap between batches of two independent draws (the sampling noise; for top-10 BALD
  too), and between K = 20 and K = 100 batches.

As a check of the replay, draw 0 at the suite's K with the run's own seeds selects the batch
the committed run selected in that round when the replay's training is bit-identical to the
run's (same kernels; see ``benchmarks/replay_rounds.py``); elsewhere it is the same protocol
on a slightly different network, and the batches share only part of their items.

Gains after the first few picks are the sampled estimates of the paper (M = 40,000
configurations, M / K per posterior sample), not exact values.

    .venv/bin/python benchmarks/batchbald_k_saturation.py --rounds 0,8,18,33

Only the library's public API and the loop's seeding (``labelwise.loop._seeding``, the
seed purposes a run uses) are read; nothing is written.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from labelwise.bench.suite import load_suite
from labelwise.datasets import load_dataset
from labelwise.loop import RunResult, replay_pool
from labelwise.loop._seeding import (
    CANDIDATES,
    MODEL_INIT,
    PREDICT,
    SELECT,
    TRAIN,
    seeded_rng,
    seeded_torch_generator,
)
from labelwise.models import evaluate, make_model, predictive_samples, train_classifier
from labelwise.scores import bald
from labelwise.select import batchbald, top_k

ROOT = Path(__file__).resolve().parent


def _overlap(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.intersect1d(a, b).size)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default=str(ROOT / "suites" / "mnist-dbal.toml"))
    ap.add_argument("--results", default=str(ROOT / "results" / "mnist-dbal"))
    ap.add_argument("--strategy", default="batchbald")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", default="0,8,18,33",
                    help="rounds to replay (round r starts with 20 + 10 r labels)")
    ap.add_argument("--ks", default="20,100", help="sample counts K to compare")
    ap.add_argument("--max-configurations", type=int, default=40_000,
                    help="BatchBALD's M (the loop's default; smaller is faster and noisier)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    suite = load_suite(args.suite)
    config = suite.config()
    data = load_dataset(suite.dataset)
    X = torch.as_tensor(np.asarray(data.X_train, dtype=np.float32))
    y = np.asarray(data.y_train)
    run_path = Path(args.results) / "runs" / f"{args.strategy}__seed{args.seed}.json"
    if not run_path.is_file():
        print(f"no run file {run_path} (--results, --strategy and --seed name it)",
              file=sys.stderr)
        return 2
    result = RunResult.from_dict(json.loads(run_path.read_text()))
    b = config.batch_size
    ks = [int(k) for k in args.ks.split(",")]
    rounds = [int(r) for r in args.rounds.split(",")]
    # Rounds that acquired a batch (the last recorded round only trains and evaluates).
    acquiring = len(result.rounds) - (1 if result.finished else 0)
    if any(not 0 <= r < acquiring for r in rounds):
        print(f"--rounds must lie in 0..{acquiring - 1} (the rounds of {run_path.name} "
              "that acquired a batch)", file=sys.stderr)
        return 2
    # The replay check is meaningful only for a BatchBALD run at the suite's own K.
    check_k = config.mc_samples if result.strategy == "batchbald" else None
    print(f"replaying {run_path.name}: K in {ks}, b = {b}, {config.pool_subset} candidates\n")

    rows = []
    for rnd in rounds:
        pool = replay_pool(result, y, data.n_classes, before_round=rnd)
        labeled = pool.labeled_indices()
        cand = pool.candidates(config.pool_subset, rng=seeded_rng(args.seed, CANDIDATES, rnd))
        model = make_model(
            config.model, input_shape=tuple(data.input_shape), n_classes=data.n_classes,
            generator=seeded_torch_generator(args.seed, MODEL_INIT),
        )
        t0 = time.perf_counter()
        train_classifier(
            model, X[labeled], torch.as_tensor(y[labeled]), config=config.train,
            rng=seeded_rng(args.seed, TRAIN, rnd),
        )
        train_s = time.perf_counter() - t0
        acc, _ = evaluate(
            model, torch.as_tensor(np.asarray(data.X_test, dtype=np.float32)),
            torch.as_tensor(np.asarray(data.y_test, dtype=np.int64)),
        )
        recorded = result.rounds[rnd].test_accuracy
        batches: dict[tuple[int, int], np.ndarray] = {}
        bald_batches: dict[tuple[int, int], np.ndarray] = {}
        for k in ks:
            for draw in (0, 1):
                # Draw 0 of every K uses the run's own seeds (for K = 20: the run's batch).
                gen = (
                    seeded_torch_generator(args.seed, PREDICT, rnd) if draw == 0
                    else seeded_torch_generator(args.seed, PREDICT, rnd, 1_000 + k)
                )
                probs = predictive_samples(
                    model, X[cand], k=k, device="cpu", generator=gen, consistent=True
                )
                t1 = time.perf_counter()
                sel = batchbald(
                    probs, b, rng=seeded_rng(args.seed, SELECT, rnd),
                    max_configurations=args.max_configurations,
                )
                sel_s = time.perf_counter() - t1
                chosen = cand[sel.indices]
                batches[(k, draw)] = chosen
                gains = np.asarray(sel.gains, dtype=np.float64)
                bald_scores = np.asarray(bald(probs))
                topk = cand[top_k(bald_scores, b, rng=0).indices]
                bald_batches[(k, draw)] = topk
                joint = float(gains.sum())
                small = int((gains < 0.01 * gains[0]).sum())
                rows.append({
                    "round": rnd, "labels": int(labeled.size), "K": k, "draw": draw,
                    "joint_mi": joint, "share_of_logK": joint / math.log(k),
                    "first_gain": float(gains[0]), "last_gain": float(gains[-1]),
                    "picks_below_1pct": small,
                    "sum_bald_of_batch": float(bald_scores[sel.indices].sum()),
                    "in_top10_bald": _overlap(chosen, topk),
                    "select_s": sel_s,
                })
        run_batch = np.asarray(result.rounds[rnd].selected)
        replay = (
            "— (not a BatchBALD run, or its K not among --ks)"
            if check_k is None or check_k not in ks
            else f"{_overlap(batches[(check_k, 0)], run_batch)}/{b}"
        )
        overl = {
            f"K{k} draw0 vs draw1": _overlap(batches[(k, 0)], batches[(k, 1)]) for k in ks
        }
        overl.update({
            f"top-10 BALD K{k} draw0 vs draw1": _overlap(bald_batches[(k, 0)], bald_batches[(k, 1)])
            for k in ks
        })
        for k1, k2 in itertools.pairwise(ks):
            overl[f"K{k1} vs K{k2} (draw 0)"] = _overlap(batches[(k1, 0)], batches[(k2, 0)])
        print(f"round {rnd} ({labeled.size} labels; training {train_s:.0f} s); test accuracy "
              f"{acc:.4f} (the run recorded {recorded:.4f}); "
              f"items of the run's batch in the replay's (K = {config.mc_samples}, draw 0): "
              f"{replay}; overlaps: {overl}")
    print()
    hdr = ("| labels | K | draw | joint MI (nats) | share of log K | first gain | last gain | "
           "picks with gain < 1% of the first | sum of the batch's BALD | in top-10 BALD |")
    print(hdr)
    print("|---" * (hdr.count("|") - 1) + "|")
    for r in rows:
        print(f"| {r['labels']} | {r['K']} | {r['draw']} | {r['joint_mi']:.3f} | "
              f"{r['share_of_logK']:.0%} | {r['first_gain']:.3f} | {r['last_gain']:.4f} | "
              f"{r['picks_below_1pct']} | {r['sum_bald_of_batch']:.3f} | {r['in_top10_bald']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
