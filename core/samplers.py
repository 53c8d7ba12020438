"""Samplers that walk down a noise ladder (docs/math.md, "The noise ladder"), each on any
score source: the learned noise-conditional energy (``ModelSource``) or, for an analytic
mixture, the exact score of q * N(0, sigma^2 I) (``ExactSource``), the reference that
separates sampler error from model error.

* "ald": annealed Langevin (Song & Ermon 2019, algorithm 1): at rung k, T steps
  x <- x + (a_k / 2) psi(x; sigma_k) + sqrt(a_k) z with a_k = eps sigma_k^2 / sigma_K^2.
* "mala": the same proposals at each rung, accepted by Metropolis-Hastings on the energy at
  sigma_k (exact for that rung's density; the acceptance per rung is reported).
* "sde": the VE reverse SDE (Song et al. 2021), sigma(t) geometric from sigma_1 to sigma_K in
  K T steps: x <- x + (s_i^2 - s_{i+1}^2) psi(x; s_i) + sqrt(s_i^2 - s_{i+1}^2) z.
* "pc": the same predictor, each step followed by one Langevin corrector at s_{i+1} with the
  step 2 (r ||z|| / ||psi||)^2, r = SNR (norms averaged over the particles).
* "ode": the probability-flow ODE by Euler steps, x <- x + (s_i^2 - s_{i+1}^2) psi(x; s_i) / 2.

Every walk ends with one denoising step x + sigma_K^2 psi(x; sigma_K) (Tweedie's posterior
mean; for the paper's model exactly the autoencoder's reconstruction r(x)). A ``Walk`` is
advanced step by step (the screen animates it) and keeps the particles as they leave each
rung (``clouds``). "ald" and "mala" start uniformly over a box around the data, "sde", "pc"
and "ode" from the prior N(data mean, sigma_1^2 I) (``start``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from smtui.core.distributions import GaussianMixture
from smtui.core.ladder import Ladder, at_sigma
from smtui.core.sampling import neg_energy_and_score

SAMPLERS = {
    "ald": "annealed Langevin (Song & Ermon, algorithm 1)",
    "mala": "annealed Metropolis-adjusted Langevin",
    "sde": "the VE reverse SDE (Song et al. 2021)",
    "pc": "the VE reverse SDE with a Langevin corrector",
    "ode": "the probability-flow ODE",
}
EPS_RATIO = 0.1  # eps = EPS_RATIO sigma_K^2, so a_k = EPS_RATIO sigma_k^2 (the prototype's choice)
SNR = 0.16  # the corrector's signal-to-noise ratio (Song et al. 2021's for VE models)
BOX_PAD = 0.25  # the uniform start's box: the data's range widened by this share of it


@dataclass
class ModelSource:
    """The noise-conditional energy (core/ladder.py) at any sigma, as the paper's model there."""

    params: dict
    ladder: Ladder
    _at: dict = field(default_factory=dict, repr=False)

    def model(self, sigma: float) -> dict:
        sigma = float(sigma)
        if sigma not in self._at:
            if len(self._at) > 4 * self.ladder.levels:
                self._at.clear()
            self._at[sigma] = at_sigma(self.params, self.ladder, sigma)
        return self._at[sigma]

    def score(self, x: np.ndarray, sigma: float) -> np.ndarray:
        p = self.model(sigma)
        s = x @ p["W"].T
        s += p["b"]
        s *= 0.5
        np.tanh(s, out=s)  # the sigmoid in tanh form, in place
        s += 1.0
        s *= 0.5
        out = s @ p["W"]
        out += p["c"]
        out -= x
        out /= sigma**2
        return out

    def neg_energy_and_score(self, x: np.ndarray, sigma: float):
        return neg_energy_and_score(self.model(sigma), x, sigma)


@dataclass
class ExactSource:
    """The exact score and log density of q * N(0, sigma^2 I) for an analytic mixture q."""

    q: GaussianMixture
    _at: dict = field(default_factory=dict, repr=False)

    def _mixture(self, sigma: float) -> GaussianMixture:
        sigma = float(sigma)
        if sigma not in self._at:
            if len(self._at) > 256:
                self._at.clear()
            self._at[sigma] = self.q.smoothed(sigma)
        return self._at[sigma]

    def score(self, x: np.ndarray, sigma: float) -> np.ndarray:
        return self._mixture(sigma).score_and_log_density(x)[0]

    def neg_energy_and_score(self, x: np.ndarray, sigma: float):
        s, logq = self._mixture(sigma).score_and_log_density(x)
        return logq, s


