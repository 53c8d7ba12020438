"""The Parzen (kernel) density q_sigma built from the training set, and its exact score.

    w_t(xt) = softmax_t(-||xt - x_t||^2 / (2 sigma^2))       (posterior P(x = x_t | xt))
    grad log q_sigma(xt) = sum_t w_t(xt) (x_t - xt) / sigma^2

Everything is computed in chunks of query points so memory stays bounded for large n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK_ELEMENTS = 4_000_000  # query rows x centres per chunk (~32 MB of float64)


def _sq_dists(xt: np.ndarray, centres: np.ndarray) -> np.ndarray:
    # ||a||^2 - 2ab + ||b||^2, after both are centred on the centres' mean so that
    # data far from the origin (coordinates like 1e8) does not cancel catastrophically.
    origin = centres.mean(axis=0)
    a, b = xt - origin, centres - origin
    d2 = np.sum(a * a, axis=1)[:, None] - 2.0 * a @ b.T + np.sum(b * b, axis=1)[None, :]
    return np.maximum(d2, 0.0)


def _log_posteriors(xt, centres, sigma):
    """log w_t(xt) via log-sum-exp, the per-row log-normaliser, and the squared distances."""
    d2 = _sq_dists(xt, centres)
    logits = -d2 / (2.0 * sigma**2)
    top = logits.max(axis=1, keepdims=True)
    lse = top + np.log(np.sum(np.exp(logits - top), axis=1, keepdims=True))
    return logits - lse, lse[:, 0], d2


@dataclass(frozen=True)
class PosteriorStats:
    """Per query point: the Parzen score g, the posterior mean E[x | xt], E[||x||^2 | xt],
    E[1/2 ||(x - xt)/sigma^2||^2 | xt] (the rao-blackwellised DSM target term),
    and log q_sigma(xt)."""

    score: np.ndarray  # (M, d)
    mean: np.ndarray  # (M, d)
    second_moment: np.ndarray  # (M,)
    target_energy: np.ndarray  # (M,)
    log_density: np.ndarray  # (M,)


def posterior_stats(xt: np.ndarray, centres: np.ndarray, sigma: float) -> PosteriorStats:
    """Everything the estimators need about q_sigma at the points xt, computed once."""
    m, d = xt.shape
    n = centres.shape[0]
    rows = max(1, _CHUNK_ELEMENTS // max(n, 1))
    score = np.empty((m, d))
    mean = np.empty((m, d))
    second = np.empty(m)
    target = np.empty(m)
    logq = np.empty(m)
    c2 = np.sum(centres * centres, axis=1)  # for E[||x||^2 | xt]
    log_norm = -np.log(n) - 0.5 * d * np.log(2 * np.pi * sigma**2)
    for lo in range(0, m, rows):
        q = xt[lo : lo + rows]
        logw, lse, d2 = _log_posteriors(q, centres, sigma)
        w = np.exp(logw)
        mu = w @ centres
        e2 = w @ c2
        mean[lo : lo + rows] = mu
        second[lo : lo + rows] = e2
        score[lo : lo + rows] = (mu - q) / sigma**2
        target[lo : lo + rows] = 0.5 * np.sum(w * d2, axis=1) / sigma**4
        logq[lo : lo + rows] = lse + log_norm
    return PosteriorStats(score, mean, second, target, logq)


def parzen_score(xt: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """grad log q_sigma(xt), shape (M, d). The training hot path for ESM-sigma: only the
    softmax weights, whose logits drop the per-row ||xt||^2 term (softmax ignores it)."""
    origin = centres.mean(axis=0)
    b = centres - origin
    half_b2 = 0.5 * np.sum(b * b, axis=1)
    rows = max(1, _CHUNK_ELEMENTS // max(centres.shape[0], 1))
    out = np.empty(xt.shape)
    for lo in range(0, xt.shape[0], rows):
        q = xt[lo : lo + rows]
        logits = (q - origin) @ b.T
        logits -= half_b2
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits / sigma**2, out=logits)
        mu = (w @ centres) / w.sum(axis=1, keepdims=True)
        out[lo : lo + rows] = (mu - q) / sigma**2
    return out


def parzen_log_density(xt: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """log q_sigma(xt), shape (M,)."""
    return posterior_stats(xt, centres, sigma).log_density
