"""Pure builders for the compare screen: a compare snapshot and a size in, rich ``Text``
out (run in a worker thread, tested without an app). Plots are drawn with the main
screen's plotext helpers (``smtui.tui.render.plot``)."""

from __future__ import annotations

import math
import textwrap

import numpy as np
from rich.text import Text

from smtui.core.compare import CompareSnapshot
from smtui.core.trainer import FieldSnapshot
from smtui.tui.render import field, frames, plot
from smtui.tui.render.frames import Job, Panels
from smtui.tui.render.numbers import g as _g
from smtui.tui.render.status import fit
from smtui.tui.runner.protocol import CompareReport, Progress

VIEWS = ("model score", "difference", "model density")  # of the main screen's (field.VIEWS)
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


def multiple_panel(snap: CompareSnapshot | None, name: str, view: int, width: int, height: int,
                   colour: bool = True) -> Text:
    """One run's score field (or density), small: one of the small multiples, drawn by the
    one field renderer (``smtui.tui.render.field``)."""
    if snap is None or snap.fields is None or name not in snap.fields:
        if snap is not None and snap.dim > 2:
            return plot.note(width, height, f"{snap.dim}-D data:", "no field to draw")
        return plot.note(width, height, "…")
    axes, model, log_density = snap.fields[name]
    f = FieldSnapshot(axes, model, snap.data_field, log_density)
    return field.field_text(f, field.VIEWS.index(VIEWS[view]), width, height, colour=colour, small=True)


def table_panel(snap: CompareSnapshot | None, width: int, height: int) -> Text:
    """Per run: value on the scale, lr, gradient variance; per pair: parameter gap and the
    gradient cosine; then what is exact and what is not, in words."""
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    if snap is None:
        t.append("starting the compare trainer…")
        return t
    t.append(f"{'run':<12}{'value':>9} {'lr':>7} {'∇ var':>9}\n", style="bold")  # (cells a space apart)
    for name in snap.objectives:
        c = snap.curves[name]
        if snap.status[name] == "ok":
            t.append(f"{_marker(snap, name)} ", style=_colour(snap, name))
        else:  # in the marker's cell: a row as wide as the others (the compact panel crops at 40)
            t.append("✗ ", style="bold red")
        t.append(f"{name:<10}{_g(c[-1, 1] if len(c) else None, 9)} {_g(snap.lrs[name], 7)} "
                 f"{_g(snap.gradient_variance.get(name), 9)}\n")
    noise = noise_lines(snap)
    for line in noise:
        t.append(line + "\n", style="dim")
    t.append(f"{'pair':<16}{'gap':>10} {'cos':>8}\n", style="bold")
    for pair, gap in snap.gaps.items():
        short = "|".join(p.replace("-sigma", "σ") for p in pair.split("|"))
        t.append(f"{short:<16}{_g(gap[-1, 1] if len(gap) else None, 10)} {_g(snap.cosine.get(pair), 8)}\n")
    used = 3 + len(snap.objectives) + len(snap.gaps) + len(noise)
    notes = [n.split(" (")[0] if height - used < 4 else n for n in snap.notes]
    for note in notes:
        for line in textwrap.wrap(note, max(width - 1, 20)):
            t.append(line + "\n", style="dim")
    return t


def noise_lines(snap: CompareSnapshot) -> list[str]:
    """How well the gradient variances are known (their largest relative standard error and
    the probe batches behind them), and DSM's variance over ESM_qsigma's at one run's
    parameters on the same batches with its standard error: the price of not knowing the
    score, on a scale that does not move with sigma (docs/math.md, "Gradient noise"). None
    in exact mode."""
    ses = snap.gradient_variance_se or {}
    rel = [ses[n] / v for n, v in snap.gradient_variance.items() if v and ses.get(n) is not None]
    if snap.exact or not rel:
        return []
    worst = max(rel)
    lines = [f"∇ var ±{100 * worst:.0f}%{' (SE > 10%)' if worst > 0.1 else ''} from {snap.probe_batches} probes"]
    if snap.variance_ratio is not None:
        ratio, se, at = snap.variance_ratio
        lines.append(f"∇ var DSM/ESMqσ at {at.replace('-sigma', 'σ')}'s θ {ratio:.3g} ±{se:.2g}")
    return lines


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


WORKING_AFTER = 0.6  # seconds without a report (the trainer beating) before the line says it is working
SPINNER = "◐◓◑◒"


