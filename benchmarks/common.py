"""Shared helpers for the benchmark scripts: building trainers, interleaved timing, tables."""

from __future__ import annotations

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
    times = {k: [] for k in runners}
    names = list(runners)
    for r in range(rounds):
        for k in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            runners[k](steps)
            times[k].append((time.perf_counter() - t0) / steps)
    return {k: statistics.median(v) for k, v in times.items()}


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
