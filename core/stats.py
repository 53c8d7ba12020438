"""The statistics of gradients and parameters that say how runs and objectives differ:
the variance of a gradient over batches with its standard error, the ratio of two
objectives' variances and the variance relative to the squared mean gradient (figures free
of the loss's scale), the cosine between two objectives' gradients on the same batches, and
the gap between two runs' parameters (docs/math.md, "Gradient noise"). ``probe`` draws
batches until the variances are known to TARGET_RELATIVE_SE.

Each takes per-batch gradients (one row per batch, one column per entry of the flat
theta) or flat parameters; drawing the batches is the caller's (the comparison's probe
stream, a sweep run's fresh batches), so that these figures are written once.
"""

from __future__ import annotations

import math

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


# --- how well K probe batches know these: standard errors (docs/math.md, "Its standard error") ---

# A gradient variance from K batches has a relative standard error of about sqrt(2/K) (more
# with heavy tails): probes are drawn until it is at most this, or MAX_PROBES are spent.
TARGET_RELATIVE_SE = 0.10
MIN_PROBES, MAX_PROBES, PROBE_BLOCK = 32, 512, 32


def _leave_one_out(grads: np.ndarray):
    """Per batch i, with that batch left out: the unbiased variance V_(-i) and ||mean_(-i)||^2,
    in closed form from the deviations d_i = ||g_i - mean||^2 (K >= 3)."""
    k = len(grads)
    mean = grads.mean(axis=0)
    dev = grads - mean
    d = np.einsum("ij,ij->i", dev, dev)
    var = (d.sum() - k / (k - 1) * d) / (k - 2)
    mean2 = mean @ mean - 2.0 * (dev @ mean) / (k - 1) + d / (k - 1) ** 2
    return var, mean2


def _jackknife_se(loo: np.ndarray) -> float:
    """The jackknife standard error from the K leave-one-out values of a statistic."""
    k = len(loo)
    return float(np.sqrt((k - 1) / k * np.sum((loo - loo.mean()) ** 2)))


def gradient_variance_se(grads: np.ndarray) -> float:
    """The standard error of ``gradient_variance`` from the same K batches (jackknife; about
    sd_k ||g_k - mean||^2 / sqrt(K)). nan from fewer than three batches."""
    if len(grads) < 3:
        return float("nan")
    return _jackknife_se(_leave_one_out(grads)[0])


def signal_norm2(grads: np.ndarray) -> float:
    """||E g||^2 unbiased: ||mean||^2 - V/K (||mean||^2 alone is high by V/K)."""
    return mean_gradient_norm2(grads) - gradient_variance(grads) / len(grads)


def noise_to_signal(grads: np.ndarray) -> tuple[float | None, float | None]:
    """(V / ||E g||^2, its standard error): the gradient's variance over batches relative to
    its squared mean, a figure free of the loss's scale (any sigma^-4 cancels), the squared
    mean estimated without bias (``signal_norm2``). (None, None) when the mean is not
    resolved (its estimate <= 0: the batches' mean is within their noise of zero)."""
    k = len(grads)
    if k < 3:
        return None, None
    signal = signal_norm2(grads)
    if not signal > 0:
        return None, None
    var_loo, mean2_loo = _leave_one_out(grads)
    signal_loo = mean2_loo - var_loo / (k - 1)
    if not (signal_loo > 0).all():
        return float(gradient_variance(grads) / signal), None
    return float(gradient_variance(grads) / signal), _jackknife_se(var_loo / signal_loo)


def variance_ratio(ga: np.ndarray, gb: np.ndarray) -> tuple[float, float]:
    """(Var g_a / Var g_b, its standard error), the two gradients (K, P) taken on the same K
    batches (jackknife, which keeps their correlation). For DSM against ESM_qsigma at one
    theta this is the price of not knowing the score, free of sigma's scale (docs/math.md)."""
    vb = gradient_variance(gb)
    if len(ga) < 3 or not vb > 0:
        return float("nan"), float("nan")
    loo_a, loo_b = _leave_one_out(ga)[0], _leave_one_out(gb)[0]
    return gradient_variance(ga) / vb, _jackknife_se(loo_a / loo_b)


def relative_se(value: float, se: float) -> float:
    """se / |value| (inf when the value is 0, nan when either is)."""
    return abs(se / value) if value else float("inf")


def probe(draw, min_batches: int = MIN_PROBES, max_batches: int = MAX_PROBES,
          target: float = TARGET_RELATIVE_SE) -> dict:
    """name -> per-batch gradients (K, P), drawn PROBE_BLOCK batches at a time by ``draw()``
    (one probe batch: name -> that gradient, all on the same batch) until every gradient's
    variance is known to ``target`` relative standard error, or ``max_batches`` are drawn
    (then a caller says the error is larger: ``relative_se``)."""
    rows: dict = {}
    while True:
        for _ in range(PROBE_BLOCK if rows else max(min_batches, 3)):
            for name, g in draw().items():
                rows.setdefault(name, []).append(np.asarray(g, dtype=float))
        grads = {n: np.array(v) for n, v in rows.items()}
        k = len(next(iter(grads.values())))
        # Variances that are 0 or not finite (exact, or diverged parameters) gain nothing from more.
        errors = [relative_se(gradient_variance(g), gradient_variance_se(g)) for g in grads.values()]
        if k >= max_batches or not any(math.isfinite(e) and e > target for e in errors):
            return grads
