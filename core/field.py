"""Vector fields and densities on a grid, for drawing: the model score, the data score
(exact sigma-smoothed for analytic q, Parzen otherwise) and exp(-E) normalised on the grid.

Data with d > 2 is drawn on a 2-D plane through it: ``plane(data, k)`` is the k-th of
the planes PC1-PC2, PC1-PC3, ... (principal axes through the mean), then the coordinate
planes x1-x2, x1-x3, ... through the mean. Fields there are the d-dimensional scores at
points of the plane, projected onto it (the in-plane components).

A grid is bounded whatever asks for it (a served viewer's window can be any size): at most
MAX_GRID_POINTS points in 2-D, MAX_GRID_LINE along a line, and the model's fields on it are
computed in chunks of rows, so memory stays bounded for any hidden size."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from smtui.core.distributions import GaussianMixture
from smtui.core.parzen import parzen_score

MAX_GRID_POINTS = 1 << 15  # a 2-D grid: ~230 x 140, finer than the field panel of a 500 x 200 window needs
MAX_GRID_LINE = 2048  # a 1-D grid
_CHUNK_ELEMENTS = 1 << 18  # grid rows x hidden units per chunk of a model field (2 MB of float64)


@dataclass(frozen=True)
class Grid:
    axes: tuple[np.ndarray, ...]  # one 1-D array per dimension (d = 1 or 2)
    points: np.ndarray  # (G, d), x varying fastest

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in reversed(self.axes))  # (ny, nx) for 2-D


@dataclass(frozen=True)
class Plane:
    """A 2-D plane in R^d: the points origin + u @ basis for u in R^2."""

    name: str  # e.g. "PC1-PC2" or "x1-x3"
    origin: np.ndarray  # (d,)
    basis: np.ndarray  # (2, d), orthonormal rows


def plane_count(d: int) -> int:
    """How many planes ``plane`` cycles through for d-dimensional data (0 for d <= 2)."""
    return 2 * (d * (d - 1) // 2) if d > 2 else 0


def principal_axes(data: np.ndarray) -> np.ndarray:
    """(d, d) rows = the principal axes of the data, by decreasing variance; each row's
    largest component is positive, so the axes do not flip between runs."""
    centred = data - data.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = np.zeros((data.shape[1], data.shape[1]))
    axes[: len(vt)] = vt
    if len(vt) < data.shape[1]:  # fewer points than dimensions: complete the basis
        q, _ = np.linalg.qr(np.concatenate([vt.T, np.eye(data.shape[1])], axis=1))
        axes[len(vt):] = q[:, len(vt): data.shape[1]].T
    top = np.argmax(np.abs(axes), axis=1)
    return axes * np.where(axes[np.arange(len(axes)), top] < 0, -1.0, 1.0)[:, None]


def plane(data: np.ndarray, k: int) -> Plane:
    """The k-th plane (modulo ``plane_count``) through the data's mean."""
    d = data.shape[1]
    pairs = list(combinations(range(d), 2))
    k %= plane_count(d)
    i, j = pairs[k % len(pairs)]
    if k < len(pairs):
        axes = principal_axes(data)
        return Plane(f"PC{i + 1}-PC{j + 1}", data.mean(axis=0), axes[[i, j]])
    return Plane(f"x{i + 1}-x{j + 1}", data.mean(axis=0), np.eye(d)[[i, j]])


def project(x: np.ndarray, p: Plane) -> np.ndarray:
    """(n, 2) coordinates in the plane of the points x (n, d), projected orthogonally."""
    return (x - p.origin) @ p.basis.T


def lift(u: np.ndarray, p: Plane) -> np.ndarray:
    """(n, d) points of R^d at plane coordinates u (n, 2)."""
    return p.origin + u @ p.basis


def bounds_for(data: np.ndarray, sigma: float) -> np.ndarray:
    """(d, 2) lower/upper bounds covering the data with a margin of a few sigma."""
    lo, hi = np.percentile(data, 0.5, axis=0), np.percentile(data, 99.5, axis=0)
    pad = np.maximum(0.1 * (hi - lo), 2.0 * sigma)
    pad = np.maximum(pad, 1e-3 * np.maximum(np.abs(lo), 1.0))
    return np.stack([lo - pad, hi + pad], axis=1)


