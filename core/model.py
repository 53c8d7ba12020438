"""The paper's energy model (Vincent 2011, eq. for E(x; theta)) and its score.

    E(x)   = -( <c, x> - ||x||^2 / 2 + sum_j softplus(<W_j, x> + b_j) ) / sigma^2
    psi(x) = -dE/dx = ( W^T sigmoid(W x + b) + c - x ) / sigma^2

``score_autograd`` and ``jacobian_diagonal_autograd`` are the definitions (autograd
differentiating the energy); ``score`` and ``jacobian_diagonal`` are their closed forms,
checked against them in the tests. Both are plain autograd compositions: the one
hand-written gradient is core/fused.py's.
"""

from __future__ import annotations

import autograd.numpy as np
from autograd import elementwise_grad

Params = dict  # {"W": (h, d), "b": (h,), "c": (d,)}


def softplus(a):
    """log(1 + e^a) without overflow for large |a|."""
    return np.logaddexp(0.0, a)


def sigmoid(a):
    """1 / (1 + e^-a) without overflow: tanh form is stable for any a."""
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


def init_params(rng, d: int, hidden: int, dtype=float) -> Params:
    """W ~ N(0, 1/h) and b ~ N(0, 1), with c cancelling the mean hidden output so that
    psi(0) = 0: the initial model is close to a single bump of width ~sigma at the origin."""
    import numpy as onp

    W = rng.normal(0.0, 1.0 / onp.sqrt(hidden), size=(hidden, d))
    b = rng.normal(0.0, 1.0, size=hidden)
    c = -(W.T @ sigmoid(b))
    return {k: onp.asarray(v, dtype=dtype) for k, v in (("W", W), ("b", b), ("c", c))}


def energy(params: Params, x, sigma: float):
    """E(x; theta) for each row of x, shape (N,)."""
    W, b, c = params["W"], params["b"], params["c"]
    inner = np.dot(x, c) - 0.5 * np.sum(x * x, axis=1) + np.sum(softplus(np.dot(x, W.T) + b), axis=1)
    return -inner / sigma**2


def score_autograd(params: Params, x, sigma: float):
    """psi(x) = -grad_x E, by autograd: the definition the fast path is checked against."""
    return elementwise_grad(lambda z: -energy(params, z, sigma))(x)


def jacobian_diagonal_autograd(params: Params, x, sigma: float):
    """d psi_i / d x_i for each row, by autograd (d backward passes: an oracle only)."""
    d = x.shape[1]
    cols = []
    for i in range(d):
        unit = np.eye(d)[i]
        # psi_i summed over rows; rows are independent so the gradient is per-row.
        g = elementwise_grad(lambda z, u=unit: np.dot(score_autograd(params, z, sigma), u))(x)
        cols.append(g[:, i])
    return np.stack(cols, axis=1)


# --- the closed forms (docs/math.md), plain autograd compositions ------------------------


def score(params: Params, x, sigma: float):
    """psi(x; theta) = (W^T sigmoid(W x + b) + c - x) / sigma^2, shape (N, d); autograd
    differentiates it in W, b, c and x."""
    W = params["W"]
    s = sigmoid(np.dot(x, W.T) + params["b"])
    return (np.dot(s, W) + params["c"] - x) / sigma**2


def jacobian_diagonal(params: Params, x, sigma: float):
    """d psi_i / d x_i = (sum_j s_j (1 - s_j) W_ji^2 - 1) / sigma^2 per row, shape (N, d);
    autograd differentiates it in W, b and x."""
    W = params["W"]
    s = sigmoid(np.dot(x, W.T) + params["b"])
    return (np.dot(s * (1.0 - s), W * W) - 1.0) / sigma**2


def divergence(params: Params, x, sigma: float):
    """sum_i d psi_i / d x_i = (sum_j s_j (1 - s_j) ||W_j||^2 - d) / sigma^2, shape (N,)."""
    return np.sum(jacobian_diagonal(params, x, sigma), axis=1)


def reconstruction(params: Params, x):
    """The tied-weight autoencoder's output W^T sigmoid(W x + b) + c, shape (N, d)."""
    return np.dot(sigmoid(np.dot(x, params["W"].T) + params["b"]), params["W"]) + params["c"]


# --- evaluation path: plain numpy, no autograd (evaluation needs no gradients) -----------

_EVAL_CHUNK_ELEMENTS = 1 << 17  # rows x hidden per chunk (1 MB of float64, stays in cache)


def score_and_divergence(params: Params, x, sigma: float):
    """psi(x) (N, d) and div psi(x) (N,) from one sigmoid pass per row, in chunks: the
    same closed forms as ``score`` and ``divergence``, for figures over ~10^5 points. The
    sigmoid is training's (core/fused.py ``hidden``: 1 / (1 + exp(-a)), exp overflowing to
    inf where a < -709 gives exactly 0), ~2.5x cheaper per element than the tanh form."""
    import numpy as onp

    from smtui.core.fused import hidden, with_ones

    W, b, c = (onp.asarray(params[k], dtype=float) for k in ("W", "b", "c"))
    x = onp.asarray(x, dtype=float)
    n, d = x.shape
    A = onp.concatenate([W.T, b[None, :]])  # [W^T; b]: [x, 1] @ A = W x + b
    w2 = onp.sum(W * W, axis=1)
    psi, div = onp.empty((n, d)), onp.empty(n)
    rows = max(1, _EVAL_CHUNK_ELEMENTS // max(W.shape[0], 1))
    with onp.errstate(over="ignore"):
        for lo in range(0, n, rows):
            q = x[lo : lo + rows]
            s = hidden(A, with_ones(q))
            p = s @ W
            p += c
            p -= q
            psi[lo : lo + rows] = p
            s -= s * s  # t = s (1 - s)
            div[lo : lo + rows] = s @ w2
    psi /= sigma**2
    div -= d
    div /= sigma**2
    return psi, div
