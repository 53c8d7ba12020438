"""The noise ladder (docs/math.md, "The noise ladder"): one model across many sigma, after
Song & Ermon (2019).

* ``Ladder``: sigma_1 > ... > sigma_K, geometric; ``choose_ladder`` picks sigma_max from the
  data's diameter and sigma_min (0.05, or "matched": the data's nearest-neighbour scale).
* The noise-conditional energy: the paper's energy with W shared and the biases depending on
  sigma, b(sigma) = b + e(sigma) B and c(sigma) = c + e(sigma) C, where e(sigma) is the hat
  embedding over the rungs in log sigma (one-hot at a rung, linear in log sigma between two).
  At every sigma it is the paper's model in x (``at_sigma``), so its score, the reconstruction
  r(x) = x + sigma^2 psi(x) and MALA carry over unchanged.
* Its DSM over the ladder with NCSN's weighting lambda(sigma) = sigma^2: per row a rung k and
  xt = x + sigma_k eps, loss 1/2 ||sigma_k psi(xt; sigma_k) + eps||^2 = 1/2 ||r(xt) - x||^2 / sigma_k^2.

``conditional_energy`` and ``ladder_dsm_loss`` (autograd) are the definitions; the fast path
is core/fused.py's ``ladder_denoising``, checked against them in tests/core/test_ladder.py.
Parameters: {"W": (h, d), "b": (h,), "c": (d,), "B": (K, h), "C": (K, d)}; flat as
``pack`` lays them out, theta = [[W^T; b; B].ravel(), [c; C].ravel()], which multiplies the
batch rows [xt, 1, e(sigma)] (the plain model's layout with K more columns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import autograd.numpy as np
import numpy as onp
from autograd import elementwise_grad

from smtui.core.errors import UserError
from smtui.core.model import sigmoid, softplus

DEFAULT_LEVELS = 10
DEFAULT_SIGMA_MIN = 0.05
MATCHED = "matched"  # sigma_min chosen near the data's nearest-neighbour scale
MAX_LEVELS = 64
DIAMETER_POINTS = 2048  # the diameter is measured on at most this many points (a fixed subsample)


@dataclass(frozen=True, eq=False)
class Ladder:
    """The rungs sigma_1 > ... > sigma_K and the hat embedding over them in log sigma."""

    sigmas: onp.ndarray  # (K,), descending

    @property
    def levels(self) -> int:
        return len(self.sigmas)

    def embedding(self, sigma) -> onp.ndarray:
        """e(sigma) for each sigma given, (N, K): one-hot at a rung, linear in log sigma between
        two neighbouring rungs, and the end rung's one-hot beyond either end."""
        s = onp.atleast_1d(onp.asarray(sigma, dtype=float))
        out = onp.zeros((len(s), self.levels))
        if self.levels == 1:
            out[:, 0] = 1.0
            return out
        logs = -onp.log(self.sigmas)  # ascending
        u = onp.clip(-onp.log(s), logs[0], logs[-1])
        k = onp.clip(onp.searchsorted(logs, u, side="right") - 1, 0, self.levels - 2)
        t = (u - logs[k]) / (logs[k + 1] - logs[k])
        rows = onp.arange(len(s))
        out[rows, k] = 1.0 - t
        out[rows, k + 1] += t
        return out


def geometric(sigma_max: float, sigma_min: float, levels: int) -> Ladder:
    """sigma_max to sigma_min in ``levels`` geometric steps (one rung: sigma_min alone)."""
    for what, v in (("sigma max", sigma_max), ("sigma min", sigma_min)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 1e-4 <= v <= 1e4):
            raise UserError(f"{what} must be a number from 1e-4 to 1e4, got {v!r}")
    if not (isinstance(levels, int) and 1 <= levels <= MAX_LEVELS):
        raise UserError(f"levels must be a whole number from 1 to {MAX_LEVELS}, got {levels!r}")
    if levels > 1 and not sigma_max > sigma_min:
        raise UserError(f"sigma max ({sigma_max:g}) must be larger than sigma min ({sigma_min:g})")
    if levels == 1:
        return Ladder(onp.array([float(sigma_min)]))
    return Ladder(onp.geomspace(float(sigma_max), float(sigma_min), levels))


