"""labelwise: deep active learning — acquisition scores, batch-aware selection, pools, simulation.

The curated public API::

    from labelwise import scores, select           # pure scores on [N, K, C]; selectors -> Selection
    from labelwise import get_strategy, available_strategies
    from labelwise import Pool, simulate, SimulationConfig, load_dataset

Subpackages: :mod:`labelwise.scores`, :mod:`labelwise.select`, :mod:`labelwise.models`,
:mod:`labelwise.datasets`, :mod:`labelwise.bench`; errors in :mod:`labelwise.errors`.
"""

from labelwise import errors, scores, select
from labelwise.datasets import Dataset, available_datasets, load_dataset
from labelwise.loop import RunResult, SimulationConfig, run_simulation, simulate
from labelwise.pool import Pool
from labelwise.select import Selection
from labelwise.strategies import Strategy, available_strategies, get_strategy

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "Pool",
    "RunResult",
    "Selection",
    "SimulationConfig",
    "Strategy",
    "__version__",
    "available_datasets",
    "available_strategies",
    "errors",
    "get_strategy",
    "load_dataset",
    "run_simulation",
    "scores",
    "select",
    "simulate",
]
