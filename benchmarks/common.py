"""Shared helpers for the benchmark scripts: building trainers, interleaved timing, tables."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from smtui.core.config import Config
from smtui.core.objectives import OBJECTIVES
from smtui.core.trainer import Trainer

SIZES = ((2, 64, 256), (2, 256, 1024), (64, 256, 256))  # (d, hidden, batch)
HIGH_DIM_POINTS = 512


def parse_size(text: str) -> tuple[int, int, int]:
    d, h, b = (int(v) for v in text.split(","))
    return d, h, b


def make_trainer(objective: str, d: int, hidden: int, batch: int, dtype: str = "float64",
                 eval_every: int = 10**9, **extra) -> Trainer | None:
    """A trainer on ring8 for d = 2, on a fixed Gaussian cloud otherwise (None when the
    objective needs an analytic score that d does not have)."""
    cfg = Config(objective=objective, hidden=hidden, batch=batch, dtype=dtype, eval_every=eval_every, **extra)
    if d == 2:
        return Trainer(cfg)
    if OBJECTIVES[objective].needs_analytic:
        return None
    points = np.random.default_rng(1234).standard_normal((HIGH_DIM_POINTS, d))
    return Trainer(cfg.with_changes(data_path=f"gaussian-cloud-d{d}"), points=points)


def interleaved(runners: dict, rounds: int, steps: int) -> dict:
    """Median seconds per step for each runner (a callable doing ``steps`` steps), run in
    alternating order round by round so drift in machine speed hits them equally."""
    return {k: statistics.median(v) for k, v in interleaved_rounds(runners, rounds, steps)["wall"].items()}


def interleaved_rounds(runners: dict, rounds: int, steps: int) -> dict:
    """Seconds per step of every round for each runner, by wall clock ("wall") and by the
    process's CPU time ("cpu": what a loaded machine stretches least), the runners taking
    turns in alternating order round by round so drift in machine speed hits them equally."""
    wall, cpu = {k: [] for k in runners}, {k: [] for k in runners}
    names = list(runners)
    for r in range(rounds):
        for k in names if r % 2 == 0 else names[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            runners[k](steps)
            wall[k].append((time.perf_counter() - t0) / steps)
            cpu[k].append((time.process_time() - c0) / steps)
    return {"wall": wall, "cpu": cpu}


def ratio_spread(slow: list, fast: list) -> tuple[float, float, float]:
    """(median, first quartile, third quartile) of the per-round ratio slow / fast: how
    many times faster ``fast`` ran than ``slow`` in the same round (same load)."""
    r = sorted(a / b for a, b in zip(slow, fast))
    q = statistics.quantiles(r, n=4, method="inclusive") if len(r) > 1 else [r[0]] * 3
    return statistics.median(r), q[0], q[2]


def load_line() -> str:
    """The load averages (1, 5, 15 minutes) and the core count, for printing beside figures."""
    if not hasattr(os, "getloadavg"):
        return f"load average unknown ({os.cpu_count()} cores)"
    a = os.getloadavg()
    return f"load average {a[0]:.2f}, {a[1]:.2f}, {a[2]:.2f} ({os.cpu_count()} cores)"


def table(header: list[str], rows: list[list], title: str = "") -> str:
    cells = [header] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title] if title else []
    for j, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.2f}" if v < 100 else f"{v:.0f}"
    return str(v)