def capped_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` ((nx,) or (nx, ny)) with at least 2 points per axis and at most MAX_GRID_LINE
    (1-D) or MAX_GRID_POINTS in all (2-D, both axes scaled down alike)."""
    if len(shape) == 1:
        return (min(max(int(shape[0]), 2), MAX_GRID_LINE),)
    nx, ny = (max(int(n), 2) for n in shape)
    if nx * ny > MAX_GRID_POINTS:
        f = math.sqrt(MAX_GRID_POINTS / (nx * ny))
        ny = min(max(int(ny * f), 2), MAX_GRID_POINTS // 2)  # (a very thin panel keeps 2 columns)
        nx = min(max(int(nx * f), 2), MAX_GRID_POINTS // ny)
    return nx, ny


def make_grid(bounds: np.ndarray, shape: tuple[int, ...]) -> Grid:
    """A grid of shape (nx,) for 1-D or (nx, ny) for 2-D over the bounds, capped by ``capped_shape``."""
    shape = capped_shape(tuple(shape))
    axes = tuple(np.linspace(b[0], b[1], n) for b, n in zip(bounds, shape))
    if len(axes) == 1:
        return Grid(axes, axes[0][:, None])
    xx, yy = np.meshgrid(axes[0], axes[1])
    return Grid(axes, np.stack([xx.ravel(), yy.ravel()], axis=1))


def data_score(points: np.ndarray, data: np.ndarray, sigma: float, analytic: GaussianMixture | None):
    """The target score field: the exact smoothed score of an analytic q, else Parzen."""
    if analytic is not None:
        return analytic.smoothed(sigma).score(points)
    return parzen_score(points, data, sigma)


def model_field(params, points: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(psi, log p) at the points: the model score (G, d) and log p(x) with p = exp(-E)
    normalised so it sums to one over the points (G,), from one pass per chunk of rows.

    With a = W x + b and u = exp(-|a|) (never overflowing), the pass gives both the sigmoid,
    s = 1 / (1 + u) for a >= 0 and u / (1 + u) below, and softplus(a) = max(a, 0) +
    log1p(u): the same closed forms as smtui.core.model's ``score`` and ``energy`` (docs/math.md),
    ~5x cheaper than their tanh and logaddexp per element (the field is computed several
    times a second while training)."""
    W, b, c = (np.asarray(params[k], dtype=float) for k in ("W", "b", "c"))
    x = np.asarray(points, dtype=float)
    psi, neg_e = np.empty(x.shape), np.empty(len(x))
    rows = max(1, _CHUNK_ELEMENTS // max(len(b), 1))
    for lo in range(0, len(x), rows):
        q = x[lo:lo + rows]
        a = q @ W.T
        a += b
        u = np.abs(a)
        np.negative(u, out=u)
        np.exp(u, out=u)  # exp(-|a|), in (0, 1]
        s = np.where(a >= 0.0, 1.0, u)
        soft = np.maximum(a, 0.0)
        u_plus_1 = u + 1.0
        s /= u_plus_1
        np.log1p(u, out=u)
        soft += u
        p = s @ W
        p += c
        p -= q
        psi[lo:lo + rows] = p
        neg_e[lo:lo + rows] = q @ c - 0.5 * np.einsum("ij,ij->i", q, q) + soft.sum(axis=1)
    psi /= sigma**2
    neg_e /= sigma**2
    top = neg_e.max()
    return psi, neg_e - (top + np.log(np.sum(np.exp(neg_e - top))))


def model_score(params, points, sigma):
    """psi at the points (``model_field``'s first half)."""
    return model_field(params, points, sigma)[0]


def model_log_density(params, points, sigma) -> np.ndarray:
    """log p(x) with p = exp(-E) normalised so it sums to one over the grid points."""
    return model_field(params, points, sigma)[1]
