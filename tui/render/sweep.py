"""How a sweep's summary looks: a rich table with a row per cell of the grid, and plotext
plots on log axes (ESM_q, or ESM_qsigma where q has no analytic score, and DSM's gradient
variance over ESM_qsigma's at the same parameters) against the grid's sigma (else its
first numeric axis), one plot per value of the next axis and a line per combination of the
others. Pure builders, summary in and rich renderables out, shared by ``smtui sweep`` and
the app."""

from __future__ import annotations

import itertools
import math

import numpy as np
from rich.table import Table
from rich.text import Text

from smtui.core.grid import Axis
from smtui.tui.render.plot import figure as _figure
from smtui.tui.render.plot import text as _text
from smtui.tui.render.plot import title as _title


def _cell(mean, spread) -> str:
    """The mean and the spread as a percentage of it (compact enough for 80 columns)."""
    if mean is None:
        return "-"
    if spread is None:
        return f"{mean:.3g}"
    if mean == 0:
        return f"0 ±{spread:.2g}"
    pct = 100 * spread / abs(mean)
    if pct < 0.01:
        return f"{mean:.3g} ±<0.01%"
    return f"{mean:.3g} ±{pct:.2g}%" if pct < 100 else f"{mean:.3g} ±{pct:.0f}%"


# The columns: ESM_q (what sigma buys; ESM_qsigma where q is not analytic), the gradient noise on
# scales that do not move with sigma (docs/math.md, "Gradient noise": DSM's variance over
# ESM_qsigma's at the same theta; the variance over the squared mean gradient), C2 - C3.
COLUMNS = (("ESM_q", "esm"), ("DSM/ESMqσ var", "variance_ratio"), ("noise/signal", "noise_to_signal"),
           ("C2 - C3", "c2_minus_c3"))


def summary_table(summary: list[dict], analytic: bool, axes: list[Axis] | None = None) -> Table:
    """One row per cell of the grid (its value on each axis): mean ±spread of each figure
    (over seeds, as % of the mean; with one seed, ± the run's own standard error where it
    has one); ◀ marks the best sigma by ESM_q (of the cells that share every other setting)."""
    axes = axes or [SIGMA]
    runs = max((r["runs"] for r in summary), default=0)
    spread = f"spread over {runs} seeds (std" if runs > 1 else "± standard error (one seed"
    best = "; ◀ best ESM_q" if analytic and any(a.field == "sigma" for a in axes) else ""
    t = Table(title=f"{' × '.join(a.name for a in axes)} sweep: mean {spread}, % of the mean){best}",
              title_justify="left", box=None, pad_edge=False)
    cols = list(COLUMNS) if analytic else [("ESM_qσ", "esm_sigma"), *COLUMNS[1:]]
    for a in axes:
        t.add_column(a.name, justify="right" if a.field in NUMERIC else "left", no_wrap=True)
    for name, _ in cols:
        t.add_column(name, justify="right", no_wrap=True)
    t.add_column("wall s", justify="right", no_wrap=True)
    for row in summary:
        cells = [_cell(row[k], row[k + "_spread"] if runs > 1 else row.get(k + "_se")) for _, k in cols]
        wall = "-" if row["wall_seconds"] is None else f"{row['wall_seconds']:.1f}"
        note = f" ({row['diverged']} diverged)" if row["diverged"] else ""
        labels = [a.label(row.get(a.field)) for a in axes]
        labels[-1] += note + (" ◀" if row.get("best_esm") else "")
        t.add_row(*labels, *cells, wall)
    loose = [" ".join(a.label(r.get(a.field)) for a in axes) for r in summary
             if (r.get("grad_variance_se") or 0) > 0.1 * abs(r.get("grad_variance") or 0)]
    if loose:  # the probes' cap was reached before the variance was known to 10%
        names = " × ".join(a.name for a in axes)
        t.caption = f"gradient variance known to worse than 10% at {names} " + ", ".join(loose)
        t.caption_justify = "left"
    return t


SIGMA = Axis("sigma", "sigma", ())
NUMERIC = ("sigma", "lr", "lam", "hidden", "batch", "n_train")
MAX_PANELS = 6  # plots per figure (one per value of the panel axis)
MAX_LINES = 6  # lines per plot (one per combination of the other axes)
COLOURS = ("cyan", "red", "green", "magenta", "yellow", "blue")


