"""The one-scale plot: the paper's result as a picture (docs/math.md, "One scale for all
objectives"). A pure builder: a snapshot and a size in, rich ``Text`` out.

At every evaluation each objective is evaluated on the fixed evaluation set and shifted onto
ESM_qσ's scale by its exact constant: ESM_qσ (a line), DSM + (C2 − C3), ISM_qσ + C2 and
DAE/(2σ⁴) + (C2 − C3) (marks that land on it), drawn over steps on one linear axis, so that
a constant gap looks constant. DSM and DAE are measured as training defines them (each noisy
point against its own clean point, ``core/evaluation.measured_identities``), never through
the Parzen posterior: their meeting ESM_qσ is a measurement, not arithmetic. DSM itself is
drawn too, C2 − C3 away, with the gap labelled; for an analytic q, ESM_q beside them is the
distance to the true score: what σ costs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text

from smtui.core.trainer import SCALE_COLUMNS, Snapshot
from smtui.tui.render import axes, plot

COL = {name: i for i, name in enumerate(SCALE_COLUMNS)}
ROOMY = 10  # panel rows from which the legend is written inside the panel (else the border says it)
TITLE = "one scale: the paper's result"  # the panel's border title, with room for the legend below
SHORT_TITLE = "one scale: ·ESMqσ D DSM I ISM A DAE"  # in a short panel, the legend is its title
SHORT = 8  # plot rows below which the step axis gives its rows to the curves
# How each curve is drawn: ESM_qσ as a line of dots on the character grid, and the letters of
# the shifted objectives on the same grid, taking turns along it, so that each stays visible
# where they coincide (a braille line's dots fall in other rows than letters do). DSM itself
# and ESM_q are smooth braille lines.
LINE = "·"
MARKS = {"dsm": "D", "ism": "I", "dae": "A"}
STYLE = {"esm_sigma": "green", "dsm": "yellow", "ism": "cyan", "dae": "magenta", "raw": "yellow", "esm_q": "blue"}


@dataclass(frozen=True)
class Curves:
    """The one-scale curves since the constants last changed (sigma or the data: another scale)."""

    steps: np.ndarray
    esm_sigma: np.ndarray  # ESM_qsigma
    dsm: np.ndarray  # DSM_measured + (C2 - C3)
    ism: np.ndarray  # ISM_qsigma + C2
    dae: np.ndarray  # DAE_measured / (2 sigma^4) + (C2 - C3)
    raw: np.ndarray  # DSM_measured itself: DSM + (C2 - C3) less the gap
    esm_q: np.ndarray  # ESM_q (nan for sample-only data)
    gap: float  # C2 - C3


def scale_curves(history: np.ndarray) -> Curves | None:
    """The shifted objectives from a snapshot's ``scale_history`` (``smtui.core.trainer.SCALE_COLUMNS``:
    each objective already on ESM_qsigma's scale, and C2 - C3), since sigma or the data last
    changed (C2 - C3 is then another number: another scale); None without an evaluation."""
    h = np.asarray(history, dtype=float).reshape(-1, len(SCALE_COLUMNS))
    if len(h) == 0:
        return None
    same = _same(h[:, COL["c2_minus_c3"]])
    h = h[len(same) - int(np.argmin(same[::-1])):] if not same.all() else h
    gap = float(h[-1, COL["c2_minus_c3"]])
    col = lambda name: h[:, COL[name]]  # noqa: E731
    return Curves(steps=col("step"), esm_sigma=col("esm-sigma"), dsm=col("dsm"), ism=col("ism-sigma"),
                  dae=col("dae"), raw=col("dsm") - gap, esm_q=col("esm"), gap=gap)


def _same(v: np.ndarray) -> np.ndarray:
    """Rows whose value is the last row's (nan counts as the same as nan)."""
    last = v[-1]
    return np.isnan(v) if np.isnan(last) else np.isclose(v, last, rtol=1e-12, atol=0)


def legend(curves: Curves, width: int) -> list[str]:
    """The legend as lines of at most ``width`` cells: what each mark is, and the gap's value."""
    gap = f"C2−C3 = {curves.gap:.4g}"
    wide = ["··· ESM_qσ   D DSM+(C2−C3)   I ISM_qσ+C2", f"A DAE/2σ⁴+(C2−C3)   {gap}"]
    narrow = ["··· ESM_qσ D DSM+(C2−C3) I ISM_qσ+C2", f"A DAE/2σ⁴+(C2−C3) · {gap}"]
    return wide if all(len(s) <= width for s in wide) else narrow


def subtitle(snap: Snapshot | None, width: int, height: int) -> str:
    """The panel's border note: what the y axis is, and in a short panel (no legend inside)
    the gap's value."""
    curves = scale_curves(snap.scale_history) if snap is not None else None
    if height >= ROOMY or curves is None:
        return "linear y: a constant gap looks constant"
    short = f"C2−C3 = {curves.gap:.4g} · linear y"
    return short if len(short) <= width - 4 else short.split(" ·")[0]


