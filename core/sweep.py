"""A sigma sweep, headless: one training run per (sigma, seed) in worker processes, and
what sigma buys and costs (issue 12, part 2).

For each run: the final ESM_q against the true score where the distribution is analytic
(the bias: DSM learns q_sigma's score, not q's), ESM_qsigma, the gradient noise at the
final parameters on scales that do not move with sigma (``gradient_noise``: DSM's variance
over ESM_qsigma's at the same theta, the price of not knowing the score, and the variance
relative to the squared mean gradient; the raw variance too, with standard errors),
C2 - C3 (the posterior-spread form) and the wall time. ``summarise`` gives each sigma's
mean and spread over seeds and marks the best sigma by ESM_q.

Every run is a pure function of (config, steps): results (wall and CPU seconds aside) do
not depend on how many processes share the work, nor in which order they finish.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import asdict, replace

import numpy as np

from smtui.core import streams
from smtui.core.batches import Plan
from smtui.core.batches import draw as draw_batches
from smtui.core.compare_batches import SIGMA_GROUP
from smtui.core.config import SIGMA_MAX, SIGMA_MIN, Config
from smtui.core.errors import UserError
from smtui.core.fused import pack, with_ones
from smtui.core.run import objective_gradient
from smtui.core.stats import (
    MAX_PROBES,
    MIN_PROBES,
    gradient_variance,
    gradient_variance_se,
    noise_to_signal,
    probe,
    signal_norm2,
    variance_ratio,
)
from smtui.core.text import quoted
from smtui.core.trainer import Trainer
from smtui.core.workers import end_pool, process_pool

MAX_SIGMAS = 64
MAX_SEEDS = 64
RATIO = ("dsm", "esm-sigma")  # the gradient variance ratio's numerator and denominator
RATIO_MAX_POINTS = 20_000  # training points up to which the ratio is measured (a Parzen score per batch)
# Figures per run; ``summarise`` gives mean and spread of each.
FIGURES = ("esm", "esm_sigma", "dsm", "grad_variance", "grad_variance_se", "grad_mean_sq", "noise_to_signal",
           "noise_to_signal_se", "variance_ratio", "variance_ratio_se", "probe_batches", "c2_minus_c3", "wall_seconds",
           "cpu_seconds")


def parse_sigmas(text: str) -> list[float]:
    """"0.1,0.3,1" (a list) or "0.01:10:8" (8 values evenly spaced in log sigma, ends
    included); each within the Config's sigma bounds. Refusals are one-line UserErrors."""
    text = str(text).strip()
    what = f"--sigma {quoted(text)}"
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise UserError(f"{what}: a range is START:STOP:COUNT, e.g. 0.01:10:8")
        lo, hi = (_number(p, what) for p in parts[:2])
        count = _count(parts[2], what)
        _in_bounds(lo, what)
        _in_bounds(hi, what)
        if count == 1:
            if lo != hi:
                raise UserError(f"{what}: a range of 1 value needs START = STOP")
            return [lo]
        values = np.exp(np.linspace(math.log(lo), math.log(hi), count))
        values[0], values[-1] = lo, hi  # the ends exactly as typed
        sigmas = [float(v) for v in values]
    else:
        sigmas = [_number(p, what) for p in text.split(",")]
        for s in sigmas:
            _in_bounds(s, what)
    if len(sigmas) > MAX_SIGMAS:
        raise UserError(f"{what}: at most {MAX_SIGMAS} sigmas, got {len(sigmas)}")
    if len(set(sigmas)) != len(sigmas):
        raise UserError(f"{what}: a sigma appears twice")
    return sigmas


def _number(part: str, what: str) -> float:
    try:
        v = float(part)
    except ValueError:
        raise UserError(f"{what}: {quoted(part.strip())} is not a number; give e.g. 0.1,0.3,1 or 0.01:10:8") from None
    if not math.isfinite(v):
        raise UserError(f"{what}: {quoted(part.strip())} is not a finite number")
    return v


def _count(part: str, what: str) -> int:
    try:
        n = int(part)
    except ValueError:
        raise UserError(f"{what}: COUNT {quoted(part.strip())} must be a whole number") from None
    if not 1 <= n <= MAX_SIGMAS:
        raise UserError(f"{what}: COUNT must be from 1 to {MAX_SIGMAS}, got {n}")
    return n


