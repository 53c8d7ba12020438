"""The app's "Sweep…": a prompt for the grid (sigma by default: two decades around the
current one; any setup flag as ``smtui sweep --grid`` takes it), then a screen that runs the
sweep (core/sweep.py, worker processes) from a thread worker with a progress bar, and shows
the same table and plots as `smtui sweep`, grouped by the grid's axes. The UI thread only
places what the worker built. Escape stops the sweep within a moment (its worker processes
are ended; the runs that finished stay shown, marked partial), then closes the screen; e
exports the runs and summary (JSON or CSV, through the one output writer). One sweep at a
time per app."""

from __future__ import annotations

import os
import threading

from rich.console import Group
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar, Static

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.grid import Axis, cell_text, parse_grid
from smtui.core.io import rows_to_csv, to_json
from smtui.core.outputs import Request, check, write, write_each
from smtui.core.sweep import SweepEnded, SweepStopped, default_jobs, run_sweep
from smtui.core.sweep_file import Plan, csv_rows, report
from smtui.tui.screens.keys import SWEEP_KEYS
from smtui.tui.screens.modals import ValuePrompt

SEEDS, STEPS = 3, 2000
RUNNING_NOTE = "a sweep is running; escape on its screen stops it"


def default_grid(sigma: float) -> str:
    """Eight sigmas over two decades around the current one."""
    return f"sigma={sigma / 10:.3g}:{sigma * 10:.3g}:8"


