"""The main screen: one run of the trainer, its panels, status line and key bar.

Its state lives in reactive attributes whose watchers redraw what depends on them: the
setup, the latest report, the view, the plane, the loss plot's start, whether it trains,
why the trainer stopped, its latest error and how long it has been silent. Reports arrive
from the trainer (``smtui.tui.runner.trainer_job``, run by ``smtui.tui.runner.runner``) as
messages; plots are built by a
thread worker (``smtui.tui.screens.drawing``); what each key does is
``smtui.tui.screens.actions``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Static

from smtui.core.config import Config
from smtui.tui.render import frames, onescale
from smtui.tui.render import report as render
from smtui.tui.render.status import STALL_AFTER, status_text
from smtui.tui.runner.loop import RATE_WINDOW, Job
from smtui.tui.runner.protocol import Command, Grid, Report
from smtui.tui.runner.runner import Runner
from smtui.tui.runner.trainer_job import TrainerJob, TrainerSetup
from smtui.tui.screens.actions import MainActions
from smtui.tui.screens.drawing import Drawing
from smtui.tui.screens.keys import MAIN_KEYS
from smtui.tui.screens.messages import NoticeArrived, ReportArrived, TrainerStopped
from smtui.tui.screens.panel import PlotPanel
from smtui.tui.screens.tour import TourActions

MIN_SIZE = (70, 20)  # below this the panels cannot show a readable plot
COMPACT_BELOW = (110, 34)
TITLES = {"identities": "identities", "onescale": onescale.TITLE, "idplot": "ESM-DSM over steps", "loss": "loss",
          "setup": "setup"}


class MainScreen(MainActions, TourActions, Drawing, Screen):
    """The score field, the identities, the loss and the setup of one training run."""

    CSS_PATH = Path(__file__).with_name("main.tcss")
    BINDINGS = MAIN_KEYS.bindings()
    PLOTS = frames.PLOTS

    # What the screen shows follows these; each watcher redraws what depends on its value.
    config: var[Config] = var(Config, init=False)  # the setup as the screen knows it (sent to the trainer)
    report: var[Report | None] = var(None, init=False, always_update=True)  # the trainer's latest
    view = var(0, init=False)  # which view of the score field (render.VIEWS)
    plane = var(0, init=False)  # which plane through the data the field is drawn on (d > 2)
    loss_from = var(0, init=False)  # the loss plot's first step (h: from now / the whole history)
    training = var(False, init=False, bindings=True)  # n is greyed while training
    stopped = var("", init=False)  # why the trainer is gone, if it is
    problem = var("", init=False)  # the latest trainer error, until the next command
    silent = var(0.0, init=False)  # seconds without word from a working trainer, once >= STALL_AFTER
    cols = var(80, init=False)  # the terminal's width, as of the last resize
    watching: var[tuple[int, str] | None] = var(None, init=False)  # presenting: (viewers, how to join)
    compact = var(False, init=False, toggle_class="-compact")
    tour_page = var(-1, init=False)  # the tour's page (smtui.tui.screens.tour), -1: no tour
    touring = var(False, init=False, toggle_class="-touring")
    too_small = var(False, init=False, toggle_class="-too-small")

    def __init__(self, config: Config, runner_mode: str = "process", experiment: str | None = None,
                 files: bool = True, job: type[Job] = TrainerJob, compare_job: type[Job] | None = None,
                 ladder_job: type[Job] | None = None, tour: bool = False) -> None:
        super().__init__()
        self.tour_at_start = tour  # `smtui tour`: open on the tour's first page
        self.set_reactive(MainScreen.config, config)
        self.files = files  # False in a shared demo session: nothing saved, loaded, exported or read
        self.experiment = experiment  # the experiment file last loaded or saved: a restart resumes it
        self._ladders: dict = {}  # field -> (base, k): where the +/- and [/] keys are (keys.step_on_ladder)
        self._grid_sent = None  # (field size, plane) last asked of the trainer
        self._errors_said: set[str] = set()  # trainer errors already shown as a toast
        self.compare_job = compare_job  # the compare screen's job class (None: the real one; tests give fakes)
        self.ladder_job = ladder_job  # the ladder screen's, likewise
        self.runner = Runner(
            job, TrainerSetup(config, experiment), on_report=lambda: self.post_message(ReportArrived()),
            on_notice=lambda n: self.post_message(NoticeArrived(n)),
            on_stopped=lambda why: self.post_message(TrainerStopped(why)), mode=runner_mode)

    def compose(self) -> ComposeResult:
        with Vertical(id="main"):
            with Horizontal(id="top"):
                yield PlotPanel(id="field", classes="panel")
                with Vertical(id="side"):
                    yield PlotPanel(id="identities", classes="panel")
                    yield PlotPanel(id="onescale", classes="panel")
            with Horizontal(id="bottom"):
                yield PlotPanel(id="loss", classes="panel")
                yield PlotPanel(id="idplot", classes="panel")
                yield Static(id="setup", classes="panel")
                yield Static(id="tour", classes="panel")
        yield Static(id="status")
        yield Static(id="too-small")
        yield Static(id="keys")

    @property
    def drawable(self) -> bool:
        """False while starting up or shutting down: messages may still arrive then (a test
        harness may take the screen down without exit(): its widgets go first)."""
        if not self.is_attached or self.app.return_code is not None:
            return False
        try:
            for wid in ("main", "keys"):  # the first and the last composed
                self.get_child_by_id(wid)
        except NoMatches:
            return False
        return True

    def on_mount(self) -> None:
        for wid, title in TITLES.items():
            self.query_one(f"#{wid}").border_title = title
        self.query_one("#loss").border_subtitle = render.loss_subtitle(None)
        self.watch_view()
        self.set_interval(0.5, self._watch_trainer)
        try:
            self.runner.start()
        except (OSError, ValueError) as exc:  # e.g. no processes left: say so, keep the app
            self.on_trainer_stopped(TrainerStopped(f"the trainer could not start ({exc})"))
        self._reflow(self.app.size)
        self._show_setup()  # once: from now on the watchers keep the lines current
        self._show_status()
        self._show_keys()
        if self.tour_at_start:
            self.tour_page = 0

    def on_unmount(self) -> None:
        self.runner.close()

    # --- watchers: what each piece of state redraws ----------------------------------------

    def watch_config(self) -> None:
        self._show_setup()

    def watch_report(self, old: Report | None, new: Report | None) -> None:
        if new is None:
            return
        if new.snapshot.status == "diverged" and (old is None or old.snapshot.status != "diverged"):
            self.notify(new.snapshot.message, title="training diverged", severity="error", timeout=15)
        self.silent = 0.0  # it has just spoken
        self._show_status()
        self._show_setup()
        self.draw()

    def watch_view(self) -> None:
        field = self.query_one("#field")
        field.border_title = f"score field · {render.VIEWS[self.view]}"
        field.border_subtitle = "v: next view"
        self.draw()

    def watch_plane(self) -> None:
        self._ask_grid()

    def watch_loss_from(self) -> None:
        self.draw()

    def watch_training(self) -> None:
        self._show_keys()

    def watch_stopped(self) -> None:
        self._show_status()

    def watch_problem(self) -> None:
        self._show_status()

    def watch_silent(self) -> None:
        self._show_status()

    def watch_watching(self) -> None:
        self._show_status()

    def watch_compact(self) -> None:
        self._show_setup()
        if self.drawable:  # short, the one-scale panel has no room for its legend inside: its title is the legend
            self.query_one("#onescale").border_title = onescale.SHORT_TITLE if self.compact else onescale.TITLE

    def watch_cols(self) -> None:
        self._show_status()
        self._show_keys()

    # --- layout -------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._reflow(event.size)

    def _reflow(self, size) -> None:
        if not self.drawable:
            return
        w, h = size
        self.too_small = w < MIN_SIZE[0] or h < MIN_SIZE[1]
        self.compact = not self.too_small and (w < COMPACT_BELOW[0] or h < COMPACT_BELOW[1])
        self.query_one("#too-small", Static).update(
            f"terminal too small: need {MIN_SIZE[0]}x{MIN_SIZE[1]}, have {w}x{h}\n"
            "enlarge the window, or press q to quit (q twice if steps are unsaved)")
        self.cols = w  # (the app's size may not have caught up with a resize yet)
        self.call_after_refresh(self._sized)

    def _sized(self) -> None:
        """After a layout: tell the trainer the field grid to compute, and redraw."""
        if not self.drawable or self.too_small:
            return
        self._ask_grid(force=True)
        self.draw()

    def on_plot_panel_resized(self, _: PlotPanel.Resized) -> None:
        try:
            self._sized()
        except NoMatches:
            pass  # the screen is coming down: nothing to fit

    def _ask_grid(self, force: bool = False) -> None:
        """Ask the trainer for a field grid that fits the field panel as it is now."""
        if not self.drawable:
            return
        f = self.query_one("#field").content_size
        want = ((f.width, f.height), self.plane)
        if force or want != self._grid_sent:
            self._grid_sent = want
            self.runner.send(Grid(want[0], self.plane))

    # --- the trainer's reports and words ----------------------------------------------------

    def on_report_arrived(self, _: ReportArrived) -> None:
        if not self.drawable:
            return
        report = self.runner.take_latest()
        if not isinstance(report, Report):  # none, or only "starting" (a job built slowly may say so)
            return
        if report.acked >= self.runner.sent:  # else a command is in flight: keep what it asked for
            self.config, self.training = report.snapshot.config, report.training
        self.report = report

    def on_notice_arrived(self, message: NoticeArrived) -> None:
        n = message.notice
        if n.level in ("error", "refused") or (n.level == "done" and n.path.lower().endswith(".toml")):
            self.saved_or_not(n.level, n.text)  # q's "save, then quit" waits for this
        if n.level == "error":
            self.problem = n.text
            if n.text not in self._errors_said:  # one toast per error: the status line keeps showing it
                self._errors_said.add(n.text)
                self.notify(n.text, title="trainer error", severity="error", timeout=10)
        elif n.level == "refused":
            self.notify(n.text, title="refused", severity="error")
        elif n.level == "unstartable":  # the same setup would fail again: the runner does not restart it
            self.notify(n.text, title="trainer not started", severity="error", timeout=15)
        elif n.level == "done":
            if n.path.lower().endswith(".toml"):
                self.experiment = n.path
            self.notify(n.text, title="done")
        else:
            self.notify(n.text)

    def on_trainer_stopped(self, message: TrainerStopped) -> None:
        """Restart a trainer that died (the runner does, once in RESTART_QUIET seconds), saying what was lost."""
        self.training = False
        if self.runner.unstartable:
            self.stopped = f"{self.runner.unstartable} (fix it, then ctrl+p: Restart the trainer)"
            return
        if self.drawable and self.runner.recover(TrainerSetup(self.config, self.experiment)):
            self._restarted()
            where = (f"from {self.experiment}, as last saved or loaded" if self.experiment else
                     "with the same setup from step 0 (s saves the parameters, to resume from)")
            self.notify(f"{message.reason}; restarted it {where}", title="trainer restarted", severity="error",
                        timeout=15)
            return
        self.stopped = f"{message.reason} again (ctrl+p: Restart the trainer)"
        self.notify(f"{message.reason} again; the last figures stay on screen. ctrl+p → 'Restart the trainer' "
                    "tries once more", title="trainer stopped", severity="error", timeout=15)

    def restart_trainer(self) -> None:
        """A new trainer: the experiment last saved or loaded (with the current settings), or
        the current setup from step 0."""
        self.runner.restart(TrainerSetup(self.config, self.experiment))
        self._restarted()

    def _restarted(self) -> None:
        self.stopped = self.problem = ""
        self.training = False
        self._sized()  # the new trainer needs the field's size

    def _watch_trainer(self) -> None:
        """Twice a second: a trainer silent for STALL_AFTER seconds is shown as stalled."""
        silent = self.runner.silent_for() if not self.stopped else 0.0
        self.silent = silent if silent >= STALL_AFTER else 0.0

    def command(self, command: Command) -> None:
        """Send a command to the trainer; a new command clears the last error shown."""
        if self.stopped:
            self.notify("the trainer has stopped: ctrl+p → 'Restart the trainer', or q to quit", severity="error")
            return
        self.problem = ""
        self.runner.send(command)

    # --- the lines: status, keys, setup -------------------------------------------------------

    def _show_status(self) -> None:
        text = status_text(self.report, self.cols - 2, self.stopped, self.problem, self.silent, RATE_WINDOW,
                           self.watching)
        self._update("status", text)  # one row, always: no layout needed

    def _show_keys(self) -> None:
        greyed = frozenset(({"step"} if self.training else set()) | (set() if self.files else {"save"}))
        self._update("keys", MAIN_KEYS.footer(self.cols, greyed))

    def _show_setup(self) -> None:
        if not self.drawable:
            return
        dim = self.report.snapshot.dim if self.report else None
        text = render.setup_text(self.config, dim, self.compact)
        setup = self.query_one("#setup", Static)
        if text != setup.content:  # reports come 15 times a second; the setup rarely changes
            setup.update(text, layout=False)  # a fixed-size panel

    def _update(self, wid: str, text) -> None:
        """Show new text in a one-row line (no layout needed); nothing if the screen is coming down."""
        if not self.drawable:
            return
        try:
            self.query_one(f"#{wid}", Static).update(text, layout=False)
        except NoMatches:
            pass  # shutting down without exit() (a test harness) while a report or a timer arrives

    # --- the panels (built by Drawing's worker) ------------------------------------------------

    def frame_request(self):
        """What the next frame is built from, or None when there is nothing to draw."""
        if self.report is None or self.too_small:
            return None
        self._ask_grid()
        return partial(frames.build, self.report, self.view, colour=not self.app.no_color, loss_from=self.loss_from)