def _in_bounds(s: float, what: str) -> None:
    if not SIGMA_MIN <= s <= SIGMA_MAX:
        raise UserError(f"{what}: each sigma must be from {SIGMA_MIN:g} to {SIGMA_MAX:g}, got {s:g}")


def sweep_configs(base: Config, sigmas: list[float], seeds: int) -> list[Config]:
    """One validated Config per (sigma, seed): seeds are base.seed, base.seed + 1, ..."""
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"seeds must be a whole number from 1 to {MAX_SEEDS}, got {quoted(seeds)}")
    if base.seed + seeds > 2**63:
        raise UserError("seed + seeds must stay below 2^63")
    # One evaluation at the end is all a sweep reads: no evaluations while training.
    return [replace(base, sigma=float(s), seed=base.seed + k, eval_every=10**9).validated()
            for s in sigmas for k in range(seeds)]


def gradient_noise(trainer: Trainer, min_batches: int = MIN_PROBES, max_batches: int = MAX_PROBES) -> dict:
    """The training objective's gradient noise over fresh minibatches of the configured size
    at the current parameters (core/stats.py; docs/math.md, "Gradient noise"), each figure
    with its standard error, batches drawn until the variance is known to 10% (or
    ``max_batches``; ``probe_batches`` says how many):

    * ``grad_variance``: E||g_b - E g||^2, raw: it carries the loss's scale (sigma^-8 for
      DSM), so never compare it across sigma;
    * ``grad_mean_sq``: ||E g||^2, unbiased (||mean||^2 - V/K);
    * ``noise_to_signal``: their ratio, free of the loss's scale (None when the mean gradient
      is within its noise of zero);
    * ``variance_ratio``: Var grad DSM / Var grad ESM_qsigma at these parameters on the same
      (x, x~), the price of not knowing the score (q_sigma objectives, training sets of up
      to RATIO_MAX_POINTS: ESM_qsigma's target costs one Parzen score per batch).

    Its own random stream: training is not disturbed."""
    cfg, data = trainer.config, trainer.data
    dtype = np.dtype(cfg.dtype)
    theta = pack(trainer.params).astype(dtype)
    data_score = trainer.analytic.score(data) if trainer.analytic is not None else None
    with_ratio = cfg.objective in SIGMA_GROUP and len(data) <= RATIO_MAX_POINTS
    names = tuple(dict.fromkeys((cfg.objective, *(RATIO if with_ratio else ()))))
    gradients = {n: objective_gradient(n, cfg.sigma, cfg.lam) for n in names}
    rng = streams.stream(cfg.seed, streams.GRADIENT_NOISE, trainer.step)
    plan = Plan(names, data, cfg.batch, cfg.sigma, dtype, with_ones(data), data_score)

    def draw() -> dict:  # one (x, x~) for every gradient
        batches = draw_batches(plan, rng)
        return {n: gradients[n](theta, batches[n])[1] for n in names}

    grads = probe(draw, min_batches, max_batches)
    own = grads[cfg.objective]
    out = {"grad_variance": gradient_variance(own), "grad_variance_se": gradient_variance_se(own),
           "grad_mean_sq": signal_norm2(own), "probe_batches": len(own), "variance_ratio": None,
           "variance_ratio_se": None}
    out["noise_to_signal"], out["noise_to_signal_se"] = noise_to_signal(own)
    if with_ratio:
        out["variance_ratio"], out["variance_ratio_se"] = variance_ratio(grads["dsm"], grads["esm-sigma"])
    return out


CHUNK = 25  # steps between checks of ``stop`` in a run: a stop is seen within a fraction of a second


