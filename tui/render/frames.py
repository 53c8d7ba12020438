"""One frame of the plot panels, built off the UI thread.

A report, the score-field view and the panel sizes go in; for every plot panel its
``Text`` (what it says: tests and exports read it) and, for the panels that changed,
its rows as ``Strip``s cut to the panel's width (what ``smtui.tui.screens.panel.PlotPanel`` shows)
come out. Converting text to rows is most of the cost of showing a panel, so it is
done here, in the worker, and a panel that did not change is not sent again."""

from __future__ import annotations

from itertools import islice

from rich.console import Console
from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip

from smtui.tui.render import report as render
from smtui.tui.runner.protocol import Report
from smtui.tui.screens.messages import Panels

PLOTS = ("field", "loss", "identities", "idplot")


def rows(text: Text, width: int, height: int) -> list[Strip]:
    """``text`` as at most ``height`` rows, each cropped to ``width`` cells (not padded:
    the panel pads with its own background)."""
    segments = text.render(Console(width=max(width, 1), legacy_windows=False), end="")
    lines = Segment.split_and_crop_lines(segments, max(width, 1), include_new_lines=False, pad=False)
    return [Strip(line) for line in islice(lines, max(height, 0))]


def inputs(wid: str, report: Report, size: tuple[int, int]):
    """What a panel's picture depends on, where that is cheaper to compare than to draw
    (None: draw it and compare the text). The identity panels change only when the trainer
    evaluates, every second or two while training, not with every report."""
    snap = report.snapshot
    if wid == "identities":
        return size, snap.figures_step, dict(snap.figures or {}), snap.config
    if wid == "idplot":
        return size, snap.identity_history.tobytes()
    return None


def build(report: Report, view: int, sizes: dict[str, tuple[int, int]],
          shown: dict[str, tuple] | None = None, colour: bool = True, loss_from: int = 0) -> Panels:
    """Every plot panel's text; rows only for those that differ from ``shown`` (panel id ->
    (inputs, size, text) now on screen, as the previous ``Panels.shown`` gave it).
    ``colour`` False draws the field for a terminal without colour (NO_COLOR); the loss
    plot starts at step ``loss_from``."""
    snap = report.snapshot
    jobs = {
        "field": (render.field_panel, report, view, *sizes["field"], colour),
        "loss": (render.loss_panel, snap, *sizes["loss"], loss_from),
        "identities": (render.identities_table, snap),
        "idplot": (render.identity_plot, snap, *sizes["idplot"]),
    }
    shown = shown or {}
    now, new_rows, problems = {}, {}, []
    for wid, (builder, *args) in jobs.items():
        size, key, old = sizes[wid], inputs(wid, report, sizes[wid]), shown.get(wid)
        if key is not None and old is not None and old[0] == key:
            now[wid] = old  # nothing it depends on changed: not even drawn
            continue
        text, problem = render.safely(builder, *size, *args)
        if problem:
            problems.append(f"{wid}: {problem}")
        if old is None or (old[1], old[2]) != (size, text):
            new_rows[wid] = rows(text, *size)
        now[wid] = (key, size, text)
    texts = {wid: text for wid, (_, _, text) in now.items()}
    subtitles = {"loss": render.loss_subtitle(snap, loss_from, sizes["loss"][0])}
    return Panels(texts, (snap.step, snap.figures_step), tuple(problems), view, new_rows, now, subtitles)
