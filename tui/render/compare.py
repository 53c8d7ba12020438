"""Pure builders for the compare screen: a compare snapshot and a size in, rich ``Text``
out (run in a worker thread, tested without an app). Plots are drawn with the main
screen's plotext helpers (``smtui.tui.render.plot``)."""

from __future__ import annotations

import math
import textwrap

import numpy as np
from rich.text import Text

from smtui.core.compare import CompareSnapshot
from smtui.tui.render import plot
from smtui.tui.runner.protocol import CompareReport, Progress

VIEWS = ("model score", "difference", "model density")
ARROWS = "→↗↑↖←↙↓↘"  # direction glyph by angle, counter-clockwise from +x
MAGNITUDE_COLOURS = ("blue", "cyan", "green", "yellow", "red")  # 16-colour safe, small -> large
DENSITY_GLYPHS = " .:-=+*#%@"  # low -> high
RUN_COLOURS = ("cyan", "red", "green", "yellow")  # 16-colour safe
RUN_MARKERS = ("•", "+", "x", "o")  # tell the runs apart without colour (NO_COLOR)
PAIR_COLOURS = ("cyan", "red", "green", "yellow", "magenta", "blue")
PAIR_MARKERS = ("•", "+", "x", "o", "*", "#")


def _colour(snap: CompareSnapshot, name: str) -> str:
    return RUN_COLOURS[snap.objectives.index(name) % len(RUN_COLOURS)]


def _marker(snap: CompareSnapshot, name: str) -> str:
    return RUN_MARKERS[snap.objectives.index(name) % len(RUN_MARKERS)]


def coincide(snap: CompareSnapshot, rel: float = 1e-3) -> bool:
    """True when every run's latest value agrees within ``rel``: the curves lie on each other."""
    last = [c[-1, 1] for c in snap.curves.values() if len(c)]
    if len(last) < 2 or not all(math.isfinite(v) for v in last):
        return False
    return max(last) - min(last) <= rel * max(1e-12, max(abs(v) for v in last))


def curves_panel(snap: CompareSnapshot | None, width: int, height: int) -> Text:
    """Every run's objective on the one scale over steps, on one axis (log10 when all > 0)."""
    if snap is None or not any(len(c) for c in snap.curves.values()):
        return plot.note(width, height, "the curves appear at the first evaluation")
    values = np.concatenate([c[:, 1] for c in snap.curves.values() if len(c)])
    finite = values[np.isfinite(values)]
    log = finite.size > 0 and bool(np.all(finite > 0))
    fig = plot.figure(width, height)
    lo_step = min(c[0, 0] for c in snap.curves.values() if len(c))
    hi_step = max(c[-1, 0] for c in snap.curves.values() if len(c))
    fig.xlim(lo_step, max(hi_step, lo_step + 1))
    for name, c in snap.curves.items():
        if not len(c):
            continue
        y = np.log10(c[:, 1]) if log else c[:, 1]
        ok = np.isfinite(y)
        if ok.any():
            fig.plot(c[ok, 0], y[ok], color=_colour(snap, name), marker=_marker(snap, name),
                     label=f"{_marker(snap, name)} {name}")
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    # Values that agree to the quadrature's precision (~1e-4 relative; e.g. every run at
    # step 0) are one value: draw a band of +-5e-4 around them, not their rounding noise.
    size = max(abs(lo), abs(hi), 1e-300)
    rel = (hi - lo) * math.log(10) if log else (hi - lo) / size
    if rel < 1e-4:
        mid, pad = 0.5 * (lo + hi), (5e-4 / math.log(10) if log else 5e-4 * size)
        lo, hi = mid - pad, mid + pad
    ticks = np.linspace(lo, hi, 3 if height < 12 else 5)
    real = 10**ticks if log else ticks
    rel = (real.max() - real.min()) / max(float(np.max(np.abs(real))), 1e-300)
    digits = int(np.clip(2 + math.ceil(-math.log10(max(rel, 1e-12))), 4, 10))  # enough to tell ticks apart
    fig.ylim(lo, hi)
    fig.yticks(list(ticks), [f"{v:.{digits}g}" for v in real])
    scale = snap.scale.split(" (")[0]
    how = f"{scale} (log axis)" if log else scale
    together = " · on top of each other" if coincide(snap) else ""
    plot.title(fig, width, f"{how} over steps, each run shifted by its exact constant{together}")
    return plot.text(fig)


