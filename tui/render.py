"""Pure builders: a report (or snapshot) and a size in, rich ``Text`` out.

Plots are drawn by plotext, one fresh figure per call (never the global one), and
its cells are read into ``Text``. Nothing here touches a widget, so these run in a
worker thread (``tui.frames`` then cuts the text into rows) and are tested without an app."""

from __future__ import annotations

import math
import textwrap
from functools import lru_cache

import numpy as np
from plotext._figure import _figure_class
from plotext._utility import colors_to_ansi
from rich.style import Style
from rich.text import Span, Text

from core.config import Config
from core.text import visible
from core.trainer import Snapshot
from tui.protocol import Report

VIEWS = ("model score", "data score", "difference", "model density", "Langevin samples")
ARROWS = "→↗↑↖←↙↓↘"  # direction glyph by angle, counter-clockwise from +x
MAGNITUDE_COLOURS = ("blue", "cyan", "green", "yellow", "red")  # 16-colour safe, low -> high
DENSITY_GLYPHS = " .:-=+*#%@"
POINT_COLOUR = "magenta"
MIN_PLOT = (16, 6)


def _figure(width: int, height: int):
    fig = _figure_class()
    fig.plot_size(max(width, MIN_PLOT[0]), max(height, MIN_PLOT[1]))
    fig.theme("clear")
    return fig


def _text(fig) -> Text:
    """The figure as Text, read from plotext's cell matrix: the characters and colours its
    ANSI output would give, for half the cost (no canvas string to build and parse again)."""
    fig._set_sizes()
    fig._build_matrix()
    m = fig.monitor.matrix
    parts, spans, at = [], [], 0
    for row in reversed(m.Rows):  # plotext's row 0 is the bottom one
        marks, colours = m.marker[row], list(zip(m.fullground[row], m.style[row], m.background[row]))
        start = 0
        for col in range(1, m.cols + 1):
            if col == m.cols or colours[col] != colours[start]:
                run = "".join(marks[start:col])
                style = _ansi_style(colours[start])
                if style is not None:
                    spans.append(Span(at, at + len(run), style))
                parts.append(run)
                at, start = at + len(run), col
        parts.append("\n")
        at += 1
    return Text("".join(parts)[:-1], no_wrap=True, end="", spans=spans)


@lru_cache(maxsize=256)
def _ansi_style(colours: tuple) -> Style | None:
    """plotext's (colour, style, background) of a cell as the rich Style its ANSI code means."""
    spans = Text.from_ansi(colors_to_ansi(*colours) + "x").spans
    return spans[0].style if spans else None


def _title(fig, width: int, title: str) -> None:
    """plotext drops a title wider than the plot; shorten it instead."""
    room = max(width - 8, 8)
    fig.title(title if len(title) <= room else title[: room - 1] + "…")


def safely(build, width: int, height: int, *args) -> tuple[Text, str]:
    """Build a panel; a failure becomes a one-line message in the panel (and is returned,
    so the app can report it and tests can fail on it) instead of killing the app."""
    try:
        return build(*args), ""
    except Exception as exc:  # noqa: BLE001
        problem = f"could not draw this panel: {type(exc).__name__}: {exc}"
        return _note(width, height, problem[: max(width, 20)]), problem


