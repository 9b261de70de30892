"""Trusted-input kernels for the acquisition scores.

The public functions (``labelwise.scores``) validate, cut the pool into chunks and call
these kernels; nothing here checks its input. A score is a :class:`ScoreKernel` with two
stages, so that the work on ``[n, K, C]`` data happens while a chunk is in cache and the
many small operations on ``[n, C]`` data run once per *block* of chunks:

``inner(p_nKC, lp_nKC, pbar_nC, scratch_nKC) -> partial [n] or [n, C]`` (optional)
    Per chunk of ~2^18 elements. ``p_nKC`` holds probabilities (read only: it may be a view
    of the caller's array); ``lp_nKC`` the log-probabilities when the caller passed
    ``log_probs=`` (``-inf`` already replaced by the most negative finite number, so that
    ``0 * lp == 0``), else ``None``; ``pbar_nC`` the mean over the K samples;
    ``scratch_nKC`` a chunk-sized buffer the kernel may overwrite (it aliases nothing).
``outer(pbar_BC, partial_B, k) -> scores [B]``
    Per block of chunks: turns the means (and the inner partials) into scores.

Every ``[n, K, C]``-sized intermediate lives in ``scratch_nKC``: the extra memory of a
whole scoring pass is a few chunk-sized buffers plus a few block-sized ``[B, C]`` ones.

Numerics: ``0 log 0 = 0`` is obtained by clamping probabilities to the dtype's smallest
normal number before the logarithm (``tiny * log(tiny)`` is ~1e-36 nats in float32), never
by masking NaNs afterwards. Entropies are in nats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "BALD",
    "ENTROPY",
    "EXPECTED_ENTROPY",
    "KL_DISAGREEMENT",
    "LEAST_CONFIDENCE",
    "MARGIN",
    "MEAN_STD",
    "RATIO",
    "VARIATION_RATIO",
    "VOTE_ENTROPY",
    "ScoreKernel",
    "entropy_of_rows",
    "neg_sum_xlogx",
    "top2",
]

Inner = Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor], torch.Tensor]
Outer = Callable[[torch.Tensor, torch.Tensor | None, int], torch.Tensor]


@dataclass(frozen=True)
class ScoreKernel:
    """A score as (optional per-chunk ``inner`` stage, per-block ``outer`` stage).

    ``inner_width`` is the number of values ``inner`` returns per item: 0 (no inner stage),
    1 (returns ``[n]``) or -1 (returns ``[n, C]``).
    """

    outer: Outer
    inner: Inner | None = None
    inner_width: int = 0


#: Up to this many classes the two largest values are found with a loop over classes
#: (a few vector ops on [n]); above it ``torch.topk`` is used.
_TOP2_LOOP_MAX_C = 32


def _tiny(dtype: torch.dtype) -> float:
    return float(torch.finfo(dtype).tiny)


def _negate(s: torch.Tensor) -> torch.Tensor:
    """``-s`` in place, with ``+0.0`` (not ``-0.0``) for zero sums."""
    return s.neg_().add_(0.0)


def entropy_of_rows(q_nC: torch.Tensor) -> torch.Tensor:
    """``-sum_c q_c log q_c`` per row of ``q_nC`` [n, C] -> [n] (nats), ``0 log 0 = 0``."""
    logs = q_nC.clamp_min(_tiny(q_nC.dtype)).log_()
    return _negate(logs.mul_(q_nC).sum(-1))


def neg_sum_xlogx(
    p_nKC: torch.Tensor, lp_nKC: torch.Tensor | None, scratch_nKC: torch.Tensor
) -> torch.Tensor:
    """``-sum_{k,c} p log p`` per item -> [n]; one fused pass through ``scratch_nKC``."""
    if lp_nKC is None:
        torch.clamp_min(p_nKC, _tiny(p_nKC.dtype), out=scratch_nKC)
        scratch_nKC.log_()
        scratch_nKC.mul_(p_nKC)
    else:
        torch.mul(p_nKC, lp_nKC, out=scratch_nKC)
    n = scratch_nKC.shape[0]
    return _negate(scratch_nKC.view(n, -1).sum(-1))


def top2(q_nC: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The largest and second largest value of each row of ``q_nC`` [n, C] (C >= 2).

    Ties are kept (``[0.5, 0.5]`` gives ``(0.5, 0.5)``). For small C a loop over the
    classes of a transposed copy ([C, n]) is several times faster than ``torch.topk``.
    """
    c = q_nC.shape[1]
    if c > _TOP2_LOOP_MAX_C:
        vals = torch.topk(q_nC, 2, dim=-1, sorted=True).values
        return vals[:, 0], vals[:, 1]
    cols = q_nC.t().contiguous()
    first = torch.maximum(cols[0], cols[1])
    second = torch.minimum(cols[0], cols[1])
    for j in range(2, c):
        v = cols[j]
        torch.maximum(second, torch.minimum(first, v), out=second)
        torch.maximum(first, v, out=first)
    return first, second


