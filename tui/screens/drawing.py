"""How a screen of plot panels draws: its newest state goes to a thread worker that builds
the frame (``smtui.tui.render.frames``); the UI thread only places the rows that came back.

Latest wins: while a build runs, a new request only marks that another is due when it
ends, so no build is wasted and none queues up. While training (reports many times a
second), builds take at most FRAME_SHARE of the time: after one that took c seconds the
next starts c (1 - share) / share later at the earliest, so a slow panel (a large
terminal) lowers the frame rate instead of taking a whole core from the trainer beside it.
A panel that failed to draw is said once (a bug: the tests fail on ``render_errors``)."""

from __future__ import annotations

import time

from textual import work
from textual.css.query import NoMatches
from textual.worker import get_current_worker

from smtui.tui.screens.messages import PanelsBuilt
from smtui.tui.screens.panel import PlotPanel

FRAME_SHARE = 0.5  # at most this share of the time goes to building frames


class Drawing:
    """A mixin for a Screen: ``frame_request`` says what to build (None: nothing now),
    ``panel_ids`` which panels it fills."""

    PLOTS: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.panel_texts: dict = {}  # what each plot panel shows now
        self.shown: dict = {}  # panel id -> (inputs, size, text) on screen: unchanged panels are not redrawn
        self.frames = 0  # frames drawn (the benchmarks read it)
        self.drawn = None  # what the frame last drawn was built from (Panels.step)
        self.drawn_view = 0
        self.render_errors: list[str] = []  # panels that failed to draw
        self._building = self._draw_again = False
        self._next_build = 0.0  # perf_counter time before which no build starts (FRAME_SHARE)
        self._waiting = None  # the timer that draws once the pause after a build is over

    def panel_ids(self) -> tuple[str, ...]:
        return self.PLOTS

    def frame_request(self):
        """A callable run by the worker: ``request(sizes=..., shown=...)`` gives the Panels (a
        ``functools.partial`` of a builder and the state it draws); None: nothing to draw now."""
        raise NotImplementedError

    def draw(self) -> None:
        """Build the panels from the newest state (see the module's note: latest wins)."""
        if not self.is_attached:
            return
        try:
            request = self.frame_request()
        except NoMatches:
            return  # its panels are being removed (a paused draw's timer may fire as the screen closes)
        if request is None:
            return
        if self._building:
            self._draw_again = True
            return
        wait = self._next_build - time.perf_counter() if getattr(self, "training", False) else 0.0
        if wait > 0:  # training, within the pause after the last build: draw when it ends
            if self._waiting is None:
                self._waiting = self.set_timer(wait, self._paused_draw)
            return
        try:
            sizes = {wid: tuple(self.query_one(f"#{wid}").content_size) for wid in self.panel_ids()}
        except NoMatches:
            return  # the panels are being removed: the screen is closing
        self._building, self._draw_again = True, False
        self._build_frame(request, sizes, self.shown)

    # A description, or Textual would repr the arguments (numpy arrays) on the UI thread.
    def _paused_draw(self) -> None:
        self._waiting = None
        self.draw()

    @work(thread=True, group="panels", description="build panels")
    def _build_frame(self, request, sizes: dict, shown: dict) -> None:
        t0 = time.perf_counter()
        panels = request(sizes=sizes, shown=shown)
        if not get_current_worker().is_cancelled:  # cancelled: the screen is closing
            self.post_message(PanelsBuilt(panels, time.perf_counter() - t0))

    def on_panels_built(self, message: PanelsBuilt) -> None:
        self._building = False
        self._next_build = time.perf_counter() + message.seconds * (1 - FRAME_SHARE) / FRAME_SHARE
        panels = message.panels
        try:
            for wid, rows in panels.rows.items():
                self.query_one(f"#{wid}", PlotPanel).show(rows)
            for wid, subtitle in panels.subtitles.items():
                self.query_one(f"#{wid}").border_subtitle = subtitle
        except NoMatches:
            return  # shutting down: the panels are already gone
        self.panel_texts, self.shown = panels.texts, panels.shown
        if self._draw_again:  # after ``shown`` is current: the next build compares against it
            self.draw()
        for problem in panels.problems:
            if problem not in self.render_errors:
                self.render_errors.append(problem)
                self.notify(problem, title="drawing error", severity="error", timeout=10)
        self.frames += 1
        self.drawn, self.drawn_view = panels.step, panels.view
