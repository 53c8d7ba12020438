"""The compare screen: 2 to 4 objectives trained side by side from one start on one
batch stream (``smtui.core.compare``), in a job of its own (``smtui.tui.runner.compare_job``) on the
one runner (``smtui.tui.runner.runner``): the heartbeat, the rate and restarts as on the main screen.

One plot of every run's objective on one scale, a table of how far apart they are
(parameter gaps, gradient variances and cosines) with a plot of the gaps over steps,
and small multiples of the score fields, one per run. Its state lives in reactive
attributes whose watchers redraw; the UI thread only places rows: panels are built by a
thread worker from the newest report (``smtui.tui.screens.drawing``)."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Static

from smtui.core.compare_batches import DEFAULT_OBJECTIVES, check_objectives
from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.tui.render import compare as cr
from smtui.tui.runner.compare_job import CompareJob, CompareSetup
from smtui.tui.runner.loop import Job
from smtui.tui.runner.protocol import (
    CompareReport,
    Configure,
    Exact,
    Pause,
    Progress,
    Reinit,
    Step,
    Train,
    grid_shape,
)
from smtui.tui.screens.drawing import Drawing
from smtui.tui.screens.hosting import JobHost
from smtui.tui.screens.keys import COMPARE_KEYS, LR_FACTOR, SIGMA_FACTOR, step_on_ladder
from smtui.tui.screens.messages import ReportArrived
from smtui.tui.screens.panel import PlotPanel


def validate(config: Config, objectives) -> tuple[str, ...]:
    """The objectives as a tuple, or a one-line UserError (before any process starts)."""
    names = check_objectives(objectives)
    for n in names:
        config.with_changes(objective=n)
    return names


class CompareScreen(JobHost, Drawing, Screen):
    """Objectives side by side; escape returns to the main screen (its run untouched)."""

    JOB = "compare trainer"
    GRID_PANEL = "cmp-field-0"  # the small multiples' size
    RESTARTED = "restarted it from step 0 with the same setup"
    REOPEN = "escape, then c to start again"
    KEYS, ABOUT = COMPARE_KEYS, cr.ABOUT

    CSS_PATH = Path(__file__).with_name("compare.tcss")
    BINDINGS = COMPARE_KEYS.bindings()

    config: var[Config] = var(Config, init=False)  # the setup as the screen knows it
    exact = var(False, init=False)  # exact mode: the expectation as the batch
    # a CompareReport, or only what the job does (Progress) while it is built
    report: var[Progress | None] = var(None, init=False, always_update=True)
    view = var(0, init=False)  # which view of the small multiples (cr.VIEWS)
    training = var(False, init=False, bindings=True)
    stopped = var("", init=False)  # why the compare trainer is gone, if it is
    silent = var(0.0, init=False)  # seconds without word from a working trainer, once >= STALL_AFTER
    waiting = var(0.0, init=False)  # seconds since the last report while the trainer works on (beats coming)
    compact = var(False, init=False, toggle_class="-compact")

    def __init__(self, config: Config, objectives=DEFAULT_OBJECTIVES, exact: bool = False,
                 match_lr: bool = True, mode: str = "process", job: type[Job] = CompareJob) -> None:
        super().__init__()
        self.names = validate(config, objectives)
        self.set_reactive(CompareScreen.config, config)
        self.set_reactive(CompareScreen.exact, exact)
        self.match_lr = match_lr
        self._ladders: dict = {}  # where the +/- and [/] keys are (keys.step_on_ladder)
        self._report_at = time.monotonic()  # when the last report arrived
        self.runner = self._new_runner(job, self._setup(), mode)

    def _setup(self) -> CompareSetup:
        """The setup as it stands now (a restart starts from it)."""
        return CompareSetup(self.config, self.names, self.exact, self.match_lr)

    _restart_setup = _setup

    @property
    def snapshot(self):
        """The newest comparison snapshot (None while the job is being built)."""
        return self.report.snapshot if isinstance(self.report, CompareReport) else None

    def grid_matches(self) -> bool:
        """Whether the newest report's fields were computed for the panels' present size."""
        snap = self.snapshot
        if snap is None or snap.fields is None:
            return False
        f = self.query_one("#cmp-field-0").content_size
        want = grid_shape(max(f.width, 8), max(f.height, 4), snap.dim)
        return tuple(len(a) for a in next(iter(snap.fields.values()))[0]) == want

    def panel_ids(self) -> tuple[str, ...]:
        return ("cmp-curves", "cmp-table", "cmp-gaps") + tuple(f"cmp-field-{i}" for i in range(len(self.names)))

    def compose(self) -> ComposeResult:
        with Vertical(id="cmp-main"):
            with Horizontal(id="cmp-top"):
                yield PlotPanel(id="cmp-curves", classes="panel")
                with Vertical(id="cmp-side"):
                    yield PlotPanel(id="cmp-table", classes="panel")
                    yield PlotPanel(id="cmp-gaps", classes="panel")
            with Horizontal(id="cmp-multiples"):
                for i, _ in enumerate(self.names):
                    yield PlotPanel(id=f"cmp-field-{i}", classes="panel cmp-field")
        yield Static(id="cmp-status")
        yield Static(id="cmp-keys")

    def on_mount(self) -> None:
        self.query_one("#cmp-curves").border_title = "one scale: every objective shifted by its exact constant"
        self.query_one("#cmp-table").border_title = "how far apart"
        self.query_one("#cmp-gaps").border_title = "parameter gap"
        for i, name in enumerate(self.names):
            panel = self.query_one(f"#cmp-field-{i}")
            panel.border_title = f"{cr.RUN_MARKERS[i]} {name}"
            panel.styles.border_title_color = cr.RUN_COLOURS[i]
        self.watch_view()
        self._show_lines()
        self._start_job()

    # --- watchers: what each piece of state redraws ----------------------------------------

    def watch_report(self) -> None:
        snap = self.snapshot
        self.silent = self.waiting = 0.0  # it has just spoken
        self._report_at = time.monotonic()
        if snap is not None and self.is_attached:
            self.query_one("#cmp-curves").border_subtitle = (
                f"{snap.scale} · lines on top of each other" if cr.coincide(snap) else snap.scale)
        self._show_lines()
        self.draw()

    def watch_view(self) -> None:
        for i in range(len(self.names)):
            self.query_one(f"#cmp-field-{i}").border_subtitle = cr.VIEWS[self.view]
        self.draw()

    def watch_training(self) -> None:
        self._show_lines()

    def watch_exact(self) -> None:
        self._show_lines()

    def watch_stopped(self) -> None:
        self._show_lines()

    def watch_silent(self) -> None:
        self._show_lines()

    def watch_waiting(self) -> None:
        self._show_lines()

    # --- the trainer's reports and words, and the lines ------------------------------------------

    def on_report_arrived(self, _: ReportArrived) -> None:
        report = self.runner.take_latest()
        if report is None or not self.is_attached:
            return
        if isinstance(report, CompareReport) and report.acked >= self.runner.sent:
            self.training = report.training
            self.config, self.exact = report.snapshot.config, report.snapshot.exact
        self.report = report

    def _watch_runner(self) -> None:
        """Twice a second: stalled (JobHost), or working on a slow step."""
        super()._watch_runner()
        # A slow step or evaluation (exact mode, a loaded machine): the trainer beats but has
        # not reported for a while; the line says it is working, with a clock that moves.
        waiting = time.monotonic() - self._report_at
        self.waiting = waiting if self.training and not self.silent and waiting >= cr.WORKING_AFTER else 0.0

    def _show_lines(self) -> None:
        """The status line and the key bar."""
        shorts = {"toggle_training": "pause" if self.training else "train",
                  "exact": "minibatch" if self.exact else "exact"}
        try:
            self.query_one("#cmp-status", Static).update(
                cr.status_text(self.report, self.stopped, self.silent, self.app.size.width - 2, self.waiting),
                layout=False)
            self.query_one("#cmp-keys", Static).update(
                COMPARE_KEYS.footer(self.app.size.width, frozenset({"step"} if self.training else ()), shorts),
                layout=False)
        except NoMatches:
            pass

    def frame_request(self):
        snap = self.snapshot
        if snap is None:
            return None
        self._send_grid()
        return partial(cr.frame, snap, self.view, colour=not self.app.no_color)

    # --- keys (COMPARE_KEYS) ----------------------------------------------------------------------

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "step" and self.training:
            return None
        return True

    def action_toggle_training(self) -> None:
        self.training = not self.training
        self._send(Train() if self.training else Pause())

    def action_step(self) -> None:
        self._send(Step())

    def action_reinitialise(self) -> None:
        self._send(Reinit())
        self.notify("every run back to the one initial theta (same seed)")

    def _change(self, **changes) -> bool:
        try:
            self.config = self.config.with_changes(**changes)
        except UserError as exc:
            self.notify(str(exc), title="refused", severity="error")
            return False
        self._send(Configure(changes))
        return True

    def action_sigma(self, direction: int) -> None:
        if self._change(sigma=step_on_ladder(self._ladders, "sigma", self.config.sigma, SIGMA_FACTOR, direction)):
            self.notify(f"sigma {self.config.sigma:g}: a new scale, so the curves start again from this step")

    def action_lr(self, direction: int) -> None:
        self._change(lr=step_on_ladder(self._ladders, "lr", self.config.lr, LR_FACTOR, direction))

    def action_view(self) -> None:
        self.view = (self.view + 1) % len(cr.VIEWS)

    def action_exact(self) -> None:
        """e: exact mode on or off; the trainer says what it did (runs that had drifted apart
        restart from one start), as a note."""
        self.exact = not self.exact
        self._send(Exact(self.exact))

    def action_elsewhere(self) -> None:
        self.notify("the data, objective, samples and saving belong to the main screen: escape returns to it")


def open_compare(main, objectives=DEFAULT_OBJECTIVES, exact: bool = False) -> None:
    """Push the compare screen over the main screen, pausing its trainer (the two would
    share the cores); refused in one line when the objectives cannot be compared."""
    if isinstance(main.app.screen, CompareScreen):
        return
    try:
        screen = CompareScreen(main.config, objectives, exact=exact, mode=main.runner.mode,
                               job=main.compare_job or CompareJob)
    except UserError as exc:
        main.notify(str(exc), title="refused", severity="error")
        return
    if main.training:
        main.action_toggle_training()
    main.app.push_screen(screen)


def ask_objectives(main) -> None:
    """Palette: type the objectives to compare."""
    from smtui.tui.screens.modals import ValuePrompt

    def apply(text: str | None) -> None:
        if text:
            open_compare(main, [t.strip() for t in text.split(",") if t.strip()])

    main.app.push_screen(ValuePrompt("objectives to compare (2 to 4, comma-separated)", ",".join(DEFAULT_OBJECTIVES)),
                         apply)