def run_one(config: Config, steps: int, stop: threading.Event | None = None) -> dict | None:
    """Train one configuration for ``steps`` steps and measure it. Deterministic in its
    arguments (wall_seconds aside). Setting ``stop`` cuts the training short: None."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    trainer = Trainer(config)
    while trainer.step < steps and trainer.status == "ok":
        if stop is not None and stop.is_set():
            return None
        trainer.train(min(CHUNK, steps - trainer.step), evaluate=False)
    with np.errstate(over="ignore", invalid="ignore"):
        figs = trainer.evaluate()
        noise = gradient_noise(trainer)
    return {
        "sigma": config.sigma, "seed": config.seed, "status": trainer.status, "steps": trainer.step,
        "esm": figs["esm"], "esm_sigma": figs["esm_sigma"], "dsm": figs["dsm"], **noise,
        "c2": figs["c2"], "c3": figs["c3"], "c2_minus_c3": figs["esm_minus_dsm_theory"],
        "wall_seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0,
    }


def _run_from_dict(fields: dict, steps: int) -> dict:
    return run_one(Config(**fields), steps)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class SweepEnded(Exception):
    """The sweep ended before every run: ``results`` holds the runs that finished (whole,
    sorted as a finished sweep's), ``total`` how many were planned."""

    def __init__(self, message: str, results: list[dict], total: int) -> None:
        super().__init__(message)
        self.results, self.total = results, total

    @property
    def done(self) -> int:
        return len(self.results)


class SweepStopped(SweepEnded):
    """The caller asked the sweep to stop (``stop`` was set)."""

    def __init__(self, results: list[dict], total: int) -> None:
        super().__init__(f"stopped after {len(results)} of {total} runs", results, total)


class SweepFailed(SweepEnded):
    """A worker process ended while running (killed, out of memory): said in one line."""


WORKER_LOST = "a worker process ended unexpectedly (killed, or out of memory?)"


class _WorkerLost(Exception):
    pass


def run_sweep(configs: list[Config], steps: int, jobs: int, progress=None,
              stop: threading.Event | None = None, in_process: bool = True) -> list[dict]:
    """Every run, sorted by (sigma, seed). ``jobs`` worker processes (1 with ``in_process``:
    this process); ``progress(done, total, result)`` is called as each run ends, in this
    process. Setting ``stop`` ends the runs under way at once (workers too) and raises
    SweepStopped with the finished runs; a worker that dies raises SweepFailed."""
    results: list[dict] = []

    def finished(result: dict) -> None:
        results.append(result)
        if progress:
            progress(len(results), len(configs), result)

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    if in_process and (jobs <= 1 or len(configs) == 1):
        for cfg in configs:
            if stopped():
                break
            result = run_one(cfg, steps, stop)
            if result is not None:
                finished(result)
    else:
        try:
            _in_workers(configs, steps, min(jobs, len(configs)), finished, stopped)
        except _WorkerLost:
            raise SweepFailed(WORKER_LOST, _in_order(results), len(configs)) from None
    results = _in_order(results)
    if len(results) < len(configs):  # stopped
        raise SweepStopped(results, len(configs))
    return results


def _in_workers(configs: list[Config], steps: int, jobs: int, finished, stopped) -> None:
    """Every run in worker processes; returns early (workers ended) once ``stopped()``."""
    from concurrent.futures.process import BrokenProcessPool

    pool = process_pool(jobs)
    try:
        pending = {pool.submit(_run_from_dict, asdict(cfg), steps) for cfg in configs}
        while pending and not stopped():
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for fut in done:
                finished(fut.result())
    except BrokenProcessPool:
        end_pool(pool)
        raise _WorkerLost from None
    except BaseException:  # a run failed, a second ctrl+c: no worker outlives the sweep
        end_pool(pool)
        raise
    if stopped():
        end_pool(pool)
    else:
        pool.shutdown(wait=True)


def _in_order(results: list[dict]) -> list[dict]:
    return sorted(results, key=lambda r: (r["sigma"], r["seed"]))


def summarise(results: list[dict]) -> list[dict]:
    """Per sigma: the number of runs, how many diverged, and for each figure its mean and
    spread (sample standard deviation over seeds; None with one seed or no values);
    ``best_esm`` marks the sigma whose mean ESM_q (the distance to q's true score) is the
    lowest, where q is analytic."""
    out = []
    for sigma in sorted({r["sigma"] for r in results}):
        runs = [r for r in results if r["sigma"] == sigma]
        row = {"sigma": sigma, "runs": len(runs), "diverged": sum(r["status"] != "ok" for r in runs)}
        for key in FIGURES:
            vals = np.array([r[key] for r in runs if r.get(key) is not None and math.isfinite(r[key])],
                            dtype=float)
            row[key] = float(vals.mean()) if len(vals) else None
            row[key + "_spread"] = float(vals.std(ddof=1)) if len(vals) > 1 else None
        out.append(row)
    known = [r for r in out if r["esm"] is not None]
    best = min(known, key=lambda r: r["esm"]) if known else None
    for row in out:
        row["best_esm"] = row is best
    return out
