"""One frame of the plot panels, built off the UI thread.

A report, the score-field view and the panel sizes go in; for every plot panel its
``Text`` (what it says: tests and exports read it) and, for the panels that changed,
its rows as ``Strip``s cut to the panel's width (what ``tui.panel.PlotPanel`` shows)
come out. Converting text to rows is most of the cost of showing a panel, so it is
done here, in the worker, and a panel that did not change is not sent again."""

from __future__ import annotations

from itertools import islice

from rich.console import Console
from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip

from tui import render
from tui.messages import Panels
from tui.protocol import Report

PLOTS = ("field", "loss", "identities", "idplot")


def rows(text: Text, width: int, height: int) -> list[Strip]:
    """``text`` as at most ``height`` rows, each cropped to ``width`` cells (not padded:
    the panel pads with its own background)."""
    segments = text.render(Console(width=max(width, 1), legacy_windows=False), end="")
    lines = Segment.split_and_crop_lines(segments, max(width, 1), include_new_lines=False, pad=False)
    return [Strip(line) for line in islice(lines, max(height, 0))]


def build(report: Report, view: int, sizes: dict[str, tuple[int, int]],
          shown: dict[str, tuple[tuple[int, int], Text]] | None = None) -> Panels:
    """Every plot panel's text; rows only for those that differ from ``shown``
    (panel id -> (size, text) now on screen)."""
    snap = report.snapshot
    jobs = {
        "field": (render.field_panel, report, view, *sizes["field"]),
        "loss": (render.loss_panel, snap, *sizes["loss"]),
        "identities": (render.identities_table, snap),
        "idplot": (render.identity_plot, snap, *sizes["idplot"]),
    }
    shown = shown or {}
    texts, new_rows, problems = {}, {}, []
    for wid, (builder, *args) in jobs.items():
        size = sizes[wid]
        texts[wid], problem = render.safely(builder, *size, *args)
        if problem:
            problems.append(f"{wid}: {problem}")
        if shown.get(wid) != (size, texts[wid]):
            new_rows[wid] = rows(texts[wid], *size)
    return Panels(texts, (snap.step, snap.figures_step), tuple(problems), view, new_rows, dict(sizes))
