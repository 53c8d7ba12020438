"""Axis scales and ticks for the plots: round tick values (1, 2 or 5 times a power of ten),
integer ticks for step axes, a symmetric log scale for signed values, and a y range that
a single spike cannot stretch. Pure functions of numbers: no plotting here."""

from __future__ import annotations

import math

import numpy as np

MANTISSAS = (1.0, 2.0, 5.0, 10.0)


def nice_step(span: float, count: int) -> float:
    """The smallest of 1, 2, 5 x 10^k that cuts ``span`` into at most ``count`` parts."""
    if not (math.isfinite(span) and span > 0):
        return 1.0
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in MANTISSAS:
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10.0 * power


def linear_ticks(lo: float, hi: float, count: int, integer: bool = False) -> list[float]:
    """Round values in [lo, hi], evenly spaced, at most ``count`` + 1 of them (at least one
    when the range is not empty); whole numbers only if ``integer``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return []
    if hi == lo:
        return [lo]
    for parts in range(max(count, 1), max(count, 1) + 8):  # finer until at least two ticks fall in range
        step = nice_step(hi - lo, parts)
        if integer:
            step = max(1.0, round(step))
        first = math.ceil(lo / step - 1e-9) * step
        n = int(math.floor((hi - first) / step + 1e-9)) + 1
        ticks = [0.0 if abs(t) < 1e-12 * step else t for t in (first + i * step for i in range(max(n, 0)))]
        if len(ticks) >= 2 or (integer and step == 1.0):
            break
    return ticks or [lo]


def tick_labels(ticks: list[float], integer: bool = False) -> list[str]:
    """Labels as short as the ticks' spacing allows: '1,500', '20k', '0.25', '-3', '2e-05'."""
    if not ticks:
        return []
    if integer:
        return _counts(ticks)
    step = min((b - a for a, b in zip(ticks, ticks[1:])), default=abs(ticks[0]) or 1.0)
    big = max(abs(t) for t in ticks)
    if big >= 1e5 or (big < 1e-3 and big > 0):
        return [_sci(t) for t in ticks]
    decimals = next((k for k in range(12) if abs(round(step, k) - step) <= 1e-9 * step), 12) if step > 0 else 0
    return [f"{t:.{decimals}f}" for t in ticks]


def _counts(ticks: list[float]) -> list[str]:
    """Whole numbers with one unit for the axis: '0 5k 10k', '0 2.5M 5M', '0 500 1,000'."""
    values = [round(t) for t in ticks]
    top = max(abs(v) for v in values)
    for size, unit, least in ((1_000_000, "M", 1_000_000), (1_000, "k", 10_000)):
        if top >= least and all(v % (size // 100) == 0 for v in values):
            return [f"{v / size:,.2f}".rstrip("0").rstrip(".") + (unit if v else "") for v in values]
    return [f"{v:,}" for v in values]


def _sci(v: float) -> str:
    if v == 0:
        return "0"
    mantissa, exponent = f"{v:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def tick_count(cells: int, per_tick: int) -> int:
    """How many tick intervals fit along ``cells`` with ``per_tick`` cells each."""
    return max(1, cells // max(per_tick, 1))


# --- the loss scale -------------------------------------------------------------------------


def robust_limits(t: np.ndarray, bulk: tuple[float, float] = (1, 99), reach: float = 1.0) -> tuple[float, float]:
    """A y range for the values ``t``: their whole range unless it reaches far beyond the
    bulk (by default the 1st-99th percentiles) - a divergence spike, the first steps'
    transient - which is then cut ``reach`` times the bulk's width past it (the curve is
    drawn clipped at the edge)."""
    t = t[np.isfinite(t)]
    if t.size == 0:
        return 0.0, 1.0
    q1, q99 = (float(v) for v in np.percentile(t, bulk))
    width = max(q99 - q1, 1e-12 * max(1.0, abs(q99)))
    lo, hi = max(float(t.min()), q1 - reach * width), min(float(t.max()), q99 + reach * width)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = max(abs(hi) * 1e-3, 1e-9)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def log_ticks(lo: float, hi: float, count: int) -> tuple[list[float], list[str]]:
    """Ticks for a log10 axis over [lo, hi] (in log10 units): positions and the values
    they stand for. Powers of ten when enough fit, else 1-2-5 steps, else round values on
    a linear ruler (a range under a factor of ~3 is nearly linear)."""
    gap = (hi - lo) / max(count + 2, 3)
    for mantissas, enough in (((1.0,), 3 if hi - lo < 1.5 else 2), ((1.0, 2.0, 5.0), 2)):
        values = [m * 10.0**k for k in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in mantissas]
        chosen: list[float] = []
        for v in sorted(values, key=lambda v: (v not in (10.0**math.floor(math.log10(v)),), -v)):
            p = math.log10(v)
            if lo <= p <= hi and all(abs(p - math.log10(c)) >= gap for c in chosen):
                chosen.append(v)
        if len(chosen) >= enough:
            chosen.sort()
            return [math.log10(v) for v in chosen], [_short(v) for v in chosen]
    values = linear_ticks(10.0**lo, 10.0**hi, count)
    return [math.log10(v) for v in values if v > 0], [lab for v, lab in zip(values, tick_labels(values)) if v > 0]


def _short(v: float) -> str:
    return f"{v:g}" if 1e-3 <= abs(v) < 1e4 else _sci(v)
