"""The Textual messages: trainer reports and built plots travelling to the widgets.

(Commands and reports themselves live in ``smtui.tui.runner.protocol``, free of Textual, because
the trainer process imports them.)"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.message import Message
from textual.strip import Strip

from smtui.tui.runner.protocol import Notice

# --- Textual messages ----------------------------------------------------------------


class ReportArrived(Message):
    """A newer trainer report is waiting in the bridge (older ones were dropped)."""


class NoticeArrived(Message):
    def __init__(self, notice: Notice) -> None:
        super().__init__()
        self.notice = notice


class TrainerStopped(Message):
    """The trainer process ended without being asked to."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


@dataclass(frozen=True)
class Panels:
    """Built panel contents, keyed by widget id."""

    texts: dict[str, Text]
    step: tuple  # (step, figures step) they were built from
    problems: tuple[str, ...] = ()  # panels that failed to draw
    view: int = 0  # the score-field view they show
    rows: dict[str, list[Strip]] = field(default_factory=dict)  # prebuilt rows of the panels that changed
    shown: dict[str, tuple] = field(default_factory=dict)  # id -> (inputs, size, text): the next build compares
    subtitles: dict[str, str] = field(default_factory=dict)  # panel id -> its border note (e.g. the loss scale)


class PanelsBuilt(Message):
    def __init__(self, panels: Panels) -> None:
        super().__init__()
        self.panels = panels
