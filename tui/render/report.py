"""Pure builders: a report (or snapshot) and a size in, rich ``Text`` out.

Plots are drawn by plotext, one fresh figure per call (``smtui.tui.render.plot``), and its cells are
read into ``Text``. Nothing here touches a widget, so these run in a worker thread
(``smtui.tui.render.frames`` then cuts the text into rows) and are tested without an app. The score
field's panel is ``smtui.tui.render.field``; the loss, the identities and the setup are here."""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text

from smtui.core.config import Config
from smtui.core.text import visible
from smtui.core.trainer import Snapshot
from smtui.core.verdicts import AGREE, DISAGREE, UNDECIDED, Verdict, identity_verdicts
from smtui.tui.render import axes, plot
from smtui.tui.render.field import VIEWS, field_panel
from smtui.tui.render.plot import safely

__all__ = ["VIEWS", "field_panel", "safely", "loss_panel", "loss_scale", "identities_table", "identity_plot",
           "identity_rows", "setup_text", "Text"]
_figure, _note, _title = plot.figure, plot.note, plot.title


# --- loss --------------------------------------------------------------------------------


def loss_panel(snap: Snapshot | None, width: int, height: int, since: int = 0) -> Text:
    """The training loss since step ``since`` (0: the whole history), every value drawn: on
    a log10 axis while all are positive, else on a linear one (``loss_scale``).
    A spike far beyond the rest (a divergence) is cut at the edge, not allowed to flatten
    the curve (``smtui.tui.render.axes.robust_limits``)."""
    if snap is None or len(snap.losses) == 0:
        return _note(width, height, "loss: nothing yet — press space to train")
    steps, loss = _since(snap, since)
    if len(steps) == 0:
        return _note(width, height, f"loss from step {since:,}: nothing since then yet",
                     "(h shows the whole history)")
    name, forward, _ = loss_scale(loss)
    ok = np.isfinite(loss)
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = _binned(steps[ok], forward(loss[ok]), max(8, 2 * width))
    # A linear axis is stretched by the first steps' transient as much as by a spike: its
    # range follows the bulk more tightly than a log axis's.
    lo, hi = axes.robust_limits(y) if name == "log10" else axes.robust_limits(y, (5, 95), 0.5)
    fig = _figure(width, height)
    fig.plot(x, np.clip(y, lo, hi), color="green", marker="braille")
    xlo, xhi = float(steps[0]), float(max(steps[-1], steps[0] + 1))
    fig.xlim(xlo, xhi)
    fig.ylim(lo, hi)
    plot.ticks(fig, width, height, x=(xlo, xhi), x_integer=True)
    if name == "log10":
        fig.yticks(*axes.log_ticks(lo, hi, axes.tick_count(max(height, plot.MIN_PLOT[1]) - 4, 3)))
    else:
        plot.ticks(fig, width, height, y=(lo, hi))
    for step, _label in snap.marks:
        if xlo <= step <= xhi:
            fig.vline(step, color="magenta")
    if height >= 9:  # in a short panel the plot needs every row
        # A setup change (objective, sigma, re-init…) since the last step makes its loss another setup's.
        stale = any(step >= steps[-1] for step, _ in snap.marks)
        shown = "setup changed, no step yet" if stale else f"latest {loss[-1]:.4g}"
        start = f" · from step {since:,}" if since else ""
        cut = ", spike cut" if np.nanmax(y) > hi or np.nanmin(y) < lo else ""
        words = f"loss ({snap.config.objective}) {shown} · {name} y{cut}{start}"
        if len(words) > width - 8:  # the scale is in the panel's border note too: it gives way first
            words = f"loss ({snap.config.objective}) {shown}{cut}{start}"
        _title(fig, width, words)
    return plot.text(fig)


def _since(snap: Snapshot, since: int) -> tuple[np.ndarray, np.ndarray]:
    keep = snap.losses[:, 0] >= since
    return snap.losses[keep, 0], snap.losses[keep, 1]


def loss_scale(loss: np.ndarray):
    """(name, forward, inverse): log10 while every finite loss is positive (the losses of
    ESM, DSM and DAE are); linear once any is not (ISM's can be negative: a log of them,
    or a symmetric log, would hide the crossing of zero or make a cliff of it). Either
    way the range is robust to a spike (``smtui.tui.render.axes.robust_limits``)."""
    finite = loss[np.isfinite(loss)]
    if finite.size == 0 or (finite > 0).all():
        return "log10", np.log10, lambda t: 10.0**t
    return "linear", lambda y: y, lambda t: t


def loss_subtitle(snap: Snapshot | None, since: int = 0, width: int = 80) -> str:
    """The loss panel's border note: which scale, what the marks are, what h does (the
    marks' note gives way first in a narrow panel)."""
    name = loss_scale(_since(snap, since)[1])[0] if snap is not None and len(snap.losses) else "log10"
    c = f"h: {'whole history' if since else 'from now'}"
    full = f"{name} y · | setup changed · {c}"
    return full if len(full) <= width - 6 else f"{name} y · {c}"


