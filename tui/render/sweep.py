"""How a sigma sweep's summary looks: a rich table and plotext plots on log axes (ESM_q,
or ESM_qsigma where q has no analytic score, and DSM's gradient variance over ESM_qsigma's at
the same parameters, against sigma).
Pure builders, summary in and rich renderables out, shared by ``smtui sweep`` and the app."""

from __future__ import annotations

import math

import numpy as np
from rich.table import Table
from rich.text import Text

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


def summary_table(summary: list[dict], analytic: bool) -> Table:
    """One row per sigma: mean ±spread of each figure (over seeds, as % of the mean; with one
    seed, ± the run's own standard error where it has one); ◀ marks the best sigma by ESM_q."""
    runs = max((r["runs"] for r in summary), default=0)
    spread = f"spread over {runs} seeds (std" if runs > 1 else "± standard error (one seed"
    best = "; ◀ best ESM_q" if analytic else ""
    t = Table(title=f"sigma sweep: mean {spread}, % of the mean){best}", title_justify="left", box=None,
              pad_edge=False)
    cols = list(COLUMNS) if analytic else [("ESM_qσ", "esm_sigma"), *COLUMNS[1:]]
    t.add_column("sigma", justify="right", no_wrap=True)
    for name, _ in cols:
        t.add_column(name, justify="right", no_wrap=True)
    t.add_column("wall s", justify="right", no_wrap=True)
    for row in summary:
        cells = [_cell(row[k], row[k + "_spread"] if runs > 1 else row.get(k + "_se")) for _, k in cols]
        wall = "-" if row["wall_seconds"] is None else f"{row['wall_seconds']:.1f}"
        note = f" ({row['diverged']} diverged)" if row["diverged"] else ""
        best = " ◀" if row.get("best_esm") else ""
        t.add_row(f"{row['sigma']:.3g}{note}{best}", *cells, wall)
    return t


def _log_points(summary, key):
    pts = [(r["sigma"], r[key]) for r in summary if r[key] is not None and r[key] > 0 and math.isfinite(r[key])]
    return np.log10([p[0] for p in pts]), np.log10([p[1] for p in pts])


def sweep_plot(summary: list[dict], key: str, label: str, width: int, height: int) -> Text:
    """log10(figure) against log10(sigma), the seeds' mean at each sigma; the axes say log10
    (plotext's own log scale drops ticks on narrow plots)."""
    fig = _figure(width, height)
    x, y = _log_points(summary, key)
    if len(x) == 0:
        return Text(f"{label}: no positive values to plot", end="")
    fig.plot(x, y, marker="braille", color="cyan")
    fig.scatter(x, y, marker="●", color="red")
    fig.xlabel("log10 sigma")
    _title(fig, width, f"log10 {label} against log10 sigma")
    return _text(fig)


def plots(summary: list[dict], analytic: bool, width: int, height: int) -> list[Text]:
    """The two plots of a sweep, each width x height (none for a single sigma: no curve)."""
    if len(summary) < 2:
        return []
    first = ("esm", "ESM_q (distance to q's true score)") if analytic else ("esm_sigma", "ESM_qσ")
    out = [sweep_plot(summary, *first, width, height),
           sweep_plot(summary, "variance_ratio", "Var ∇DSM / Var ∇ESM_qσ (same θ)", width, height)]
    for text in out:
        text.end = "\n"  # one below the other when grouped
    return out
