"""Why does random selection end mnist-dbal with 3x the test NLL of the MC-dropout scores?

The benchmarks README reads the final test NLL of mnist-dbal (random ~0.45 nats per digit,
BALD / entropy / variation ratios ~0.14) as two effects: the network trained 50 epochs
without weight decay is confidently wrong on its errors, and the uncertainty-selected
training sets hold more ambiguous digits. This script measures both on the committed runs.

For each (strategy, seed) it rebuilds the final labeled set (500 labels,
:func:`labelwise.loop.replay_pool`), retrains the round's network with the run's seeds (the
same protocol; bit-identical to the record only on the machine that made it), and reports:

- test accuracy and NLL, the share of the NLL that the misclassified digits carry and their
  mean NLL (nats per misclassified digit);
- the mean confidence (max probability) of the network on the digits it gets wrong;
- how ambiguous the training set is: the mean predictive entropy of its 500 digits under
  one reference network trained on the whole 4,000-digit pool (seed 0, 10 epochs), and the
  share of them that the reference itself misclassifies or gives < 0.9 confidence.

    .venv/bin/python benchmarks/nll_anatomy.py --strategies random,entropy,bald,variation-ratio --seeds 0,1,2

Training only, one torch thread, nothing written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

from labelwise.bench.suite import load_suite
from labelwise.datasets import load_dataset
from labelwise.loop import RunResult, replay_pool
from labelwise.loop._seeding import MODEL_INIT, TRAIN, seeded_rng, seeded_torch_generator
from labelwise.models import make_model, predict_proba, train_classifier

ROOT = Path(__file__).resolve().parent


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategies", default="random,entropy,bald,variation-ratio")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--suite", default=str(ROOT / "suites" / "mnist-dbal.toml"))
    ap.add_argument("--results", default=str(ROOT / "results" / "mnist-dbal"))
    ap.add_argument("--reference-epochs", type=int, default=10)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    suite = load_suite(args.suite)
    config = suite.config()
    data = load_dataset(suite.dataset)
    X = torch.as_tensor(np.asarray(data.X_train, dtype=np.float32))
    y = np.asarray(data.y_train)
    X_test = torch.as_tensor(np.asarray(data.X_test, dtype=np.float32))
    y_test = np.asarray(data.y_test, dtype=np.int64)
    shape, n_classes = tuple(data.input_shape), data.n_classes

    def build(seed: int) -> torch.nn.Module:
        return make_model(config.model, input_shape=shape, n_classes=n_classes,
                          generator=seeded_torch_generator(seed, MODEL_INIT))

    runs = {}
    for name in args.strategies.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            path = Path(args.results) / "runs" / f"{name}__seed{seed}.json"
            if not path.is_file():
                print(f"no run file {path}", file=sys.stderr)
                return 2
            run = RunResult.from_dict(json.loads(path.read_text()))
            if not run.finished:
                print(f"{path.name} is not finished", file=sys.stderr)
                return 2
            runs[(name, seed)] = run

    reference = build(0)
    train_classifier(
        reference, X, torch.as_tensor(y),
        config=dataclasses.replace(config.train, epochs=args.reference_epochs),
        rng=seeded_rng(0, TRAIN, 10_000),
    )
    p_ref = predict_proba(reference, X).numpy()
    ref_entropy = _entropy(p_ref)
    ref_wrong_or_unsure = (p_ref.argmax(1) != y) | (p_ref.max(1) < 0.9)
    print(f"reference network ({args.reference_epochs} epochs on all {len(y)} pool digits): "
          f"mean entropy over the pool {ref_entropy.mean():.3f} nats, "
          f"{ref_wrong_or_unsure.mean():.1%} of the pool wrong or < 0.9 confident\n")

    print("| strategy | seed | test acc | test NLL | NLL share of errors | NLL per error | "
          "confidence on errors | training set: reference entropy | wrong or unsure under "
          "the reference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, seed), run in runs.items():
        last = len(run.rounds) - 1
        labeled = replay_pool(run, y, n_classes, before_round=last).labeled_indices()
        model = build(seed)
        train_classifier(model, X[labeled], torch.as_tensor(y[labeled]), config=config.train,
                         rng=seeded_rng(seed, TRAIN, last))
        p = predict_proba(model, X_test).numpy()
        nll_i = -np.log(np.clip(p[np.arange(len(y_test)), y_test], 1e-45, None))
        wrong = p.argmax(1) != y_test
        print(f"| {name} | {seed} | {1 - wrong.mean():.3f} | {nll_i.mean():.3f} | "
              f"{nll_i[wrong].sum() / nll_i.sum():.0%} | {nll_i[wrong].mean():.2f} | "
              f"{p.max(1)[wrong].mean():.3f} | "
              f"{ref_entropy[labeled].mean():.3f} | {ref_wrong_or_unsure[labeled].mean():.1%} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
