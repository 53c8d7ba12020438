"""The one hand-written gradient: each objective's value and its gradient in the flat
parameter vector, in one pass, checked against autograd differentiating the definitions.

theta = [W^T.ravel(), b, c] is one array (autograd boxes one value instead of a dict, and
the optimisers of smtui.core.optim step it as one vector). W is stored transposed so that
``[W^T; b]``, a (d + 1, h) block at the front of theta, multiplies ``[x, 1]`` (the batch
with a column of ones, drawn that way by smtui.core.objectives.draw_batch): the bias is
folded into the product.

Every objective is a mean over the batch's rows, or, given per-row weights w, the sum
sum_i w_i loss_i (the comparison's exact mode: quadrature pairs and their weights). Weighted
rows go in chunks of CHUNK_ELEMENTS / hidden, so memory stays bounded on the ~10^5-row exact
batches; a minibatch is one pass. Each chunk's value and gradient come from one forward
pass whose activations the backward pass reuses (docs/math.md gives the objectives).

The sigmoid is the exp form 1 / (1 + exp(-a)), computed in place: exp is ~2.5x cheaper
per element than tanh here. For a < -709 (float64; -88 in float32) exp overflows to inf
and 1 / inf is exactly 0, the right limit; callers run under ``np.errstate(over="ignore")``
so that overflow is silent (elsewhere numpy warns, and the value is still right).

The noise ladder's DSM (core/ladder.py) is the same residual with K more columns in the batch,
[xt, 1, e(sigma)], and K more rows in [W^T; b; B] and [c; C], each row at its own sigma
(``ladder_denoising``).

``differentiable`` wraps any of them as an autograd primitive of theta, so the fast path
composes with autograd where a test or a caller wants it. The definitions stay the autograd
compositions in core/objectives.py; tests/core/test_primitives.py checks every value and
gradient here against autograd differentiating them, in both float types, with and
without weights, in several chunks and where the sigmoid saturates.
"""

from __future__ import annotations

import numpy as np
from autograd.extend import defvjp, primitive
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.numpy.numpy_vspaces import ArrayVSpace

CHUNK_ELEMENTS = 1 << 17  # rows x hidden per chunk: its (rows, hidden) arrays of 1 MB (float64) stay in cache


class _Loss64(np.float64):
    """A loss value with ``aux``, its gradient, attached for the VJP.

    A primitive returning a tuple (loss, gradient) would do the same, but autograd then
    traces a tuple and an index into it, and builds zeros for the unused part in the
    backward pass: ~25 us per step against ~10 us for a scalar output."""


class _Loss32(np.float32):
    __doc__ = _Loss64.__doc__


_LOSS_TYPES = {np.dtype(np.float64): _Loss64, np.dtype(np.float32): _Loss32}
for _t in _LOSS_TYPES.values():  # autograd treats them as the scalars they subclass
    ArrayBox.register(_t)
    ArrayVSpace.register(_t)


def pack(params) -> np.ndarray:
    """theta = [W^T.ravel(), b, c] from {"W": (h, d), "b": (h,), "c": (d,)}."""
    return np.concatenate([np.ravel(np.transpose(params["W"])), params["b"], params["c"]])


def unpack(theta: np.ndarray, d: int) -> dict:
    """Views of W (a transposed view), b and c inside theta (no copies)."""
    A, c = _split(theta, d)
    return {"W": A[:d].T, "b": A[d], "c": c}


def _split(theta, d, levels=0):
    """(A, c): A = [W^T; b], the (d + 1, h) block, and c, as views of theta. With ``levels``
    K > 0 (the noise-conditional model, core/ladder.py): A = [W^T; b; B], (d + 1 + K, h), and
    c = [c; C], (1 + K, d)."""
    rows = d + 1 + levels
    h = (theta.shape[0] - (1 + levels) * d) // rows
    c = theta[rows * h :]
    return theta[: rows * h].reshape(rows, h), (c.reshape(1 + levels, d) if levels else c)


def with_ones(x: np.ndarray, dtype=None) -> np.ndarray:
    """[x, 1] in ``dtype`` (default x's): x with a column of ones appended, the batch
    layout the primitives take."""
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=x.dtype if dtype is None else dtype)
    out[:, :-1] = x
    out[:, -1] = 1.0
    return out


def hidden(A, x1):
    """sigmoid(x W^T + b) = 1 / (1 + exp(-(x1 @ A))), in place in one (N, h) buffer
    (the minus sign goes on the small A, not on the big product)."""
    s = x1 @ np.negative(A)
    np.exp(s, out=s)
    s += 1.0
    np.divide(1.0, s, out=s)
    return s


def _t_times(V, s):
    """V *= s (1 - s) in place: dsigmoid/da = s (1 - s); ``s`` is left untouched."""
    t = 1.0 - s
    t *= s
    V *= t
    return t


