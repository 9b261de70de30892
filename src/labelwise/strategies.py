"""Named strategies: (what the strategy needs) + score + selector, in one registry.

A strategy is what a user names on the command line (``--strategy bald``). It declares which
inputs it needs so that the loop computes only those:

- ``"probs"``: predictive samples ``[N, K, C]`` of the candidates;
- ``"embeddings"``: features ``[N, D]`` (penultimate layer) of the candidates;
- ``"labeled"``: the labeled items must be passed too (as excluded positions), e.g. core-set
  uses them as initial centres.

``Strategy.select`` always returns a :class:`~labelwise.select.Selection` with positions in
the arrays it was given.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labelwise._validation import RNGLike, as_tensor
from labelwise.errors import ShapeError, UnknownStrategyError
from labelwise.select import Selection, random_batch, stochastic_batch, top_k

__all__ = [
    "SelectFn",
    "Strategy",
    "available_strategies",
    "get_strategy",
    "score_strategy",
    "stochastic_strategy",
]

#: ``fn(k, *, probs, embeddings, n, exclude, rng, **params) -> Selection``
SelectFn = Callable[..., Selection]

_NEEDS = frozenset({"probs", "embeddings", "labeled", "training_predictions", "model_scores"})
_NEEDS = _NEEDS | {"inputs"}  # inputs=[N, ...] + labeled_inputs=[N_l, ...] raw inputs (VAAL)


@dataclass(frozen=True)
class Strategy:
    """A named, registered acquisition strategy.

    Attributes
    ----------
    name : str
        Stable kebab-case name (``"bald"``, ``"power-bald"``, ``"batchbald"``).
    description : str
        One line for ``labelwise strategies``.
    paper : str
        Short citation of the method's source.
    needs : frozenset of {"probs", "embeddings", "labeled"}
        Inputs the loop must compute for it.
    select_fn : callable
        ``fn(k, *, probs, embeddings, n, exclude, rng, **params) -> Selection``.
    params : mapping
        Default keyword parameters passed to ``select_fn``.
    joint_samples : bool, default False
        The selector reads ``probs[:, k]`` of different items as draws from one model
        ``theta_k`` (joint entropies across items, as BatchBALD's). The loop then draws
        consistent samples (the same K dropout masks for the whole pool) under
        ``predictor="auto"``; independent masks per item would make every item look
        independent of every other and hide redundancy.
    point_probs : bool, default False
        The selector reads ``probs`` as the network's own deterministic prediction (eval
        mode, dropout off: ``probs=[N, 1, C]``) computed in the same forward pass as its
        ``embeddings``, as BADGE's gradient embedding ``(p - onehot(argmax p)) x h`` is
        defined. The loop then runs that one pass instead of K MC-dropout passes; an
        ensemble's ``p`` is member 0's, the evaluated model's.
    min_samples : int, default 1
        Fewest predictive samples K per item the score means anything with: 2 for scores
        of the disagreement between samples (BALD, variation ratio, mean STD, the
        committee's vote entropy and KL, BatchBALD), which are identically 0 at K = 1, so
        that a top-k batch would be decided by ties or rounding. The loop refuses a
        predictor that gives fewer (e.g. ``mc_samples=1``, ``ensemble_size=1``).
    pool_clustering : callable, optional
        ``pool_clustering(embeddings [N_pool, D], k, *, rng, **params) -> labels [N_pool]``
        for selectors that cluster the whole pool once per run (Cluster-Margin, Citovsky et
        al. 2021). Under ``simulate`` the loop calls it once, at the first acquisition,
        on the embeddings of every pool item under the model of that round, stores the
        labels with the run (so that resuming reuses them) and passes the candidates'
        labels as ``cluster_labels=[N]`` to every ``select``. Called directly (or from
        ``labelwise select``), the selector clusters the embeddings it is given.
    """

    name: str
    description: str
    paper: str
    needs: frozenset[str]
    select_fn: SelectFn = field(repr=False)
    params: Mapping[str, Any] = field(default_factory=dict)
    joint_samples: bool = False
    point_probs: bool = False
    pool_clustering: Callable[..., Any] | None = field(default=None, repr=False)
    min_samples: int = 1

    def __post_init__(self) -> None:
        unknown = set(self.needs) - _NEEDS
        if unknown:
            raise ValueError(f"Strategy {self.name!r}: unknown needs {sorted(unknown)}")
        if self.point_probs and not {"probs", "embeddings"} <= self.needs:
            raise ValueError(
                f"Strategy {self.name!r}: point_probs needs both 'probs' and 'embeddings'"
            )
        if self.pool_clustering is not None and "embeddings" not in self.needs:
            raise ValueError(
                f"Strategy {self.name!r}: pool_clustering clusters embeddings; add "
                "'embeddings' to needs"
            )
        if isinstance(self.min_samples, bool) or not isinstance(self.min_samples, int) or (
            self.min_samples < 1
        ):
            raise ValueError(
                f"Strategy {self.name!r}: min_samples must be an int >= 1, got "
                f"{self.min_samples!r}"
            )
        if self.point_probs and self.min_samples > 1:
            raise ValueError(
                f"Strategy {self.name!r}: point_probs reads one deterministic prediction "
                "(K = 1); it cannot need min_samples > 1"
            )
        if self.point_probs and self.joint_samples:
            raise ValueError(
                f"Strategy {self.name!r}: point_probs and joint_samples exclude each other"
            )

    def select(
        self,
        k: int,
        *,
        probs: Any = None,
        embeddings: Any = None,
        n: int | None = None,
        exclude: Any = None,
        rng: RNGLike = None,
        **params: Any,
    ) -> Selection:
        """Select ``k`` positions from the given candidates.

        ``n`` (the number of candidates) is inferred from ``probs`` or ``embeddings``.
        """
        if "probs" in self.needs and probs is None:
            raise ShapeError(
                f"strategy {self.name!r} needs predictive samples: pass probs=[N, K, C]"
            )
        if "embeddings" in self.needs and embeddings is None:
            raise ShapeError(
                f"strategy {self.name!r} needs embeddings: pass embeddings=[N, D] "
                "(e.g. --embeddings E.npy on the command line)"
            )
        if n is None:
            for arr in (probs, embeddings):
                if arr is not None:
                    n = int(arr.shape[0])
                    break
        if n is None:
            raise ShapeError(f"strategy {self.name!r}: pass n (the number of candidates)")
        if probs is not None and embeddings is not None and probs.shape[0] != embeddings.shape[0]:
            raise ShapeError(
                f"probs has {probs.shape[0]} items but embeddings has {embeddings.shape[0]}"
            )
        for what, arr in (("probs", probs), ("embeddings", embeddings)):
            if arr is not None and getattr(arr, "ndim", 0) >= 1 and int(arr.shape[0]) != n:
                raise ShapeError(
                    f"{what} has {int(arr.shape[0])} items but n={n} candidates; pass one "
                    "row per candidate"
                )
        merged = {**self.params, **params}
        return self.select_fn(
            k, probs=probs, embeddings=embeddings, n=n, exclude=exclude, rng=rng, **merged
        )


def score_strategy(
    name: str,
    score: Callable[..., Any],
    description: str,
    paper: str,
    *,
    min_samples: int = 1,
) -> Strategy:
    """A strategy that ranks items by a per-item score of ``probs`` and takes the top k.

    ``min_samples``: see :attr:`Strategy.min_samples` (2 for disagreement scores).
    """

    def fn(k: int, *, probs: Any, exclude: Any, rng: RNGLike, **_: Any) -> Selection:
        scores = as_tensor(score(probs), "scores")
        sel = top_k(scores, k, exclude=exclude, rng=rng)
        return Selection(sel.indices, sel.gains, {**sel.info, "score": name})

    return Strategy(name, description, paper, frozenset({"probs"}), fn, min_samples=min_samples)


def stochastic_strategy(
    name: str,
    score: Callable[..., Any],
    score_name: str,
    mode: str,
    description: str,
) -> Strategy:
    """A strategy that samples a batch from a per-item score (Kirsch et al. 2023)."""

    def fn(
        k: int, *, probs: Any, exclude: Any, rng: RNGLike, beta: float = 1.0, **_: Any
    ) -> Selection:
        scores = as_tensor(score(probs), "scores")
        if mode == "power":
            scores = scores.clamp_min(0)  # entropies can be -1e-7 from rounding
        sel = stochastic_batch(scores, k, mode=mode, beta=beta, exclude=exclude, rng=rng)  # type: ignore[arg-type]
        return Selection(sel.indices, sel.gains, {**sel.info, "score": score_name})

    return Strategy(
        name,
        description,
        "Kirsch et al. 2023, Stochastic Batch Acquisition (TMLR)",
        frozenset({"probs"}),
        fn,
        {"beta": 1.0},
        min_samples=_DISAGREEMENT_MIN_SAMPLES.get(score_name, 1),
    )


def _random_fn(k: int, *, n: int, exclude: Any, rng: RNGLike, **_: Any) -> Selection:
    return random_batch(n, k, exclude=exclude, rng=rng)


def _builtin_strategies() -> list[Strategy]:
    from labelwise import scores as S

    out: list[Strategy] = [
        Strategy(
            "random",
            "Uniformly random items: the baseline every strategy must beat.",
            "-",
            frozenset(),
            _random_fn,
        ),
        score_strategy(
            "least-confidence",
            S.least_confidence,
            "1 - max_c p(c|x) of the mean prediction.",
            "Lewis & Gale 1994; Settles 2009 survey",
        ),
        score_strategy(
            "margin",
            S.margin,
            "Smallest gap between the two most probable classes first.",
            "Scheffer et al. 2001",
        ),
        score_strategy(
            "ratio",
            S.ratio,
            "Ratio p(2nd) / p(1st) of the mean prediction (higher = less sure).",
            "Settles 2009 survey (confidence ratio)",
        ),
        score_strategy(
            "entropy",
            S.entropy,
            "Predictive entropy H[mean_k p] in nats (max entropy).",
            "Shannon 1948; Gal et al. 2017",
        ),
        score_strategy(
            "bald",
            S.bald,
            "Mutual information between label and parameters (BALD).",
            "Houlsby et al. 2011; Gal et al. 2017",
            min_samples=2,
        ),
        score_strategy(
            "expected-entropy",
            S.expected_entropy,
            "Mean over samples of the per-sample entropy (aleatoric part).",
            "Houlsby et al. 2011 (second term of BALD)",
        ),
        score_strategy(
            "variation-ratio",
            S.variation_ratio,
            "1 - (count of the modal predicted class) / K over the samples.",
            "Freeman 1965; Gal et al. 2017",
            min_samples=2,
        ),
        score_strategy(
            "mean-std",
            S.mean_std,
            "Mean over classes of the std of p(c) across samples.",
            "Kampffmeyer et al. 2016; Gal et al. 2017",
            min_samples=2,
        ),
        score_strategy(
            "vote-entropy",
            S.vote_entropy,
            "Entropy of the committee's hard votes.",
            "Dagan & Engelson 1995 (query by committee)",
            min_samples=2,
        ),
        score_strategy(
            "consensus-entropy",
            S.consensus_entropy,
            "Entropy of the committee's averaged (consensus) distribution.",
            "Settles 2009 survey (query by committee)",
        ),
        score_strategy(
            "kl-disagreement",
            S.kl_disagreement,
            "Mean KL divergence of each member from the consensus.",
            "McCallum & Nigam 1998 (query by committee)",
            min_samples=2,
        ),
    ]
    stochastic_sources = [
        ("bald", S.bald),
        ("entropy", S.entropy),
        ("margin", S.margin),
        ("least-confidence", S.least_confidence),
    ]
    for score_name, fn in stochastic_sources:
        for mode in ("power", "softmax", "softrank"):
            if mode == "power" and score_name == "margin":
                # margin's sign convention makes it <= 0: power sampling is undefined.
                continue
            out.append(
                stochastic_strategy(
                    f"{mode}-{score_name}",
                    fn,
                    score_name,
                    mode,
                    f"Sample the batch with p ∝ {_MODE_TEXT[mode]} of {score_name}.",
                )
            )
    return out


#: Scores of the stochastic variants that measure disagreement between samples.
_DISAGREEMENT_MIN_SAMPLES = {"bald": 2}

_MODE_TEXT = {"power": "score^beta", "softmax": "exp(beta·score)", "softrank": "rank^-beta"}

#: Modules that contribute more strategies (batch-aware selectors, model-based methods).
#: Each defines ``STRATEGIES: list[Strategy]``.
_EXTENSION_MODULES = (
    "labelwise.select._strategies_batchbald",
    "labelwise.select._strategies_geometric",
    "labelwise._strategies_model",
)


def _load_registry() -> dict[str, Strategy]:
    registry: dict[str, Strategy] = {}
    found: list[Strategy] = list(_builtin_strategies())
    for mod_name in _EXTENSION_MODULES:
        # part of the package: a missing module is a broken install, never skipped
        found.extend(importlib.import_module(mod_name).STRATEGIES)
    for s in found:
        if s.name in registry:
            raise RuntimeError(f"strategy {s.name!r} registered twice")
        registry[s.name] = s
    return registry


_REGISTRY: dict[str, Strategy] | None = None


def _registry() -> dict[str, Strategy]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _load_registry()
    return _REGISTRY


def available_strategies() -> list[Strategy]:
    """All registered strategies, in registration order."""
    return list(_registry().values())


def get_strategy(name: str | Strategy) -> Strategy:
    """Look a strategy up by its kebab-case name (a :class:`Strategy` is returned as is)."""
    if isinstance(name, Strategy):
        return name
    reg = _registry()
    if name not in reg:
        close = _suggest(name, reg)
        raise UnknownStrategyError(
            f"unknown strategy {name!r}{close}; run `labelwise strategies` to list them"
        )
    return reg[name]


def _suggest(name: str, names: Iterable[str]) -> str:
    import difflib

    m = difflib.get_close_matches(name.replace("_", "-").lower(), list(names), n=1)
    return f" (did you mean {m[0]!r}?)" if m else ""


