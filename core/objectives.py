"""The seven trainable objectives, each a scalar function of (params, batch) to minimise,
with the paper's scaling (docs/math.md). Batches are dicts of plain arrays (core/batches.py;
``draw_batch`` draws one), optionally with per-row weights. These definitions, differentiated by
autograd, are the truth; training takes each one's value and gradient from core/fused.py,
checked against them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import autograd.numpy as np
import numpy as onp

from smtui.core import batches, fused, names
from smtui.core.model import jacobian_diagonal, reconstruction, score


def _half_sq(v):
    return 0.5 * np.sum(v * v, axis=1)


def _mean(rows, batch):
    """The mean of the per-row losses, or sum_i w_i rows_i given per-row weights ``batch["weight"]``
    (an expectation as a weighted batch: the comparison's exact mode)."""
    w = batch.get("weight")
    return np.mean(rows) if w is None else np.dot(w, rows)


def esm_loss(params, batch, sigma):
    """ESM_q: 1/2 ||psi(x) - grad log q(x)||^2 with the analytic data score as target."""
    return _mean(_half_sq(score(params, batch["x"], sigma) - batch["target"]), batch)


def ism_loss(params, batch, sigma):
    """ISM: 1/2 ||psi||^2 + div psi, on clean points (ISM_q0) or noisy ones (ISM_qsigma)."""
    diag = jacobian_diagonal(params, batch["x"], sigma)
    return _mean(_half_sq(score(params, batch["x"], sigma)) + np.sum(diag, axis=1), batch)


def ism_reg_loss(params, batch, sigma, lam):
    """ISMreg (Kingma & LeCun 2010): ISM + lambda * sum_i (d psi_i / d x_i)^2."""
    x = batch["x"]
    diag = jacobian_diagonal(params, x, sigma)
    ism = _half_sq(score(params, x, sigma)) + np.sum(diag, axis=1)
    return _mean(ism + lam * np.sum(diag * diag, axis=1), batch)


def dsm_loss(params, batch, sigma):
    """DSM: 1/2 ||psi(xt) - (x - xt)/sigma^2||^2; the target points back to the clean x."""
    x, xt = batch["x"], batch["xt"]
    return _mean(_half_sq(score(params, xt, sigma) - (x - xt) / sigma**2), batch)


def dae_loss(params, batch, sigma):
    """DAE: ||W^T sigmoid(W xt + b) + c - x||^2 (tied weights, linear decoder)."""
    r = reconstruction(params, batch["xt"]) - batch["x"]
    return _mean(np.sum(r * r, axis=1), batch)


@dataclass(frozen=True)
class Objective:
    """An objective: its definition ``loss`` (autograd differentiates it: the truth) and
    ``value_and_grad``, the same loss and its gradient on theta = fused.pack(params) by the
    one hand-written fast path (core/fused.py), which the tests hold to the definition. A
    batch may carry per-row weights ("weight"); both then give sum_i w_i loss_i."""

    name: str  # one of core/names.py's, which also holds its line of description
    loss: Callable  # (params, batch, sigma, lam) -> scalar: the definition
    value_and_grad: Callable  # (theta, batch, sigma, lam) -> (the same scalar, its gradient in theta)

    @property
    def description(self) -> str:
        return names.OBJECTIVES[self.name]

    @property
    def noisy(self) -> bool:
        """Trains on xt = x + sigma * eps."""
        return self.name in names.NOISY

    @property
    def needs_analytic(self) -> bool:
        """Trains against the analytic score of q, so only on an analytic distribution."""
        return self.name in names.NEEDS_ANALYTIC

    def fast(self, theta, batch, sigma, lam):
        """``value_and_grad``'s value as an autograd primitive of theta (its VJP is that gradient)."""
        return fused.differentiable(self.value_and_grad, theta, batch, sigma, lam)


def _weight(b):
    return b.get("weight")


_DEFINED = {
    o.name: o
    for o in (
        Objective("esm", lambda p, b, s, lam: esm_loss(p, b, s),
                  lambda t, b, s, lam: fused.score_matching(t, b["x1"], b["target"], s, _weight(b))),
        Objective("ism", lambda p, b, s, lam: ism_loss(p, b, s),
                  lambda t, b, s, lam: fused.ism(t, b["x1"], s, 0.0, _weight(b))),
        Objective("ism-reg", lambda p, b, s, lam: ism_reg_loss(p, b, s, lam),
                  lambda t, b, s, lam: fused.ism(t, b["x1"], s, lam, _weight(b))),
        Objective("esm-sigma", lambda p, b, s, lam: esm_loss(p, b, s),
                  lambda t, b, s, lam: fused.score_matching(t, b["x1"], b["target"], s, _weight(b))),
        Objective("ism-sigma", lambda p, b, s, lam: ism_loss(p, b, s),
                  lambda t, b, s, lam: fused.ism(t, b["x1"], s, 0.0, _weight(b))),
        Objective("dsm", lambda p, b, s, lam: dsm_loss(p, b, s),
                  lambda t, b, s, lam: fused.denoising(t, b["xt1"], b["x"], s, _weight(b))),
        Objective("dae", lambda p, b, s, lam: dae_loss(p, b, s),
                  lambda t, b, s, lam: fused.reconstruction(t, b["xt1"], b["x"], _weight(b))),
    )
}
# Names and their order from core/names.py (a name without its definition fails here, at import).
OBJECTIVES = {name: _DEFINED[name] for name in names.OBJECTIVES}


def draw_batch(name: str, data: onp.ndarray, size: int, sigma: float, rng: onp.random.Generator,
               analytic=None, dtype=float, data_score=None, table=None, near=None) -> dict:
    """One minibatch for objective ``name`` drawn from ``rng`` (smtui.core.batches: its plan,
    draws and arrays): clean points drawn from D with replacement, and for the noisy
    objectives xt = x + sigma * eps; ESM's target from ``data_score`` (q's score at every
    training point) or ``analytic``; ``table`` is ``fused.with_ones(data)``, ``near`` a
    neighbour index for ESM-sigma's target (core/neighbours.py)."""
    plan = batches.Plan((name,), data, size, sigma, dtype, table, data_score, analytic, near)
    return batches.draw(plan, rng)[name]