def one_scale_plot(snap: Snapshot | None, width: int, height: int) -> Text:
    """ESM_qσ and the other objectives on its scale, over steps (see the module's note); the
    legend is written below the plot when the panel has ROOMY rows or more."""
    curves = scale_curves(snap.scale_history) if snap is not None else None
    if curves is None:
        return plot.note(width, height, "the objectives on one scale appear here", "at the first evaluation")
    notes = legend(curves, width) if height >= ROOMY else []
    steps = curves.steps
    series = {k: getattr(curves, k) for k in ("esm_sigma", "dsm", "ism", "dae", "raw", "esm_q")}
    if len(steps) == 1:  # one evaluation: a short level line, not a lone dot
        steps = np.array([steps[0], steps[0] + 1.0])
        series = {k: np.repeat(v, 2) for k, v in series.items()}
    lo, hi, q_shown = _limits(steps, series)
    q = series["esm_q"][-1]
    if not q_shown and np.isfinite(q):
        notes.append(f"ESM_q {q:.4g}: off the plot ({'above' if q > hi else 'below'})")
    rows = height - len(notes)
    fig = plot.figure(width, rows)
    xlo, xhi = float(steps[0]), float(max(steps[-1], steps[0] + 1))
    fig.xlim(xlo, xhi)
    fig.ylim(lo, hi)
    if rows < SHORT:  # every row for the curves: no step axis (the panel's border says what is drawn)
        fig.plot_size(max(width, plot.MIN_PLOT[0]), max(rows, 2))
        fig.xaxes(False, False)
        fig.xticks([])
        plot.ticks(fig, width, rows + 4, y=(lo, hi))
    else:
        plot.ticks(fig, width, rows, x=(xlo, xhi), y=(lo, hi), x_integer=True)
    clip = lambda v: np.clip(v, lo, hi)  # noqa: E731 - the transient is cut at the edge
    for name in ("raw", "esm_q") if q_shown else ("raw",):
        ok = np.isfinite(series[name])
        if ok.any():
            fig.plot(steps[ok], clip(series[name][ok]), marker="braille", color=STYLE[name])
    ok = np.isfinite(series["esm_sigma"])
    fig.plot(steps[ok], clip(series["esm_sigma"][ok]), marker=LINE, color=STYLE["esm_sigma"])
    for k, name in enumerate(MARKS):  # the marks take turns along the line (see MARKS)
        at = _turns(len(steps), max(width - 8, 4), k, len(MARKS))
        v = series[name][at]
        ok = np.isfinite(v)
        if ok.any():
            fig.scatter(steps[at][ok], clip(v[ok]), marker=MARKS[name], color=STYLE[name])
    _label(fig, steps, series, lo, hi, q_shown, rows if rows < SHORT else rows - 3)
    if rows >= SHORT:
        _gap(fig, steps, series, curves.gap, lo, hi, rows - 3)
    out = plot.text(fig)
    for line in notes:
        out.append("\n" + line[:width], style="dim")
    return out


def _limits(steps: np.ndarray, series: dict) -> tuple[float, float, bool]:
    """A y range for the shifted objectives and DSM itself as they are after the first tenth
    of the steps (the first evaluations' transient is cut at the edge: the fall from it still
    shows as a line from the top), robust to a later spike (``axes.robust_limits``); ESM_q
    joins it unless it lies far from them (then it is named in words instead of flattening
    the rest: whether it was kept is the third value)."""
    late = steps >= steps[0] + 0.1 * (steps[-1] - steps[0])
    if late.sum() < 2:
        late = np.ones_like(late)
    names = ("esm_sigma", "dsm", "ism", "dae", "raw")
    lo, hi = _padded(np.concatenate([series[k][late] for k in names]))
    q = series["esm_q"][late]
    if not np.isfinite(q).any():
        return lo, hi, False
    qlo, qhi = _padded(q)
    span = hi - lo
    if qhi < lo - 2 * span or qlo > hi + 2 * span:
        return lo, hi, False
    return min(lo, qlo), max(hi, qhi), True


def _padded(values: np.ndarray) -> tuple[float, float]:
    lo, hi = axes.robust_limits(values)
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _turns(n: int, cells: int, k: int, every: int) -> np.ndarray:
    """Rows for the k-th of ``every`` mark kinds: about one mark per two columns along the
    line, the kinds taking turns."""
    at = np.unique(np.round(np.linspace(0, n - 1, max(min(n, cells // 2), 1))).astype(int))
    mine = at[k::every]
    return mine if len(mine) else at[-1:]


def _label(fig, steps, series, lo: float, hi: float, q_shown: bool, rows: int) -> None:
    """Names at the right end of the lines that are not ESM_qsigma's: DSM itself, ESM_q; not
    where the name would cover ESM_qsigma's line and its marks (the same row at the end)."""
    row = lambda v: round((v - lo) / (hi - lo) * max(rows - 1, 1))  # noqa: E731
    ends = series["esm_sigma"][-1]
    names = (("raw", "DSM"), ("esm_q", "ESM_q")) if q_shown else (("raw", "DSM"),)
    for key, name in names:
        v = series[key][-1]
        if np.isfinite(v) and lo <= v <= hi and not (np.isfinite(ends) and row(v) == row(min(max(ends, lo), hi))):
            fig.text(name, float(steps[-1]), float(v), color=STYLE[key], alignment="right")


def _gap(fig, steps, series, gap: float, lo: float, hi: float, rows: int) -> None:
    """"↕ C2−C3" between DSM itself and ESM_qsigma, three fifths along the steps, where the
    two lines are at least two rows apart there."""
    x = steps[0] + 0.6 * (steps[-1] - steps[0])
    a, b = (np.interp(x, steps, series[k]) for k in ("raw", "esm_sigma"))
    if not (np.isfinite(a) and np.isfinite(b)) or abs(a - b) / (hi - lo) * rows < 2:
        return
    mid = min(max((a + b) / 2, lo), hi)
    fig.text(f"↕ C2−C3 {gap:.4g}", float(x), float(mid), color="white", alignment="center")