# --------------------------------------------------------------------------- uncertainty


def _least_confidence(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    return pbar.amax(-1).neg_().add_(1.0)  # 1 - max_c pbar_c


def _margin(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    first, second = top2(pbar)
    return second.sub_(first)  # -(top1 - top2)


def _ratio(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    first, second = top2(pbar)
    return second.div_(first)  # top1 >= 1/C > 0 for valid rows


def _entropy(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    return entropy_of_rows(pbar).clamp_min_(0.0)  # rows may sum to 1 + 1e-3


LEAST_CONFIDENCE = ScoreKernel(_least_confidence)
MARGIN = ScoreKernel(_margin)
RATIO = ScoreKernel(_ratio)
ENTROPY = ScoreKernel(_entropy)


# --------------------------------------------------------------------------- Bayesian


def _inner_neg_xlogx(
    p: torch.Tensor, lp: torch.Tensor | None, pbar: torch.Tensor, scratch: torch.Tensor
) -> torch.Tensor:
    return neg_sum_xlogx(p, lp, scratch)


def _expected_entropy(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    assert part is not None
    return part.div(k).clamp_min_(0.0)


def _bald(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    """``H[pbar] - mean_k H[p_k]``, clamped at 0.

    The two entropies are accumulated in the input dtype and subtracted in float64, so
    that the (exact-ish) difference is not rounded again before the clamp.
    """
    assert part is not None
    h_mean = entropy_of_rows(pbar).double()
    if k == 1:  # one sample cannot disagree with itself: exactly 0, not rounding noise
        return h_mean.zero_()
    return h_mean.sub_(part.double().div_(k)).clamp_min_(0.0)


def _inner_kl(
    p: torch.Tensor, lp: torch.Tensor | None, pbar: torch.Tensor, scratch: torch.Tensor
) -> torch.Tensor:
    """``sum_{k,c} p_kc (log p_kc - log pbar_c)`` per item, term by term (exact zeros of
    ``p`` contribute 0 through the clamp; with log-probabilities ``lp`` is used as is)."""
    n = p.shape[0]
    tiny = _tiny(p.dtype)
    log_pbar = pbar.clamp_min(tiny).log_()[:, None, :]
    if lp is None:
        torch.clamp_min(p, tiny, out=scratch)
        scratch.log_()
        scratch.sub_(log_pbar)
    else:
        torch.sub(lp, log_pbar, out=scratch)
    scratch.mul_(p)
    return scratch.view(n, -1).sum(-1)


def _kl_disagreement(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    assert part is not None
    if k == 1:  # a one-member committee is its own consensus: exactly 0
        return torch.zeros_like(part)
    return part.div(k).clamp_min_(0.0)


EXPECTED_ENTROPY = ScoreKernel(_expected_entropy, _inner_neg_xlogx, 1)
BALD = ScoreKernel(_bald, _inner_neg_xlogx, 1)
KL_DISAGREEMENT = ScoreKernel(_kl_disagreement, _inner_kl, 1)


def _inner_vote_counts(
    p: torch.Tensor, lp: torch.Tensor | None, pbar: torch.Tensor, scratch: torch.Tensor
) -> torch.Tensor:
    """Histogram [n, C] of the per-sample argmax (ties go to the lowest class index).

    With log-probabilities the votes are taken on them directly (exp could merge values).
    """
    src = p if lp is None else lp
    n, k, c = src.shape
    votes_nK = src.argmax(-1)
    counts = torch.zeros((n, c), dtype=p.dtype, device=p.device)
    ones = torch.ones((1, 1), dtype=p.dtype, device=p.device).expand(n, k)
    return counts.scatter_add_(1, votes_nK, ones)


def _variation_ratio(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    assert part is not None
    return part.amax(-1).div_(-k).add_(1.0)  # 1 - modal count / K


def _vote_entropy(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    assert part is not None
    return entropy_of_rows(part.div(k)).clamp_min_(0.0)


VARIATION_RATIO = ScoreKernel(_variation_ratio, _inner_vote_counts, -1)
VOTE_ENTROPY = ScoreKernel(_vote_entropy, _inner_vote_counts, -1)


def _inner_sq_dev(
    p: torch.Tensor, lp: torch.Tensor | None, pbar: torch.Tensor, scratch: torch.Tensor
) -> torch.Tensor:
    """``sum_k (p_kc - pbar_c)^2`` [n, C]: the two-pass variance numerator.

    The two-pass form avoids ``E[p^2] - E[p]^2``, whose float32 cancellation would turn a
    zero variance into ~``sqrt(1e-8) = 1e-4``.
    """
    torch.sub(p, pbar[:, None, :], out=scratch)
    scratch.mul_(scratch)
    return scratch.sum(1)


def _mean_std(pbar: torch.Tensor, part: torch.Tensor | None, k: int) -> torch.Tensor:
    assert part is not None
    return part.div(k).sqrt_().mean(-1)


MEAN_STD = ScoreKernel(_mean_std, _inner_sq_dev, -1)
