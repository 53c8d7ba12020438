"""The plotting primitives every panel shares: a fresh plotext figure (never the global
one), its cells read into rich ``Text``, titles that fit, round axis ticks, and the
message shown in a panel with nothing to plot (or that failed to draw)."""

from __future__ import annotations

import textwrap
from functools import lru_cache

import numpy as np
from plotext._figure import _figure_class
from plotext._utility import colors_to_ansi
from rich.style import Style
from rich.text import Span, Text

from smtui.tui.render import axes

MIN_PLOT = (16, 6)


def figure(width: int, height: int):
    """A fresh figure of exactly width x height cells. (plotext caps a figure at the size
    of the process's terminal, which is not the panel's: under a test, a server or a pipe
    it is 80x24 or unknown; the figure is told the panel is its terminal.)"""
    fig = _figure_class()
    width, height = max(width, MIN_PLOT[0]), max(height, MIN_PLOT[1])
    fig._set_terminal_size(width, height + 1)  # plotext keeps one terminal line free
    fig._set_master_size()
    fig.plot_size(width, height)
    fig.theme("clear")
    return fig


def text(fig) -> Text:
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
                style = ansi_style(colours[start])
                if style is not None:
                    spans.append(Span(at, at + len(run), style))
                parts.append(run)
                at, start = at + len(run), col
        parts.append("\n")
        at += 1
    return Text("".join(parts)[:-1], no_wrap=True, end="", spans=spans)


@lru_cache(maxsize=256)
def ansi_style(colours: tuple) -> Style | None:
    """plotext's (colour, style, background) of a cell as the rich Style its ANSI code means."""
    spans = Text.from_ansi(colors_to_ansi(*colours) + "x").spans
    return spans[0].style if spans else None


def title(fig, width: int, words: str) -> None:
    """plotext drops a title wider than the plot; shorten it instead."""
    room = max(width - 8, 8)
    fig.title(words if len(words) <= room else words[: room - 1] + "…")


def ticks(fig, width: int, height: int, x: tuple[float, float] | None = None,
          y: tuple[float, float] | None = None, x_integer: bool = False) -> None:
    """Round ticks on the axes given as (lo, hi): at most one label per ~12 columns and per
    ~3 rows, so labels are evenly spaced and none is dropped for lack of room."""
    if x is not None:
        values = axes.linear_ticks(*x, axes.tick_count(max(width, MIN_PLOT[0]) - 8, 12), integer=x_integer)
        fig.xticks(values, axes.tick_labels(values, integer=x_integer))
    if y is not None:
        values = axes.linear_ticks(*y, axes.tick_count(max(height, MIN_PLOT[1]) - 4, 3))
        fig.yticks(values, axes.tick_labels(values))


def safely(build, width: int, height: int, *args) -> tuple[Text, str]:
    """Build a panel; a failure becomes a one-line message in the panel (and is returned,
    so the app can report it and tests can fail on it) instead of killing the app."""
    try:
        return build(*args), ""
    except Exception as exc:  # noqa: BLE001
        problem = f"could not draw this panel: {type(exc).__name__}: {exc}"
        return note(width, height, problem[: max(width, 20)]), problem


def note(width: int, height: int, *lines: str) -> Text:
    """A plain message centred in the panel, for when there is nothing to plot yet
    (wrapped here: panels show rows as built, they do not wrap)."""
    lines = [part for line in lines for part in textwrap.wrap(line, max(width, 8)) or [""]]
    pad = max(0, (height - len(lines)) // 2)
    return Text("\n" * pad + "\n".join(line.center(width) for line in lines), no_wrap=True, end="")


def levels(values: np.ndarray, k: int) -> np.ndarray:
    """0..k-1 by quantile, so colour shows relative size across a panel."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=int)
    cuts = np.quantile(finite, np.linspace(0, 1, k + 1)[1:-1])
    return np.searchsorted(cuts, np.nan_to_num(values), side="right").clip(0, k - 1)
