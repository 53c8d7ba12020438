"""The app's "Sweep sigma…": a prompt for the sigmas, then a screen that runs the sweep
(core/sweep.py, worker processes) from a thread worker with a progress bar, and shows the
per-sigma table and the plots when it ends. The UI thread only places what the worker built;
escape stops the sweep within a moment (its worker processes are ended; the runs that
finished stay shown, marked partial), then closes the screen. One sweep at a time per app."""

from __future__ import annotations

import threading

from rich.console import Group
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar, Static

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.sweep import (
    SweepEnded,
    SweepStopped,
    default_jobs,
    parse_sigmas,
    run_sweep,
    summarise,
    sweep_configs,
)
from smtui.tui.screens.keys import SWEEP_KEYS
from smtui.tui.screens.modals import ValuePrompt

SEEDS, STEPS = 3, 2000


def default_sigmas(sigma: float) -> str:
    """Eight sigmas over two decades around the current one."""
    return f"{sigma / 10:.3g}:{sigma * 10:.3g}:8"


def ask_sweep(main) -> None:
    """Palette: ask for the sigmas (a list or START:STOP:COUNT), then run the sweep; one
    sweep at a time per app (a second is refused while one runs, or is still ending)."""
    config: Config = main.config
    if sweeping(main.app):
        main.notify("a sweep is running; escape on its screen stops it", title="refused", severity="warning")
        return

    def chosen(text: str | None) -> None:
        if text is None:
            return
        if sweeping(main.app):
            main.notify("a sweep is running; escape on its screen stops it", title="refused", severity="warning")
            return
        try:
            sigmas = parse_sigmas(text)
            configs = sweep_configs(config, sigmas, SEEDS)
        except UserError as exc:
            main.notify(str(exc), title="refused", severity="error")
            return
        main.app.push_screen(SweepScreen(configs, STEPS, config.is_analytic, getattr(main.app, "sweep_jobs", None)))

    main.app.push_screen(ValuePrompt(f"Sweep sigma, {SEEDS} seeds x {STEPS:,} steps: 0.1,0.3,1 or START:STOP:COUNT",
                                     default_sigmas(config.sigma)), chosen)


_RUNNING: set[int] = set()  # id() of the apps with a sweep running (its workers not yet ended)
_RUNNING_LOCK = threading.Lock()


def sweeping(app) -> bool:
    """Whether ``app`` has a sweep running (its workers not yet ended)."""
    with _RUNNING_LOCK:
        return id(app) in _RUNNING


class SweepScreen(ModalScreen[None]):
    """One sweep: progress while it runs, the table and plots when it ends. Escape while it
    runs stops it (workers ended at once; the finished runs stay, marked partial); escape
    then closes. The runs are always in worker processes (never the app's own, whose UI
    thread must stay free): ``jobs`` of them, default one per core."""

    DEFAULT_CSS = """
    SweepScreen { align: center middle; }
    #sweep { width: 100%; max-width: 110; height: 100%; max-height: 48; border: round $primary;
             padding: 0 1; background: $surface; }
    #sweep-progress { height: auto; }
    #sweep-result { height: auto; }
    """
    BINDINGS = SWEEP_KEYS.bindings()

    def __init__(self, configs: list[Config], steps: int, analytic: bool, jobs: int | None = None) -> None:
        super().__init__()
        self.configs, self.steps, self.analytic = configs, steps, analytic
        self.jobs = min(jobs or default_jobs(), len(configs))
        self.stop = threading.Event()
        self.results: list[dict] | None = None  # the runs shown: all of them, or those finished (partial)
        self.running = True  # until the sweep's thread has ended its workers

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep") as box:
            box.border_title = "Sweep sigma"
            box.border_subtitle = SWEEP_KEYS.hint({"close": "stops the sweep"})
            yield Label(f"{len(self.configs)} runs x {self.steps:,} steps in {self.jobs} worker "
                        f"process{'es' * (self.jobs != 1)}…", id="sweep-status")
            yield ProgressBar(total=len(self.configs), id="sweep-progress", show_eta=False)
            with VerticalScroll():
                yield Static("", id="sweep-result")

    def on_mount(self) -> None:
        with _RUNNING_LOCK:
            _RUNNING.add(id(self.app))
        self._app_id = id(self.app)
        width = max(40, min(self.app.size.width, 110) - 6)
        self.run_sweep(width)

    def on_unmount(self) -> None:
        self.stop.set()  # closed, or the app quits: the workers end with it

    @work(thread=True, exit_on_error=False)
    def run_sweep(self, width: int) -> None:
        try:
            self._sweep(width)
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(self._app_id)

    def _sweep(self, width: int) -> None:
        from smtui.tui.render.sweep import plots, summary_table

        def progress(done, total, result) -> None:
            self._from_thread(self._progress, done, result)

        ended = None
        try:
            results = run_sweep(self.configs, self.steps, self.jobs, progress, stop=self.stop, in_process=False)
        except SweepEnded as exc:
            ended, results = exc, exc.results
        except Exception as exc:  # noqa: BLE001  (memory, ...): say so, in one line
            self._from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        shown = None
        if results:
            summary = summarise(results)
            table = summary_table(summary, self.analytic)
            if ended is not None:
                table.title = f"partial (the runs that finished): {table.title}"
            shown = Group(table, *plots(summary, self.analytic, width, 12))
        self._from_thread(self._done, results, shown, ended)

    def _from_thread(self, callback, *args) -> None:
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:  # the app has closed meanwhile
            pass

    def _progress(self, done: int, result: dict) -> None:
        if not self.is_attached:  # closed meanwhile
            return
        self.query_one(ProgressBar).update(progress=done)
        self.query_one("#sweep-status", Label).update(
            f"{done} of {len(self.configs)} runs done (latest: sigma {result['sigma']:.3g}, seed {result['seed']})")

    def _done(self, results: list[dict], shown, ended: SweepEnded | None) -> None:
        if not self.is_attached:  # closed meanwhile
            return
        self.running = False
        self.results = results
        self.query_one(Vertical).border_subtitle = SWEEP_KEYS.hint()
        if ended is None:
            diverged = sum(r["status"] != "ok" for r in results)
            note = f"; {diverged} diverged" if diverged else ""
            status = f"done: {len(results)} runs{note}"
        else:
            why = "stopped" if isinstance(ended, SweepStopped) else str(ended)
            status = f"{why}: {ended.done} of {ended.total} runs finished (partial), the workers are ended"
        self.query_one("#sweep-status", Label).update(status)
        if shown is not None:
            self.query_one("#sweep-result", Static).update(shown)

    def _failed(self, problem: str) -> None:
        if not self.is_attached:  # closed meanwhile
            return
        self.running = False
        self.query_one(Vertical).border_subtitle = SWEEP_KEYS.hint()
        self.query_one("#sweep-status", Label).update(f"the sweep failed: {problem[:200]}")

    def action_close(self) -> None:
        if self.running and not self.stop.is_set():
            self.stop.set()  # the thread ends the workers and shows what finished
            self.query_one("#sweep-status", Label).update("stopping: ending the workers…")
            return
        self.dismiss(None)
