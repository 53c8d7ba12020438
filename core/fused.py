"""Each objective's hot part as one autograd primitive over a flat parameter vector.

The trainer differentiates ``theta = [W^T.ravel(), b, c]`` (one array, so autograd boxes
one value instead of a dict) through a single primitive per loss. W is stored transposed
so that ``[W^T; b]``, a (d + 1, h) block at the front of theta, multiplies ``[x, 1]``
(the batch with a column of ones, drawn that way by smtui.core.objectives.draw_batch): the
bias is folded into the product. Each primitive returns its scalar loss carrying the
activations its vector-Jacobian product needs (``_Loss``), so the sigmoid is computed
once per step and shared between the forward and the backward pass.

The sigmoid is the exp form 1 / (1 + exp(-a)), computed in place: exp is ~2.5x cheaper
per element than tanh here. For a < -709 exp overflows to inf and 1 / inf is exactly 0,
the right limit; the trainer runs under ``np.errstate(over="ignore")`` so that overflow
is silent (elsewhere numpy warns, and the value is still right).

The definitions stay the autograd compositions in core/objectives.py;
tests/test_primitives.py checks every value and gradient here against autograd
differentiating them.
"""

from __future__ import annotations

import numpy as np
from autograd.extend import defvjp, primitive
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.numpy.numpy_vspaces import ArrayVSpace


class _Loss64(np.float64):
    """A loss value with ``aux``, the forward pass's activations, attached for the VJP.

    A primitive returning a tuple (loss, activations...) would do the same, but autograd
    then traces a tuple and an index into it, and builds zeros for every activation in
    the backward pass: ~25 us per step against ~10 us for a scalar output."""


class _Loss32(np.float32):
    __doc__ = _Loss64.__doc__


_LOSS_TYPES = {np.dtype(np.float64): _Loss64, np.dtype(np.float32): _Loss32}
for _t in _LOSS_TYPES.values():  # autograd treats them as the scalars they subclass
    ArrayBox.register(_t)
    ArrayVSpace.register(_t)


def _loss(value, dtype, *aux):
    out = _LOSS_TYPES.get(np.dtype(dtype), _Loss64)(value)
    out.aux = aux
    return out


def pack(params) -> np.ndarray:
    """theta = [W^T.ravel(), b, c] from {"W": (h, d), "b": (h,), "c": (d,)}."""
    return np.concatenate([np.ravel(np.transpose(params["W"])), params["b"], params["c"]])


def unpack(theta: np.ndarray, d: int) -> dict:
    """Views of W (a transposed view), b and c inside theta (no copies)."""
    A, c = _split(theta, d)
    return {"W": A[:d].T, "b": A[d], "c": c}


def _split(theta, d):
    """(A, c): A = [W^T; b], the (d + 1, h) block, and c, as views of theta."""
    h = (theta.shape[0] - d) // (d + 1)
    return theta[: (d + 1) * h].reshape(d + 1, h), theta[(d + 1) * h :]


def with_ones(x: np.ndarray, dtype=None) -> np.ndarray:
    """[x, 1] in ``dtype`` (default x's): x with a column of ones appended, the batch
    layout the primitives take."""
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=x.dtype if dtype is None else dtype)
    out[:, :-1] = x
    out[:, -1] = 1.0
    return out


def _hidden(A, x1):
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


def _into_grad(theta, x1, s, G, V, extra_WT=None):
    """The flat gradient from the pieces every objective shares, written into one buffer:
    dA = x1^T V (dW^T and db in one product), + G^T s for the path through psi's
    ``s W`` term (+ ``extra_WT``), and dc = column sums of G (1^T G, the ones column of
    x1 serving as the vector of ones)."""
    d = G.shape[1]
    out = np.empty_like(theta)
    dA, dc = _split(out, d)
    np.matmul(x1.T, V, out=dA)
    dWT = dA[:d]
    dWT += G.T @ s
    if extra_WT is not None:
        dWT += extra_WT
    np.matmul(x1[:, d], G, out=dc)
    return out


def _scalar(g):
    # The upstream gradient as a Python float, so float32 stays float32.
    return float(g)


# --- ESM, ESM-sigma, DSM (and DAE): the residual of psi against a target ---------------
# psi(x) - target = (s W + c - x) / s2 - target. DSM's target (x - xt) / s2 at xt needs no
# array: psi(xt) - (x - xt) / s2 = (s W + c - x) / s2 with s computed at xt. DAE's
# residual is s W + c - x itself (s2 = 1, no target, and no factor 1/2).


