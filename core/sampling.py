"""Samples from the model p(x) = exp(-E(x; theta)) / Z by Metropolis-adjusted Langevin (MALA).

The energy is known, so every proposal is accepted with the Metropolis-Hastings probability
and the chains leave p exactly invariant (unadjusted Langevin does not: its step bias, and
chains stuck where they started, put a quarter of the samples in a mode holding 8e-6 of the
mass in the 1-D test). Two moves alternate, each exact on its own:

* Langevin proposals x' = x + eta/2 psi(x) + sqrt(eta) z, with each chain's eta tuned during
  the first half of the steps or of the time budget, whichever ends first (towards
  the usual 57% acceptance), and frozen after it;
* every ``JUMP_EVERY``-th step an independence proposal from a kernel density on reference
  points (the training data: q_sigma, which the model is trained to match), so chains move
  between modes in proportion to their mass instead of staying where they started.

Chains start uniformly over a box (the data's range) and run until ``steps`` are done or the
time budget is spent, whichever comes first.
"""

from __future__ import annotations

import time

import numpy as np

from smtui.core.model import sigmoid, softplus

TARGET_ACCEPTANCE = 0.574  # optimal for MALA (Roberts and Rosenthal 1998)
JUMP_EVERY = 4


def neg_energy_and_score(params, x, sigma):
    """-E(x) and psi(x) = -dE/dx from one pre-activation (closed forms of core/model.py)."""
    W, b, c = params["W"], params["b"], params["c"]
    pre = x @ W.T + b
    inner = x @ c - 0.5 * np.sum(x * x, axis=1) + np.sum(softplus(pre), axis=1)
    return inner / sigma**2, (sigmoid(pre) @ W + c - x) / sigma**2


def _log_kernel_density(x, centres, width):
    """log of sum_i N(x; centres_i, width^2 I), up to a constant (it cancels in the ratio)."""
    d2 = np.sum(x * x, axis=1)[:, None] - 2.0 * x @ centres.T + np.sum(centres * centres, axis=1)[None, :]
    logits = -0.5 * np.maximum(d2, 0.0) / width**2
    top = logits.max(axis=1, keepdims=True)
    # Terms below e^-700 of the largest change nothing; flooring them skips exp's slow
    # underflow path (the same trick as core/parzen.py).
    logits = np.maximum(logits - top, -700.0)
    return top[:, 0] + np.log(np.sum(np.exp(logits), axis=1))


def mala(params, sigma: float, x0: np.ndarray, rng: np.random.Generator, steps: int = 1000,
         reference: np.ndarray | None = None, budget_seconds: float | None = None) -> tuple[np.ndarray, dict]:
    """Run the chains from x0 (n, d); returns their final states and a small report
    (steps done, acceptance of each move). ``reference``: points for the jump proposal
    (None: Langevin moves only). Deterministic given rng when no budget cuts it short."""
    p = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    x = np.array(x0, dtype=float)
    n, d = x.shape
    eta = np.full(n, 0.5 * sigma**2)
    neg_e, psi = neg_energy_and_score(p, x, sigma)
    centres = None if reference is None else np.asarray(reference, dtype=float)
    burn_in = steps // 2
    accepted = {"langevin": [0, 0], "jump": [0, 0]}
    start = time.perf_counter()
    done = tuned = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for step in range(steps):
            if budget_seconds is not None and step > 0 and time.perf_counter() - start > budget_seconds:
                break
            jump = centres is not None and step % JUMP_EVERY == JUMP_EVERY - 1
            if jump:
                pick = centres[rng.integers(0, len(centres), n)]
                prop = pick + sigma * rng.standard_normal((n, d))
                neg_e2, psi2 = neg_energy_and_score(p, prop, sigma)
                log_q, log_q2 = _log_kernel_density(x, centres, sigma), _log_kernel_density(prop, centres, sigma)
                log_alpha = neg_e2 - neg_e + log_q - log_q2
            else:
                noise = rng.standard_normal((n, d))
                prop = x + 0.5 * eta[:, None] * psi + np.sqrt(eta)[:, None] * noise
                neg_e2, psi2 = neg_energy_and_score(p, prop, sigma)
                back = x - prop - 0.5 * eta[:, None] * psi2  # log q(x | x') - log q(x' | x)
                log_alpha = neg_e2 - neg_e - (np.sum(back * back, axis=1) / (2 * eta) - 0.5 * np.sum(noise**2, axis=1))
            log_alpha = np.where(np.isfinite(log_alpha), log_alpha, -np.inf)
            accept = np.log(rng.uniform(size=n)) < log_alpha
            x[accept], neg_e[accept], psi[accept] = prop[accept], neg_e2[accept], psi2[accept]
            kind = accepted["jump" if jump else "langevin"]
            kind[0] += int(accept.sum())
            kind[1] += n
            # Tune each chain's step towards the target acceptance in the first half of the
            # steps and of the time budget, whichever ends first: the rest runs frozen, exact.
            tuning = step < burn_in and (budget_seconds is None or time.perf_counter() - start < budget_seconds / 2)
            tuned += tuning
            if not jump and tuning:
                prob = np.exp(np.minimum(log_alpha, 0.0))
                eta *= np.exp(np.clip(prob - TARGET_ACCEPTANCE, -0.5, 0.5) * 0.2)
                eta = np.clip(eta, 1e-6 * sigma**2, 10.0 * sigma**2)
            done += 1
    report = {"steps": done, "tuned_steps": tuned,
              **{f"{k}_acceptance": (a / t if t else None) for k, (a, t) in accepted.items()}}
    return x, report
