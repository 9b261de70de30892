"""Simulated active learning: the unlabeled-pool game with an oracle.

One run = one (strategy, seed) pair::

    initial set (class-balanced or random) ->
    repeat: train -> predict samples / embeddings -> select a batch -> reveal labels -> evaluate

until the labeling budget is spent. Every source of randomness is derived from the seed
through :class:`numpy.random.SeedSequence` keyed by (seed, round, purpose), so that

- the same seed gives the same curve, whatever ran before it in the process (bit for bit
  on the same machine and build; on a CPU whose kernels round differently, the same
  protocol on a drifting float path: every run records where its rounds were computed,
  :attr:`RunResult.environments`);
- all strategies share the initial set and the model initialisation of a seed (a paired
  comparison, as the evaluation literature asks for);
- a run resumed from its checkpoint continues exactly as if it had never stopped.

A checkpoint (JSON, plus the model's ``state_dict`` when training continues across rounds)
is written after every round when ``out_dir`` is given.

Modules, one purpose each:

- ``_config``: :class:`SimulationConfig` and :func:`check_config`;
- ``_results``: :class:`RoundRecord`, :class:`RunResult`, reading and (atomic) writing;
- ``_seeding``: the seeded generators and their purpose numbers;
- ``_environment``: what a run records of the environment that computed its rounds;
- ``_predictors``: training and predictive samples under ``config.predictor``;
- ``_ceal``: CEAL's pseudo-labels;
- ``_proxy``: selection via proxy, compared with the run without;
- ``_run``: the rounds of one run (:func:`run_simulation`), :func:`simulate`, and
  :func:`replay_pool` (a recorded run's pool at any round).
"""

from __future__ import annotations

from labelwise.loop._ceal import ceal_threshold
from labelwise.loop._config import (
    SimulationConfig,
    check_config,
    check_strategy_config,
    samples_per_item,
)
from labelwise.loop._proxy import (
    ProxyComparison,
    compare_proxy,
    compare_proxy_runs,
    proxy_markdown,
    selection_seconds,
)
from labelwise.loop._results import (
    RESULTS_SCHEMA_VERSION,
    RoundRecord,
    RunResult,
    read_results,
    run_file_name,
    write_results,
)
from labelwise.loop._run import (
    ProgressFn,
    initial_indices,
    replay_pool,
    run_simulation,
    simulate,
)

__all__ = [
    "RESULTS_SCHEMA_VERSION",
    "ProgressFn",
    "ProxyComparison",
    "RoundRecord",
    "RunResult",
    "SimulationConfig",
    "ceal_threshold",
    "check_config",
    "check_strategy_config",
    "compare_proxy",
    "compare_proxy_runs",
    "initial_indices",
    "proxy_markdown",
    "read_results",
    "replay_pool",
    "run_file_name",
    "run_simulation",
    "samples_per_item",
    "selection_seconds",
    "simulate",
    "write_results",
]