def ask_sweep(main) -> None:
    """Palette: ask for the grid, then run the sweep; one sweep at a time per app (a second
    is refused while one runs, or is still ending)."""
    config: Config = main.config
    if sweeping(main.app):
        main.notify(RUNNING_NOTE, title="refused", severity="warning")
        return

    def chosen(text: str | None) -> None:
        if text is None:
            return
        if sweeping(main.app):
            main.notify(RUNNING_NOTE, title="refused", severity="warning")
            return
        try:
            plan = Plan(config, tuple(parse_grid(text, config)), SEEDS, STEPS)
            plan.configs()  # every cell checked before the first run
        except UserError as exc:
            main.notify(str(exc), title="refused", severity="error")
            return
        main.app.push_screen(SweepScreen(plan, getattr(main.app, "sweep_jobs", None), main))

    main.app.push_screen(ValuePrompt(f"Sweep, {SEEDS} seeds x {STEPS:,} steps a run: a grid such as sigma=0.03:3:8 "
                                     "objective=dsm,esm-sigma hidden=16,64 (bare values are sigmas)",
                                     default_grid(config.sigma)), chosen)


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
    thread must stay free): ``jobs`` of them, default one per core. ``main`` (the main
    screen) says whether files may be written, and which the app reads."""

    DEFAULT_CSS = """
    SweepScreen { align: center middle; }
    #sweep { width: 100%; max-width: 110; height: 100%; max-height: 48; border: round $primary;
             padding: 0 1; background: $surface; }
    #sweep-progress { height: auto; }
    #sweep-result { height: auto; }
    """
    BINDINGS = SWEEP_KEYS.bindings()

    def __init__(self, plan: Plan, jobs: int | None = None, main=None) -> None:
        super().__init__()
        self.plan, self.main = plan, main
        self.configs = plan.configs()
        self.analytic = any(c.is_analytic for c in self.configs)
        self.jobs = min(jobs or default_jobs(), len(self.configs))
        self.stop = threading.Event()
        self.results: list[dict] | None = None  # the runs shown: all of them, or those finished (partial)
        self.running = True  # until the sweep's thread has ended its workers
        self.view = None  # the table and plots shown (rich renderables), once it has ended

    @property
    def files(self) -> bool:
        return bool(getattr(self.main, "files", False))

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep") as box:
            box.border_title = f"Sweep {' × '.join(a.name for a in self.plan.axes)}"
            box.border_subtitle = self._hint()
            yield Label(f"{len(self.configs)} runs x {self.plan.steps:,} steps in {self.jobs} worker "
                        f"process{'es' * (self.jobs != 1)}…", id="sweep-status")
            yield ProgressBar(total=len(self.configs), id="sweep-progress", show_eta=False)
            with VerticalScroll():
                yield Static("", id="sweep-result")

    def _hint(self) -> str:
        if self.running:
            return SWEEP_KEYS.hint({"close": "stops the sweep"}, hidden={"export"})
        return SWEEP_KEYS.hint(hidden=set() if self.files and self.results else {"export"})

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
            self._workers_ended()

    def _workers_ended(self) -> None:
        """The app has no sweep running from here on (said before the screen shows the end:
        whoever sees it ended also sees the app free for another)."""
        with _RUNNING_LOCK:
            _RUNNING.discard(self._app_id)

    def _sweep(self, width: int) -> None:
        from smtui.tui.render.sweep import shown

        def progress(done, total, result) -> None:
            self._from_thread(self._progress, done, result)

        ended = None
        try:
            results = run_sweep(self.configs, self.plan.steps, self.jobs, progress, stop=self.stop, in_process=False)
        except SweepEnded as exc:
            ended, results = exc, exc.results
        except Exception as exc:  # noqa: BLE001  (memory, ...): say so, in one line
            self._workers_ended()
            self._from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self._workers_ended()
        view = None
        if results:
            summary = report(self.plan, results)["summary"]
            partial = "" if ended is None else f"{len(results)} of {len(self.configs)} runs"
            view = Group(*shown(summary, self.analytic, list(self.plan.axes), width, 12, partial))
        self._from_thread(self._done, results, view, ended)

    def _from_thread(self, callback, *args) -> None:
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:  # the app has closed meanwhile
            pass

    def _progress(self, done: int, result: dict) -> None:
        if not self.is_attached:  # closed meanwhile
            return
        self.query_one(ProgressBar).update(progress=done)
        latest = cell_text(list(self.plan.axes), result)
        self.query_one("#sweep-status", Label).update(
            f"{done} of {len(self.configs)} runs done (latest: {latest}, seed {result['seed']})")

    def _done(self, results: list[dict], view, ended: SweepEnded | None) -> None:
        if not self.is_attached:  # closed meanwhile
            return
        self.running = False
        self.results = results
        if ended is None:
            diverged = sum(r["status"] != "ok" for r in results)
            note = f"; {diverged} diverged" if diverged else ""
            status = f"done: {len(results)} runs{note}"
        else:
            why = "stopped" if isinstance(ended, SweepStopped) else str(ended)
            status = f"{why}: {ended.done} of {ended.total} runs finished (partial), the workers are ended"
        self.query_one(Vertical).border_subtitle = self._hint()
        self.query_one("#sweep-status", Label).update(status)
        if view is not None:
            self.view = view
            self.query_one("#sweep-result", Static).update(view)

    def _failed(self, problem: str) -> None:
        if not self.is_attached:  # closed meanwhile
            return
        self.running = False
        self.query_one(Vertical).border_subtitle = self._hint()
        self.query_one("#sweep-status", Label).update(f"the sweep failed: {problem[:200]}")

    def action_close(self) -> None:
        if self.running and not self.stop.is_set():
            self.stop.set()  # the thread ends the workers and shows what finished
            self.query_one("#sweep-status", Label).update("stopping: ending the workers…")
            return
        self.dismiss(None)

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "export":
            return self.files and not self.running and bool(self.results)
        return True

    def action_export(self) -> None:
        """e: the runs and the summary per cell, as JSON, or CSV (one row per run) for a name
        ending in .csv; through the one writer (never over a file the app reads; an existing
        file only after a yes), written off the UI thread."""
        from smtui.tui.screens.commands import app_inputs, ask_file, free_path

        results, main, plan = list(self.results or ()), self.main, self.plan
        inputs = app_inputs(main)

        def request(name: str) -> Request:
            return Request("sweep export", name, replaces=False)

        def export(name: str, overwrite: bool) -> None:
            try:  # checked again: the answer to "Overwrite?" may have taken a while
                out = check(request(name), inputs, force=overwrite, force_hint="allow overwriting it")
            except UserError as exc:
                main.notify(str(exc), title="refused", severity="error")
                return
            data = (rows_to_csv(csv_rows(results, plan.fields)) if name.lower().endswith(".csv")
                    else to_json(report(plan, results)))

            def written() -> None:
                failures = write_each([out], lambda o: write(o, data))
                note = (failures[0], "refused", "error") if failures else \
                    (f"{len(results)} runs written to {os.path.basename(name)}", "done", "information")
                self.app.call_from_thread(main.notify, note[0], title=note[1], severity=note[2])

            self.run_worker(written, thread=True, group="export", exit_on_error=False)

        ask_file(main, "Export the sweep as (.json: every run and the summary; .csv: one row per run)",
                 free_path(f"sweep-{'-'.join(a.name for a in plan.axes)}", ".json"), request, inputs, export)


def sigma_plan(config: Config, sigmas, seeds: int = SEEDS, steps: int = STEPS) -> Plan:
    """A sweep over sigma alone, as the prompt's default makes."""
    return Plan(config, (Axis("sigma", "sigma", tuple(float(s) for s in sigmas)),), seeds, steps)