def start(sampler: str, data: np.ndarray, sigma_max: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """The particles' start: uniform over the data's box ("ald", "mala"), or the VE prior
    N(data mean, sigma_max^2 I) ("sde", "pc", "ode")."""
    d = data.shape[1]
    if sampler in ("ald", "mala"):
        lo, hi = data.min(axis=0), data.max(axis=0)
        pad = BOX_PAD * np.maximum(hi - lo, 1e-9)
        return rng.uniform(lo - pad, hi + pad, size=(count, d))
    return data.mean(axis=0) + sigma_max * rng.standard_normal((count, d))


class Walk:
    """One sampler's walk down the ladder, ``advance``d a number of steps at a time."""

    def __init__(self, sampler: str, source, sigmas, x0: np.ndarray, rng: np.random.Generator,
                 steps_per_level: int, eps: float | None = None, denoise: bool = True):
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}")
        self.sampler, self.source, self.rng = sampler, source, rng
        self.sigmas = np.asarray(sigmas, dtype=float)
        self.T = int(steps_per_level)
        self.eps = EPS_RATIO * self.sigmas[-1] ** 2 if eps is None else float(eps)
        self.x = np.array(x0, dtype=float)
        self.level, self.sigma = 0, float(self.sigmas[0])
        self.done = 0
        self.denoise = denoise
        self.total = len(self.sigmas) * self.T + int(denoise)  # every rung's steps and the denoising step
        self.clouds: list[np.ndarray] = []  # the particles as they left each rung
        self.acceptance: list[float] = []  # "mala": per rung
        self.score_evaluations = 0
        self._gen = getattr(self, f"_{sampler}")()

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def advance(self, steps: int) -> int:
        """Up to ``steps`` more steps; returns how many were taken."""
        n = 0
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            while n < steps and not self.finished:
                next(self._gen)
                self.done += 1
                n += 1
        return n

    def run(self) -> np.ndarray:
        self.advance(self.total)
        return self.x

    def _score(self, sigma):
        self.score_evaluations += 1
        return self.source.score(self.x, sigma)

    def _denoise(self):
        if not self.denoise:
            return
        self.x += self.sigmas[-1] ** 2 * self._score(self.sigmas[-1])
        self.sigma = float(self.sigmas[-1])
        yield

    def _ald(self):
        x, rng, last2 = self.x, self.rng, self.sigmas[-1] ** 2
        for k, s in enumerate(self.sigmas):
            self.level, self.sigma = k, float(s)
            a = self.eps * s**2 / last2
            for t in range(self.T):
                step = self._score(s)
                step *= 0.5 * a
                step += math.sqrt(a) * rng.standard_normal(x.shape)
                x += step
                if t == self.T - 1:  # kept before the yield: a walk may end at its last step
                    self.clouds.append(x.copy())
                yield
        yield from self._denoise()

    def _mala(self):
        x, rng, last2 = self.x, self.rng, self.sigmas[-1] ** 2
        n = len(x)
        for k, s in enumerate(self.sigmas):
            self.level, self.sigma = k, float(s)
            a = self.eps * s**2 / last2
            neg_e, psi = self.source.neg_energy_and_score(x, s)
            accepted = 0
            for t in range(self.T):
                z = rng.standard_normal(x.shape)
                prop = x + 0.5 * a * psi + math.sqrt(a) * z
                neg_e2, psi2 = self.source.neg_energy_and_score(prop, s)
                self.score_evaluations += 1
                back = x - prop - 0.5 * a * psi2  # log q(x | x') - log q(x' | x)
                log_alpha = neg_e2 - neg_e - (np.sum(back * back, axis=1) / (2 * a) - 0.5 * np.sum(z * z, axis=1))
                ok = np.log(rng.uniform(size=n)) < np.where(np.isfinite(log_alpha), log_alpha, -np.inf)
                x[ok], neg_e[ok], psi[ok] = prop[ok], neg_e2[ok], psi2[ok]
                accepted += int(ok.sum())
                if t == self.T - 1:
                    self.acceptance.append(accepted / (n * self.T))
                    self.clouds.append(x.copy())
                yield
        yield from self._denoise()

    def _schedule(self):
        """The continuous samplers' sigma grid: K T steps, geometric from sigma_1 to sigma_K,
        and the step at which each rung is reached (its cloud is kept there)."""
        K, N = len(self.sigmas), len(self.sigmas) * self.T
        grid = np.geomspace(self.sigmas[0], self.sigmas[-1], N + 1) if K > 1 else np.full(N + 1, self.sigmas[0])
        at = {round(k * N / (K - 1)) if K > 1 else N: k for k in range(K)}
        return grid, at

    def _continuous(self, corrector: bool, noise: bool):
        x, rng = self.x, self.rng
        grid, at = self._schedule()
        if 0 in at:
            self.clouds.append(x.copy())
        for i in range(len(grid) - 1):
            s, s_next = grid[i], grid[i + 1]
            self.level = int(np.argmin(np.abs(np.log(self.sigmas / s))))
            self.sigma = float(s)
            var = s**2 - s_next**2
            step = self._score(s)
            step *= var if noise else 0.5 * var
            if noise:
                step += math.sqrt(var) * rng.standard_normal(x.shape)
            x += step
            if corrector:
                g = self._score(s_next)
                z = rng.standard_normal(x.shape)
                g_norm = np.mean(np.linalg.norm(g, axis=1))
                z_norm = np.mean(np.linalg.norm(z, axis=1))
                h = 2.0 * (SNR * z_norm / g_norm) ** 2 if g_norm > 0 else 0.0
                x += h * g + np.sqrt(2.0 * h) * z
            if i + 1 in at:
                self.clouds.append(x.copy())
            yield
        self.level = len(self.sigmas) - 1
        yield from self._denoise()

    def _sde(self):
        return self._continuous(corrector=False, noise=True)

    def _pc(self):
        return self._continuous(corrector=True, noise=True)

    def _ode(self):
        return self._continuous(corrector=False, noise=False)
