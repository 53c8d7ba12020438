"""Each objective's hot part as one autograd primitive over a flat parameter vector.

The trainer differentiates ``theta = [W.ravel(), b, c]`` (one array, so autograd boxes
one value instead of a dict) through a single primitive per loss. Each primitive returns
its scalar loss carrying the activations its vector-Jacobian product needs (``_Loss``),
so the sigmoid is computed once per step and shared between the forward and the
backward pass. The definitions stay the autograd compositions in core/objectives.py;
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
    """theta = [W.ravel(), b, c] from {"W": (h, d), "b": (h,), "c": (d,)}."""
    return np.concatenate([np.ravel(params["W"]), params["b"], params["c"]])


def unpack(theta: np.ndarray, d: int) -> dict:
    """Views of W, b, c inside theta (no copies)."""
    return dict(zip(("W", "b", "c"), _split(theta, d)))


def _split(theta, d):
    """(W, b, c) as views of theta; the tuple form the hot path uses."""
    h = (theta.shape[0] - d) // (d + 1)
    return theta[: h * d].reshape(h, d), theta[h * d : h * d + h], theta[h * d + h :]


def _hidden(W, b, x):
    """sigmoid(x W^T + b) in the tanh form (stable for any argument, no overflow
    warnings; see core.model.sigmoid), computed in place in one buffer."""
    a = x @ W.T
    a += b
    a *= 0.5
    np.tanh(a, out=a)
    a += 1.0
    a *= 0.5
    return a


def _through_psi(W, x, s, G):
    """Gradient of L through psi = (s W + c - x) / s2, given G = (dL/dpsi) / s2 (the
    caller folds every scalar into G so no (N, h) array is rescaled): (dW, db, dc, V, t) with
    V = dL/d(pre-activation) and t = s (1 - s)."""
    t = 1.0 - s
    t *= s
    V = G @ W.T
    V *= t
    return V.T @ x + s.T @ G, V.sum(axis=0), G.sum(axis=0), V, t


def _flat(dW, db, dc):
    return np.concatenate([dW.ravel(), db, dc])


def _scalar(g):
    # The upstream gradient as a Python float, so float32 stays float32.
    return float(g)


# --- ESM, ESM-sigma and DSM: mean 1/2 ||psi(x) - target||^2 ------------------------


@primitive
def _score_matching(theta, x, target, sigma):
    W, b, c = _split(theta, x.shape[1])
    s = _hidden(W, b, x)
    r = s @ W
    r += c
    r -= x
    r /= sigma**2
    r -= target
    return _loss(0.5 * np.vdot(r, r) / x.shape[0], x.dtype, s, r)


def _score_matching_vjp(ans, theta, x, target, sigma):
    s, r = ans.aux
    W = _split(theta, x.shape[1])[0]
    return lambda g: _flat(*_through_psi(W, x, s, (_scalar(g) / (x.shape[0] * sigma**2)) * r)[:3])


defvjp(_score_matching, _score_matching_vjp)


def score_matching_loss(theta, x, target, sigma):
    """mean over rows of 1/2 ||psi(x; theta) - target||^2 (ESM, ESM-sigma, DSM)."""
    return _score_matching(theta, x, target, sigma)


# --- DAE: mean ||W^T sigmoid(W xt + b) + c - x||^2 ----------------------------------


@primitive
def _reconstruction_error(theta, xt, x):
    W, b, c = _split(theta, x.shape[1])
    s = _hidden(W, b, xt)
    r = s @ W
    r += c
    r -= x
    return _loss(np.vdot(r, r) / x.shape[0], x.dtype, s, r)


def _reconstruction_error_vjp(ans, theta, xt, x):
    s, r = ans.aux
    W = _split(theta, x.shape[1])[0]
    # The reconstruction is sigma^2 psi(xt) + xt, so psi's VJP with s2 = 1 serves.
    return lambda g: _flat(*_through_psi(W, xt, s, (2.0 * _scalar(g) / x.shape[0]) * r)[:3])


defvjp(_reconstruction_error, _reconstruction_error_vjp)


def reconstruction_loss(theta, xt, x):
    """mean over rows of ||W^T sigmoid(W xt + b) + c - x||^2 (DAE)."""
    return _reconstruction_error(theta, xt, x)


# --- ISM and ISMreg: mean 1/2 ||psi||^2 + sum_i diag_i (+ lam sum_i diag_i^2) ----------
# diag_i = d psi_i / d x_i = (sum_j t_j W_ji^2 - 1) / s2 with t = s (1 - s).


@primitive
def _ism(theta, x, sigma, lam):
    n, d = x.shape
    W, b, c = _split(theta, d)
    s = _hidden(W, b, x)
    psi = s @ W
    psi += c
    psi -= x
    psi /= sigma**2
    t = 1.0 - s
    t *= s
    if lam == 0.0:
        diag = None  # not needed: sum_i diag_i = t . ||W_j||^2 - d
        div_sum = (t.sum(axis=0) @ np.sum(W * W, axis=1)) / sigma**2 - n * d / sigma**2
        loss = (0.5 * np.vdot(psi, psi) + div_sum) / n
    else:
        diag = (t @ (W * W) - 1.0) / sigma**2
        loss = (0.5 * np.vdot(psi, psi) + np.sum(diag) + lam * np.vdot(diag, diag)) / n
    return _loss(loss, x.dtype, s, t, psi, diag)


def _ism_vjp(ans, theta, x, sigma, lam):
    s, t, psi, diag = ans.aux
    n, d = x.shape
    W = _split(theta, d)[0]
    s2 = sigma**2

    def vjp(g):
        g0 = _scalar(g) / n
        W2 = W * W
        if lam == 0.0:  # dL/d diag = g0 everywhere
            dt, tH = (g0 / s2) * W2.sum(axis=1), (g0 * t.sum(axis=0))[:, None]
        else:
            H = g0 * (1.0 + (2.0 * lam) * diag)
            dt, tH = (H @ W2.T) / s2, t.T @ H
        dW, db, dc, _, _ = _through_psi(W, x, s, (g0 / s2) * psi)
        Vd = 1.0 - 2.0 * s
        Vd *= t
        Vd *= dt
        return _flat(dW + Vd.T @ x + (2.0 / s2) * W * tH, db + Vd.sum(axis=0), dc)

    return vjp


defvjp(_ism, _ism_vjp)


def ism_loss(theta, x, sigma, lam=0.0):
    """mean over rows of 1/2 ||psi||^2 + div psi (+ lam sum_i (d psi_i / d x_i)^2)."""
    return _ism(theta, x, sigma, float(lam))