def _subsample(data: onp.ndarray, m: int) -> onp.ndarray:
    """At most m rows of data, evenly spaced (deterministic)."""
    return data if len(data) <= m else data[onp.linspace(0, len(data) - 1, m).astype(int)]


def data_diameter(data: onp.ndarray) -> float:
    """The largest distance between two training points (of at most DIAMETER_POINTS):
    Song & Ermon's (2020) choice of sigma_1, so that the top rung's noise reaches across the data."""
    x = _subsample(onp.asarray(data, dtype=float), DIAMETER_POINTS)
    x = x - x.mean(axis=0)
    sq = onp.sum(x * x, axis=1)
    best = 0.0
    for lo in range(0, len(x), 256):
        d2 = sq[lo:lo + 256, None] - 2.0 * x[lo:lo + 256] @ x.T + sq[None, :]
        best = max(best, float(d2.max()))
    return math.sqrt(max(best, 0.0))


def nearest_neighbour_scale(data: onp.ndarray) -> float:
    """The median distance from a training point to its nearest other one (of at most
    DIAMETER_POINTS): noise below it only memorises the training set."""
    x = _subsample(onp.asarray(data, dtype=float), DIAMETER_POINTS)
    if len(x) < 2:
        return DEFAULT_SIGMA_MIN
    x = x - x.mean(axis=0)
    sq = onp.sum(x * x, axis=1)
    near = onp.empty(len(x))
    for lo in range(0, len(x), 256):
        d2 = sq[lo:lo + 256, None] - 2.0 * x[lo:lo + 256] @ x.T + sq[None, :]
        d2[onp.arange(len(d2)), onp.arange(lo, lo + len(d2))] = onp.inf
        near[lo:lo + 256] = d2.min(axis=1)
    return math.sqrt(max(float(onp.median(near)), 0.0))


def choose_ladder(data: onp.ndarray, levels: int = DEFAULT_LEVELS, sigma_max: float | None = None,
                  sigma_min: float | str = DEFAULT_SIGMA_MIN) -> Ladder:
    """The ladder for ``data``: sigma_max defaults to the data's diameter, sigma_min to 0.05
    or, given as "matched", to the data's nearest-neighbour scale."""
    if sigma_min == MATCHED:
        sigma_min = float(f"{nearest_neighbour_scale(data):.3g}")
    if sigma_max is None:
        sigma_max = float(f"{max(data_diameter(data), 2.0 * sigma_min):.3g}")
    return geometric(sigma_max, sigma_min, levels)


# --- the noise-conditional energy: definitions (autograd) --------------------------------------


def init_conditional(plain: dict, levels: int) -> dict:
    """The plain model's initial parameters with B = C = 0: at every sigma the model starts as
    the paper's does (psi(0) = 0)."""
    h, d = plain["W"].shape
    dtype = plain["W"].dtype
    return {**{k: onp.array(v) for k, v in plain.items()}, "B": onp.zeros((levels, h), dtype),
            "C": onp.zeros((levels, d), dtype)}


def biases(params: dict, e):
    """b(sigma) (N, h) and c(sigma) (N, d) from the embeddings e (N, K)."""
    return params["b"] + np.dot(e, params["B"]), params["c"] + np.dot(e, params["C"])


def conditional_energy(params: dict, x, sigma, e):
    """E(x; sigma) per row, (N,): the paper's energy with the row's biases and temperature
    (``sigma`` (N,) and its embedding ``e`` (N, K))."""
    b, c = biases(params, e)
    inner = np.sum(x * c, axis=1) - 0.5 * np.sum(x * x, axis=1) + np.sum(softplus(np.dot(x, params["W"].T) + b),
                                                                         axis=1)
    return -inner / sigma**2


