"""Data distributions: analytic Gaussian mixtures (exact and sigma-smoothed scores)
and the usual sample-only 2-D shapes, scaled to about [-3, 3]^2."""

from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as np
import numpy as onp
from autograd import elementwise_grad
from autograd.tracer import getval

from smtui.core import names
from smtui.core.errors import UserError
from smtui.core.streams import DATA, stream
from smtui.core.text import quoted


def _logsumexp(a, axis):
    """log sum exp along ``axis``, autograd-differentiable, shifted by the (constant) max.

    (autograd.scipy's version would pull in SciPy, which smtui does not depend on.)"""
    top = onp.max(getval(a), axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(a - top), axis=axis)) + onp.squeeze(top, axis=axis)


@dataclass(frozen=True)
class GaussianMixture:
    """sum_k weights[k] N(means[k], covs[k]); d is means.shape[1]."""

    weights: onp.ndarray  # (K,)
    means: onp.ndarray  # (K, d)
    covs: onp.ndarray  # (K, d, d)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def log_density(self, x):
        """log q(x) for each row of x, autograd-differentiable."""
        d = self.dim
        terms = []
        for w, m, cov in zip(self.weights, self.means, self.covs):
            prec = onp.linalg.inv(cov)
            _, logdet = onp.linalg.slogdet(cov)
            diff = x - m
            quad = np.sum(np.dot(diff, prec) * diff, axis=1)
            terms.append(onp.log(w) - 0.5 * (quad + logdet + d * onp.log(2 * onp.pi)))
        return _logsumexp(np.stack(terms, axis=1), axis=1)

    def score(self, x):
        """grad_x log q(x) by autograd."""
        return elementwise_grad(lambda z: np.sum(self.log_density(z)))(x)

    def score_and_log_density(self, x: onp.ndarray) -> tuple[onp.ndarray, onp.ndarray]:
        """grad log q and log q at each row of x in closed form, plain numpy: sum_k r_k(x)
        (-P_k (x - m_k)) with r_k the components' responsibilities (``score`` is the oracle).
        What the samplers call thousands of times on the exact smoothed mixture."""
        x = onp.asarray(x, dtype=float)
        n, (k, d) = len(x), self.means.shape
        prec = onp.linalg.inv(self.covs)  # (K, d, d), symmetric
        pm = onp.einsum("kij,kj->ki", prec, self.means)
        const = onp.log(self.weights) - 0.5 * (onp.linalg.slogdet(self.covs)[1] + d * onp.log(2 * onp.pi)
                                               + onp.sum(self.means * pm, axis=1))
        # P_k (x - m_k) for every k from one product: x @ [P_1 ... P_K], less P_k m_k.
        g = (x @ onp.transpose(prec, (1, 0, 2)).reshape(d, k * d)).reshape(n, k, d)
        g -= pm
        # -(x - m)^T P (x - m) / 2 = -x^T P x / 2 + m^T P x - m^T P m / 2, with x^T P x from g.
        logits = const - 0.5 * onp.einsum("nkd,nd->nk", g, x) + 0.5 * (x @ pm.T)
        top = logits.max(axis=1, keepdims=True)
        r = onp.exp(logits - top)
        total = r.sum(axis=1, keepdims=True)
        r /= total
        return -onp.einsum("nk,nkd->nd", r, g), top[:, 0] + onp.log(total[:, 0])

    def smoothed(self, sigma: float) -> GaussianMixture:
        """q convolved with N(0, sigma^2 I): the same mixture with covariances + sigma^2 I."""
        return GaussianMixture(self.weights, self.means, self.covs + sigma**2 * onp.eye(self.dim))

    def sample(self, n: int, rng: onp.random.Generator) -> onp.ndarray:
        ks = rng.choice(len(self.weights), size=n, p=self.weights)
        chol = onp.linalg.cholesky(self.covs)
        z = rng.standard_normal((n, self.dim))
        return self.means[ks] + onp.einsum("nij,nj->ni", chol[ks], z)


def _ring8() -> GaussianMixture:
    angles = 2 * onp.pi * onp.arange(8) / 8
    means = 2.0 * onp.stack([onp.cos(angles), onp.sin(angles)], axis=1)
    return GaussianMixture(onp.full(8, 1 / 8), means, onp.tile(0.25**2 * onp.eye(2), (8, 1, 1)))


def _ring8w() -> GaussianMixture:
    """ring8 with std 0.15 and weights alternating 3:1 (heavy on the axes): with equal weights
    a sampler that cannot move mass between modes still looks right (docs/math.md, "The noise ladder")."""
    angles = 2 * onp.pi * onp.arange(8) / 8
    means = 2.0 * onp.stack([onp.cos(angles), onp.sin(angles)], axis=1)
    weights = onp.tile([3.0, 1.0], 4) / 16.0
    return GaussianMixture(weights, means, onp.tile(0.15**2 * onp.eye(2), (8, 1, 1)))


