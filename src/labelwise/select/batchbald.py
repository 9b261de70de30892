"""BatchBALD: greedy batch acquisition by joint mutual information.

Kirsch, van Amersfoort and Gal, *BatchBALD: Efficient and Diverse Batch Acquisition for
Deep Bayesian Active Learning*, NeurIPS 2019 (arXiv 1906.08158).

The batch ``A`` is grown greedily; each step adds the candidate ``n`` maximising the joint
mutual information ``I(y_A, y_n; ω) = H(y_A, y_n) - Σ_{i ∈ A ∪ {n}} E_ω H(y_i | ω)``.
Because ``H(y_A)`` does not depend on ``n``, the marginal gain of ``n`` is the conditional
mutual information

    ``Δ(n | A) = H(y_n | y_A) - E_ω H(y_n | ω)
               = Σ_ŷ p(ŷ) H( Σ_k p(ω_k | ŷ) p(y_n | ω_k) ) - (1/K) Σ_k H(p(y_n | ω_k))``

where ``ŷ`` ranges over the class configurations of the batch and ``p(ω_k | ŷ) ∝ P(ŷ | ω_k)``
(``P(ŷ | ω_k) = Π_{i ∈ A} p(ŷ_i | ω_k)``, kept in log space). The kernel computes
``H(y_n | y_A)`` directly, which is the paper's estimator of ``H(y_A, y_n)`` minus the
(candidate-independent) estimate of ``H(y_A)``; working with the conditional entropy avoids
the cancellation of subtracting two joint entropies of similar size.

- **Exact regime**: while the number of configurations with non-zero probability times K
  stays under ``exact_limit``, every configuration is enumerated with weight ``p(ŷ)``.
- **Sampled regime**: afterwards ``M`` configurations are sampled from the batch's
  predictive ``p(y_A) = (1/K) Σ_k P(y_A | ω_k)`` (``M / K`` per posterior sample, drawn
  ancestrally and extended item by item as the batch grows), each with weight ``1 / M``:
  the importance-sampling estimator of the paper.

For a chunk of candidates, one matrix product ``W [R, K] @ p [K, n·C]`` (``W`` the rows
``p(ω | ŷ)``) gives every candidate's predictive under every configuration; memory is
bounded by the chunk size, never by the pool.

The joint mutual information is submodular in the batch (Kirsch et al. 2019, appendix), so
a candidate's exact gain only shrinks as the batch grows: a stale gain is an upper bound.
A second, structural bound holds at every step for the exact gains and for the sampled
estimate alike: ``I_π(y; ω) <= Σ_k π_k KL(p_k || m)`` for any ``m``; with ``m`` the
prediction of each configuration's posterior mode it costs ``O(K^2 C)`` per candidate (no
pass over the configurations) and is tight once the posteriors concentrate. The lazy greedy
re-evaluates candidates in decreasing order of ``min(bounds)`` (stale gains only in the
exact regime) and stops as soon as no bound can beat the best fresh gain, so it returns
exactly the plain greedy's batch in both regimes. Once every bound is below rounding level
(``1e-10`` nats in float64) the remaining gains are ties and the batch is filled in ``rng``
order. The joint MI of K posterior samples is at most ``log K``; with small K it saturates
after a few picks and the later gains are ~0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from labelwise._validation import (
    RNGLike,
    check_exclude,
    check_k,
    check_probs,
    check_rng,
    torch_generator,
)
from labelwise.errors import BudgetError, ShapeError
from labelwise.select._selection import Selection

__all__ = ["batchbald", "joint_entropy_exact"]

#: Elements of the [R, chunk * C] work buffer: 2^24 float64 = 128 MiB.
_WORK_ELEMS = 1 << 24
#: Largest enumeration :func:`joint_entropy_exact` accepts (C^b * K elements).
_ENUM_LIMIT = 1 << 26
#: log p is floored here in the bound (log of the smallest normal float64 is -708.4).
_LOG_FLOOR = -700.0


def joint_entropy_exact(probs_bKC: Any = None, *, log_probs: Any = None) -> float:
    """Joint entropy ``H(y_1, ..., y_b)`` of a few items by exact enumeration.

    ``p(y_1..y_b) = (1/K) Σ_k Π_i p(y_i | ω_k)`` is evaluated for all ``C^b`` class
    configurations (in log space), and ``H = -Σ p log p`` in nats. This is the exact joint
    entropy of Kirsch et al. (2019, eq. 8); it is exponential in ``b``.

    Parameters
    ----------
    probs_bKC : array [b, K, C], optional
        Predictive samples of the ``b`` items: ``K`` posterior samples, ``C`` classes.
    log_probs : array [b, K, C], optional
        The same as log-probabilities (exactly one of the two).

    Returns
    -------
    float
        The joint entropy in nats.

    Raises
    ------
    ShapeError
        Wrong rank, or ``C^b * K`` larger than 2^26 (use :func:`batchbald`'s sampling).
    ProbabilityError
        Invalid probabilities.
    """
    t, is_log = check_probs(probs_bKC, log_probs=log_probs, name=None)
    b, k, c = t.shape
    if c**b * k > _ENUM_LIMIT:
        raise ShapeError(
            f"joint_entropy_exact enumerates C^b * K = {c}^{b} * {k} configurations, more "
            f"than the limit {_ENUM_LIMIT}; pass fewer items (b) or estimate by sampling"
        )
    lp = t.double() if is_log else torch.log(t.double())
    log_cfg = torch.zeros(1, k, dtype=torch.float64, device=t.device)  # [R, K]
    for i in range(b):
        # [R, 1, K] + [1, C, K] -> [R * C, K]
        log_cfg = (log_cfg[:, None, :] + lp[i].T[None, :, :]).reshape(-1, k)
    log_p = torch.logsumexp(log_cfg, dim=1) - math.log(k)
    p = log_p.exp()
    return float(-(torch.where(p > 0, p * log_p, torch.zeros_like(p))).sum())


def batchbald(
    probs: Any = None,
    k: int = 1,
    *,
    log_probs: Any = None,
    exclude: Any = None,
    rng: RNGLike = None,
    max_configurations: int = 40_000,
    exact_limit: int | None = None,
    chunk_size: int | None = None,
    lazy: bool = True,
    dtype: torch.dtype = torch.float64,
) -> Selection:
    """Select a batch by greedy maximisation of the joint mutual information (BatchBALD).

    Pick 1 is the BALD argmax; each later pick maximises
    ``I(y_1..y_b, y; ω) = H(y_1..y_b, y) - Σ_i E_ω H(y_i | ω)`` over the remaining
    candidates. Kirsch, van Amersfoort & Gal 2019, *BatchBALD* (NeurIPS), Algorithm 1.

    Parameters
    ----------
    probs : array [N, K, C], optional
        Predictive samples: N pool items, K posterior samples (MC dropout passes, ensemble
        members), C classes. numpy or torch; the computation runs on its device. The joint
        entropy reads ``probs[:, k]`` as the whole pool under one model ``ω_k``: draw the
        samples consistently (ensemble members, weight samples, or
        :func:`~labelwise.models.consistent_mc_dropout_predict`). With fresh dropout masks
        per item, copies of an item look independent and are not recognised as redundant.
    k : int
        Batch size, ``1 <= k <= N - len(exclude)``.
    log_probs : array [N, K, C], optional
        Log-probabilities instead of ``probs`` (exactly one of the two); more accurate
        when probabilities underflow.
    exclude : array of int, optional
        Positions never to select (e.g. already labeled items).
    rng : int, numpy Generator or None
        Seeds the configuration sampling (a ``torch.Generator``) and the tie-break among
        equal gains. Same seed, same batch.
    max_configurations : int
        ``M``, sampled configurations once enumeration is too large. Rounded down to a
        multiple of ``K`` as in the paper (``M = max_configurations // K * K``), so that
        each posterior sample seeds ``M / K`` configurations.
    exact_limit : int, optional
        Enumerate exactly while (configurations with non-zero probability) ``* C * K``
        stays ``<= exact_limit``; default ``M * K`` (the paper: exact while ``C^b <= M``).
        ``0`` samples from the second pick on.
    chunk_size : int, optional
        Candidates per matrix product. Default: as many as fit a work buffer of 2^24
        elements (128 MiB in float64).
    lazy : bool
        Lazy greedy: re-evaluate only candidates whose upper bound (stale gain, structural
        bound) could still win. Same batch as the plain greedy, far fewer evaluations.
    dtype : torch.dtype
        Arithmetic precision of the matrix products (float64 default; float32 is about
        twice as fast). Log-probability sums are always float64.

    Returns
    -------
    Selection
        ``indices`` in pick order; ``gains[i]`` is the marginal gain of pick ``i``, the
        increase of the joint mutual information (nats), so ``gains.cumsum()`` is the
        joint MI of each prefix (estimated in sampled steps). ``info`` holds ``method``,
        ``exact_steps`` (picks whose gains were enumerated exactly),
        ``sampled_configurations`` (M), ``evaluations`` (candidate gain evaluations),
        ``bound_evaluations`` (cheap bound evaluations), ``max_rows`` (most configurations
        evaluated at one step, after merging repeated samples) and ``lazy``.

    Raises
    ------
    ShapeError, ProbabilityError
        Invalid ``probs`` / ``log_probs``.
    BudgetError, PoolExhaustedError
        Invalid ``k`` or ``k`` larger than the selectable items.

    Notes
    -----
    An exact copy of a picked item keeps a positive gain when the per-sample predictions
    are soft (a second noisy label of the same input still carries information); its gain
    is zero when every sample's prediction is one-hot. When every remaining gain is ~0,
    the batch is filled by highest gain with ties broken by ``rng``.
    """
    t, is_log = check_probs(probs, log_probs=log_probs)
    n_items, n_samples = t.shape[0], t.shape[1]
    mask = check_exclude(exclude, n_items)
    n_avail = int(n_items - mask.sum())
    k = check_k(k, n_avail)
    gen = check_rng(rng)
    m_conf = _check_int(max_configurations, "max_configurations", 1)
    m_conf = m_conf // n_samples * n_samples
    if m_conf == 0:
        raise BudgetError(
            f"max_configurations={max_configurations} is smaller than K={n_samples}; "
            f"pass at least K (the paper uses 40000)"
        )
    limit = m_conf * n_samples if exact_limit is None else _check_int(
        exact_limit, "exact_limit", 0
    )
    if chunk_size is not None:
        chunk_size = _check_int(chunk_size, "chunk_size", 1)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")

    tgen = torch_generator(gen, t.device)
    priority = torch.from_numpy(gen.permutation(n_items).astype(np.float64))
    kernel = _Kernel(t, is_log, dtype, chunk_size)
    state = _BatchState(kernel, m_conf, limit, tgen)
    return _greedy(kernel, state, mask, k, priority, lazy, m_conf)


def _check_int(x: Any, name: str, low: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < low:
        raise BudgetError(f"{name} must be an integer >= {low}, got {x!r}")
    return int(x)


class _Kernel:
    """Candidate probabilities and the chunked conditional-entropy evaluation."""

    def __init__(
        self, t: torch.Tensor, is_log: bool, dtype: torch.dtype, chunk_size: int | None
    ) -> None:
        self.t = t
        self.is_log = is_log
        self.dtype = dtype
        self.device = t.device
        self.n, self.k, self.c = t.shape
        self.chunk_size = chunk_size
        # E_ω H(y_n | ω): [N] float64, chunked so no [N, K, C] float64 copy is made.
        cond = torch.empty(self.n, dtype=torch.float64, device=self.device)
        step = max(1, _WORK_ELEMS // (self.k * self.c))
        for s in range(0, self.n, step):
            lp = self.log_probs(torch.arange(s, min(s + step, self.n), device=self.device))
            cond[s : s + step] = -_plogp(lp).sum(dim=(1, 2)) / self.k
        self.expected_entropy = cond

    def log_probs(self, idx: torch.Tensor) -> torch.Tensor:
        """float64 log-probabilities of items ``idx``: [n, K, C]."""
        x = self.t.index_select(0, idx).double()
        return x if self.is_log else torch.log(x)

    def probs(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.t.index_select(0, idx)
        return (x.double().exp() if self.is_log else x).to(self.dtype)

    def bounds(self, idx: torch.Tensor, A_KK: torch.Tensor) -> torch.Tensor:
        """Upper bounds on the gains of ``idx`` (float64 [n]), O(K^2 C) per candidate.

        For any distribution ``m``, ``I_π(y; ω) = Σ_k π_k KL(p_k || p̄_π) <= Σ_k π_k
        KL(p_k || m)``. Taking ``m = p(y_n | ω_g)`` with ``g`` the posterior mode of each
        configuration, and adding back the estimator's exact expected-entropy term,
        every gain (exact, or the sampled estimate) satisfies

            ``gain_n <= -Σ_{k,c} p_nkc Σ_g A[g, k] log p_ngc - E_k H(p_nk)``,

        tight to first order once the posteriors concentrate (late BatchBALD steps).
        """
        out = torch.empty(idx.numel(), dtype=torch.float64, device=self.device)
        step = max(1, _WORK_ELEMS // (4 * self.k * self.c))
        for s in range(0, idx.numel(), step):
            sub = idx[s : s + step]
            lp = self.log_probs(sub)  # [n, K, C]
            cross = torch.matmul(A_KK.T, lp.clamp_min(_LOG_FLOOR))  # [n, K, C]
            out[s : s + sub.numel()] = -(lp.exp() * cross).sum(dim=(1, 2))
        return out - self.expected_entropy[idx]

    def chunk_for(self, rows: int) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        return max(1, _WORK_ELEMS // (rows * self.c))

    def gains(self, idx: torch.Tensor, w_R: torch.Tensor, W_RK: torch.Tensor) -> torch.Tensor:
        """Marginal gains ``H(y_n | y_A) - E H(y_n | ω)`` of candidates ``idx``: [n] float64.

        ``W_RK`` holds ``p(ω_k | ŷ_r)`` (rows sum to 1), ``w_R`` the configuration weights.
        """
        out = torch.empty(idx.numel(), dtype=torch.float64, device=self.device)
        rows = W_RK.shape[0]
        step = self.chunk_for(rows)
        for s in range(0, idx.numel(), step):
            sub = idx[s : s + step]
            p = self.probs(sub)  # [n, K, C]
            n = sub.numel()
            q = W_RK @ p.permute(1, 0, 2).reshape(self.k, n * self.c)  # [R, n*C]
            torch.special.entr(q, out=q)  # -q log q, 0 at q = 0
            h = (w_R @ q).double().reshape(n, self.c).sum(dim=1)  # [n]
            del q
            out[s : s + n] = h - self.expected_entropy[sub]
        return out


def _plogp(lp: torch.Tensor) -> torch.Tensor:
    """``p log p`` from ``log p`` with ``0 log 0 = 0``."""
    return torch.where(torch.isneginf(lp), torch.zeros_like(lp), lp.exp() * lp)


class _BatchState:
    """The configurations of the current batch: ``log P(ŷ_r | ω_k)`` [R, K] and weights."""

    def __init__(
        self, kernel: _Kernel, m_conf: int, limit: int, tgen: torch.Generator
    ) -> None:
        self.kernel = kernel
        self.m_conf = m_conf
        self.limit = limit
        self.tgen = tgen
        self.picked: list[int] = []
        self.exact = True
        self.log_cfg = torch.zeros(1, kernel.k, dtype=torch.float64, device=kernel.device)
        self.sample_k: torch.Tensor | None = None  # [M] posterior sample of each config
        self.rows = 1  # configurations evaluated at the current step (after merging)
        self.w64 = torch.ones(1, dtype=torch.float64, device=kernel.device)
        self.W64 = torch.full((1, kernel.k), 1.0 / kernel.k, dtype=torch.float64,
                              device=kernel.device)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(w_R, W_RK)`` in the kernel's dtype: configuration weights and p(ω | ŷ)."""
        if self.exact:
            W = torch.softmax(self.log_cfg, dim=1)
            log_p = torch.logsumexp(self.log_cfg, dim=1)
            w = torch.softmax(log_p, dim=0)  # p(ŷ), renormalised against rounding
        else:
            # Repeated configurations (same ŷ, hence bit-identical rows) are merged with
            # their multiplicity as weight: the same estimate, fewer rows to evaluate.
            uniq, counts = torch.unique(self.log_cfg, dim=0, return_counts=True)
            W = torch.softmax(uniq, dim=1)
            w = counts.double() / self.log_cfg.shape[0]
        self.rows = int(W.shape[0])
        self.w64, self.W64 = w, W
        dt = self.kernel.dtype
        return w.to(dt), W.to(dt)

    def cross_weights(self) -> torch.Tensor:
        """``A [K, K]``: ``A[g, k] = Σ_{r : argmax π_r = g} w_r π_rk`` for the bound."""
        K = self.kernel.k
        kstar = torch.argmax(self.W64, dim=1)
        A = torch.zeros(K, K, dtype=torch.float64, device=self.W64.device)
        A.index_add_(0, kstar, self.w64[:, None] * self.W64)
        return A

    def add(self, item: int) -> None:
        """Extend every configuration by the picked item's class."""
        self.picked.append(item)
        kern = self.kernel
        lp = kern.log_probs(torch.tensor([item], device=kern.device))[0]  # [K, C]
        if self.exact:
            rows = self.log_cfg.shape[0] * kern.c
            if rows * kern.k <= self.limit:
                cfg = (self.log_cfg[:, None, :] + lp.T[None, :, :]).reshape(rows, kern.k)
                alive = torch.isfinite(cfg.max(dim=1).values)  # drop p(ŷ) = 0 exactly
                self.log_cfg = cfg[alive]
                return
            self.exact = False
            self._start_sampling()
            return
        self._extend_samples(lp)

    def _start_sampling(self) -> None:
        kern = self.kernel
        m = self.m_conf
        # Stratified: M / K configurations per posterior sample ω_k (as in the paper).
        self.sample_k = torch.arange(kern.k, device=kern.device).repeat_interleave(m // kern.k)
        self.log_cfg = torch.zeros(m, kern.k, dtype=torch.float64, device=kern.device)
        for item in self.picked:
            lp = kern.log_probs(torch.tensor([item], device=kern.device))[0]
            self._extend_samples(lp)

    def _extend_samples(self, lp_KC: torch.Tensor) -> None:
        """Draw ``ŷ_m ~ p(y | ω_{k_m})`` for the new item and add ``log p(ŷ_m | ω)``."""
        assert self.sample_k is not None
        p = lp_KC.exp()[self.sample_k]  # [M, C]
        y = torch.multinomial(p, 1, generator=self.tgen).squeeze(1)  # [M]
        self.log_cfg += lp_KC.T[y]  # [M, K]


def _greedy(
    kernel: _Kernel,
    state: _BatchState,
    mask: np.ndarray,
    k: int,
    priority: torch.Tensor,
    lazy: bool,
    m_conf: int,
) -> Selection:
    dev = kernel.device
    tol = 1e-10 if kernel.dtype == torch.float64 else 1e-5
    available = torch.from_numpy(~mask)
    ub = torch.full((kernel.n,), math.inf, dtype=torch.float64)
    ub[~available] = -math.inf
    picks: list[int] = []
    gains: list[float] = []
    exact_steps = 0
    evaluations = 0
    bound_evals = 0
    max_rows = 1
    for step in range(k):
        w, W = state.weights()
        exact_steps += int(state.exact)
        max_rows = max(max_rows, state.rows)
        fresh = torch.full((kernel.n,), -math.inf, dtype=torch.float64)
        if not lazy or step == 0:
            cand = torch.nonzero(available).squeeze(1)
            fresh[cand] = kernel.gains(cand.to(dev), w, W).cpu()
            evaluations += cand.numel()
            ub[cand] = fresh[cand]
        else:
            cand = torch.nonzero(available).squeeze(1)
            bound = kernel.bounds(cand.to(dev), state.cross_weights()).cpu()
            bound_evals += cand.numel()
            # Stale gains bound the exact gains (submodularity) but not the sampled
            # estimates; the structural bound holds for both.
            stale = ub[cand] if state.exact else torch.full_like(bound, math.inf)
            ub[cand] = torch.minimum(stale, bound + tol)
            order = torch.argsort(ub, descending=True, stable=True)
            n_open = int(available.sum())
            pos, block, thr = 0, 8, -math.inf
            if float(ub[order[0]]) <= 2 * tol:  # bound <= tol: every gain is ~0, a tie
                pos = n_open
            while pos < n_open and float(ub[order[pos]]) >= thr:
                sub = order[pos : min(pos + block, n_open)]
                fresh[sub] = kernel.gains(sub.to(dev), w, W).cpu()
                ub[sub] = fresh[sub]
                evaluations += sub.numel()
                top = float(fresh.max())
                thr = top - tol * max(1.0, abs(top))
                pos += sub.numel()
                block = min(2 * block, 1024)
        best = float(fresh.max())
        if best <= tol:
            # Every remaining gain is ~0 (at rounding level): fill in rng order.
            near = available.clone()
        else:
            near = fresh >= best - tol * max(1.0, abs(best))  # ties: highest priority wins
        choice = int(torch.argmax(torch.where(near, priority, -1.0)))
        if not math.isfinite(float(fresh[choice])):
            idx1 = torch.tensor([choice], device=dev)
            fresh[choice] = float(kernel.gains(idx1, w, W)[0])
            evaluations += 1
        picks.append(choice)
        gains.append(float(fresh[choice]))
        available[choice] = False
        ub[choice] = -math.inf
        if step + 1 < k:
            state.add(choice)
    info: dict[str, Any] = {
        "method": "batchbald",
        "exact_steps": exact_steps,
        "sampled_configurations": m_conf,
        "evaluations": evaluations,
        "bound_evaluations": bound_evals,
        "max_rows": max_rows,
        "lazy": bool(lazy),
    }
    return Selection(np.asarray(picks, dtype=np.int64), np.asarray(gains), info)

