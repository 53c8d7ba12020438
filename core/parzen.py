"""The Parzen (kernel) density q_sigma built from the training set, and its exact score.

    w_t(xt) = softmax_t(-||xt - x_t||^2 / (2 sigma^2))       (posterior P(x = x_t | xt))
    grad log q_sigma(xt) = sum_t w_t(xt) (x_t - xt) / sigma^2

Everything is computed in chunks of query points so memory stays bounded for large n
and each chunk's (rows x centres) block stays in cache. The logits are
(a . b_t - ||b_t||^2 / 2) / sigma^2 with a, b_t the query and the centres measured from
the centres' mean: the per-row ||a||^2 term cancels in the softmax (it comes back only
in log q_sigma), and centring keeps data far from the origin (coordinates like 1e8)
from cancelling catastrophically. The block is one matrix product of [a, 1] with
[b_t / sigma^2, -||b_t||^2 / (2 sigma^2)], and every posterior moment is one more product
of the unnormalised weights with a small table of per-centre columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK_ELEMENTS = 1 << 18  # query rows x centres per chunk (2 MB of float64)
# A logit this far below its row's largest weighs under e^-700 ~ 1e-304 of it (float64;
# e^-87 ~ 1.6e-38 in float32), so it is raised to this floor before exp: exp takes a far
# slower path when its result would be subnormal (~10x in float64, ~57x in float32), common
# at small sigma, and the change to any sum is far below one rounding of the largest
# term (which is 1). Both floors keep exp's result a normal number.
_LOGIT_FLOOR = {np.dtype(np.float64): -700.0, np.dtype(np.float32): -87.0}


def _chunks(m, n):
    rows = max(1, _CHUNK_ELEMENTS // max(n, 1))
    return range(0, m, rows), rows


def _logit_table(centres, sigma, dtype):
    """origin, and the (d + 1, n) matrix B so that [a, 1] @ B are the logits."""
    origin = centres.mean(axis=0)
    b = centres - origin
    inv = 1.0 / sigma**2
    table = np.concatenate([b * inv, (-0.5 * inv) * np.sum(b * b, axis=1)[:, None]], axis=1)
    return origin, np.ascontiguousarray(table.T, dtype=dtype), b


def _weights(q, origin, table):
    """Unnormalised softmax weights exp(logit - row max) of a chunk, and the row max."""
    a1 = np.empty((q.shape[0], q.shape[1] + 1), dtype=table.dtype)
    np.subtract(q, origin, out=a1[:, :-1])
    a1[:, -1] = 1.0
    logits = a1 @ table
    top = logits.max(axis=1, keepdims=True)
    floor = _LOGIT_FLOOR.get(logits.dtype)
    if floor is not None:
        np.maximum(logits, top + floor, out=logits)
    logits -= top
    return np.exp(logits, out=logits), top[:, 0], a1[:, :-1]


@dataclass(frozen=True)
class PosteriorStats:
    """Per query point: the Parzen score g, the posterior mean E[x | xt], E[||x||^2 | xt],
    E[1/2 ||(x - xt)/sigma^2||^2 | xt] (the rao-blackwellised DSM target term),
    tr Var(x | xt) (the posterior's spread: C2 - C3 without cancellation, docs/math.md),
    and log q_sigma(xt)."""

    score: np.ndarray  # (M, d)
    mean: np.ndarray  # (M, d)
    second_moment: np.ndarray  # (M,)
    target_energy: np.ndarray  # (M,)
    log_density: np.ndarray  # (M,)
    variance: np.ndarray  # (M,)


_PAIRWISE_MAX = 2048  # centres up to which the (n x n) table of squared distances is kept


def _pairwise_sq(b):
    """||b_j - b_k||^2 for every pair, from the differences (no cancellation), or None if n is large."""
    n, d = b.shape
    if n > _PAIRWISE_MAX:
        return None
    out = np.zeros((n, n))
    for i in range(d):
        diff = b[:, None, i] - b[None, :, i]
        out += diff * diff
    return out


def _about_top(w, top_idx, b, pair_sq, mu_c, a):
    """Posterior moments measured from each row's most probable centre b_k, so that nothing
    of size ||b||^2 cancels when the posterior is concentrated (small sigma):
    E||b - b_k||^2, the shift E[b] - b_k and the offset b_k - a (a the query, centred)."""
    bk = b[top_idx]  # (rows, d)
    if pair_sq is not None:
        sq = pair_sq[top_idx]
    else:
        sq = np.zeros(w.shape)
        for i in range(b.shape[1]):  # one (rows x n) block per coordinate: no (rows x n x d) temporary
            diff = b[None, :, i] - bk[:, i : i + 1]
            sq += diff * diff
    return np.einsum("ij,ij->i", w, sq) / w.sum(axis=1), mu_c - bk, bk - a


def posterior_stats(xt: np.ndarray, centres: np.ndarray, sigma: float) -> PosteriorStats:
    """Everything the estimators need about q_sigma at the points xt, computed once."""
    xt, centres = np.asarray(xt, dtype=float), np.asarray(centres, dtype=float)
    m, d = xt.shape
    n = centres.shape[0]
    origin, table, b = _logit_table(centres, sigma, np.float64)
    # Per-centre columns whose posterior means are wanted: x_t, b_t (centred), ||x_t||^2 and
    # 1 (the normaliser).
    cols = np.concatenate([centres, b, np.sum(centres * centres, axis=1)[:, None], np.ones((n, 1))], axis=1)
    score, mean = np.empty((m, d)), np.empty((m, d))
    second, target, logq, var = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    log_norm = -np.log(n) - 0.5 * d * np.log(2 * np.pi * sigma**2)
    pair_sq = _pairwise_sq(b)
    starts, rows = _chunks(m, n)
    for lo in starts:
        sl = slice(lo, lo + rows)
        w, top, a = _weights(xt[sl], origin, table)
        top_idx = np.argmax(w, axis=1)
        moments = w @ cols
        total = moments[:, -1].copy()
        moments /= total[:, None]
        mu, mu_c = moments[:, :d], moments[:, d : 2 * d]
        mean[sl] = mu
        second[sl] = moments[:, 2 * d]
        # From the top centre b_k: tr Var = E||b - b_k||^2 - ||shift||^2, E[x] - xt = shift +
        # offset, E||x - xt||^2 = E||b - b_k||^2 + 2 shift . offset + ||offset||^2: each term
        # small exactly when its result is (E||b||^2 - ||E b||^2 would lose a variance below
        # 1e-16 ||b||^2, and the DSM target its last digits, at small sigma).
        spread_k, shift, offset = _about_top(w, top_idx, b, pair_sq, mu_c, a)
        var[sl] = np.maximum(spread_k - np.sum(shift * shift, axis=1), 0.0)
        score[sl] = (shift + offset) / sigma**2
        dist2 = spread_k + 2.0 * np.sum(shift * offset, axis=1) + np.sum(offset * offset, axis=1)
        target[sl] = 0.5 * np.maximum(dist2, 0.0) / sigma**4
        a2 = np.sum(a * a, axis=1)
        logq[sl] = top + np.log(total) - 0.5 * a2 / sigma**2 + log_norm
    return PosteriorStats(score, mean, second, target, logq, var)


def parzen_score(xt: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """grad log q_sigma(xt), shape (M, d), in the dtype of xt and centres (float32 stays
    float32: the ESM-sigma training target). The training hot path: only the weights."""
    dtype = np.result_type(xt, centres)
    origin, table, _ = _logit_table(centres, sigma, dtype)
    cols = np.concatenate([centres, np.ones((centres.shape[0], 1), dtype=centres.dtype)], axis=1).astype(dtype)
    out = np.empty(xt.shape, dtype=dtype)
    starts, rows = _chunks(xt.shape[0], centres.shape[0])
    inv = 1.0 / sigma**2
    for lo in starts:
        q = xt[lo : lo + rows]
        moments = _weights(q, origin.astype(dtype), table)[0] @ cols
        mu = moments[:, :-1]
        mu /= moments[:, -1:]
        mu -= q
        mu *= inv
        out[lo : lo + rows] = mu
    return out


def parzen_log_density(xt: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """log q_sigma(xt), shape (M,)."""
    return posterior_stats(xt, centres, sigma).log_density