def _gaussian() -> GaussianMixture:
    return GaussianMixture(onp.ones(1), onp.zeros((1, 2)), onp.array([[[1.0, 0.8], [0.8, 1.0]]]))


def _bimodal() -> GaussianMixture:
    return GaussianMixture(onp.full(2, 0.5), onp.array([[-2.0], [2.0]]), onp.full((2, 1, 1), 0.25))


_MIXTURES = {"ring8": _ring8, "ring8w": _ring8w, "gaussian": _gaussian, "bimodal": _bimodal}


# --- sample-only shapes: each returns (n, 2) roughly within [-3, 3]^2 ---------------


def _moons(n, rng):
    k = rng.integers(0, 2, n)
    t = rng.uniform(0, onp.pi, n)
    x = onp.where(k == 0, onp.cos(t), 1 - onp.cos(t))
    y = onp.where(k == 0, onp.sin(t), 0.5 - onp.sin(t))
    pts = onp.stack([x - 0.5, y - 0.25], axis=1) * 2.0
    return pts + 0.1 * rng.standard_normal((n, 2))


def _circles(n, rng):
    r = onp.where(rng.integers(0, 2, n) == 0, 1.0, 2.5)
    t = rng.uniform(0, 2 * onp.pi, n)
    return onp.stack([r * onp.cos(t), r * onp.sin(t)], axis=1) + 0.08 * rng.standard_normal((n, 2))


def _swissroll(n, rng):
    t = 1.5 * onp.pi * (1 + 2 * rng.uniform(0, 1, n))
    pts = onp.stack([t * onp.cos(t), t * onp.sin(t)], axis=1) / 5.0
    return pts + 0.1 * rng.standard_normal((n, 2))


def _spiral(n, rng):
    k = rng.integers(0, 2, n)
    t = onp.sqrt(rng.uniform(0, 1, n)) * 3 * onp.pi
    r = t / (3 * onp.pi) * 2.8
    ang = t + onp.pi * k
    return onp.stack([r * onp.cos(ang), r * onp.sin(ang)], axis=1) + 0.07 * rng.standard_normal((n, 2))


def _checkerboard(n, rng):
    # 4 x 4 board of 1.5-wide cells on [-3, 3]^2; keep the cells where (i + j) is even.
    x = rng.uniform(-3, 3, n)
    y = rng.uniform(0, 1.5, n) - 3.0 * rng.integers(0, 2, n)
    y = y + 1.5 * (onp.floor(x / 1.5) % 2)
    return onp.stack([x, y], axis=1)


def _pinwheel(n, rng):
    arms, rad_std, tan_std, rate = 5, 0.3, 0.08, 0.25
    k = rng.integers(0, arms, n)
    feats = rng.standard_normal((n, 2)) * onp.array([rad_std, tan_std]) + onp.array([1.0, 0.0])
    ang = 2 * onp.pi * k / arms + rate * onp.exp(feats[:, 0])
    rot = onp.stack([onp.cos(ang), -onp.sin(ang), onp.sin(ang), onp.cos(ang)], axis=1).reshape(n, 2, 2)
    return 1.6 * onp.einsum("ni,nji->nj", feats, rot)


_SHAPES = {
    "moons": _moons,
    "circles": _circles,
    "swissroll": _swissroll,
    "spiral": _spiral,
    "checkerboard": _checkerboard,
    "pinwheel": _pinwheel,
}

# Names and their order from core/names.py (a name without its maker fails here, at import).
ANALYTIC = {name: _MIXTURES[name] for name in names.ANALYTIC}
SAMPLE_ONLY = {name: _SHAPES[name] for name in names.SAMPLE_ONLY}
NAMES = names.DISTRIBUTIONS


def analytic(name: str) -> GaussianMixture | None:
    """The analytic mixture for a name, or None for sample-only shapes and user data."""
    return ANALYTIC[name]() if name in ANALYTIC else None


def sample(name: str, n: int, seed: int) -> onp.ndarray:
    """The training set D for (distribution, n, seed): drawn once, deterministic."""
    rng = stream(seed, DATA)
    if name in ANALYTIC:
        return ANALYTIC[name]().sample(n, rng)
    if name in SAMPLE_ONLY:
        return SAMPLE_ONLY[name](n, rng)
    raise UserError(f"unknown distribution {quoted(name)}; choose one of: {', '.join(NAMES)}")
