"""The numpy loops the engine's training step is measured against, written on their own.

* ``MinimalLoop``: the loop a numpy user would write from docs/math.md, with nothing borrowed
  from core/: the batch by ``rng.integers`` and fancy indexing, ``xt = x + sigma *
  randn``, the plain sigmoid ``1 / (1 + exp(-a))``, the closed-form gradient, Adam on a
  dict of arrays, a finiteness check on the loss. It draws its batches step by step
  (``block`` = 1, as timed) or, given the engine's ``block``, the engine's batches (same
  generator, same draws: core/batches.py), so its losses can be checked against the
  engine's (tests/cli/test_benchmarks.py).
* ``FastestLoop``: the fastest numpy-only loop found: the same closed forms with every
  (batch x hidden) array preallocated and reused, the sigmoid in place, the bias folded
  into the product (``[x, 1] @ [W^T; b]``), column sums as products with a vector of
  ones, Adam in place on one flat vector, and the batches of ``block`` steps drawn at once.
* ``FloorLoop``: the floor, only the work no step can avoid on a (batch x hidden)
  array: the forward product, one exp, three elementwise passes, and the backward
  product, on preallocated buffers; no batch drawn, no loss, no optimiser.

Each has ``train(steps)``; benchmarks/step_time.py times them interleaved with the engine.
"""

from __future__ import annotations

import numpy as np

from smtui.core.batches import block_steps

B1, B2, EPS = 0.9, 0.999, 1e-8
NOISY = ("esm-sigma", "ism-sigma", "dsm", "dae")


class MinimalLoop:
    """A careful numpy user's training loop: plain expressions, arrays in a dict."""

    def __init__(self, name, data, params, sigma, batch, lr, seed=0, lam=0.1, data_score=None,
                 dtype="float64", block=1):
        self.name, self.sigma, self.batch, self.lr, self.lam, self.block = name, sigma, batch, lr, lam, block
        self.drawn = []  # (rows, noise) of the block's steps still to come
        self.dtype = np.dtype(dtype)
        self.data = np.asarray(data, dtype=self.dtype)
        self.data_score = None if data_score is None else np.asarray(data_score, dtype=self.dtype)
        self.params = {k: np.array(params[k], dtype=self.dtype) for k in ("W", "b", "c")}
        self.m = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.t = 0
        self.rng = np.random.default_rng([seed, 0xBA7C])  # the engine's batch stream
        self.loss = None

    def draw(self):
        if not self.drawn:  # the rows of ``block`` steps, then their noise
            b, d = self.batch, self.data.shape[1]
            idx = self.rng.integers(0, len(self.data), self.block * b)
            noise = self.rng.standard_normal((self.block * b, d)) if self.name in NOISY else None
            self.drawn = [(idx[i * b:(i + 1) * b], None if noise is None else noise[i * b:(i + 1) * b])
                          for i in range(self.block)][::-1]
        idx, noise = self.drawn.pop()
        x = self.data[idx]
        batch = {"x": x}
        if self.name == "esm":
            batch["target"] = self.data_score[idx]
        if self.name in NOISY:
            batch["xt"] = x + self.sigma * noise.astype(self.dtype)
        if self.name == "esm-sigma":
            batch["target"] = parzen_score(batch["xt"], self.data, self.sigma)
        return batch

    def step(self):
        loss, grads = loss_and_grads(self.name, self.params, self.draw(), self.sigma, self.lam)
        if not np.isfinite(loss):
            raise FloatingPointError(f"reference {self.name} step diverged")
        self.t += 1
        for k in self.params:
            self.m[k] = B1 * self.m[k] + (1 - B1) * grads[k]
            self.v[k] = B2 * self.v[k] + (1 - B2) * grads[k] ** 2
            m_hat = self.m[k] / (1 - B1**self.t)
            v_hat = self.v[k] / (1 - B2**self.t)
            self.params[k] = self.params[k] - self.lr * m_hat / (np.sqrt(v_hat) + EPS)
        self.loss = float(loss)
        return self.loss

    def train(self, steps):
        with np.errstate(over="ignore"):  # exp(-a) = inf for a < -709 gives sigmoid 0: fine
            for _ in range(steps):
                self.step()
        return steps


def parzen_score(xt, centres, sigma):
    """grad log q_sigma(xt) = sum_t w_t (x_t - xt) / sigma^2, softmax weights over centres."""
    d2 = np.sum(xt**2, axis=1)[:, None] - 2 * xt @ centres.T + np.sum(centres**2, axis=1)
    logits = -d2 / (2 * sigma**2)
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return (w @ centres - xt) / sigma**2


