"""The Textual messages: a runner's reports, notices and stops, and built panels, travelling
to the screen that owns them (the main screen and the compare screen alike).

(Commands and reports themselves live in ``smtui.tui.runner.protocol``, free of Textual, because
the trainer process imports them.)"""

from __future__ import annotations

from textual.message import Message

from smtui.tui.render.frames import Panels
from smtui.tui.runner.protocol import Notice

# --- Textual messages ----------------------------------------------------------------


class ReportArrived(Message):
    """A newer trainer report is waiting in the runner (older ones were dropped)."""


class NoticeArrived(Message):
    def __init__(self, notice: Notice) -> None:
        super().__init__()
        self.notice = notice


class TrainerStopped(Message):
    """The screen's trainer (process or thread) ended without being asked to."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class PanelsBuilt(Message):
    """A frame of a screen's panels, built by its worker (``smtui.tui.screens.drawing``)."""

    def __init__(self, panels: Panels, seconds: float = 0.0) -> None:
        super().__init__()
        self.panels = panels
        self.seconds = seconds  # how long the build took
