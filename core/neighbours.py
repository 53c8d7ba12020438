"""The Parzen score from each query's neighbours only: ESM-sigma's target on large
training sets (d <= 3), equal to the exact one (smtui.core.parzen.parzen_score) within a
stated bound.

The posterior weight of a centre at distance r from the query, relative to the nearest
centre's (distance r0), is exp(-(r^2 - r0^2) / (2 sigma^2)): beyond ~10 sigma it is below
1e-20. Centres are sorted into a grid of cubic cells of side R (R = radius, ~10 sigma);
a query's candidates are the centres in its cell and the adjacent ones, which holds
every centre within R of it. With weights scaled so the nearest is 1 (their sum Z_A >= 1
over the candidates), the n_O centres left out each weigh at most
e = exp(-(R^2 - r0^2) / (2 sigma^2)), and r exp(-r^2 / (2 sigma^2)) falls for r > sigma,
so the score moves by at most

    bound = n_O e (R / sigma^2 + |g|) / Z_A          (g: the score from the candidates)

This is computed for every query; a query whose bound exceeds TOLERANCE / sigma (or with
no candidate) gets the exact computation instead. So every target is within
TOLERANCE / sigma of the exact one, plus rounding (tests/core/test_neighbours.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from smtui.core.parzen import parzen_score

TOLERANCE = 1e-10  # times 1/sigma: the largest change to any target coordinate allowed
NEAR_MISS = 5.0  # R leaves room for the nearest centre up to this many sigma away
MAX_DIM = 3
MIN_CELLS = 4  # along the longest axis; fewer and the neighbours are most of the data
COST_RATIO = 12  # a candidate pair (gathered, padded) costs about this many exact ones (measured 10-16)
CHUNK_PAIRS = 1 << 17  # query rows x candidates per block (a few MB)


@dataclass(frozen=True)
class CellIndex:
    """Centres sorted by grid cell, with what a query block needs about them."""

    sigma: float
    radius: float  # R: every centre within R of a query is among its candidates
    low: np.ndarray  # (d,) the grid's corner
    cells: np.ndarray  # (d,) cells along each axis
    ids: np.ndarray  # (n,) sorted linear cell id of each (sorted) centre
    centres: np.ndarray  # (n, d) the centres, sorted by cell
    original: np.ndarray  # (n, d) the centres as given (for the exact fallback)
    coords: np.ndarray  # (d, n) the sorted centres' coordinates, one contiguous row per axis


def radius_for(n: int, sigma: float) -> float:
    """R with n e (R / sigma^2 + |g|) < TOLERANCE / sigma for a nearest centre within
    NEAR_MISS sigma (|g| <= R / sigma^2 then, up to the candidates' spread)."""
    k2 = 2.0 * np.log(n * 4.0 * 12.0 / TOLERANCE) + NEAR_MISS**2
    return float(np.sqrt(k2)) * sigma


def build_index(centres: np.ndarray, sigma: float) -> CellIndex | None:
    """The grid for these centres and sigma, or None where it would not pay (d > 3, a
    grid of fewer than MIN_CELLS cells along every axis, or too many cells to number)."""
    centres = np.asarray(centres, dtype=float)
    n, d = centres.shape
    if d > MAX_DIM or n == 0:
        return None
    R = radius_for(n, sigma)
    low = centres.min(axis=0)
    span = centres.max(axis=0) - low
    cells = np.floor(span / R).astype(np.int64) + 1
    if cells.max() < MIN_CELLS or np.prod(cells.astype(float)) > 2.0**60:
        return None
    cell = np.minimum(np.floor((centres - low) / R).astype(np.int64), cells - 1)
    ids = _linear(cell, cells)
    order = np.argsort(ids, kind="stable")
    sorted_centres = centres[order]
    return CellIndex(float(sigma), R, low, cells, ids[order], sorted_centres, centres,
                     np.ascontiguousarray(sorted_centres.T))


def _linear(cell, cells):
    out = np.zeros(cell.shape[0], dtype=np.int64)
    for i in range(cell.shape[1]):
        out = out * cells[i] + cell[:, i]
    return out


def _runs(index: CellIndex, q: np.ndarray):
    """(start, stop), each (M, 3^(d-1)): for every query, the runs of sorted centres in its
    cell and the cells next to it (one run of consecutive ids along the last axis for each
    neighbouring cell along the others; empty runs where the grid ends)."""
    cells = index.cells
    cell = np.floor((q - index.low) / index.radius)
    cell = np.clip(cell, -2, cells + 1).astype(np.int64)  # far outside: no neighbours either way
    last_lo = np.maximum(cell[:, -1] - 1, 0)
    last_hi = np.minimum(cell[:, -1] + 1, cells[-1] - 1)
    starts, stops = [], []
    for offsets in itertools.product((-1, 0, 1), repeat=q.shape[1] - 1):
        head = cell[:, :-1] + np.asarray(offsets, dtype=np.int64)
        valid = np.all((head >= 0) & (head < cells[:-1]), axis=1) & (last_lo <= last_hi)
        base = _linear(np.clip(head, 0, cells[:-1] - 1), cells[:-1]) * cells[-1]
        start = np.searchsorted(index.ids, base + last_lo, side="left")
        stop = np.searchsorted(index.ids, base + last_hi, side="right")
        starts.append(start)
        stops.append(np.where(valid, stop, start))
    return np.stack(starts, axis=1), np.stack(stops, axis=1)


def _block(q, index: CellIndex, start, stop):
    """Scores of the queries q from their candidates, and each one's error bound.

    Slot j holds every row's j-th run, padded to the slot's longest: positions are
    start + arange, so each gather is one ``take`` from a contiguous row of coordinates.
    The logits are -||x_t - xt||^2 / (2 sigma^2) from the differences themselves (no
    cancellation: more accurate than the exact path's centred products at small sigma);
    those of all slots are kept, and their common maximum is subtracted before exp."""
    s2, d = index.sigma**2, q.shape[1]
    rows = np.arange(len(q))
    blocks, top, best = [], np.full(len(q), -np.inf), np.zeros(len(q), dtype=np.int64)
    for j in range(start.shape[1]):
        length = stop[:, j] - start[:, j]
        width = int(length.max())
        if width == 0:
            continue
        k = np.arange(width)
        mask = k < length[:, None]
        pos = np.where(mask, start[:, j : j + 1] + k, 0)
        diffs, logits = [], np.zeros(pos.shape)
        for i in range(d):
            diff = np.take(index.coords[i], pos)
            diff -= q[:, i : i + 1]  # x_t - xt
            diffs.append(diff)
            logits += diff * diff
        logits *= -0.5 / s2
        logits[~mask] = -np.inf
        arg = logits.argmax(axis=1)
        here = logits[rows, arg]
        better = here > top
        top = np.where(better, here, top)
        best = np.where(better, pos[rows, arg], best)
        blocks.append((logits, diffs))
    z, sums = np.zeros(len(q)), np.zeros((len(q), d))
    top_ = np.where(np.isfinite(top), top, 0.0)[:, None]  # a row without candidates stays -inf
    for logits, diffs in blocks:
        logits -= top_
        np.maximum(logits, -700.0, out=logits)  # as smtui.core.parzen: dodge exp's slow underflow path
        # padding (-inf, floored) weighs e^-700 < 1e-304 of the row's largest weight, 1:
        # below one rounding of z >= 1, so the centre it points to changes nothing
        w = np.exp(logits, out=logits)
        z += w.sum(axis=1)
        for i in range(d):
            sums[:, i] += np.einsum("mk,mk->m", w, diffs[i])
    g = sums / (z[:, None] * s2)  # E[x_t - xt | xt] / sigma^2; z >= e^-700 > 0 in every row
    nearest = index.centres[best] - q
    r0_sq = np.sum(nearest * nearest, axis=1)
    R = index.radius
    left_out = index.ids.shape[0] - (stop - start).sum(axis=1)
    with np.errstate(over="ignore"):
        e = np.exp(-(R * R - r0_sq) / (2.0 * s2))
        bound = left_out * e * (R / s2 + np.sqrt(np.sum(g * g, axis=1))) / z
    bound[(r0_sq > R * R) | ~np.isfinite(top)] = np.inf  # nothing within R: nothing is guaranteed
    return g, bound


def parzen_score_near(xt: np.ndarray, index: CellIndex) -> np.ndarray:
    """grad log q_sigma(xt), shape (M, d), float64: within TOLERANCE / sigma of
    smtui.core.parzen.parzen_score(xt, centres, sigma) in every coordinate (see the module).
    Where the candidates would be a twelfth of all pairs or more, the exact computation
    (contiguous products, no gathers) is cheaper and is what runs."""
    q = np.asarray(xt, dtype=float)
    n = index.ids.shape[0]
    start, stop = _runs(index, q)
    count = (stop - start).sum(axis=1)
    if count.sum() * COST_RATIO >= q.shape[0] * n:
        return parzen_score(q, index.original, index.sigma)
    out = np.empty(q.shape)
    order = np.argsort(count, kind="stable")  # similar counts share a chunk: little padding
    exact, lo = [], 0
    while lo < len(order):
        hi = lo + 1
        while hi < len(order) and (hi + 1 - lo) * count[order[hi]] <= CHUNK_PAIRS:
            hi += 1
        rows = order[lo:hi]
        g, bound = _block(q[rows], index, start[rows], stop[rows])
        ok = bound <= TOLERANCE / index.sigma
        out[rows[ok]] = g[ok]
        exact.append(rows[~ok])
        lo = hi
    rest = np.concatenate(exact)
    if rest.size:
        out[rest] = parzen_score(q[rest], index.original, index.sigma)
    return out
