"""Vector fields and densities on a grid, for drawing: the model score, the data score
(exact sigma-smoothed for analytic q, Parzen otherwise) and exp(-E) normalised on the grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.distributions import GaussianMixture
from core.model import energy, score
from core.parzen import parzen_score


@dataclass(frozen=True)
class Grid:
    axes: tuple[np.ndarray, ...]  # one 1-D array per dimension (d = 1 or 2)
    points: np.ndarray  # (G, d), x varying fastest

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in reversed(self.axes))  # (ny, nx) for 2-D


def bounds_for(data: np.ndarray, sigma: float) -> np.ndarray:
    """(d, 2) lower/upper bounds covering the data with a margin of a few sigma."""
    lo, hi = np.percentile(data, 0.5, axis=0), np.percentile(data, 99.5, axis=0)
    pad = np.maximum(0.1 * (hi - lo), 2.0 * sigma)
    pad = np.maximum(pad, 1e-3 * np.maximum(np.abs(lo), 1.0))
    return np.stack([lo - pad, hi + pad], axis=1)


def make_grid(bounds: np.ndarray, shape: tuple[int, ...]) -> Grid:
    """A grid of shape (nx,) for 1-D or (nx, ny) for 2-D over the bounds."""
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


def model_score(params, points, sigma):
    return score(params, points, sigma)


def model_log_density(params, points, sigma) -> np.ndarray:
    """log p(x) with p = exp(-E) normalised so it sums to one over the grid points."""
    neg_e = -energy(params, points, sigma)
    top = neg_e.max()
    return neg_e - (top + np.log(np.sum(np.exp(neg_e - top))))
