"""Retrain recorded rounds of a committed run and compare with what the run recorded.

A seeded run is bit-identical only where the CPU kernels round alike (see
``labelwise.loop._environment``). This script measures how far a replay on this machine is
from a committed run: for each requested round it rebuilds the pool the round found
(:func:`labelwise.loop.replay_pool`), initialises the model and trains it with the run's
own seeds, evaluates it on the test set and prints the replayed test accuracy and NLL next
to the recorded ones.

    .venv/bin/python benchmarks/replay_rounds.py batchbald 0 --rounds 0,8,9,18,33
    ATEN_CPU_CAPABILITY=avx2 .venv/bin/python benchmarks/replay_rounds.py batchbald 0 --rounds 0

Training only (no selection), one torch thread, nothing written. Works for strategies that
train one network per round from a fresh initialisation (no warm start, CEAL, proxy or
ensemble predictor).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from labelwise.bench.suite import load_suite
from labelwise.datasets import load_dataset
from labelwise.loop import RunResult, replay_pool
from labelwise.loop._config import MEMBER_PREDICTORS
from labelwise.loop._environment import current_environment, environment_label
from labelwise.loop._seeding import MODEL_INIT, TRAIN, seeded_rng, seeded_torch_generator
from labelwise.models import evaluate, make_model, train_classifier

ROOT = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("strategy")
    ap.add_argument("seed", type=int)
    ap.add_argument("--rounds", default="0", help="comma-separated rounds to replay")
    ap.add_argument("--suite", default=str(ROOT / "suites" / "mnist-dbal.toml"))
    ap.add_argument("--results", default=str(ROOT / "results" / "mnist-dbal"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    suite = load_suite(args.suite)
    config = suite.config()
    if config.warm_start or config.ceal_delta0 is not None or config.uses_proxy or (
        config.predictor in MEMBER_PREDICTORS
    ):
        print("this suite does not train one fresh network per round; nothing to replay",
              file=sys.stderr)
        return 2
    path = Path(args.results) / "runs" / f"{args.strategy}__seed{args.seed}.json"
    if not path.is_file():
        print(f"no run file {path}", file=sys.stderr)
        return 2
    result = RunResult.from_dict(json.loads(path.read_text()))
    rounds = [int(r) for r in args.rounds.split(",")]
    if any(not 0 <= r < len(result.rounds) for r in rounds):
        print(f"--rounds must lie in 0..{len(result.rounds) - 1} ({path.name} has "
              f"{len(result.rounds)} recorded rounds)", file=sys.stderr)
        return 2
    data = load_dataset(suite.dataset)
    X = torch.as_tensor(np.asarray(data.X_train, dtype=np.float32))
    y = np.asarray(data.y_train)
    X_test = torch.as_tensor(np.asarray(data.X_test, dtype=np.float32))
    y_test = torch.as_tensor(np.asarray(data.y_test, dtype=np.int64))

    print(f"{path.name} replayed on: {environment_label(current_environment())}")
    print("recorded on: " + (
        "; ".join(f"from round {e.get('first_round')}: {environment_label(e)}"
                  for e in result.environments) or "not recorded"
    ))
    print("\n| round | labels | accuracy: replay / recorded | NLL: replay / recorded | same |")
    print("|---|---|---|---|---|")
    for rnd in rounds:
        labeled = replay_pool(result, y, data.n_classes, before_round=rnd).labeled_indices()
        model = make_model(
            config.model, input_shape=tuple(data.input_shape), n_classes=data.n_classes,
            generator=seeded_torch_generator(args.seed, MODEL_INIT),
        )
        train_classifier(
            model, X[labeled], torch.as_tensor(y[labeled]), config=config.train,
            rng=seeded_rng(args.seed, TRAIN, rnd),
        )
        acc, nll = evaluate(model, X_test, y_test)
        rec = result.rounds[rnd]
        same = "bit-identical" if acc == rec.test_accuracy and nll == rec.test_nll else "no"
        print(f"| {rnd} | {labeled.size} | {acc:.4f} / {rec.test_accuracy:.4f} | "
              f"{nll:.9f} / {rec.test_nll:.9f} | {same} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
