"""One frame of a screen's plot panels, built off the UI thread: the one panel builder.

Jobs (per panel id, a builder and its arguments) and the panel sizes go in; for every
panel its ``Text`` (what it says: tests and exports read it) and, for the panels that
changed, its rows as ``Strip``s cut to the panel's width (what
``smtui.tui.screens.panel.PlotPanel`` shows) come out. Converting text to rows is most of
the cost of showing a panel, so it is done here, in the worker, and a panel that did not
change is not sent again. ``build`` is the main screen's frame; the compare screen's is
``smtui.tui.render.compare.frame``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

from rich.console import Console
from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip

from smtui.tui.render import onescale
from smtui.tui.render import report as render
from smtui.tui.render.plot import safely
from smtui.tui.runner.protocol import Report

PLOTS = ("field", "loss", "identities", "onescale", "idplot")


@dataclass(frozen=True)
class Panels:
    """Built panel contents, keyed by widget id."""

    texts: dict[str, Text]
    step: object  # what they were built from (the main screen: (step, figures step, with a field); compare: the step)
    problems: tuple[str, ...] = ()  # panels that failed to draw
    view: int = 0  # the score-field view they show
    rows: dict[str, list[Strip]] = field(default_factory=dict)  # prebuilt rows of the panels that changed
    shown: dict[str, tuple] = field(default_factory=dict)  # id -> (inputs, size, text): the next build compares
    subtitles: dict[str, str] = field(default_factory=dict)  # panel id -> its border note (e.g. the loss scale)


@dataclass(frozen=True)
class Job:
    """One panel's picture: ``draw(*args)`` gives its Text; ``inputs``, when not None, is what
    the picture depends on, cheaper to compare than to draw (equal inputs: not drawn again)."""

    draw: Callable[..., Text]
    args: tuple = ()
    inputs: object = None


class Same:
    """An input compared by identity: equal only to a Same holding the very same object. A
    report keeps the previous field object until the trainer computes a new one (a few
    times a second), and comparing its arrays would cost more than the identity says."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __eq__(self, other) -> bool:
        return isinstance(other, Same) and other.obj is self.obj

    __hash__ = None


def rows(text: Text, width: int, height: int) -> list[Strip]:
    """``text`` as at most ``height`` rows, each cropped to ``width`` cells (not padded:
    the panel pads with its own background)."""
    segments = text.render(Console(width=max(width, 1), legacy_windows=False), end="")
    lines = Segment.split_and_crop_lines(segments, max(width, 1), include_new_lines=False, pad=False)
    return [Strip(line) for line in islice(lines, max(height, 0))]


def panels(jobs: dict[str, Job], sizes: dict[str, tuple[int, int]], shown: dict[str, tuple] | None = None,
           step: object = None, view: int = 0, subtitles: dict[str, str] | None = None) -> Panels:
    """Every job's text; rows only for the panels that differ from ``shown`` (panel id ->
    (inputs, size, text) now on screen, as the previous ``Panels.shown`` gave it). A panel
    that fails to draw shows why in one line, and the problem is returned with the rest."""
    shown = shown or {}
    now, new_rows, problems = {}, {}, []
    for wid, job in jobs.items():
        size, old = sizes.get(wid, (0, 0)), shown.get(wid)
        if job.inputs is not None and old is not None and old[0] == job.inputs:
            now[wid] = old  # nothing it depends on changed: not even drawn
            continue
        text, problem = safely(job.draw, *size, *job.args)
        if problem:
            problems.append(f"{wid}: {problem}")
        if old is None or (old[1], old[2]) != (size, text):
            new_rows[wid] = rows(text, *size)
        now[wid] = (job.inputs, size, text)
    texts = {wid: text for wid, (_, _, text) in now.items()}
    return Panels(texts, step, tuple(problems), view, new_rows, now, subtitles or {})


def build(report: Report, view: int, sizes: dict[str, tuple[int, int]],
          shown: dict[str, tuple] | None = None, colour: bool = True, loss_from: int = 0) -> Panels:
    """The main screen's frame: the score field, the loss, the identities, the objectives on
    one scale (``smtui.tui.render.onescale``) and the ESM - DSM line. ``colour`` False draws
    the field for a terminal without colour (NO_COLOR); the loss plot starts at step
    ``loss_from``. The evaluation panels change only when the trainer evaluates, every
    second or two while training, not with every report: they are compared by their
    inputs, and so is the field, drawn again only when the trainer sent a new one (or the
    view, size, points or samples changed). A panel the layout hides (no cells) is not
    drawn."""
    snap = report.snapshot
    samples = None if snap.samples is None else snap.samples.tobytes()
    jobs = {
        "field": Job(render.field_panel, (report, view, *sizes["field"], colour),
                     (sizes["field"], view, colour, Same(snap.field), report.samples_step, samples,
                      snap.points.tobytes())),
        "loss": Job(render.loss_panel, (snap, *sizes["loss"], loss_from)),
        "identities": Job(render.identities_table, (snap,),
                          (sizes["identities"], snap.figures_step, dict(snap.figures or {}), snap.config)),
        "onescale": Job(onescale.one_scale_plot, (snap, *sizes["onescale"]),
                        (sizes["onescale"], snap.scale_history.tobytes())),
        "idplot": Job(render.identity_plot, (snap, *sizes["idplot"]),
                      (sizes["idplot"], snap.identity_history.tobytes(), snap.scale_history.tobytes())),
    }
    jobs = {wid: job for wid, job in jobs.items() if min(sizes.get(wid, (0, 0))) > 0}
    subtitles = {"loss": render.loss_subtitle(snap, loss_from, sizes["loss"][0]),
                 "onescale": onescale.subtitle(snap, *sizes["onescale"])}
    drawn = (snap.step, snap.figures_step, snap.field is not None)  # what the frame shows (Drawing.drawn)
    return panels(jobs, sizes, shown, drawn, view, subtitles)