def status_parts(report: Progress | None, stopped: str = "", silent: float = 0.0,
                 waiting: float = 0.0) -> list[tuple[str, str, int]]:
    """step · steps/s · mode · state (which runs diverged, by the trainer's rule), saying
    what to press next, as (text, style, rank) parts for ``smtui.tui.render.status.fit``;
    ``report`` a CompareReport, or what the job does while it is built; ``silent``: seconds
    the stalled trainer has said nothing (0 when it is not stalled); ``waiting``: seconds
    since the last report while the trainer, alive, works on a slow step or evaluation (0:
    not waiting)."""
    if stopped:
        return [(f"✗ {stopped}", "bold red", 0), (" — escape returns to the main screen", "bold red", 1)]
    if not isinstance(report, CompareReport):
        return [("compare · starting…" + (f" {report.busy}…" if report is not None and report.busy else ""), "", 0)]
    snap = report.snapshot
    rate = f"{report.steps_per_second:,.1f} steps/s" if report.steps_per_second else "— steps/s"
    if snap.exact:  # the expectation each step: say what a step costs (while training: the rate is fresh)
        per = f", {1e3 / report.steps_per_second:,.0f} ms a step" if report.steps_per_second and report.training \
            else ""
        mode = f"exact (the expectation each step{per})"
    else:
        mode = f"minibatch {snap.config.batch}"
    parts = [(f"step {snap.step:,}", "bold", 0), (f" · {rate}", "", 1)] if report.training else [
        (f"step {snap.step:,}", "bold", 0)]  # paused: no stale rate
    parts += [(f" · {mode}", "", 2), (" · ", "", 0)]
    if silent:
        return parts + [(f"⚠ stalled: no word from the compare trainer for {silent:.0f} s", "bold red", 0),
                        (" (process stopped or starved of CPU; escape returns)", "", 3)]
    diverged = [n for n in snap.objectives if snap.status.get(n, "ok") != "ok"]
    if len(diverged) == len(snap.objectives):
        parts += [("✗ every run diverged", "bold red", 0), (" — r re-initialises", "", 1)]
    else:
        if diverged:
            parts += [(f"✗ {', '.join(diverged)} diverged", "bold red", 0), (" · ", "", 0)]
        if report.training:
            parts += [("▶ training", "bold green", 0)]
            if waiting:
                spin = SPINNER[int(waiting / 0.5) % len(SPINNER)]
                parts += [(f" {spin} working on step {snap.step + 1:,}… {waiting:.1f} s", "italic", 0)]
            parts += [(" — space pauses", "", 3)]
        else:
            parts += [("❚❚ paused", "bold yellow", 0), (" — space trains", "", 1)]
    if report.busy:
        parts.append((f" · {report.busy}…", "italic", 2))
    return parts


def status_text(report: Progress | None, stopped: str = "", silent: float = 0.0, width: int = 200,
                waiting: float = 0.0) -> Text:
    """The compare screen's status line for ``width`` cells, fitted as the main screen's is:
    the least needed parts go first, whole."""
    return fit(status_parts(report, stopped, silent, waiting), width)


def frame(snap: CompareSnapshot, view: int, sizes: dict[str, tuple[int, int]], shown: dict | None = None,
          colour: bool = True) -> Panels:
    """The compare screen's frame (by the one panel builder, ``smtui.tui.render.frames``):
    the curves, the table, the gaps and one small multiple per run; built from (step, the
    step last evaluated), as the main screen's frames are."""
    size = lambda wid: sizes.get(wid, (0, 0))  # noqa: E731
    jobs = {"cmp-curves": Job(curves_panel, (snap, *size("cmp-curves"))),
            "cmp-table": Job(table_panel, (snap, *size("cmp-table"))),
            "cmp-gaps": Job(gaps_panel, (snap, *size("cmp-gaps")))}
    for i, name in enumerate(snap.objectives):
        jobs[f"cmp-field-{i}"] = Job(multiple_panel, (snap, name, view, *size(f"cmp-field-{i}"), colour))
    evaluated = max((int(c[-1, 0]) for c in snap.curves.values() if len(c)), default=None)
    return frames.panels(jobs, sizes, shown, (snap.step, evaluated), view)


ABOUT = (
    "[b]The compare screen[/b]  2 to 4 objectives trained side by side from the same initial parameters on the "
    "same batches: each step draws (x, x̃ = x + σε) once and gives every objective what it needs from it.\n\n"
    "[b]One scale[/b]  Each run's objective on the fixed evaluation set, shifted onto one scale by its exact "
    "constant (ESM_qσ; DSM + C2 − C3; ISM_qσ + C2; DAE/(2σ⁴) + C2 − C3): at step 0 the values agree, since the "
    "objectives differ by constants. DSM is DAE/(2σ⁴) on every batch, so their curves lie on each other.\n\n"
    "[b]How far apart[/b]  Per run: its value, learning rate and gradient variance E‖g − E g‖² over probe "
    "batches, drawn until each variance is known to 10% (the line below says how well, and gives DSM's variance "
    "over ESM_qσ's at one run's parameters on the same batches: the price of not knowing the score). Per pair: "
    "the parameter gap max|θa − θb| / max|θa| and the mean cosine of their gradients on the "
    "same batch; the plot below shows log10 of the gaps over steps.\n\n"
    "[b]Small multiples[/b]  Every run's score field (or its difference from the data score, or its density), "
    "drawn as on the main screen. Exact mode (e) trains on the expectation itself: the gradient noise goes and "
    "the runs of ESM_qσ, DSM and ISM_qσ stay together, from one start: runs that minibatches had moved apart "
    "first restart from the one initial θ at step 0 (a note says which happened), and their gradients' cosines "
    "are then 1.\n"
)