def _into_grad(theta, x1, s, G, V, extra_WT=None, levels=0):
    """The flat gradient from the pieces every objective shares, written into one buffer:
    dA = x1^T V (dW^T and db in one product), + G^T s for the path through psi's
    ``s W`` term (+ ``extra_WT``), and dc = column sums of G (1^T G, the ones column of
    x1 serving as the vector of ones). With ``levels`` (rows [xt, 1, e]): d[c; C] = [1, e]^T G."""
    d = G.shape[1]
    out = np.empty_like(theta)
    dA, dc = _split(out, d, levels)
    np.matmul(x1.T, V, out=dA)
    dWT = dA[:d]
    dWT += G.T @ s
    if extra_WT is not None:
        dWT += extra_WT
    if levels:
        np.matmul(x1[:, d:].T, G, out=dc)
    else:
        np.matmul(x1[:, d], G, out=dc)
    return out


def _scalar(g):
    # The upstream gradient as a Python float, so float32 stays float32.
    return float(g)


@primitive
def differentiable(value_and_grad, theta, *args):
    """``value_and_grad(theta, *args)``'s value as an autograd primitive of theta (argument
    1): its VJP hands back the gradient computed with the value."""
    value, grad = value_and_grad(theta, *args)
    out = _LOSS_TYPES.get(np.asarray(value).dtype, _Loss64)(value)
    out.aux = grad
    return out


def _differentiable_vjp(ans, value_and_grad, theta, *args):
    grad = ans.aux
    return lambda g: grad if _scalar(g) == 1.0 else grad * _scalar(g)


defvjp(differentiable, _differentiable_vjp, argnums=[1])


def _row_weights(weight, theta):
    return None if weight is None else np.asarray(weight, dtype=theta.dtype)


