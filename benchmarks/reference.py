"""The hand-written closed-form numpy training step every benchmark compares against.

Same model, same objectives with the paper's scaling (MATH.md), same batch recipe and
the same Adam as core/, but value and gradient written out by hand and updated in
place: what a careful numpy programmer would write without autograd. Only the
benchmarks use it; the engine's own tests check core/ against autograd instead.
"""

from __future__ import annotations

import numpy as np

B1, B2, EPS = 0.9, 0.999, 1e-8


def _sigmoid(a):
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


def _parzen_score(xt, centres, sigma):
    """grad log q_sigma(xt) with a stable softmax over the centres."""
    origin = centres.mean(axis=0)
    a, b = xt - origin, centres - origin
    logits = (a @ b.T - 0.5 * np.sum(b * b, axis=1)) / sigma**2  # the |a|^2 term cancels
    logits -= logits.max(axis=1, keepdims=True)
    np.maximum(logits, -700.0, out=logits)  # as the engine: dodge exp's slow underflow path
    w = np.exp(logits)
    w /= w.sum(axis=1, keepdims=True)
    return (w @ centres - xt) / sigma**2


def _psi_backward(W, x, s, G, s2):
    """(dW, db, dc, V) for upstream G = dL/dpsi, psi = (s W + c - x) / s2."""
    V = (G @ W.T) * (s * (1.0 - s)) / s2
    return V.T @ x + s.T @ G / s2, V.sum(axis=0), G.sum(axis=0) / s2, V


def value_and_grad(name, W, b, c, batch, sigma, lam=0.1):
    """Loss and (dW, db, dc) of objective ``name`` on ``batch``, all by hand."""
    s2 = sigma * sigma
    x = batch["xt"] if "xt" in batch else batch["x"]
    n = x.shape[0]
    s = _sigmoid(x @ W.T + b)
    if name == "dae":
        r = s @ W + c - batch["x"]
        G = (2.0 / n) * r
        V = (G @ W.T) * (s * (1.0 - s))
        return np.sum(r * r) / n, (V.T @ x + s.T @ G, V.sum(axis=0), G.sum(axis=0))
    psi = (s @ W + c - x) / s2
    if name in ("esm", "esm-sigma", "dsm"):
        target = batch["target"] if name != "dsm" else (batch["x"] - x) / s2
        r = psi - target
        dW, db, dc, _ = _psi_backward(W, x, s, r / n, s2)
        return 0.5 * np.sum(r * r) / n, (dW, db, dc)
    # ISM and ISMreg: divergence sum_i diag_i, diag = (t (W*W) - 1) / s2 with t = s (1 - s).
    t = s * (1.0 - s)
    W2 = W * W
    if name == "ism-reg":
        diag = (t @ W2 - 1.0) / s2
        loss = (0.5 * np.sum(psi * psi) + np.sum(diag) + lam * np.sum(diag * diag)) / n
        H = (1.0 + (2.0 * lam) * diag) / n  # dL/d diag
        dt, tH = H @ W2.T / s2, t.T @ H
    else:
        loss = (0.5 * np.sum(psi * psi) + np.sum(t @ W2.sum(axis=1)) / s2) / n - x.shape[1] / s2
        dt, tH = W2.sum(axis=1) / (n * s2), t.sum(axis=0)[:, None] / n
    dW, db, dc, V = _psi_backward(W, x, s, psi / n, s2)
    Vd = dt * t * (1.0 - 2.0 * s)
    return loss, (dW + Vd.T @ x + (2.0 / s2) * W * tH, db + Vd.sum(axis=0), dc)


class ReferenceTrainer:
    """Batch drawing + hand-written value and gradient + in-place Adam, one step at a time."""

    def __init__(self, name, data, params, sigma, batch, lr, seed=0, lam=0.1, analytic=None, dtype="float64"):
        self.name, self.sigma, self.batch, self.lr, self.lam = name, sigma, batch, lr, lam
        self.dtype = np.dtype(dtype)
        self.data = np.asarray(data, dtype=self.dtype)
        # The ESM target is theta-free at each training point: compute it once.
        self.data_score = np.asarray(analytic.score(data), dtype=self.dtype) if name == "esm" else None
        self.params = [np.array(params[k], dtype=self.dtype) for k in ("W", "b", "c")]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.rng = np.random.default_rng([seed, 0xBA7C])
        self.loss = None

    def draw(self):
        idx = self.rng.integers(0, self.data.shape[0], self.batch)
        x = self.data.take(idx, axis=0)  # as the engine draws: take() beats data[idx]
        if self.name == "esm":
            return {"x": x, "target": self.data_score.take(idx, axis=0)}
        if self.name in ("ism", "ism-reg"):
            return {"x": x}
        xt = self.rng.standard_normal(x.shape, dtype=self.dtype)
        xt *= self.sigma
        xt += x
        if self.name == "esm-sigma":
            return {"x": xt, "target": _parzen_score(xt, self.data, self.sigma)}
        if self.name == "ism-sigma":
            return {"x": xt}
        return {"x": x, "xt": xt}

    def step(self):
        loss, grads = value_and_grad(self.name, *self.params, self.draw(), self.sigma, self.lam)
        self.t += 1
        scale = self.lr * np.sqrt(1 - B2**self.t) / (1 - B1**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= B1
            m += (1 - B1) * g
            v *= B2
            v += (1 - B2) * g * g
            p -= scale * m / (np.sqrt(v) + EPS)
        if not (np.isfinite(loss) and all(np.all(np.isfinite(p)) for p in self.params)):
            raise FloatingPointError(f"reference {self.name} step diverged")
        self.loss = float(loss)
        return self.loss

    def train(self, steps):
        for _ in range(steps):
            self.step()
        return steps


def reference_for(trainer) -> ReferenceTrainer:
    """A reference with the trainer's data, initial parameters, settings and batch seed."""
    cfg = trainer.config
    return ReferenceTrainer(cfg.objective, trainer.data, trainer.params, cfg.sigma, cfg.batch, cfg.lr,
                            seed=cfg.seed, lam=cfg.lam, analytic=trainer.analytic, dtype=cfg.dtype)
