"""The score field, drawn once for every screen: full size in the main screen's panel, or
small (one of the compare screen's small multiples). Arrows of the model score, the data
score or their difference, the model density, Langevin samples; curves for 1-D data; for
d > 2 the same on a plane through the data (the trainer computes the fields there; this
only draws them).

Arrow size is shown twice, so it reads with or without colour: five colours that stay
distinct when a terminal has 256 or 16 colours (given as RGB: Textual remaps the 16
named ANSI colours through its theme, which made red and magenta one colour), and thin
arrows for the smaller three fifths, double arrows for the larger two. Training points are
a dot in the terminal's own text colour; a one-line legend under the full-size plot says
so. NO_COLOR drops the colours (a terminal's monochrome rendering of them is too dim to
read); the glyphs still tell size and kind. A small field has no frame, axes, title,
legend or points: every cell is for the field."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text

from smtui.core.trainer import FieldSnapshot
from smtui.tui.render import plot
from smtui.tui.runner.protocol import Report

VIEWS = ("model score", "data score", "difference", "model density", "Langevin samples")
ARROWS = "→↗↑↖←↙↓↘"  # direction glyph by angle, counter-clockwise from +x
BIG_ARROWS = "⇒⇗⇑⇖⇐⇙⇓⇘"  # the same directions, for the larger arrows
BIG_FROM = 3  # levels from this one up are drawn with BIG_ARROWS
SIZE_COLOURS = ((40, 100, 255), (0, 200, 220), (60, 200, 60), (230, 210, 0), (255, 50, 30))  # low -> high
SAMPLE_COLOUR = (255, 50, 30)
DENSITY_GLYPHS = " .:-=+*#%@"
POINT = "•"
ARROW_COLUMNS, ARROW_ROWS = 4, 2  # one arrow per this many plot cells across and down
AXES = (6, 4)  # cells the frame and tick labels of a full-size plot take, across and down


def field_panel(report: Report | None, view: int, width: int, height: int, colour: bool = True) -> Text:
    """The main screen's field panel: the report's field, its training points and samples."""
    snap = report.snapshot if report else None
    if snap is None or snap.field is None:
        return plot.note(width, height, "starting the trainer…")
    return field_text(snap.field, view, width, height, points=snap.points, samples=snap.samples,
                      samples_step=report.samples_step, colour=colour)


def field_text(f: FieldSnapshot, view: int, width: int, height: int, *, points: np.ndarray | None = None,
               samples: np.ndarray | None = None, samples_step: int | None = None, colour: bool = True,
               small: bool = False) -> Text:
    """The field ``f`` in ``view`` (an index into VIEWS), ``width`` x ``height`` cells; ``small``
    leaves out the frame, axes, title, legend and points."""
    if len(f.axes) == 1:
        return _field_1d(f, view, width, height, points, samples, colour, small)
    return _field_2d(f, view, width, height, points, samples, samples_step, colour, small)


def _paint(c, colour: bool):
    return c if colour else "default"


def _field_2d(f: FieldSnapshot, view: int, width: int, height: int, points, samples, samples_step,
              colour: bool, small: bool) -> Text:
    xs, ys = f.axes
    where = f"{f.plane} plane · " if f.plane else ""
    legend = not small and height >= 10
    fig = plot.figure(width, height - 1 if legend else height)
    fig.xlim(xs[0], xs[-1])
    fig.ylim(ys[0], ys[-1])
    if small:
        fig.frame(False)  # every cell for the field
        fig.xticks([])
        fig.yticks([])
        points = None
    else:
        plot.ticks(fig, width, height, x=(xs[0], xs[-1]), y=(ys[0], ys[-1]))
        points = f.project(points) if points is not None else None
    titled = (lambda words: None) if small else (lambda words: plot.title(fig, width, words))
    key = Text(no_wrap=True, end="")
    if view == 3:
        _density_cells(fig, f, colour, width, height)
        titled(f"{where}model density exp(-E) on the grid")
        key.append(f"density low {DENSITY_GLYPHS[1:]} high")
    elif view == 4:
        if points is not None:
            fig.scatter(points[:, 0], points[:, 1], marker="·", color="default")
        if samples is None:
            titled(f"{where}no samples yet: press l to draw them")
            key.append("· training points")
        else:
            s = f.project(samples[np.all(np.isfinite(samples), axis=1)])
            fig.scatter(s[:, 0], s[:, 1], marker=POINT, color=_paint(SAMPLE_COLOUR, colour), style="bold")
            titled(f"{where}Langevin samples drawn at step {samples_step:,}")
            key.append(POINT, style=Style(color=_rgb(SAMPLE_COLOUR) if colour else None, bold=True))
            key.append(" samples · training points")
    else:
        if points is not None:
            fig.scatter(points[:, 0], points[:, 1], marker=POINT, color="default")
        inset = (0, 0) if small else AXES
        biggest = _arrows(fig, f, (f.model, f.data, f.model - f.data)[view], width, height, inset, colour)
        titled(f"{where}{VIEWS[view]}" + (" (in-plane part)" if f.plane else ""))
        _size_key(key, biggest, colour)
    out = plot.text(fig)
    if legend:
        out = out.copy()  # (a copy: the legend goes under it)
        out.append("\n")
        out.append_text(_fit(key, width))
    return out


def _rgb(c) -> str:
    return f"rgb({c[0]},{c[1]},{c[2]})"


def _size_key(key: Text, biggest: float, colour: bool) -> None:
    """``size →→→⇒⇒ max 37.2 · • points``: the five size levels as drawn, low to high."""
    key.append("size ")
    for level, c in enumerate(SIZE_COLOURS):
        glyph = (BIG_ARROWS if level >= BIG_FROM else ARROWS)[0]
        key.append(glyph, style=Style(color=_rgb(c)) if colour else None)
    key.append(f" low→high (max {biggest:.3g}) · ")
    key.append(f"{POINT} training points")


def _fit(t: Text, width: int) -> Text:
    t.truncate(max(width, 1), overflow="ellipsis")
    return t


def _arrows(fig, f, vec: np.ndarray, width: int, height: int, inset: tuple[int, int], colour: bool) -> float:
    """One arrow per ARROW_COLUMNS x ARROW_ROWS cells of the plot as it is now (the panel less
    ``inset`` for its axes; the grid's resolution may lag a resize by a report: the spacing
    follows the panel, never the grid)."""
    xs, ys = f.axes
    nx, ny = len(xs), len(ys)
    across = max(2, (max(width, plot.MIN_PLOT[0]) - inset[0]) // ARROW_COLUMNS)
    down = max(2, (max(height, plot.MIN_PLOT[1]) - inset[1]) // ARROW_ROWS)
    ix = np.unique(np.linspace(0, nx - 1, min(across, nx) + 2)[1:-1].round().astype(int))
    iy = np.unique(np.linspace(0, ny - 1, min(down, ny)).round().astype(int))
    idx = (iy[:, None] * nx + ix[None, :]).ravel()
    v = vec[idx]
    mag = np.hypot(v[:, 0], v[:, 1])
    ok = np.isfinite(mag)
    if not ok.any():
        return float("nan")
    level = plot.levels(mag, len(SIZE_COLOURS))
    direction = np.round(np.nan_to_num(np.arctan2(v[:, 1], v[:, 0])) / (np.pi / 4)).astype(int) % 8
    glyph = np.where(level >= BIG_FROM, np.array(list(BIG_ARROWS))[direction], np.array(list(ARROWS))[direction])
    glyph[~(mag > 0)] = "·"
    px, py = np.meshgrid(xs[ix], ys[iy])
    px, py = px.ravel()[ok], py.ravel()[ok]
    fig.scatter(px, py, marker=list(glyph[ok]),
                color=[_paint(SIZE_COLOURS[k], colour) for k in level[ok]])
    return float(np.nanmax(mag))


def _density_cells(fig, f, colour: bool, width: int, height: int) -> None:
    # plotext puts a point in the cell its coordinates round to: a grid with fewer points
    # along an axis than the plot has cells there leaves some cells empty (blank stripes),
    # so such an axis is filled in first, interpolated in log density, to as many points as
    # the panel has cells (never fewer than the plot's). One series per density level:
    # plotext checks a series' colour once, not once per point.
    xs, ys, log_density = _filled(*f.axes, f.log_density, width, height)
    p = np.exp(log_density - np.max(log_density))
    level = np.clip((p * (len(DENSITY_GLYPHS) - 1)).round().astype(int), 0, len(DENSITY_GLYPHS) - 1)
    px, py = (a.ravel() for a in np.meshgrid(xs, ys))
    for k in range(1, len(DENSITY_GLYPHS)):
        at = level == k
        if at.any():
            shade = SIZE_COLOURS[min(k * len(SIZE_COLOURS) // len(DENSITY_GLYPHS), len(SIZE_COLOURS) - 1)]
            fig.scatter(px[at], py[at], marker=DENSITY_GLYPHS[k], color=_paint(shade, colour))


def _filled(xs, ys, values, cols: int, rows: int):
    """The grid's values (flat, in ``meshgrid(xs, ys)`` order) on a grid with at least
    ``cols`` x ``rows`` points: an axis with fewer is resampled evenly over its range,
    linearly interpolated; flat too."""
    grid = np.reshape(values, (len(ys), len(xs)))
    if 1 < len(xs) < cols:
        fx = np.linspace(xs[0], xs[-1], cols)
        grid = np.array([np.interp(fx, xs, row) for row in grid])
        xs = fx
    if 1 < len(ys) < rows:
        fy = np.linspace(ys[0], ys[-1], rows)
        grid = np.array([np.interp(fy, ys, col) for col in grid.T]).T
        ys = fy
    return xs, ys, grid.ravel()


def _field_1d(f: FieldSnapshot, view: int, width: int, height: int, points, samples, colour: bool,
              small: bool) -> Text:
    x = f.axes[0]
    fig = plot.figure(width, height)
    fig.xlim(x[0], x[-1])
    model, data = f.model[:, 0], f.data[:, 0]
    titled = (lambda words: None) if small else (lambda words: plot.title(fig, width, words))
    label = (lambda words: None) if small else (lambda words: words)
    if view == 0:
        fig.plot(x, model, color=_paint(SIZE_COLOURS[4], colour), marker="braille", label=label("model score ψ"))
        fig.horizontal_line(0.0, color="default")
        curves = model
        titled("model score ψ(x) (zero line: its stationary points)")
    elif view == 1:
        fig.plot(x, data, color=_paint(SIZE_COLOURS[1], colour), marker="braille",
                 label=label("data score (σ-smoothed)"))
        fig.horizontal_line(0.0, color="default")
        curves = data
        titled("data score: the σ-smoothed score ψ is trained towards")
    elif view == 2:
        curves = model - data
        fig.plot(x, curves, color=_paint(SIZE_COLOURS[3], colour), marker="braille", label=label("ψ − data score"))
        fig.horizontal_line(0.0, color="default")
        titled("difference: model score ψ minus data score")
    else:
        dx = x[1] - x[0] if len(x) > 1 else 1.0
        dens = np.exp(f.log_density) / dx
        sampled = view == 4 and samples is not None
        ref = samples[:, 0] if sampled else (points[:, 0] if points is not None else None)
        curves = dens
        what = "Langevin samples" if sampled else "training points"
        if ref is not None:
            hist, edges = np.histogram(ref[np.isfinite(ref)], bins=min(40, max(5, len(x) // 3)),
                                       range=(x[0], x[-1]), density=True)
            centres = 0.5 * (edges[:-1] + edges[1:])
            fig.scatter(centres, hist, color=_paint(SIZE_COLOURS[1], colour), marker="▪",
                        label=label(f"histogram of {what}"))
            curves = np.concatenate([dens, hist])
        fig.plot(x, dens, color=_paint(SIZE_COLOURS[4], colour), marker="braille", label=label("model density"))
        if view == 4 and not sampled:
            titled("no samples yet: press l · histogram of training points")
        else:
            titled(f"model density vs histogram of {what}")
    finite = curves[np.isfinite(curves)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if view <= 2:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.05 * (hi - lo)
    bottom = lo - pad if lo < 0 or view <= 2 else lo
    fig.ylim(bottom, hi + pad)
    if small:
        fig.frame(False)
        fig.xticks([])
        fig.yticks([])
    else:
        plot.ticks(fig, width, height, x=(x[0], x[-1]), y=(bottom, hi + pad))
    return plot.text(fig)