def _in_chunks(chunk, theta, *arrays):
    """(value, gradient) summed over chunks of rows: ``chunk(theta, *slices of arrays)``, the
    last array the weights. A batch without weights, a minibatch, is one pass as it always
    was (Config bounds its size; saved experiments replay its arithmetic bit for bit)."""
    rows, cols = arrays[0].shape
    step = max(1, CHUNK_ELEMENTS // max((theta.shape[0] - (cols - 1)) // cols, 1))  # rows per chunk
    if arrays[-1] is None or rows <= step:
        return chunk(theta, *arrays)
    total = grad = None
    for lo in range(0, rows, step):
        v, g = chunk(theta, *(None if a is None else a[lo : lo + step] for a in arrays))
        if grad is None:
            total, grad = v, g
        else:
            total += v
            grad += g
    return total, grad


# --- ESM, ESM-sigma, DSM (and DAE): the residual of psi against a target ---------------
# psi(x) - target = (s W + c - x) / s2 - target. DSM's target (x - xt) / s2 at xt needs no
# array: psi(xt) - (x - xt) / s2 = (s W + c - x) / s2 with s computed at xt. DAE's
# residual is s W + c - x itself (s2 = 1, no target, and no factor 1/2).


def _residual(theta, x1, clean, target, weight, s2, half):
    n = x1.shape[0]
    w = _row_weights(weight, theta)
    factor = 1.0 if half else 2.0
    scale = factor / s2 if w is not None else factor / (n * s2)  # dL/dr = scale w_i r_i

    def chunk(theta, x1, clean, target, w):
        """sum_i w_i ||r_i||^2 over the chunk (w_i = 1 without weights), and the gradient."""
        d = clean.shape[1]
        A, c = _split(theta, d)
        s = hidden(A, x1)
        r = s @ A[:d].T
        r += c
        r -= clean
        if s2 != 1.0:
            r /= s2
        if target is not None:
            r -= target
        if w is None:
            v = np.vdot(r, r)
            G = r * scale
        else:
            G = r * w[:, None]
            v = np.vdot(G, r)
            G *= scale
        V = G @ A[:d]
        _t_times(V, s)
        return v, _into_grad(theta, x1, s, G, V)

    total, grad = _in_chunks(chunk, theta, x1, clean, target, w)
    value = total if w is not None else total / n
    return (0.5 * value if half else value), grad


def score_matching(theta, x1, target, sigma, weight=None):
    """(mean over rows of 1/2 ||psi(x; theta) - target||^2, its gradient) with x1 = [x, 1]
    (ESM, ESM-sigma); with ``weight``, sum_i w_i of the same."""
    return _residual(theta, x1, x1[:, :-1], target, weight, float(sigma) ** 2, True)


def denoising(theta, xt1, x, sigma, weight=None):
    """(mean over rows of 1/2 ||psi(xt) - (x - xt) / sigma^2||^2, its gradient) with
    xt1 = [xt, 1] (DSM)."""
    return _residual(theta, xt1, x, None, weight, float(sigma) ** 2, True)


def reconstruction(theta, xt1, x, weight=None):
    """(mean over rows of ||W^T sigmoid(W xt + b) + c - x||^2, its gradient) with
    xt1 = [xt, 1] (DAE)."""
    return _residual(theta, xt1, x, None, weight, 1.0, False)


# --- DSM over the noise ladder (core/ladder.py): rows [xt, 1, e(sigma_i)], per-row sigma -------
# Per row 1/2 ||sigma_i psi(xt; sigma_i) + eps||^2 = 1/2 ||(r(xt; sigma_i) - x) / sigma_i||^2 with
# r = s W + c(sigma_i) and c(sigma_i) = [1, e] [c; C]: the DSM residual above, divided by sigma_i.


def ladder_denoising(theta, xe1, x, sigma, weight=None):
    """(mean over rows of 1/2 ||(r(xt_i; sigma_i) - x_i) / sigma_i||^2, its gradient) with
    xe1 = [xt, 1, e(sigma_i)] and theta laid out by core/ladder.pack: DSM over the ladder with
    lambda(sigma) = sigma^2; with ``weight``, sum_i w_i of the same."""
    n, d = x.shape
    levels = xe1.shape[1] - d - 1
    w = _row_weights(weight, theta)
    sig = np.asarray(sigma, dtype=theta.dtype)

    def chunk(theta, xe1, x, sig, w):
        A, C = _split(theta, d, levels)
        s = hidden(A, xe1)
        r = s @ A[:d].T
        r += xe1[:, d:] @ C
        r -= x
        r /= sig[:, None]
        if w is None:
            v = np.vdot(r, r)
            G = r / (n * sig)[:, None]  # dL/dr = r_i / (n sigma_i)
        else:
            G = r * w[:, None]
            v = np.vdot(G, r)
            G /= sig[:, None]
        V = G @ A[:d]
        _t_times(V, s)
        return v, _into_grad(theta, xe1, s, G, V, levels=levels)

    total, grad = _in_chunks(chunk, theta, xe1, x, sig, w)
    return 0.5 * (total if w is not None else total / n), grad


# --- ISM and ISMreg: 1/2 ||psi||^2 + sum_i diag_i (+ lam sum_i diag_i^2) per row -----------
# diag_i = d psi_i / d x_i = (sum_j t_j W_ji^2 - 1) / s2 with t = s (1 - s).


def ism(theta, x1, sigma, lam=0.0, weight=None):
    """(mean over rows of 1/2 ||psi||^2 + div psi (+ lam sum_i (d psi_i / d x_i)^2), its
    gradient) with x1 = [x, 1]; with ``weight``, sum_i w_i of the same."""
    n = x1.shape[0]
    w = _row_weights(weight, theta)
    sigma, lam = float(sigma), float(lam)
    s2 = sigma**2
    g0 = 1.0 / n if w is None else 1.0  # dL/d(row loss i) = g0 w_i

    def chunk(theta, x1, w):
        rows, d = x1.shape[0], x1.shape[1] - 1
        A, c = _split(theta, d)
        WT = A[:d]
        s = hidden(A, x1)
        psi = s @ WT.T
        psi += c
        psi -= x1[:, :d]
        psi /= s2
        t = 1.0 - s
        t *= s
        WT2 = WT * WT
        psi_w = psi if w is None else psi * w[:, None]
        if lam == 0.0:  # sum_i diag_i = (t . ||W_j||^2 - d) / s2: no (N, d) array
            t_sum = (x1[:, d] if w is None else w) @ t  # the ones column sums the rows
            w2 = WT2.sum(axis=0)
            v = 0.5 * np.vdot(psi_w, psi) + ((t_sum @ w2) / s2 - (rows if w is None else w.sum()) * d / s2)
            dt, tH = (g0 / s2) * w2, g0 * t_sum  # dL/dt (the same in every row, times w_i)
        else:
            diag = (t @ WT2.T - 1.0) / s2
            diag_w = diag if w is None else diag * w[:, None]
            v = 0.5 * np.vdot(psi_w, psi) + np.sum(diag_w) + lam * np.vdot(diag_w, diag)
            H = g0 * (1.0 + (2.0 * lam) * diag)  # dL/d diag
            if w is not None:
                H *= w[:, None]
            dt, tH = (H @ WT2) / s2, H.T @ t
        # dL/da = t * (G W^T + (1 - 2 s) dt): through psi, and through t (dt/da = t (1 - 2 s)).
        G = (g0 / s2) * psi_w
        U = s * (-2.0)
        U += 1.0
        U *= dt
        if lam == 0.0 and w is not None:
            U *= w[:, None]
        U += G @ WT
        U *= t
        return v, _into_grad(theta, x1, s, G, U, (2.0 / s2) * WT * tH)

    total, grad = _in_chunks(chunk, theta, x1, w)
    return (total / n if w is None else total), grad