def loss_and_grads(name, p, batch, sigma, lam):
    """The loss of objective ``name`` (docs/math.md's scaling) and its gradient, by hand."""
    W, b, c = p["W"], p["b"], p["c"]
    s2 = sigma**2
    x = batch["x"]
    xin = batch["xt"] if name in NOISY else x
    n = len(xin)
    s = 1 / (1 + np.exp(-(xin @ W.T + b)))
    if name == "dae":
        r = s @ W + c - x
        loss = np.mean(np.sum(r**2, axis=1))
        G = 2 * r / n
        V = (G @ W.T) * s * (1 - s)
        return loss, {"W": V.T @ xin + s.T @ G, "b": V.sum(axis=0), "c": G.sum(axis=0)}
    psi = (s @ W + c - xin) / s2
    if name in ("esm", "esm-sigma", "dsm"):
        target = (x - xin) / s2 if name == "dsm" else batch["target"]
        r = psi - target
        loss = np.mean(0.5 * np.sum(r**2, axis=1))
        G = r / (n * s2)
        V = (G @ W.T) * s * (1 - s)
        return loss, {"W": V.T @ xin + s.T @ G, "b": V.sum(axis=0), "c": G.sum(axis=0)}
    # ISM (lam = 0) and ISMreg: diag_i = d psi_i / d x_i = (t @ W^2 - 1) / s2, t = s (1 - s).
    lam = lam if name == "ism-reg" else 0.0
    t = s * (1 - s)
    diag = (t @ W**2 - 1) / s2
    loss = np.mean(0.5 * np.sum(psi**2, axis=1) + np.sum(diag, axis=1) + lam * np.sum(diag**2, axis=1))
    G = psi / (n * s2)
    H = (1 + 2 * lam * diag) / n  # dL / d diag
    V = (G @ W.T) * t + (H @ (W**2).T / s2) * t * (1 - 2 * s)
    dW = V.T @ xin + s.T @ G + (2 / s2) * W * (t.T @ H)
    return loss, {"W": dW, "b": V.sum(axis=0), "c": G.sum(axis=0)}


class FastestLoop:
    """The same objectives on preallocated buffers, in place; parameters as one flat
    vector [W^T, b, c] whose first (d + 1) h entries are the block [W^T; b]."""

    def __init__(self, name, data, params, sigma, batch, lr, seed=0, lam=0.1, data_score=None,
                 dtype="float64", block=1):
        self.name, self.sigma, self.lr = name, sigma, lr
        self.lam = lam if name == "ism-reg" else 0.0
        dt = self.dtype = np.dtype(dtype)
        n, d = np.shape(data)
        h = len(params["b"])
        self.d, self.h, self.batch = d, h, batch
        self.table = np.concatenate([np.asarray(data, dtype=dt), np.ones((n, 1), dt)], axis=1)
        self.data = np.asarray(data, dtype=dt)
        self.data_score = None if data_score is None else np.asarray(data_score, dtype=dt)
        self.theta = np.concatenate([np.ravel(np.transpose(params["W"])), params["b"], params["c"]]).astype(dt)
        self.m, self.v, self.grad, self.tmp = (np.zeros_like(self.theta) for _ in range(4))
        self.A = self.theta[: (d + 1) * h].reshape(d + 1, h)  # views into theta
        self.WT, self.c = self.A[:d], self.theta[(d + 1) * h :]
        self.dA = self.grad[: (d + 1) * h].reshape(d + 1, h)
        self.dWT, self.dc = self.dA[:d], self.grad[(d + 1) * h :]
        self.negA = np.empty_like(self.A)
        self.S, self.T, self.V, self.U = (np.empty((batch, h), dt) for _ in range(4))
        self.r = np.empty((batch, d), dt)
        self.block, self.at = block, block
        self.xt1 = np.empty((block * batch, d + 1), dt)  # a block's [x~, 1]
        self.xt1[:, d] = 1.0
        self.ones = np.ones(batch, dt)
        self.rng = np.random.default_rng([seed, 0xBA7C])
        self.t = 0

    def _batch(self):
        b, d = self.batch, self.d
        if self.at == self.block:  # draw the next block: rows, then noise, then x~ for all its steps
            self.idx = self.rng.integers(0, len(self.table), self.block * b)
            self.x1 = self.table.take(self.idx, axis=0)
            if self.name in NOISY:
                noise = self.rng.standard_normal((self.block * b, d))
                noise *= self.sigma
                np.add(self.x1[:, :d], noise, out=self.xt1[:, :d])
            self.at = 0
        rows = slice(self.at * b, (self.at + 1) * b)
        self.at += 1
        x1 = self.x1[rows]
        return (self.xt1[rows] if self.name in NOISY else x1), x1[:, :d], self.idx[rows]

    def step(self):
        d, s2, S, T, V, r = self.d, self.sigma**2, self.S, self.T, self.V, self.r
        xin1, x, idx = self._batch()
        n = len(x)
        np.negative(self.A, out=self.negA)
        np.matmul(xin1, self.negA, out=S)
        np.exp(S, out=S)
        S += 1.0
        np.divide(1.0, S, out=S)  # s
        np.subtract(1.0, S, out=T)
        T *= S  # t = s (1 - s)
        np.matmul(S, self.WT.T, out=r)
        r += self.c
        if self.name in ("dae", "dsm"):  # psi(xt) - (x - xt) / s2 = (s W + c - x) / s2
            r -= x
            scale = 2.0 / n if self.name == "dae" else 1.0 / (n * s2 * s2)
            loss = np.vdot(r, r) / n * (1.0 if self.name == "dae" else 0.5 / (s2 * s2))
        else:
            r -= xin1[:, :d]
            r /= s2
            if self.name in ("esm", "esm-sigma"):
                r -= self.data_score[idx] if self.name == "esm" else parzen_score(xin1[:, :d], self.data, self.sigma)
            loss, scale = 0.5 * np.vdot(r, r) / n, 1.0 / (n * s2)
        r *= scale  # G = dL/d(s W + c)
        np.matmul(r, self.WT, out=V)
        if self.name in ("ism", "ism-sigma", "ism-reg"):
            # dL/da = t (G W^T + (1 - 2 s) dt) with dt = dL/dt = (dL/d diag) (W^2)^T / s2.
            W2 = self.WT * self.WT
            if self.lam == 0.0:  # dL/d diag = 1/n everywhere: dt is one row, no (N, d) diag
                t_sum = self.ones @ T
                loss += (t_sum @ W2.sum(axis=0) / s2) / n - d / s2
                dt, tH = W2.sum(axis=0) / (n * s2), t_sum / n
            else:
                diag = (T @ W2.T - 1.0) / s2
                loss += (np.sum(diag) + self.lam * np.vdot(diag, diag)) / n
                H = (1.0 + (2.0 * self.lam) * diag) / n
                dt, tH = (H @ W2) / s2, H.T @ T
            U = self.U
            np.multiply(S, -2.0, out=U)
            U += 1.0
            U *= dt
            V += U
            V *= T
            np.matmul(xin1.T, V, out=self.dA)
            self.dWT += r.T @ S
            self.dWT += (2.0 / s2) * self.WT * tH
        else:
            V *= T
            np.matmul(xin1.T, V, out=self.dA)
            self.dWT += r.T @ S
        np.matmul(self.ones, r, out=self.dc)
        self._adam()
        if not np.isfinite(loss):
            raise FloatingPointError(f"fastest {self.name} step diverged")
        return float(loss)

    def _adam(self):
        self.t += 1
        m, v, g, tmp = self.m, self.v, self.grad, self.tmp
        m *= B1
        np.multiply(g, 1 - B1, out=tmp)
        m += tmp
        v *= B2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - B2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += EPS
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr * np.sqrt(1 - B2**self.t) / (1 - B1**self.t)
        self.theta -= tmp

    def train(self, steps):
        with np.errstate(over="ignore"):
            for _ in range(steps):
                self.step()
        return steps


