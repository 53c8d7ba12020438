"""The Textual app: wiring only. It pushes the main screen (``smtui.tui.screens.main``, where
one run trains; every other screen opens over it), shows every toast literally, fills
the command palette (``smtui.tui.screens.commands``), and, when presenting, passes on how
many watch (``smtui.tui.serve.audience``); the screens own their state."""

from __future__ import annotations

from textual.app import App

from smtui.core.config import Config
from smtui.core.text import visible
from smtui.tui.runner.loop import Job
from smtui.tui.runner.trainer_job import TrainerJob
from smtui.tui.screens.commands import palette
from smtui.tui.screens.main import MIN_SIZE, MainScreen
from smtui.tui.serve.audience import inherited_fd, read_counts

__all__ = ["MIN_SIZE", "SMApp", "run_app"]


class SMApp(App):
    """smtui: train the paper's energy model and watch score matching meet denoising."""

    TITLE = "smtui"

    def __init__(self, config: Config, runner_mode: str = "process", experiment: str | None = None,
                 files: bool = True, job: type[Job] = TrainerJob, compare_job: type[Job] | None = None,
                 sweep_jobs: int | None = None, ladder_job: type[Job] | None = None, tour: bool = False) -> None:
        """``runner_mode``: the trainer in a process, or a thread (tests); ``job``, ``compare_job``
        and ``ladder_job``: the screens' job classes (tests give fakes; None: the real one);
        ``sweep_jobs``: a sweep's worker processes (None: one per core); ``tour``: open on the
        tour of the paper (``smtui tour``)."""
        super().__init__()
        self.sweep_jobs = sweep_jobs
        self.main = MainScreen(config, runner_mode, experiment, files, job, compare_job, ladder_job, tour)

    def on_mount(self) -> None:
        self.push_screen(self.main)
        fd = inherited_fd()  # presenting (`smtui serve --present`): the server says how many watch
        if fd is not None:
            read_counts(fd, lambda n, hint: setattr(self.main, "watching", (n, hint)))

    def notify(self, message: str, *, title: str = "", markup: bool = False, **kwargs) -> None:
        """Every toast shows its text literally: escaped (control characters visible) and never
        read as Rich markup, since many quote files, typed values or a saved message."""
        super().notify(visible(message), title=visible(title), markup=False, **kwargs)

    def get_system_commands(self, screen):
        # Textual's own Keys panel (escape does not close it) and Screenshot (fails under the
        # app's driver) are left out: the help (?) and the SVG export replace them; its Quit
        # would skip the question about unsaved steps.
        yield from (c for c in super().get_system_commands(screen) if c.title == "Theme")
        yield from palette(self.main)


def run_app(config: Config, experiment: str | None = None, files: bool = True, sweep_jobs: int | None = None,
            tour: bool = False) -> int:
    """Open the app with ``config`` as the starting setup, or resume the saved ``experiment``
    (a .toml path, loaded by the trainer process; ``config`` then holds its settings);
    ``files=False`` (a demo session) leaves out every way to save, load or read a file;
    ``sweep_jobs`` caps a sweep's worker processes (a served session: one unless the
    operator allows more); ``tour``: open on the tour of the paper; returns the exit status."""
    app = SMApp(config, experiment=experiment, files=files, sweep_jobs=sweep_jobs, tour=tour)
    app.run()
    return app.return_code or 0