@primitive
def _residual_loss(theta, x1, clean, target, s2, half):
    d = clean.shape[1]
    A, c = _split(theta, d)
    s = _hidden(A, x1)
    r = s @ A[:d].T
    r += c
    r -= clean
    if s2 != 1.0:
        r /= s2
    if target is not None:
        r -= target
    v = np.vdot(r, r) / clean.shape[0]
    return _loss(0.5 * v if half else v, clean.dtype, s, r)


def _residual_loss_vjp(ans, theta, x1, clean, target, s2, half):
    s, r = ans.aux
    d = clean.shape[1]

    def vjp(g):
        G = r * ((1.0 if half else 2.0) * _scalar(g) / (clean.shape[0] * s2))
        V = G @ _split(theta, d)[0][:d]
        _t_times(V, s)
        return _into_grad(theta, x1, s, G, V)

    return vjp


defvjp(_residual_loss, _residual_loss_vjp)


def score_matching_loss(theta, x1, target, sigma):
    """mean over rows of 1/2 ||psi(x; theta) - target||^2 with x1 = [x, 1] (ESM, ESM-sigma)."""
    return _residual_loss(theta, x1, x1[:, :-1], target, float(sigma) ** 2, True)


def denoising_loss(theta, xt1, x, sigma):
    """mean over rows of 1/2 ||psi(xt) - (x - xt) / sigma^2||^2 with xt1 = [xt, 1] (DSM)."""
    return _residual_loss(theta, xt1, x, None, float(sigma) ** 2, True)


def reconstruction_loss(theta, xt1, x):
    """mean over rows of ||W^T sigmoid(W xt + b) + c - x||^2 with xt1 = [xt, 1] (DAE)."""
    return _residual_loss(theta, xt1, x, None, 1.0, False)


# --- ISM and ISMreg: mean 1/2 ||psi||^2 + sum_i diag_i (+ lam sum_i diag_i^2) ----------
# diag_i = d psi_i / d x_i = (sum_j t_j W_ji^2 - 1) / s2 with t = s (1 - s).


@primitive
def _ism(theta, x1, sigma, lam):
    n, d = x1.shape[0], x1.shape[1] - 1
    A, c = _split(theta, d)
    WT = A[:d]
    s2 = sigma**2
    s = _hidden(A, x1)
    psi = s @ WT.T
    psi += c
    psi -= x1[:, :d]
    psi /= s2
    t = 1.0 - s
    t *= s
    WT2 = WT * WT
    if lam == 0.0:
        diag, t_sum = None, x1[:, d] @ t  # sum_i diag_i = t . ||W_j||^2 - d: no (N, d) array
        div_sum = (t_sum @ WT2.sum(axis=0)) / s2 - n * d / s2
        loss = (0.5 * np.vdot(psi, psi) + div_sum) / n
    else:
        t_sum = None
        diag = (t @ WT2.T - 1.0) / s2
        loss = (0.5 * np.vdot(psi, psi) + np.sum(diag) + lam * np.vdot(diag, diag)) / n
    return _loss(loss, x1.dtype, s, t, psi, diag, t_sum)


def _ism_vjp(ans, theta, x1, sigma, lam):
    s, t, psi, diag, t_sum = ans.aux
    n, d = x1.shape[0], x1.shape[1] - 1
    WT = _split(theta, d)[0][:d]
    s2 = sigma**2

    def vjp(g):
        g0 = _scalar(g) / n
        WT2 = WT * WT
        if lam == 0.0:  # dL/d diag = g0 everywhere
            dt, tH = (g0 / s2) * WT2.sum(axis=0), g0 * t_sum
        else:
            H = g0 * (1.0 + (2.0 * lam) * diag)
            dt, tH = (H @ WT2) / s2, H.T @ t
        # dL/da = t * (G W^T + (1 - 2 s) dt): through psi, and through t (dt/da = t (1 - 2 s)).
        G = (g0 / s2) * psi
        U = s * (-2.0)
        U += 1.0
        U *= dt
        U += G @ WT
        U *= t
        return _into_grad(theta, x1, s, G, U, (2.0 / s2) * WT * tH)

    return vjp


defvjp(_ism, _ism_vjp)


def ism_loss(theta, x1, sigma, lam=0.0):
    """mean over rows of 1/2 ||psi||^2 + div psi (+ lam sum_i (d psi_i / d x_i)^2), x1 = [x, 1]."""
    return _ism(theta, x1, float(sigma), float(lam))