class FloorLoop:
    """The unavoidable (batch x hidden) work of a step and nothing else: [x, 1] @ [W^T; b],
    one exp, three elementwise passes (1 + e, its reciprocal, times the upstream
    gradient) and the backward product [x, 1]^T V, on fixed preallocated arrays."""

    def __init__(self, name, data, params, sigma, batch, lr, seed=0, lam=0.1, data_score=None,
                 dtype="float64", block=1):
        dt = np.dtype(dtype)
        d, h = np.shape(data)[1], len(params["b"])
        rng = np.random.default_rng(seed)
        self.x1 = np.concatenate([rng.standard_normal((batch, d)), np.ones((batch, 1))], axis=1).astype(dt)
        self.A = (rng.standard_normal((d + 1, h)) / np.sqrt(h)).astype(dt)
        self.up = rng.standard_normal((batch, h)).astype(dt)
        self.S = np.empty((batch, h), dt)
        self.dA = np.empty((d + 1, h), dt)

    def step(self):
        S = self.S
        np.matmul(self.x1, self.A, out=S)
        np.exp(S, out=S)
        S += 1.0
        np.divide(1.0, S, out=S)
        S *= self.up
        np.matmul(self.x1.T, S, out=self.dA)

    def train(self, steps):
        for _ in range(steps):
            self.step()
        return steps


LOOPS = {"minimal": MinimalLoop, "fastest": FastestLoop, "floor": FloorLoop}


def loop_for(trainer, kind: str = "minimal", block: int | None = None):
    """A loop of ``kind`` with the trainer's data, initial parameters, settings and batch seed,
    drawing ``block`` steps at a time (default: the minimal loop step by step, the fastest
    as the trainer does)."""
    cfg = trainer.config
    data_score = trainer.analytic.score(trainer.data) if cfg.objective == "esm" else None
    if block is None:
        block = 1 if kind == "minimal" else block_steps(trainer.batches.version, cfg.batch)
    return LOOPS[kind](cfg.objective, trainer.data, trainer.params, cfg.sigma, cfg.batch, cfg.lr, seed=cfg.seed,
                       lam=cfg.lam, data_score=data_score, dtype=cfg.dtype, block=block)
