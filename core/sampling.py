"""Unadjusted Langevin dynamics driven by the model score: x <- x + eta/2 psi(x) + sqrt(eta) z."""

from __future__ import annotations

import numpy as np

from core.model import score


def langevin(params, sigma: float, x0: np.ndarray, rng: np.random.Generator, steps: int = 500,
             step_scale: float = 0.1) -> np.ndarray:
    """Run ``steps`` Langevin steps from x0 with step size eta = step_scale * sigma^2.

    psi scales as 1/sigma^2 (the model's temperature is sigma^2), so eta in units of
    sigma^2 makes the drift a fixed fraction of the way to the model's modes."""
    eta = step_scale * sigma**2
    x = np.array(x0, dtype=float)
    for _ in range(steps):
        x = x + 0.5 * eta * score(params, x, sigma) + np.sqrt(eta) * rng.standard_normal(x.shape)
        if not np.all(np.isfinite(x)):
            break
    return x
