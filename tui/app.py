"""The Textual app: wiring between the keys, the trainer bridge and the panels.

Reports arrive from the trainer (another process) as messages; plots are built by a
thread worker from a report and the panel sizes, and arrive as messages too. This
module only routes: what to draw is ``smtui.tui.render.report``, how to train is ``smtui.tui.runner.trainer_loop``
(reached through ``smtui.tui.runner.bridge``), what each key does is ``smtui.tui.screens.actions``."""

from __future__ import annotations

import math
import time
from pathlib import Path

from textual import events, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Static
from textual.worker import get_current_worker

from smtui.core.config import Config
from smtui.core.text import visible
from smtui.tui.render import frames
from smtui.tui.render import report as render
from smtui.tui.runner.bridge import RATE_WINDOW, TrainerBridge
from smtui.tui.screens.actions import KeyActions
from smtui.tui.screens.commands import palette
from smtui.tui.screens.keys import bindings, footer_text
from smtui.tui.screens.messages import NoticeArrived, PanelsBuilt, ReportArrived, TrainerStopped
from smtui.tui.screens.panel import PlotPanel
from smtui.tui.screens.status import STALL_AFTER, status_text

MIN_SIZE = (70, 20)  # below this the panels cannot show a readable plot
COMPACT_BELOW = (110, 34)
RESTART_QUIET = 30.0  # seconds: a trainer that dies again this soon is not restarted by itself
PLOTS = frames.PLOTS
TITLES = {"identities": "identities", "idplot": "ESM-DSM over steps (flat: the paper's result)",
          "loss": "loss", "setup": "setup"}


