"""Acquisition scores: predictive samples ``[N, K, C]`` -> one score per item ``[N]``.

Every score is a pure function ``f(probs=None, *, log_probs=None, chunk_size=None)``:

- ``probs`` is ``[N, K, C]`` (N items, K stochastic samples or committee members, C
  classes; K = 1 for a deterministic model); ``log_probs=`` takes log-probabilities instead.
- numpy in -> numpy out, torch in -> torch out (same device); float32 -> float32,
  float64 -> float64. Inputs are never modified.
- Higher = label first; entropies are in nats.
- The pool is validated and scored chunk by chunk, so the extra memory is bounded whatever
  N is: scoring 1e6 x 20 x 10 float32 (763 MiB) peaks at < 10 MB extra, 4 MB of which is the
  output; see ``benchmarks/README.md``.

==================== ====================================== ============================
function             value                                  source
==================== ====================================== ============================
least_confidence     1 - max_c pbar_c                       Lewis & Gale 1994
margin               -(pbar_top1 - pbar_top2)               Scheffer et al. 2001
ratio                pbar_top2 / pbar_top1                  Settles 2009
entropy              H[pbar]                                Shannon 1948; Gal et al. 2017
expected_entropy     mean_k H[p_k]                          Houlsby et al. 2011
bald                 H[pbar] - mean_k H[p_k]                Houlsby et al. 2011; Gal 2017
variation_ratio      1 - (modal vote count) / K             Freeman 1965; Gal et al. 2017
mean_std             mean_c std_k p_kc                      Kampffmeyer et al. 2016
vote_entropy         H[vote histogram / K]                  Dagan & Engelson 1995
consensus_entropy    H[pbar]                                Settles 2009 (QBC)
kl_disagreement      mean_k KL(p_k || pbar)                 McCallum & Nigam 1998
==================== ====================================== ============================

``pbar = mean_k p_k``. ``predictive_entropy`` is ``entropy`` and ``mutual_information`` is
``bald``.

Float32 probabilities on the CPU with 2 <= C <= 32 go through a compiled pass (built at
install time from ``_native.c``) that reads each chunk once for the mean over K and the
validation; :func:`native_available` tells whether it was built. Without it the same scores
and errors come from torch operations, 1.5-1.8x slower for the mean-based scores.
"""

from labelwise.scores._bayesian import (
    bald,
    expected_entropy,
    mean_std,
    mutual_information,
    variation_ratio,
)
from labelwise.scores._committee import consensus_entropy, kl_disagreement, vote_entropy
from labelwise.scores._driver import native_available
from labelwise.scores._uncertainty import (
    entropy,
    least_confidence,
    margin,
    predictive_entropy,
    ratio,
)

__all__ = [
    "bald",
    "consensus_entropy",
    "entropy",
    "expected_entropy",
    "kl_disagreement",
    "least_confidence",
    "margin",
    "mean_std",
    "mutual_information",
    "native_available",
    "predictive_entropy",
    "ratio",
    "variation_ratio",
    "vote_entropy",
]