def conditional_score_autograd(params: dict, x, sigma, e):
    """psi(x; sigma) = -grad_x E, by autograd: the definition."""
    return elementwise_grad(lambda z: -conditional_energy(params, z, sigma, e))(x)


def conditional_score(params: dict, x, sigma, e):
    """psi(x; sigma) = (W^T sigmoid(W x + b(sigma)) + c(sigma) - x) / sigma^2, (N, d)."""
    b, c = biases(params, e)
    s = sigmoid(np.dot(x, params["W"].T) + b)
    return (np.dot(s, params["W"]) + c - x) / (sigma**2)[:, None]


def ladder_dsm_loss(params: dict, batch: dict):
    """DSM over the ladder, lambda(sigma) = sigma^2: the mean over rows (or sum_i w_i given
    "weight") of 1/2 ||sigma_i psi(xt_i; sigma_i) - (x_i - xt_i) / sigma_i||^2, i.e.
    sigma_i^2 times the paper's DSM at the row's rung."""
    x, xt, s = batch["x"], batch["xt"], batch["sigma"]
    r = s[:, None] * conditional_score(params, xt, s, batch["e"]) - (x - xt) / s[:, None]
    rows = 0.5 * np.sum(r * r, axis=1)
    w = batch.get("weight")
    return np.mean(rows) if w is None else np.dot(w, rows)


def at_sigma(params: dict, ladder: Ladder, sigma: float) -> dict:
    """The paper's model that the conditional one is at ``sigma``: {W, b(sigma), c(sigma)}
    (core/model.py's functions, the evaluation and MALA take it with temperature sigma)."""
    e = ladder.embedding(sigma)[0]
    return {"W": onp.asarray(params["W"], dtype=float),
            "b": onp.asarray(params["b"] + e @ params["B"], dtype=float),
            "c": onp.asarray(params["c"] + e @ params["C"], dtype=float)}


# --- flat parameters and batches ----------------------------------------------------------------


def pack(params: dict) -> onp.ndarray:
    """theta = [[W^T; b; B].ravel(), [c; C].ravel()] (core/fused.py's layout, K more rows)."""
    A = onp.concatenate([onp.transpose(params["W"]), params["b"][None, :], params["B"]])
    return onp.concatenate([A.ravel(), params["c"], params["C"].ravel()])


def unpack(theta: onp.ndarray, d: int, levels: int) -> dict:
    """Views of W (transposed), b, B, c and C inside theta."""
    rows = d + 1 + levels
    h = (theta.shape[0] - (1 + levels) * d) // rows
    A = theta[: rows * h].reshape(rows, h)
    c = theta[rows * h:].reshape(1 + levels, d)
    return {"W": A[:d].T, "b": A[d], "B": A[d + 1:], "c": c[0], "C": c[1:]}


def draw_ladder_batch(table: onp.ndarray, size: int, ladder: Ladder, rng: onp.random.Generator,
                      dtype=float) -> dict:
    """A minibatch for DSM over the ladder: clean points from D (``table`` = [x, 1] rows, as
    core/run.py keeps them) with replacement, one rung per row, xt = x + sigma_k eps. "xe1" is
    [xt, 1, e(sigma_k)], the rows the fast path takes; "x", "xt", "sigma", "e" the definition's."""
    d = table.shape[1] - 1
    K = ladder.levels
    idx = rng.integers(0, table.shape[0], size)
    rung = rng.integers(0, K, size)
    x = table.take(idx, axis=0)[:, :d]
    sigma = ladder.sigmas[rung]
    xe1 = onp.zeros((size, d + 1 + K), dtype=dtype)
    xt = rng.standard_normal((size, d))
    xt *= sigma[:, None]
    xt += x
    xe1[:, :d] = xt
    xe1[:, d] = 1.0
    xe1[onp.arange(size), d + 1 + rung] = 1.0
    return {"x": x.astype(dtype, copy=False), "xt": xe1[:, :d], "sigma": sigma.astype(dtype), "e": xe1[:, d + 1:],
            "xe1": xe1, "rung": rung}