class SMApp(KeyActions, App):
    """smtui: train the paper's energy model and watch score matching meet denoising."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "smtui"
    BINDINGS = bindings()

    def __init__(self, config: Config, bridge_mode: str = "process", experiment: str | None = None,
                 files: bool = True) -> None:
        super().__init__()
        self.config = config
        self.files = files  # False in a shared demo session: nothing saved, loaded, exported or read
        self._ladders: dict = {}  # field -> (base, k): where the +/- and [/] keys are (smtui.tui.screens.actions)
        self.report = None
        self.view = 0
        self.plane = 0  # which plane through the data the field is drawn on (d > 2)
        self.loss_from = 0  # the loss plot's first step (h: from now / the whole history)
        self._grid_sent = None  # (field size, plane) last asked of the trainer
        self._errors_said: set[str] = set()  # trainer errors already shown as a toast
        self.training = False
        self.stopped = ""  # why the trainer is gone, if it is
        self.problem = ""  # the latest trainer error, until the next command
        self.unstartable = ""  # why the trainer could not start at all (a refused file): not restarted by itself
        self.restarted_at = -math.inf  # when the trainer was last restarted by itself
        self.experiment = experiment  # the experiment file last loaded or saved: a restart resumes it
        self._shutting_down = False
        self._building = self._draw_again = False
        self.stalled = False  # no word from the trainer for STALL_AFTER seconds
        self.cols = 80  # the terminal's width, as of the last resize
        self.frames = 0  # panel updates drawn (the benchmark reads it)
        self.drawn: tuple | None = None  # (step, figures step) of the report last drawn
        self.panel_texts: dict = {}  # what each plot panel shows now
        self.shown: dict = {}  # panel id -> (inputs, size, text) on screen: unchanged panels are not redrawn
        self.drawn_view = 0
        self.render_errors: list[str] = []  # panels that failed to draw (a bug: tests check it)
        self.bridge = TrainerBridge(
            config, on_report=lambda: self.post_message(ReportArrived()),
            on_notice=lambda n: self.post_message(NoticeArrived(n)),
            on_stopped=lambda why: self.post_message(TrainerStopped(why)), mode=bridge_mode,
            experiment=experiment)

    def compose(self) -> ComposeResult:
        with Vertical(id="main"):
            with Horizontal(id="top"):
                yield PlotPanel(id="field", classes="panel")
                with Vertical(id="side"):
                    yield PlotPanel(id="identities", classes="panel")
                    yield PlotPanel(id="idplot", classes="panel")
            with Horizontal(id="bottom"):
                yield PlotPanel(id="loss", classes="panel")
                yield Static(id="setup", classes="panel")
        yield Static(id="status")
        yield Static(id="too-small")
        yield Static(id="keys")

    def _panel(self, wid: str):
        """A main-screen widget, found even while a modal screen (help, palette) is on top."""
        if not self.screen_stack:
            raise NoMatches(f"#{wid}: the app is shutting down")
        return self.screen_stack[0].query_one(f"#{wid}")

    @property
    def _drawable(self) -> bool:
        """False while starting up or shutting down: messages may still arrive then (a test
        harness may take the screen down without exit(): its widgets go first)."""
        if not self.screen_stack or self._shutting_down:
            return False
        try:
            for wid in ("main", "keys"):  # the first and the last composed
                self.screen_stack[0].get_child_by_id(wid)
        except NoMatches:
            return False
        return True

    def on_mount(self) -> None:
        for wid, title in TITLES.items():
            self._panel(wid).border_title = title
        self._panel("loss").border_subtitle = render.loss_subtitle(None)
        self._show_view_title()
        self._show_setup()
        self._show_status()
        self.set_interval(0.5, self._watch_trainer)
        try:
            self.bridge.start()
        except (OSError, ValueError) as exc:  # e.g. no processes left: say so, keep the app
            self.on_trainer_stopped(TrainerStopped(f"the trainer could not start ({exc})"))
        self._reflow()

    def exit(self, *args, **kwargs) -> None:
        # From here on the screens come down while reports may still arrive: draw nothing.
        self._shutting_down = True
        super().exit(*args, **kwargs)

    def on_unmount(self) -> None:
        self._shutting_down = True
        self.bridge.close()

    def notify(self, message: str, *, title: str = "", markup: bool = False, **kwargs) -> None:
        """Every toast shows its text literally: escaped (control characters visible) and never
        read as Rich markup, since many quote files, typed values or a saved message."""
        super().notify(visible(message), title=visible(title), markup=False, **kwargs)

    def get_system_commands(self, screen):
        # Textual's own Keys panel (escape does not close it) and Screenshot (fails under the
        # app's driver) are left out: the help (?) and the SVG export replace them; its Quit
        # would skip the question about unsaved steps.
        yield from (c for c in super().get_system_commands(screen) if c.title == "Theme")
        yield from palette(self)

    # --- layout -------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._reflow(event.size)

    def _reflow(self, size=None) -> None:
        if not self._drawable:
            return
        w, h = size or self.size
        self.cols = w  # (self.size may not have caught up with a resize yet)
        small = w < MIN_SIZE[0] or h < MIN_SIZE[1]
        self.set_class(small, "-too-small")
        self.set_class(not small and (w < COMPACT_BELOW[0] or h < COMPACT_BELOW[1]), "-compact")
        self._panel("too-small").update(
            f"terminal too small: need {MIN_SIZE[0]}x{MIN_SIZE[1]}, have {w}x{h}\n"
            "enlarge the window, or press q to quit (q twice if steps are unsaved)")
        self._show_setup()
        self._show_status()
        self._show_keys()
        self.call_after_refresh(self._sized)

    def _sized(self) -> None:
        """After a layout: tell the trainer the field grid to compute, and redraw."""
        if not self._drawable:
            return
        if self.has_class("-too-small"):
            return
        self._ask_grid(force=True)
        self._draw()

    def on_plot_panel_resized(self, _: PlotPanel.Resized) -> None:
        try:
            self._sized()
        except NoMatches:
            pass  # the screen is coming down: nothing to fit

    def _ask_grid(self, force: bool = False) -> None:
        """Ask the trainer for a field grid that fits the field panel as it is now."""
        f = self._panel("field").content_size
        want = ((f.width, f.height), self.plane)
        if force or want != self._grid_sent:
            self._grid_sent = want
            self.bridge.send("grid", size=want[0], plane=self.plane)

    # --- reports and drawing --------------------------------------------------------------

    def on_report_arrived(self, _: ReportArrived) -> None:
        if not self._drawable:
            return
        report = self.bridge.take_latest()
        if report is None:
            return
        if report.snapshot.status == "diverged" and (self.report is None or self.report.snapshot.status != "diverged"):
            self.notify(report.snapshot.message, title="training diverged", severity="error", timeout=15)
        self.report = report
        if report.acked >= self.bridge.sent:  # else a command is in flight: keep what it asked for
            changed = report.training != self.training
            self.config, self.training = report.snapshot.config, report.training
            if changed:  # the footer greys n while training
                self._show_keys()
        self._show_status()
        self._show_setup()
        self._draw()

    def _draw(self) -> None:
        """Build the panels from the latest report; while a build runs, only remember to
        build again when it ends (latest wins: no build is wasted, none queues up)."""
        if self.report is None or self.has_class("-too-small"):
            return
        if self._building:
            self._draw_again = True
            return
        try:
            sizes = {wid: tuple(self._panel(wid).content_size) for wid in PLOTS}
        except NoMatches:
            return  # the panels are being removed: the app is closing
        self._building, self._draw_again = True, False
        self._ask_grid()
        self.build_panels(self.report, self.view, sizes, self.shown, not self.no_color, self.loss_from)

    # A description, or Textual would repr the arguments (numpy arrays) on the UI thread.
    @work(thread=True, group="panels", description="build panels")
    def build_panels(self, report, view: int, sizes: dict, shown: dict, colour: bool = True,
                     loss_from: int = 0) -> None:
        panels = frames.build(report, view, sizes, shown, colour, loss_from)
        if not get_current_worker().is_cancelled:  # cancelled: the app is closing
            self.post_message(PanelsBuilt(panels))

    def on_panels_built(self, message: PanelsBuilt) -> None:
        self._building = False
        try:
            for wid, rows in message.panels.rows.items():
                self._panel(wid).show(rows)
            for wid, subtitle in message.panels.subtitles.items():
                self._panel(wid).border_subtitle = subtitle
        except NoMatches:
            return  # shutting down: the panels are already gone
        self.panel_texts = message.panels.texts
        self.shown = message.panels.shown
        if self._draw_again:  # after ``shown`` is current: the next build compares against it
            self._draw()
        for problem in message.panels.problems:
            if problem not in self.render_errors:
                self.render_errors.append(problem)
                self.notify(problem, title="drawing error", severity="error", timeout=10)
        self.frames += 1
        self.drawn, self.drawn_view = message.panels.step, message.panels.view

    def on_notice_arrived(self, message: NoticeArrived) -> None:
        n = message.notice
        if n.level == "error":
            self.problem = n.text
            if n.text not in self._errors_said:  # one toast per error: the status line keeps showing it
                self._errors_said.add(n.text)
                self.notify(n.text, title="trainer error", severity="error", timeout=10)
            self._show_status()
        elif n.level == "refused":
            self.notify(n.text, title="refused", severity="error")
        elif n.level == "unstartable":  # the same setup would fail again: no restart by itself
            self.unstartable = n.text
            self.notify(n.text, title="trainer not started", severity="error", timeout=15)
        elif n.level == "done":
            if n.path.lower().endswith(".toml"):
                self.experiment = n.path
            self.notify(n.text, title="done")
        else:
            self.notify(n.text)

    def on_trainer_stopped(self, message: TrainerStopped) -> None:
        """Restart a trainer that died (once in RESTART_QUIET seconds), saying what was lost."""
        self.stopped, self.training = message.reason, False
        if self.unstartable:
            self.stopped = f"{self.unstartable} (fix it, then ctrl+p: Restart the trainer)"
            self._show_status()
            return
        if time.monotonic() - self.restarted_at > RESTART_QUIET and self._drawable:
            self.restarted_at = time.monotonic()
            self.restart_trainer()
            where = (f"from {self.experiment}, as last saved or loaded" if self.experiment else
                     "with the same setup from step 0 (s saves the parameters, to resume from)")
            self.notify(f"{message.reason}; restarted it {where}", title="trainer restarted", severity="error",
                        timeout=15)
            return
        self.stopped = f"{message.reason} again (ctrl+p: Restart the trainer)"
        self.notify(f"{message.reason} again; the last figures stay on screen. ctrl+p → 'Restart the trainer' "
                    "tries once more", title="trainer stopped", severity="error", timeout=15)
        self._show_status()

    def restart_trainer(self) -> None:
        """A new trainer: the experiment last saved or loaded (with the current settings), or
        the current setup from step 0."""
        self.stopped = self.problem = self.unstartable = ""
        self.training = False
        self.bridge.restart(self.config, self.experiment)
        self._show_status()
        self._sized()  # the new trainer needs the field's size

    def _watch_trainer(self) -> None:
        """Twice a second: a trainer silent for STALL_AFTER seconds is shown as stalled."""
        stalled = not self.stopped and self.bridge.silent_for() >= STALL_AFTER
        if stalled or stalled != self.stalled:
            self.stalled = stalled
            self._show_status()

    def _show_status(self) -> None:
        if not self._drawable:
            return
        silent = self.bridge.silent_for() if self.stalled else 0.0
        text = status_text(self.report, self.cols - 2, self.stopped, self.problem, silent, RATE_WINDOW)
        self._update("status", text)  # one row, always: no layout needed

    def _update(self, wid: str, text) -> None:
        """Show new text in a one-row line (no layout needed); nothing if the screen is coming down."""
        try:
            self._panel(wid).update(text, layout=False)
        except NoMatches:
            pass  # shutting down without exit() (a test harness) while a report or a timer arrives

    def _show_keys(self) -> None:
        if self._drawable:
            greyed = frozenset(({"step"} if self.training else set()) | (set() if self.files else {"save"}))
            self._update("keys", footer_text(self.cols, greyed))

    def _show_setup(self) -> None:
        if not self._drawable:
            return
        dim = self.report.snapshot.dim if self.report else None
        text = render.setup_text(self.config, dim, self.has_class("-compact"))
        if text != self._panel("setup").content:  # reports come 15 times a second; the setup rarely changes
            self._panel("setup").update(text, layout=False)  # a fixed-size panel

    def _show_view_title(self) -> None:
        self._panel("field").border_title = f"score field · {render.VIEWS[self.view]}"
        self._panel("field").border_subtitle = "v: next view"

    # --- commands (the keys' actions are in smtui.tui.screens.actions) ---------------------------------------

    def command(self, kind: str, **args) -> None:
        """Send a command to the trainer; a new command clears the last error shown."""
        if self.stopped:
            self.notify("the trainer has stopped: ctrl+p → 'Restart the trainer', or q to quit", severity="error")
            return
        self.problem = ""
        self.bridge.send(kind, **args)


def run_app(config: Config, experiment: str | None = None, files: bool = True) -> int:
    """Open the app with ``config`` as the starting setup, or resume the saved ``experiment``
    (a .toml path, loaded by the trainer process; ``config`` then holds its settings);
    ``files=False`` (a demo session) leaves out every way to save, load or read a file;
    returns the exit status."""
    app = SMApp(config, experiment=experiment, files=files)
    app.run()
    return app.return_code or 0
