"""The statistics of gradients and parameters that say how runs and objectives differ:
the variance of a gradient over batches, the cosine between two objectives' gradients
on the same batches, and the gap between two runs' parameters (docs/math.md, "Gradient
noise").

Each takes per-batch gradients (one row per batch, one column per entry of the flat
theta) or flat parameters; drawing the batches is the caller's (the comparison's probe
stream, a sweep run's fresh batches), so that these figures are written once.
"""

from __future__ import annotations

import numpy as np


def gradient_variance(grads: np.ndarray) -> float:
    """E ||g - E g||^2 over batches: the trace of the gradient's covariance, unbiased,
    from per-batch gradients (B, P); 0.0 from fewer than two batches."""
    if len(grads) < 2:
        return 0.0
    centred = grads - grads.mean(axis=0)
    return float(np.sum(centred * centred) / (len(grads) - 1))


def mean_gradient_norm2(grads: np.ndarray) -> float:
    """||E g||^2, the squared norm of the mean of per-batch gradients (B, P): the signal
    ``gradient_variance`` is the noise around."""
    mean = grads.mean(axis=0)
    return float(mean @ mean)


def mean_cosine(ga: np.ndarray, gb: np.ndarray) -> float:
    """Mean over batches of cos(g_a, g_b), the two gradients (B, P) taken on the same
    batches; batches where either gradient is zero are left out (nan if all are)."""
    na, nb = np.linalg.norm(ga, axis=1), np.linalg.norm(gb, axis=1)
    ok = (na > 0) & (nb > 0)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.sum(ga[ok] * gb[ok], axis=1) / (na[ok] * nb[ok])))


def relative_gap(theta_a: np.ndarray, theta_b: np.ndarray) -> float:
    """max |theta_a - theta_b| / max |theta_a|: how far apart two runs' parameters are
    (nan when theta_a is all zeros)."""
    top = float(np.max(np.abs(theta_a)))
    return float(np.max(np.abs(theta_a - theta_b))) / top if top > 0 else float("nan")