def x_axis(axes: list[Axis]) -> Axis | None:
    """What the plots run along: sigma if the grid varies it, else its first numeric axis
    with two values or more; None if there is none (a table alone)."""
    numeric = [a for a in axes if a.field in NUMERIC and len(a.values) > 1]
    return next((a for a in numeric if a.field == "sigma"), numeric[0] if numeric else None)


def sweep_plot(rows: list[dict], x: Axis, key: str, label: str, width: int, height: int,
               lines: list[tuple[str, dict]] | None = None, panel: str = "") -> Text:
    """log10(figure) against the x axis (log10 where every value is > 0), the seeds' mean
    in each cell, one line per entry of ``lines`` ((legend, the cell values it keeps)), or
    one line through every row; the axes say log10 (plotext's own log scale drops ticks on
    narrow plots)."""
    fig = _figure(width, height)
    log_x = all(v > 0 for v in x.values)
    drawn = 0
    for i, (legend, keep) in enumerate(lines or [("", {})]):
        pts = [(r[x.field], r[key]) for r in rows if all(r.get(f) == v for f, v in keep.items())
               and r[key] is not None and r[key] > 0 and math.isfinite(r[key])]
        if not pts:
            continue
        xs = np.array([p[0] for p in pts], dtype=float)
        xs, ys = (np.log10(xs) if log_x else xs), np.log10([p[1] for p in pts])
        colour = COLOURS[i % len(COLOURS)]
        fig.plot(xs, ys, marker="braille", color=colour, label=legend or None)
        fig.scatter(xs, ys, marker="●", color="red" if not legend else colour)
        drawn += 1
    if not drawn:
        return Text(f"{label}{panel and f' ({panel})'}: no positive values to plot", end="")
    fig.xlabel(f"log10 {x.name}" if log_x else x.name)
    _title(fig, width, f"log10 {label} against {'log10 ' * log_x}{x.name}{panel and f' · {panel}'}")
    return _text(fig)


def plots(summary: list[dict], analytic: bool, width: int, height: int, axes: list[Axis] | None = None) -> list[Text]:
    """The sweep's plots, each width x height: for each of two figures (ESM_q, or ESM_qσ
    for sample-only data, and DSM's gradient variance over ESM_qσ's), one plot against the
    x axis per value of the next axis (one against sigma per objective, say), with a line
    per combination of the others. None without an x axis (no curve to draw)."""
    axes = axes or [Axis("sigma", "sigma", tuple(r["sigma"] for r in summary))]
    x = x_axis(axes)
    if x is None:
        return []
    others = [a for a in axes if a is not x]
    panel_axis, line_axes = (others[0], others[1:]) if others else (None, [])
    panels = [(f"{panel_axis.name}={panel_axis.label(v)}", {panel_axis.field: v})
              for v in panel_axis.values] if panel_axis else [("", {})]
    lines = [(" ".join(f"{a.name}={a.label(v)}" for a, v in zip(line_axes, combo)), dict(zip(
        (a.field for a in line_axes), combo))) for combo in itertools.product(*(a.values for a in line_axes))]
    first = ("esm", "ESM_q" if panel_axis else "ESM_q (distance to q's true score)") if analytic else \
        ("esm_sigma", "ESM_qσ")
    ratio = "Var ∇DSM / Var ∇ESM_qσ" + ("" if panel_axis else " (same θ)")
    out = []
    for key, label in (first, ("variance_ratio", ratio)):
        for words, keep in panels[:MAX_PANELS]:
            rows = [r for r in summary if all(r.get(f) == v for f, v in keep.items())]
            out.append(sweep_plot(rows, x, key, label, width, height, lines[:MAX_LINES] if line_axes else None, words))
    left = max(0, len(panels) - MAX_PANELS) + (max(0, len(lines) - MAX_LINES) if line_axes else 0)
    if left:
        out.append(Text("(more cells than the plots show: every one is in the table, the JSON and the CSV)"))
    for text in out:
        text.end = "\n"  # one below the other when grouped
    return out


def shown(summary: list[dict], analytic: bool, axes: list[Axis], width: int, height: int,
          partial: str = "") -> list:
    """The table, then the plots; ``partial`` (e.g. "5 of 24 runs") titles the table as
    partial results."""
    table = summary_table(summary, analytic, axes)
    if partial:
        table.title = f"partial ({partial} finished): {table.title}"
    return [table, *plots(summary, analytic, width, height, axes)]