def _binned(x: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Means over at most ``bins`` equal runs of points: a readable curve of a noisy loss."""
    if len(x) <= bins:
        return x, y
    groups = np.array_split(np.arange(len(x)), bins)
    return np.array([x[g].mean() for g in groups]), np.array([y[g].mean() for g in groups])


# --- identities -------------------------------------------------------------------------


PANEL_ROWS = ("esm_minus_dsm", "esm_minus_dsm_pairs", "ism_minus_dsm", "dsm_dae")


def identity_rows(snap: Snapshot) -> tuple[Verdict, ...]:
    """The panel's identities, each with its verdict (smtui.core.verdicts: the one rule the
    app, ``smtui run`` and its JSON share): ESM - DSM and ISM - DSM with DSM measured as
    training defines it, the pairs estimate, DSM against DAE/(2 sigma^4)."""
    verdicts = identity_verdicts(snap.figures, snap.config.sigma, diverged=snap.status == "diverged")
    return tuple(v for v in verdicts if v.key in PANEL_ROWS)


def _num(v, width: int = 10) -> str:
    """``v`` in at most ``width`` cells: six significant figures, fewer when the exponent
    needs the room (-3.98595e-284 becomes -3.99e-284), never cut inside the number."""
    if v is None or not math.isfinite(v):
        return "—".rjust(width)
    for digits in range(6, 0, -1):
        text = f"{v:.{digits}g}"
        if len(text) <= width:
            return text.rjust(width)
    return text


_MARKS = {AGREE: ("✓", "bold green"), DISAGREE: ("✗", "bold red"), UNDECIDED: ("?", "yellow")}


def identities_table(snap: Snapshot | None) -> Text:
    """One line per identity: name, measured, ± its error (or the theory's name), theory, and
    ✓ agree, ✗ disagree, ? undecided (smtui.core.verdicts), or "diverged"."""
    if snap is None or snap.figures is None:
        return Text("evaluating… (identities appear when the figures are ready)", end="")
    t = Text(no_wrap=True, end="")
    for v in identity_rows(snap):
        t.append(f"{v.label:<8}", style="bold")
        t.append(_num(v.measured))
        if v.reason == "diverged":  # nothing is ticked after a divergence
            t.append(" diverged ", style="bold red")
        else:
            t.append(f" {'±' + format(v.error, '.2g') if v.error is not None else v.theory_label:<9}"[:10], style="dim")
        t.append(_num(v.theory))
        t.append(" ")
        if v.reason != "diverged":
            t.append(*_MARKS[v.verdict])
        t.append("\n")
    how = "quadrature" if snap.figures.get("evaluation") == "quadrature" else "Monte Carlo"
    t.append(f"at step {snap.figures_step:,} · {how}", style="dim")
    return t


def identity_plot(snap: Snapshot | None, width: int, height: int) -> Text:
    """ESM - DSM over steps, DSM measured as training defines it (a line: flat within its error,
    which is the paper's result measured, not assumed), the pairs estimate training sees (dots,
    wobbling within their standard error) and the theory value C2 - C3 (the axis's middle
    tick, named so). The y axis's ends are its range, labelled by value: no uncertainty. An older saved
    history without the measured figure draws the rao-blackwellised one, C2 - C3 by
    construction. Drawn since C2 - C3 last changed."""
    if snap is None or len(snap.identity_history) == 0:
        return _note(width, height, "ESM-DSM over steps appears here")
    h = snap.identity_history
    same = np.isclose(h[:, 2], h[-1, 2], rtol=1e-12, atol=0) | np.isnan(h[-1, 2])
    start = len(same) - int(np.argmin(same[::-1])) if not same.all() else 0
    h = h[start:]
    steps, theory, pairs, se = h[:, 0], h[:, 2], h[:, 3], h[:, 4]
    measured, err = h[:, 7], h[:, 8]
    kept = np.isfinite(measured)
    line = np.where(kept, measured, h[:, 1])
    if len(steps) == 1:
        steps, line, pairs = np.array([steps[0], steps[0] + 1.0]), np.repeat(line, 2), np.repeat(pairs, 2)
    centre = float(theory[-1]) if math.isfinite(theory[-1]) else float(np.nanmean(line))
    spread = [np.nanmedian(3 * se) if np.isfinite(se).any() else 0.0,
              np.nanmedian(3 * err) if np.isfinite(err).any() else 0.0,
              np.nanmax(np.abs(pairs - centre)) if np.isfinite(pairs).any() else 0.0,
              np.nanmax(np.abs(line - centre)) if np.isfinite(line).any() else 0.0]
    spread = 1.1 * max(max(float(np.nan_to_num(v)) for v in spread), 1e-3 * max(1.0, abs(centre)))
    fig = _figure(width, height)
    fig.xlim(float(steps[0]), float(max(steps[-1], steps[0] + 1)))
    plot.ticks(fig, width, height, x=(float(steps[0]), float(max(steps[-1], steps[0] + 1))), x_integer=True)
    fig.ylim(centre - spread, centre + spread)
    ends = height >= 7  # room for the range's ends as ticks
    values = [centre - spread, centre, centre + spread] if ends else [centre]
    # The middle tick is named, not numbered: the ends are the axis's range, not an uncertainty.
    fig.yticks(values, [f"{v:.4g}" if v != centre else "C2-C3" for v in values])
    fig.plot_size(max(width, plot.MIN_PLOT[0]), max(height, 5))  # 5 rows (at 80x24) still hold the x labels
    if np.isfinite(pairs).any():
        fig.scatter(steps, pairs, marker="·", color="yellow")
    fig.plot(steps, line, color="green", marker="braille")
    what = "measured" if kept.all() else "via the posterior"
    _title(fig, width, f"⠒ {what} · pairs")
    return plot.text(fig)


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
