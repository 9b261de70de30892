"""Expected gradient length of the last (softmax) layer, in closed form.

Settles, Craven & Ray (2008), "Multiple-instance active learning", NeurIPS; Settles (2009),
"Active learning literature survey", sec. 3.4. The expected gradient length (EGL) of an
unlabeled item ``x`` is the norm of the gradient the training objective would get if ``x``
were added with label ``y``, in expectation over the model's predictive distribution:

    EGL(x) = sum_y p(y | x) * || grad_theta loss(x, y) ||

(the gradient of the current training set is ~0 at convergence and is left out, as in the
paper). labelwise takes ``theta`` to be the last layer ``logits = W h + b`` (the parameters
that BADGE uses too). For the cross-entropy ``-log softmax(W h + b)_y``:

    grad_W = (p - e_y) h^T,   grad_b = p - e_y,
    ||grad||^2 = ||p - e_y||^2 * (||h||^2 + [include_bias])

so with ``||p - e_y||^2 = ||p||^2 - 2 p_y + 1`` the expectation takes O(C + D) per item and no
backward pass:

    EGL(x) = sqrt(||h||^2 + [include_bias]) * sum_y p_y * sqrt(||p||^2 - 2 p_y + 1).

``squared=True`` returns ``E ||grad||^2 = (||h||^2 + [bias]) * (1 - ||p||^2)`` instead
(``sum_y p_y ||p - e_y||^2 = 1 - ||p||^2``), a variant some re-implementations use.
"""

from __future__ import annotations

from typing import Any

import torch

from labelwise._validation import check_embeddings, check_probs, to_output

__all__ = ["expected_gradient_length"]

_CHUNK_ELEMENTS = 1 << 20


def expected_gradient_length(
    probs: Any = None,
    embeddings: Any = None,
    *,
    log_probs: Any = None,
    include_bias: bool = True,
    squared: bool = False,
    chunk_size: int | None = None,
) -> Any:
    """Expected last-layer gradient norm of each item (Settles et al. 2008).

    Parameters
    ----------
    probs : array [N, K, C]
        Predictive samples; the predictive mean ``pbar = mean_k p_k`` [N, C] is both the
        label distribution and the softmax output in the gradient. For a deterministic model
        pass ``p[:, None, :]`` (K = 1); then the value is exact for that model.
    embeddings : array [N, D]
        Inputs ``h`` of the last linear layer (penultimate features), e.g. from
        :func:`~labelwise.models.extract_embeddings`.
    log_probs : array [N, K, C], optional
        Instead of ``probs``.
    include_bias : bool, default True
        Count the gradient of the bias ``b`` (adds 1 to ``||h||^2``).
    squared : bool, default False
        ``False``: the paper's expected norm ``E_y ||grad||``. ``True``: the expected
        squared norm ``E_y ||grad||^2``.
    chunk_size : int, optional
        Items per chunk (bounded memory); default about 1M elements per chunk.

    Returns
    -------
    array [N]
        Higher = label first; numpy in -> numpy out (the type of ``probs``), float64 for
        float64 inputs, float32 otherwise.

    Raises
    ------
    ShapeError
        ``probs`` not [N, K, C], ``embeddings`` not [N, D], or different N.
    ProbabilityError
        Invalid probabilities or non-finite embeddings.
    """
    t, is_log = check_probs(probs, log_probs=log_probs)
    n = t.shape[0]
    h = check_embeddings(embeddings, "embeddings", n=n)
    if not isinstance(include_bias, bool) or not isinstance(squared, bool):
        raise TypeError(
            f"include_bias and squared must be bool, got {include_bias!r} and {squared!r}"
        )
    dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // (t.shape[1] * t.shape[2] + h.shape[1]))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    out = torch.empty(n, dtype=dtype, device=t.device)
    for s in range(0, n, chunk_size):
        p = t[s : s + chunk_size].to(torch.float64)
        p = p.exp().mean(dim=1) if is_log else p.mean(dim=1)
        hh = h[s : s + chunk_size].to(device=t.device, dtype=torch.float64)
        out[s : s + chunk_size] = _egl_kernel(p, hh, include_bias, squared).to(dtype)
    return to_output(out, log_probs if is_log else probs)


def _egl_kernel(
    p_NC: torch.Tensor, h_ND: torch.Tensor, include_bias: bool, squared: bool
) -> torch.Tensor:
    """EGL of trusted mean probabilities [N, C] and features [N, D] -> [N]."""
    h2 = (h_ND * h_ND).sum(dim=1) + (1.0 if include_bias else 0.0)
    p2 = (p_NC * p_NC).sum(dim=1, keepdim=True)
    if squared:
        return h2 * (1.0 - p2.squeeze(1)).clamp_min(0.0)
    dist = (p2 - 2.0 * p_NC + 1.0).clamp_min(0.0).sqrt()  # ||p - e_y|| for every y
    return h2.sqrt() * (p_NC * dist).sum(dim=1)
