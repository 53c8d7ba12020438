"""A sweep, headless: one training run per cell of a grid of setup flags (core/grid.py)
and seed, in worker processes or on a Dask cluster (core/sweep_exec.py), and what each
setting buys and costs (issue 12, part 2; issue 20).

For each run: its setup, the final ESM_q against the true score where the distribution is
analytic (the bias: DSM learns q_sigma's score, not q's), ESM_qsigma, the gradient noise at
the final parameters on scales that do not move with sigma (``gradient_noise``: DSM's
variance over ESM_qsigma's at the same theta, the price of not knowing the score, and the
variance relative to the squared mean gradient; the raw variance too, with standard
errors), C2 - C3 (the posterior-spread form) and the wall time. ``summarise`` gives each
cell's mean and spread over seeds and marks the best sigma by ESM_q.

Every run is a pure function of (config, steps): results (wall and CPU seconds aside) do
not depend on how many processes share the work, where they run, nor in which order they
finish.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import asdict, fields

import numpy as np

from smtui.core import streams
from smtui.core.batches import Plan
from smtui.core.batches import draw as draw_batches
from smtui.core.compare_batches import SIGMA_GROUP
from smtui.core.config import Config
from smtui.core.fused import pack, with_ones
from smtui.core.grid import MAX_VALUES, Axis, grid_configs, values_axis
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
from smtui.core.sweep_exec import Executor, open_executor
from smtui.core.text import quoted
from smtui.core.trainer import Trainer

MAX_SIGMAS = MAX_VALUES
RATIO = ("dsm", "esm-sigma")  # the gradient variance ratio's numerator and denominator
RATIO_MAX_POINTS = 20_000  # training points up to which the ratio is measured (a Parzen score per batch)
# Figures per run; ``summarise`` gives mean and spread of each.
FIGURES = ("esm", "esm_sigma", "dsm", "grad_variance", "grad_variance_se", "grad_mean_sq", "noise_to_signal",
           "noise_to_signal_se", "variance_ratio", "variance_ratio_se", "probe_batches", "c2_minus_c3", "wall_seconds",
           "cpu_seconds")


def parse_sigmas(text: str) -> list[float]:
    """"0.1,0.3,1" (a list) or "0.01:10:8" (8 values evenly spaced in log sigma, ends
    included), ascending; each a sigma Config accepts. Refusals are one-line UserErrors."""
    return list(values_axis("sigma", text, f"--sigma {quoted(str(text).strip())}").values)


def sweep_configs(base: Config, sigmas: list[float], seeds: int) -> list[Config]:
    """One validated Config per (sigma, seed): seeds are base.seed, base.seed + 1, ..."""
    return grid_configs(base, [Axis("sigma", "sigma", tuple(float(s) for s in sigmas))], seeds)


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
    """Train one configuration for ``steps`` steps and measure it: its setup (``SETUP``)
    and figures. Deterministic in its arguments (wall and CPU seconds aside). Setting
    ``stop`` cuts the training short: None."""
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
        **setup_of(config), "status": trainer.status, "steps": trainer.step,
        "esm": figs["esm"], "esm_sigma": figs["esm_sigma"], "dsm": figs["dsm"], **noise,
        "c2": figs["c2"], "c3": figs["c3"], "c2_minus_c3": figs["esm_minus_dsm_theory"],
        "wall_seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - cpu0,
    }


# A run's setup: every Config field but eval_every (a sweep evaluates once, at the end).
SETUP = tuple(f.name for f in fields(Config) if f.name != "eval_every")


def setup_of(config: Config) -> dict:
    return {name: getattr(config, name) for name in SETUP}


def run_key(run) -> str:
    """What identifies a run (a Config, or a run's record): its setup, as canonical text."""
    setup = setup_of(run) if isinstance(run, Config) else {name: run.get(name) for name in SETUP}
    return json.dumps(setup, sort_keys=True)


def run_fields(fields: dict, steps: int) -> dict:
    """A run from a Config's fields: what the executors submit (plain data travels)."""
    return run_one(Config(**fields), steps)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class SweepEnded(Exception):
    """The sweep ended before every run: ``results`` holds the runs that finished (whole,
    in the grid's order), ``total`` how many were asked for."""

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
    """A worker ended while running (killed, out of memory): said in one line."""


WORKER_LOST = "a worker process ended unexpectedly (killed, or out of memory?)"


class _WorkerLost(Exception):
    pass


def run_sweep(configs: list[Config], steps: int, jobs: int, progress=None, stop: threading.Event | None = None,
              in_process: bool = True, scheduler: str | None = None, executor: Executor | None = None) -> list[dict]:
    """Every run, in the order of ``configs``. Where: ``executor`` if given (the caller
    opened it, and this closes it), else the Dask cluster ``scheduler`` names, else ``jobs``
    worker processes (with ``in_process``, 1 job runs here). ``progress(done, total,
    result)`` is called as each run ends, in this thread. Setting ``stop`` ends the runs
    under way at once (workers too) and raises SweepStopped with the finished runs; a
    worker that dies raises SweepFailed (the same)."""
    results: list[dict] = []

    def finished(result: dict) -> None:
        results.append(result)
        if progress:
            progress(len(results), len(configs), result)

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    if executor is None and scheduler is None and in_process and (jobs <= 1 or len(configs) <= 1):
        for cfg in configs:
            if stopped():
                break
            result = run_one(cfg, steps, stop)
            if result is not None:
                finished(result)
    elif configs:
        if executor is None:
            executor = open_executor(min(jobs, len(configs)), scheduler)
        try:
            _in_executor(executor, configs, steps, finished, stopped)
        except _WorkerLost:
            raise SweepFailed(WORKER_LOST, in_order(results, configs), len(configs)) from None
    elif executor is not None:
        executor.close()
    results = in_order(results, configs)
    if len(results) < len(configs):  # stopped
        raise SweepStopped(results, len(configs))
    return results


def _in_executor(executor: Executor, configs: list[Config], steps: int, finished, stopped) -> None:
    """Every run on ``executor``; returns early (the runs under way ended) once ``stopped()``."""
    try:
        pending = {executor.submit(asdict(cfg), steps) for cfg in configs}
        while pending and not stopped():
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for fut in done:
                finished(fut.result())
    except BaseException as exc:  # a run failed, a worker died, a second ctrl+c: nothing outlives the sweep
        executor.end()
        if executor.lost(exc):
            raise _WorkerLost from None
        raise
    if stopped():
        executor.end()
    else:
        executor.close()


def in_order(results: list[dict], configs: list[Config]) -> list[dict]:
    """``results`` in the order of ``configs`` (the grid's)."""
    index = {run_key(cfg): i for i, cfg in enumerate(configs)}
    return sorted(results, key=lambda r: index.get(run_key(r), len(index)))


def summarise(results: list[dict], fields_: tuple[str, ...] = ("sigma",)) -> list[dict]:
    """Per cell (the values of ``fields_``, the grid's Config fields), in the order the
    cells first appear: the number of runs, how many diverged, and for each figure its mean
    and spread (sample standard deviation over seeds; None with one seed or no values);
    ``best_esm`` marks the sigma whose mean ESM_q (the distance to q's true score) is the
    lowest among the cells that share every other setting, where q is analytic."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault(tuple(r.get(f) for f in fields_), []).append(r)
    out = []
    for cell, runs in groups.items():
        row = {**dict(zip(fields_, cell)), "runs": len(runs), "diverged": sum(r["status"] != "ok" for r in runs)}
        for key in FIGURES:
            vals = np.array([r[key] for r in runs if r.get(key) is not None and math.isfinite(r[key])],
                            dtype=float)
            row[key] = float(vals.mean()) if len(vals) else None
            row[key + "_spread"] = float(vals.std(ddof=1)) if len(vals) > 1 else None
        out.append(row)
    others = [f for f in fields_ if f != "sigma"]  # the best sigma of each combination of the rest
    for row in out:
        row["best_esm"] = False
    for key in dict.fromkeys(tuple(row.get(f) for f in others) for row in out) if "sigma" in fields_ else ():
        known = [r for r in out if tuple(r.get(f) for f in others) == key and r["esm"] is not None]
        if known:
            min(known, key=lambda r: r["esm"])["best_esm"] = True
    return out