def multiple_panel(snap: CompareSnapshot | None, name: str, view: int, width: int, height: int) -> Text:
    """One run's score field (or density), small: one of the small multiples."""
    if snap is None or snap.fields is None or name not in snap.fields:
        if snap is not None and snap.dim > 2:
            return plot.note(width, height, f"{snap.dim}-D data:", "no field to draw")
        return plot.note(width, height, "…")
    axes, model, logdens = snap.fields[name]
    fig = plot.figure(width, height)
    if len(axes) == 1:
        x = axes[0]
        fig.xlim(x[0], x[-1])
        if view == 2:
            fig.plot(x, np.exp(logdens) / max(x[1] - x[0], 1e-300), color=_colour(snap, name), marker="braille")
        else:
            y = model[:, 0] - (snap.data_field[:, 0] if view == 1 else 0.0)
            fig.plot(x, y, color=_colour(snap, name), marker="braille")
            if view == 0:
                fig.plot(x, snap.data_field[:, 0], color="blue", marker="braille")
        return plot.text(fig)
    xs, ys = axes
    fig.xlim(xs[0], xs[-1])
    fig.ylim(ys[0], ys[-1])
    fig.frame(False)  # small multiples: every cell for the field
    fig.xticks([])
    fig.yticks([])
    if view == 2:
        p = np.exp(logdens - np.max(logdens))
        glyphs = DENSITY_GLYPHS
        level = np.clip((p * (len(glyphs) - 1)).round().astype(int), 0, len(glyphs) - 1)
        keep = level > 0
        px, py = np.meshgrid(xs, ys)
        fig.scatter(px.ravel()[keep], py.ravel()[keep], marker=[glyphs[k] for k in level[keep]],
                    color=_colour(snap, name))
        return plot.text(fig)
    vec = model - snap.data_field if view == 1 else model
    _arrows(fig, xs, ys, vec)
    return plot.text(fig)


def _arrows(fig, xs, ys, vec: np.ndarray) -> None:
    """Direction by glyph, size by colour (quintiles), on every other row and third column."""
    nx, ny = len(xs), len(ys)
    ix = np.arange(1, nx - 1, 3) if nx > 4 else np.arange(nx)
    iy = np.arange(0, ny, 2)
    idx = (iy[:, None] * nx + ix[None, :]).ravel()
    v = vec[idx]
    mag = np.hypot(v[:, 0], v[:, 1])
    ok = np.isfinite(mag)
    if not ok.any():
        return
    angle = np.arctan2(v[:, 1], v[:, 0])
    glyph = np.array(list(ARROWS))[np.round(np.nan_to_num(angle) / (np.pi / 4)).astype(int) % 8]
    glyph[~(mag > 0)] = "·"
    level = plot.levels(mag, len(MAGNITUDE_COLOURS))
    px, py = np.meshgrid(xs[ix], ys[iy])
    fig.scatter(px.ravel()[ok], py.ravel()[ok], marker=list(glyph[ok]),
                color=[MAGNITUDE_COLOURS[k] for k in level[ok]])


def _g(v, width: int) -> str:
    return f"{v:>{width}.4g}" if isinstance(v, (int, float)) and math.isfinite(v) else "—".rjust(width)


def table_panel(snap: CompareSnapshot | None, width: int, height: int) -> Text:
    """Per run: value on the scale, lr, gradient variance; per pair: parameter gap and the
    gradient cosine; then what is exact and what is not, in words."""
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    if snap is None:
        t.append("starting the compare trainer…")
        return t
    t.append(f"{'run':<12}{'value':>9}{'lr':>8}{'∇ var':>9}\n", style="bold")
    for name in snap.objectives:
        c = snap.curves[name]
        t.append(f"{_marker(snap, name)} ", style=_colour(snap, name))
        t.append(f"{name:<10}{_g(c[-1, 1] if len(c) else None, 9)}{_g(snap.lrs[name], 8)}"
                 f"{_g(snap.gradient_variance.get(name), 9)}")
        if snap.status[name] != "ok":
            t.append(" ✗", style="bold red")
        t.append("\n")
    t.append(f"{'pair':<16}{'gap':>10}{'cos':>9}\n", style="bold")
    for pair, g in snap.gaps.items():
        short = "|".join(p.replace("-sigma", "σ") for p in pair.split("|"))
        t.append(f"{short:<16}{_g(g[-1, 1] if len(g) else None, 10)}{_g(snap.cosine.get(pair), 9)}\n")
    used = 3 + len(snap.objectives) + len(snap.gaps)
    notes = [n.split(" (")[0] if height - used < 4 else n for n in snap.notes]
    for note in notes:
        for line in textwrap.wrap(note, max(width - 1, 20)):
            t.append(line + "\n", style="dim")
    return t