def _note(width: int, height: int, *lines: str) -> Text:
    """A plain message centred in the panel, for when there is nothing to plot yet
    (wrapped here: panels show rows as built, they do not wrap)."""
    lines = [part for line in lines for part in textwrap.wrap(line, max(width, 8)) or [""]]
    pad = max(0, (height - len(lines)) // 2)
    return Text("\n" * pad + "\n".join(line.center(width) for line in lines), no_wrap=True, end="")


# --- score field ------------------------------------------------------------------------


def field_panel(report: Report | None, view: int, width: int, height: int) -> Text:
    snap = report.snapshot if report else None
    if snap is None or snap.field is None:
        return _note(width, height, "starting the trainer…")
    if snap.dim == 1:
        return _field_1d(report, view, width, height)
    if snap.dim != 2:
        return _note(width, height, f"{snap.dim}-D data: no field to draw",
                     "(the loss and identities still apply)")
    return _field_2d(report, view, width, height)


def _vectors(snap: Snapshot, view: int) -> np.ndarray:
    f = snap.field
    return {0: f.model, 1: f.data, 2: f.model - f.data}[view]


def _field_2d(report: Report, view: int, width: int, height: int) -> Text:
    snap = report.snapshot
    f = snap.field
    xs, ys = f.axes
    fig = _figure(width, height)
    fig.xlim(xs[0], xs[-1])
    fig.ylim(ys[0], ys[-1])
    if view == 3:
        _density_cells(fig, f, width)
    elif view == 4:
        if snap.samples is None:
            fig.scatter(snap.points[:, 0], snap.points[:, 1], marker="·", color=POINT_COLOUR)
            _title(fig, width, "no samples yet: press l to draw them")
            return _text(fig)
        s = snap.samples[np.all(np.isfinite(snap.samples), axis=1)]
        fig.scatter(snap.points[:, 0], snap.points[:, 1], marker="·", color=POINT_COLOUR)
        fig.scatter(s[:, 0], s[:, 1], marker="•", color="cyan")
        _title(fig, width, f"Langevin samples (•) drawn at step {report.samples_step:,}; · training points")
        return _text(fig)
    else:
        fig.scatter(snap.points[:, 0], snap.points[:, 1], marker="·", color=POINT_COLOUR)
        biggest = _arrows(fig, f, _vectors(snap, view))
        _title(fig, width, f"{VIEWS[view]}: arrow = direction, colour = size (max {biggest:.3g})")
    return _text(fig)


def _arrows(fig, f, vec: np.ndarray) -> float:
    xs, ys = f.axes
    nx, ny = len(xs), len(ys)
    ix = np.arange(1, nx - 1, 3) if nx > 4 else np.arange(nx)
    iy = np.arange(0, ny, 2)
    idx = (iy[:, None] * nx + ix[None, :]).ravel()
    v = vec[idx]
    mag = np.hypot(v[:, 0], v[:, 1])
    ok = np.isfinite(mag)
    if not ok.any():
        return float("nan")
    angle = np.arctan2(v[:, 1], v[:, 0])
    glyph = np.array(list(ARROWS))[np.round(angle / (np.pi / 4)).astype(int) % 8]
    glyph[~(mag > 0)] = "·"
    level = _levels(mag, len(MAGNITUDE_COLOURS))
    px, py = np.meshgrid(xs[ix], ys[iy])
    px, py = px.ravel()[ok], py.ravel()[ok]
    fig.scatter(px, py, marker=list(glyph[ok]), color=[MAGNITUDE_COLOURS[k] for k in level[ok]])
    return float(np.nanmax(mag))


def _levels(values: np.ndarray, k: int) -> np.ndarray:
    """0..k-1 by quantile, so colour shows relative size across the panel."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=int)
    cuts = np.quantile(finite, np.linspace(0, 1, k + 1)[1:-1])
    return np.searchsorted(cuts, np.nan_to_num(values), side="right").clip(0, k - 1)


def _density_cells(fig, f, width: int) -> None:
    xs, ys = f.axes
    p = np.exp(f.log_density - np.max(f.log_density))
    level = np.clip((p * (len(DENSITY_GLYPHS) - 1)).round().astype(int), 0, len(DENSITY_GLYPHS) - 1)
    keep = level > 0
    px, py = np.meshgrid(xs, ys)
    colours = ["blue", "blue", "cyan", "cyan", "green", "green", "yellow", "yellow", "red", "red"]
    fig.scatter(px.ravel()[keep], py.ravel()[keep], marker=[DENSITY_GLYPHS[k] for k in level[keep]],
                color=[colours[k] for k in level[keep]])
    _title(fig, width, f"model density exp(-E) on the grid, low {DENSITY_GLYPHS[1:]} high")


def _field_1d(report: Report, view: int, width: int, height: int) -> Text:
    snap = report.snapshot
    f = snap.field
    x = f.axes[0]
    fig = _figure(width, height)
    fig.xlim(x[0], x[-1])
    if view in (0, 1):
        fig.plot(x, f.data[:, 0], color="cyan", marker="braille", label="data score")
        fig.plot(x, f.model[:, 0], color="red", marker="braille", label="model score ψ")
        _title(fig, width, f"{VIEWS[view]} (1-D): model ψ against the data score")
    elif view == 2:
        fig.plot(x, f.model[:, 0] - f.data[:, 0], color="yellow", marker="braille", label="ψ - data score")
        fig.horizontal_line(0.0, color="blue")
        _title(fig, width, "difference: model score ψ minus data score")
    else:
        dx = x[1] - x[0] if len(x) > 1 else 1.0
        dens = np.exp(f.log_density) / dx
        ref = snap.points[:, 0] if view == 3 or snap.samples is None else snap.samples[:, 0]
        hist, edges = np.histogram(ref[np.isfinite(ref)], bins=min(40, max(5, len(x) // 3)), range=(x[0], x[-1]),
                                   density=True)
        centres = 0.5 * (edges[:-1] + edges[1:])
        what = "training points" if view == 3 else "Langevin samples"
        fig.scatter(centres, hist, color="cyan", marker="▪", label=f"histogram of {what}")
        fig.plot(x, dens, color="red", marker="braille", label="model density")
        if view == 4 and snap.samples is None:
            _title(fig, width, "no samples yet: press l to draw them (histogram shows training points)")
        else:
            _title(fig, width, f"model density vs histogram of {what}")
    return _text(fig)


# --- loss --------------------------------------------------------------------------------


def loss_panel(snap: Snapshot | None, width: int, height: int) -> Text:
    if snap is None or len(snap.losses) == 0:
        return _note(width, height, "loss: nothing yet — press space to train")
    steps, loss = snap.losses[:, 0], snap.losses[:, 1]
    pos = loss > 0
    fig = _figure(width, height)
    if height >= 9:
        fig.ylabel("log10 loss (>0 only)")
    if not pos.any():
        return _note(width, height, f"loss {loss[-1]:.4g} at step {int(steps[-1]):,}",
                     "all losses are negative (ISM objectives can be): no log10 to plot")
    x, y = _binned(steps[pos], np.log10(loss[pos]), max(8, 2 * width))
    fig.plot(x, y, color="green", marker="braille")
    lo, hi = float(steps[0]), float(max(steps[-1], steps[0] + 1))
    fig.xlim(lo, hi)
    for step, _label in snap.marks:
        if lo <= step <= hi:
            fig.vline(step, color="magenta")
    if height >= 9:  # in a short panel the plot needs every row
        # A setup change (objective, sigma, re-init…) since the last step makes its loss another setup's.
        stale = any(step >= steps[-1] for step, _ in snap.marks)
        shown = ("no step since the setup changed" if stale else f"latest {loss[-1]:.4g}") + (
            "" if pos.all() else "; negative values not shown")
        _title(fig, width, f"training loss ({snap.config.objective}), {shown}")
    return _text(fig)


def _binned(x: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Means over at most ``bins`` equal runs of points: a readable curve of a noisy loss."""
    if len(x) <= bins:
        return x, y
    groups = np.array_split(np.arange(len(x)), bins)
    return np.array([x[g].mean() for g in groups]), np.array([y[g].mean() for g in groups])


# --- identities -------------------------------------------------------------------------


def agrees(measured, theory, se=None, tol=None) -> bool | None:
    """Equal within what the arithmetic and the estimator can resolve: |measured - theory|
    <= 3 se + tol, with ``se`` the standard error of the difference (Monte Carlo; combine
    both sides' with math.hypot) and ``tol`` what rounding (and, for identities resting on
    integration by parts, the quadrature) leaves in the terms subtracted; the engine gives
    it with each figure (``*_tol``). Without one, a few hundred ulps of the two values."""
    if measured is None or theory is None or not (math.isfinite(measured) and math.isfinite(theory)):
        return None
    if tol is None or not math.isfinite(tol):
        tol = 256 * 2.0**-52 * max(abs(measured), abs(theory))
    bound = tol + (3 * se if se is not None and math.isfinite(se) else 0.0)
    return bool(abs(measured - theory) <= bound)


def _hypot(*ses):
    """The standard error of a difference of independent estimates (None when exact)."""
    given = [v for v in ses if v is not None]
    return math.hypot(*given) if given else None


def identity_rows(snap: Snapshot) -> list[tuple[str, float | None, str, float | None, float | None, bool | None]]:
    """(name, measured, theory name, theory, standard error, agrees) for each identity shown."""
    f = snap.figures
    s2 = snap.config.sigma**2
    dae_scaled = f["dae"] / (2 * s2 * s2) if f.get("dae") is not None else None
    theory_se = f.get("esm_minus_dsm_theory_se")
    rows = [
        ("ESM-DSM", f["esm_minus_dsm"], "C2-C3", f["esm_minus_dsm_theory"],
         _hypot(f.get("esm_minus_dsm_se"), theory_se), f.get("esm_minus_dsm_tol")),
        ("pairs", f["esm_minus_dsm_pairs"], "C2-C3", f["esm_minus_dsm_theory"],
         _hypot(f.get("esm_minus_dsm_pairs_se"), theory_se), f.get("esm_minus_dsm_pairs_tol")),
        ("ISM-DSM", f["ism_minus_dsm"], "-d/2σ²", f["ism_minus_dsm_theory"], f.get("ism_minus_dsm_se"),
         f.get("ism_minus_dsm_tol")),
        ("DSM", f["dsm"], "DAE/2σ⁴", dae_scaled, None, f.get("dsm_dae_tol")),
    ]
    return [(name, m, tname, t, se, agrees(m, t, se, tol)) for name, m, tname, t, se, tol in rows]


def _num(v, width: int = 10) -> str:
    return f"{v:>{width}.6g}" if v is not None and math.isfinite(v) else "—".rjust(width)


def identities_table(snap: Snapshot | None) -> Text:
    """One line per identity: name, measured, the theory's name (or ± SE), theory, ✓."""
    if snap is None or snap.figures is None:
        return Text("evaluating… (identities appear when the figures are ready)", end="")
    t = Text(no_wrap=True, end="")
    for name, m, tname, th, se, ok in identity_rows(snap):
        t.append(f"{name:<8}", style="bold")
        t.append(_num(m))
        t.append(f" {'±' + format(se, '.2g') if se is not None else tname:<9}", style="dim")
        t.append(_num(th))
        t.append(" ")
        if ok is None:
            t.append("?", style="yellow")
        else:
            t.append("✓" if ok else "✗", style="bold green" if ok else "bold red")
        t.append("\n")
    how = "quadrature" if snap.figures.get("evaluation") == "quadrature" else "Monte Carlo"
    t.append(f"at step {snap.figures_step:,} · {how}", style="dim")
    return t


def identity_plot(snap: Snapshot | None, width: int, height: int) -> Text:
    """ESM - DSM over steps: the exact estimate (a line, flat: the paper's result), the
    pairs estimate training sees (dots, wobbling within its standard error) and the
    theory value C2 - C3 (the axis label). Drawn since C2 - C3 last changed."""
    if snap is None or len(snap.identity_history) == 0:
        return _note(width, height, "ESM-DSM over steps appears here")
    h = snap.identity_history
    same = np.isclose(h[:, 2], h[-1, 2], rtol=1e-12, atol=0) | np.isnan(h[-1, 2])
    start = len(same) - int(np.argmin(same[::-1])) if not same.all() else 0
    h = h[start:]
    steps, exact, theory, pairs, se = h[:, 0], h[:, 1], h[:, 2], h[:, 3], h[:, 4]
    if len(steps) == 1:
        steps, exact, pairs = np.array([steps[0], steps[0] + 1.0]), np.repeat(exact, 2), np.repeat(pairs, 2)
    centre = float(theory[-1]) if math.isfinite(theory[-1]) else float(np.nanmean(exact))
    spread = [np.nanmedian(3 * se) if np.isfinite(se).any() else 0.0,
              np.nanmax(np.abs(pairs - centre)) if np.isfinite(pairs).any() else 0.0,
              np.nanmax(np.abs(exact - centre)) if np.isfinite(exact).any() else 0.0]
    spread = 1.1 * max(max(float(np.nan_to_num(v)) for v in spread), 1e-3 * max(1.0, abs(centre)))
    fig = _figure(width, height)
    fig.xlim(float(steps[0]), float(max(steps[-1], steps[0] + 1)))
    fig.ylim(centre - spread, centre + spread)
    fig.yticks([centre], [f"{centre:.4g}"])
    fig.plot_size(max(width, MIN_PLOT[0]), max(height, 5))  # 5 rows (at 80x24) still hold the x labels
    if np.isfinite(pairs).any():
        fig.scatter(steps, pairs, marker="·", color="yellow")
    fig.plot(steps, exact, color="green", marker="braille")
    _title(fig, width, f"⠒ exact (flat) · pairs; C2-C3 ±{spread:.2g}")
    return _text(fig)


# --- setup and status ---------------------------------------------------------------------


def setup_text(config: Config, dim: int | None, compact: bool = False) -> Text:
    items = [
        ("data", visible(config.source) + (f" ({dim}-D)" if dim else "")),
        ("objective", config.objective),
        ("sigma", f"{config.sigma:.4g}"),
        ("optimiser", config.optimizer),
        ("learning rate", f"{config.lr:.4g}"),
        ("batch", str(config.batch)),
        ("hidden", str(config.hidden)),
        ("lambda", f"{config.lam:.4g}"),
        ("seed", str(config.seed)),
    ]
    t = Text(no_wrap=True, end="")
    if compact:
        short = {"objective": "obj", "optimiser": "opt", "learning rate": "lr", "lambda": "λ"}
        pairs = [f"{short.get(k, k)} {v}" for k, v in items]
        t.append(" · ".join(pairs[:2]) + "\n" + " · ".join(pairs[2:5]) + "\n" + " · ".join(pairs[5:]))
        return t
    for i, (k, v) in enumerate(items):
        t.append(f"{k:<14}", style="dim")
        t.append(v, style="bold")
        if i < len(items) - 1:
            t.append("\n")
    return t
