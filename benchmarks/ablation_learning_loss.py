"""Learning loss on digits: how much the loss module costs the classifier, and how it selects.

Runs random and learning-loss selection on the same ``ll-mlp`` network for three settings of
``LearningLossNet.stop_grad_epoch`` (module shapes the backbone for all epochs, for the
paper's 60%, never) and prints the AUBC of each seed. See docs/model-based.md.

    .venv/bin/python benchmarks/ablation_learning_loss.py [--seeds 3] [--epochs 30]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from labelwise.bench.metrics import aubc
from labelwise.loop import SimulationConfig, simulate
from labelwise.models import LearningLossNet, TrainConfig, learning_loss_stop_epoch


def run(strategy: str, model: str, stop: int | None, seeds: list[int], epochs: int) -> list[float]:
    """AUBC per seed with every ``LearningLossNet`` built by the loop forced to ``stop``."""
    original = LearningLossNet.__init__

    def init(self: LearningLossNet, *args: object, **kw: object) -> None:
        kw["stop_grad_epoch"] = stop
        original(self, *args, **kw)  # type: ignore[arg-type]

    LearningLossNet.__init__ = init  # type: ignore[method-assign]
    try:
        cfg = SimulationConfig(
            batch_size=10, budget=100, initial_size=20, model=model, mc_samples=10,
            pool_subset=500, train=TrainConfig(epochs=epochs, lr=0.01),
        )
        runs = simulate("digits-flat", strategy, seeds=seeds, config=cfg)
    finally:
        LearningLossNet.__init__ = original  # type: ignore[method-assign]
    return [aubc(r.labels, r.accuracy) for r in runs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    paper = learning_loss_stop_epoch(args.epochs)
    print("| module shapes the backbone | random AUBC | learning-loss AUBC |")
    print("|---|---:|---:|")
    for label, stop in (("all epochs", None), (f"{paper} of {args.epochs} epochs", paper),
                        ("never", 0)):
        r = run("random", "ll-mlp", stop, seeds, args.epochs)
        ll = run("learning-loss", "ll-mlp", stop, seeds, args.epochs)
        print(f"| {label} | {np.mean(r):.3f} ({', '.join(f'{x:.3f}' for x in r)}) "
              f"| {np.mean(ll):.3f} ({', '.join(f'{x:.3f}' for x in ll)}) |", flush=True)
    plain = run("random", "mlp", None, seeds, args.epochs)
    print(f"| (plain mlp, random) | {np.mean(plain):.3f} | — |")


if __name__ == "__main__":
    main()