def gaps_panel(snap: CompareSnapshot | None, width: int, height: int) -> Text:
    """log10 of each pair's parameter gap over steps: how fast the runs drift apart."""
    if snap is None or not any(len(g) > 1 for g in snap.gaps.values()):
        return plot.note(width, height, "parameter gaps over steps appear after two evaluations")
    fig = plot.figure(width, height)
    for i, (pair, g) in enumerate(snap.gaps.items()):
        ok = g[:, 1] > 0
        if ok.sum() > 0:
            short = "|".join(p.replace("-sigma", "σ") for p in pair.split("|"))
            fig.plot(g[ok, 0], np.log10(g[ok, 1]), color=PAIR_COLOURS[i % 6], marker=PAIR_MARKERS[i % 6],
                     label=f"{PAIR_MARKERS[i % 6]} {short}")
    plot.title(fig, width, "log10 max|θa−θb|/max|θa| per pair")
    return plot.text(fig)


def status_text(report: Progress | None, stopped: str = "", silent: float = 0.0) -> Text:
    """step · steps/s · mode · state (which runs diverged, by the trainer's rule), saying
    what to press next; ``report`` a CompareReport, or what the job does while it is built;
    ``silent``: seconds the stalled trainer has said nothing (0 when it is not stalled)."""
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    if stopped:
        t.append(f"✗ {stopped} — escape returns to the main screen", style="bold red")
        return t
    if not isinstance(report, CompareReport):
        t.append("compare · starting…" + (f" {report.busy}…" if report is not None and report.busy else ""))
        return t
    snap = report.snapshot
    rate = f"{report.steps_per_second:,.1f} steps/s" if report.steps_per_second else "— steps/s"
    mode = "exact (slow: the expectation each step)" if snap.exact else f"minibatch {snap.config.batch}"
    t.append(f"step {snap.step:,}", style="bold")
    t.append(f" · {rate} · {mode} · ")
    if silent:
        t.append(f"⚠ stalled: no word from the compare trainer for {silent:.0f} s", style="bold red")
        t.append(" (process stopped or starved of CPU; escape returns)")
        return t
    diverged = [n for n in snap.objectives if snap.status.get(n, "ok") != "ok"]
    if len(diverged) == len(snap.objectives):
        t.append("✗ every run diverged", style="bold red")
        t.append(" — r re-initialises")
    else:
        if diverged:
            t.append(f"✗ {', '.join(diverged)} diverged", style="bold red")
            t.append(" · ")
        if report.training:
            t.append("▶ training", style="bold green")
            t.append(" — space pauses")
        else:
            t.append("❚❚ paused", style="bold yellow")
            t.append(" — space trains")
    if report.busy:
        t.append(f" · {report.busy}…", style="italic")
    return t


def keys_text(width: int, training: bool, exact: bool) -> Text:
    """The compare screen's key bar: as many keys as fit in ``width``, most useful first."""
    keys = [("space", "pause" if training else "train"), ("esc", "back"), ("e", "minibatch" if exact else "exact"),
            ("n", "step"), ("v", "view"), ("+-", "σ"), ("[]", "lr"), ("r", "re-init"), ("q", "quit")]
    t, used = Text(no_wrap=True, end=""), 1
    t.append(" ")
    for key, what in keys:
        part = len(key) + 1 + len(what) + 2
        if used + part > width:
            break
        t.append(key, style="bold")
        t.append(f" {what}  ", style="dim")
        used += part
    return t
