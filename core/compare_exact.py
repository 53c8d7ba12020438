"""Exact mode's gradients: each objective as a weighted mean over a large fixed batch (the
evaluation set's quadrature pairs, ~10^5 rows), value and gradient in closed form, in
chunks of rows so memory stays bounded.

``smtui.core.compare_batches.weighted_loss`` is the definition (autograd through the model);
tests/test_compare.py checks every value and gradient here against it. theta is the flat
vector of ``smtui.core.fused.pack``.
"""

from __future__ import annotations

import numpy as np

from smtui.core.fused import pack, unpack

CHUNK_ROWS = 8192


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * a) + 1.0)  # stable for any argument


def _through_reconstruction(W, x, s, G):
    """Gradients (dW, db, dc) of L through W^T s(Wx + b) + c, given G = dL/d(that) per row;
    also V = dL/d(pre-activation) and t = s (1 - s)."""
    t = s * (1.0 - s)
    V = (G @ W.T) * t
    return V.T @ x + s.T @ G, V.sum(axis=0), G.sum(axis=0), V, t


def value_and_grad(name: str, theta: np.ndarray, batch: dict, sigma: float, lam: float):
    """(sum_i w_i loss_i, its gradient in theta) for objective ``name`` on a weighted batch."""
    x_all, w_all = batch["x"], batch["weight"]
    d = x_all.shape[1]
    p = unpack(np.asarray(theta, dtype=float), d)
    W, b, c = p["W"], p["b"], p["c"]
    s2 = sigma**2
    total, dW, db, dc = 0.0, np.zeros_like(W), np.zeros_like(b), np.zeros_like(c)
    for lo in range(0, len(w_all), CHUNK_ROWS):
        sl = slice(lo, lo + CHUNK_ROWS)
        w = w_all[sl][:, None]
        if name in ("dsm", "dae"):
            xt, x = batch["xt"][sl], x_all[sl]
            s = _sigmoid(xt @ W.T + b)
            r = s @ W + c - x  # the reconstruction's error; psi - target = r / sigma^2
            if name == "dsm":
                total += 0.5 * np.sum(w * r * r) / s2**2
                G = w * r / s2**2
            else:
                total += np.sum(w * r * r)
                G = 2.0 * w * r
            gW, gb, gc = _through_reconstruction(W, xt, s, G)[:3]
        elif name in ("esm", "esm-sigma"):
            x = x_all[sl]
            s = _sigmoid(x @ W.T + b)
            r = (s @ W + c - x) / s2 - batch["target"][sl]
            total += 0.5 * np.sum(w * r * r)
            gW, gb, gc = _through_reconstruction(W, x, s, w * r / s2)[:3]
        else:  # ism, ism-sigma, ism-reg: 1/2 ||psi||^2 + sum_i diag_i (+ lam sum_i diag_i^2)
            x = x_all[sl]
            reg = lam if name == "ism-reg" else 0.0
            s = _sigmoid(x @ W.T + b)
            psi = (s @ W + c - x) / s2
            W2 = W * W
            t = s * (1.0 - s)
            diag = (t @ W2 - 1.0) / s2
            total += np.sum(w * (0.5 * psi * psi + diag + reg * diag * diag))
            H = w * (1.0 + 2.0 * reg * diag)  # dL / d diag
            dt = (H @ W2.T) / s2  # dL / dt through diag
            gW, gb, gc, _, _ = _through_reconstruction(W, x, s, w * psi / s2)
            Vd = (1.0 - 2.0 * s) * t * dt  # dt/da = s (1 - s) (1 - 2 s)
            gW = gW + Vd.T @ x + (2.0 / s2) * W * (t.T @ H)
            gb = gb + Vd.sum(axis=0)
        dW += gW
        db += gb
        dc += gc
    return float(total), pack({"W": dW, "b": db, "c": dc})
