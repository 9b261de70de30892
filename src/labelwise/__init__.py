"""labelwise: deep active learning — acquisition scores, batch-aware selection, pools, simulation."""

__version__ = "0.1.0"
