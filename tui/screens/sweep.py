"""The app's "Sweep sigma…": a prompt for the sigmas, then a screen that runs the sweep
(core/sweep.py, worker processes) from a thread worker with a progress bar, and shows the
per-sigma table and the plots when it ends. The UI thread only places what the worker built;
escape closes the screen and stops the sweep (runs under way finish, the rest are dropped)."""

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
from smtui.core.sweep import SweepStopped, default_jobs, parse_sigmas, run_sweep, summarise, sweep_configs
from smtui.tui.screens.keys import SWEEP_KEYS
from smtui.tui.screens.modals import ValuePrompt

SEEDS, STEPS = 3, 2000


def default_sigmas(sigma: float) -> str:
    """Eight sigmas over two decades around the current one."""
    return f"{sigma / 10:.3g}:{sigma * 10:.3g}:8"


def ask_sweep(main) -> None:
    """Palette: ask for the sigmas (a list or START:STOP:COUNT), then run the sweep."""
    config: Config = main.config

    def chosen(text: str | None) -> None:
        if text is None:
            return
        try:
            sigmas = parse_sigmas(text)
            configs = sweep_configs(config, sigmas, SEEDS)
        except UserError as exc:
            main.notify(str(exc), title="refused", severity="error")
            return
        main.app.push_screen(SweepScreen(configs, STEPS, config.is_analytic))

    main.app.push_screen(ValuePrompt(f"Sweep sigma, {SEEDS} seeds x {STEPS:,} steps: 0.1,0.3,1 or START:STOP:COUNT",
                                     default_sigmas(config.sigma)), chosen)


class SweepScreen(ModalScreen[None]):
    """One sweep: progress while it runs, the table and plots when it ends."""

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
        self.jobs = jobs or default_jobs()
        self.stop = threading.Event()
        self.results: list[dict] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep") as box:
            box.border_title = "Sweep sigma"
            box.border_subtitle = SWEEP_KEYS.hint()
            yield Label(f"{len(self.configs)} runs x {self.steps:,} steps in {self.jobs} worker processes…",
                        id="sweep-status")
            yield ProgressBar(total=len(self.configs), id="sweep-progress", show_eta=False)
            with VerticalScroll():
                yield Static("", id="sweep-result")

    def on_mount(self) -> None:
        width = max(40, min(self.app.size.width, 110) - 6)
        self.run_sweep(width)

    @work(thread=True, exit_on_error=False)
    def run_sweep(self, width: int) -> None:
        from smtui.tui.render.sweep import plots, summary_table

        def progress(done, total, result) -> None:
            self.app.call_from_thread(self._progress, done, result)

        try:
            results = run_sweep(self.configs, self.steps, self.jobs, progress, stop=self.stop)
        except SweepStopped:
            return
        except Exception as exc:  # noqa: BLE001  (a worker process died, memory, ...): say so, in one line
            self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        summary = summarise(results)
        shown = Group(summary_table(summary, self.analytic), *plots(summary, self.analytic, width, 12))
        self.app.call_from_thread(self._done, results, shown)

    def _progress(self, done: int, result: dict) -> None:
        self.query_one(ProgressBar).update(progress=done)
        self.query_one("#sweep-status", Label).update(
            f"{done} of {len(self.configs)} runs done (latest: sigma {result['sigma']:.3g}, seed {result['seed']})")

    def _done(self, results: list[dict], shown) -> None:
        self.results = results
        diverged = sum(r["status"] != "ok" for r in results)
        note = f"; {diverged} diverged" if diverged else ""
        self.query_one("#sweep-status", Label).update(f"done: {len(results)} runs{note}")
        self.query_one("#sweep-result", Static).update(shown)

    def _failed(self, problem: str) -> None:
        self.query_one("#sweep-status", Label).update(f"the sweep failed: {problem[:200]}")

    def action_close(self) -> None:
        self.stop.set()
        self.dismiss(None)
