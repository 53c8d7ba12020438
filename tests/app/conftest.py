"""The app's tests: the fake trainer job (UI tests without the training) and Pilot's waits,
each a fixture. Every wait is a bounded loop on a condition, never a fixed sleep."""

import time
from dataclasses import dataclass, replace
from functools import lru_cache
from time import sleep

import numpy as np
import pytest
from textual.command import CommandList
from textual.css.query import NoMatches
from textual.widgets import Input

from smtui.core.config import Config
from smtui.core.ladder_run import LadderSetup
from smtui.core.trainer import Trainer
from smtui.tui.runner.ladder_job import LadderSnapshot
from smtui.tui.runner.loop import Job
from smtui.tui.runner.protocol import (
    Command,
    CompareReport,
    Configure,
    ExportCsv,
    Grid,
    Langevin,
    Load,
    Reinit,
    Report,
    Save,
    grid_shape,
)
from smtui.tui.runner.trainer_job import TrainerJob
from smtui.tui.screens.commands import SETTINGS
from smtui.tui.screens.compare import CompareScreen
from smtui.tui.screens.ladder import LadderScreen
from smtui.tui.screens.modals import ValuePrompt

FAST = Config(distribution="bimodal", n_train=128, seed=0)


@pytest.fixture(scope="session")
def fast() -> Config:
    """The main screen's quick setup: bimodal data, 128 points, seed 0."""
    return FAST


# --- fake jobs: UI tests without the training -------------------------------------------------


@dataclass(frozen=True)
class Die(Command):
    """Tests only: the job's thread ends at once, as a killed job process would."""


def mortal(job: type[Job]) -> type[Job]:
    """``job`` that also takes Die (a job in a thread cannot be killed from outside)."""

    def handle(self, command):
        if isinstance(command, Die):
            raise SystemExit  # past the loop's guard (Exception only): the thread ends, the pipe closes
        job.handle(self, command)

    return type(f"Mortal{job.__name__}", (job,), {"commands": job.commands + (Die,), "handle": handle, "Die": Die})


@pytest.fixture(scope="session")
def mortal_job():
    """mortal(job): the job class that also takes ``job.Die()``, which ends its thread at once."""
    return mortal


@lru_cache(maxsize=8)
def _real(config: Config) -> Trainer:
    """One real trainer per setup, evaluated at step 0: where a fake's snapshots come from."""
    t = Trainer(config)
    t.evaluate()
    return t


@lru_cache(maxsize=32)
def _field(config: Config, shape: tuple):
    return _real(config).field(shape)


class FakeTrainerJob(Job):
    """The main screen's job without the training, for tests of the UI: a chunk of steps
    costs a short sleep (so the UI thread is never starved), an evaluation costs nothing,
    and every report carries one real snapshot of the starting setup at step 0,
    relabelled with the fake's step, setup and marks. It takes every command the
    trainer takes, and records them (``handled``) and its sample draws (``draws``, each
    ``draw_seconds`` long)."""

    name = "trainer"
    commands = TrainerJob.commands
    chunk_seconds = 0.005
    first_chunk = 8
    handled: list = []
    draws: list = []
    draw_seconds = 0.3

    def __init__(self, setup, ctx):
        super().__init__(setup, ctx)
        self.start, self.config = setup.config, setup.config
        _real(self.start)
        self.n, self.figures_step, self.marks = 0, None, []
        self.panel, self.plane, self.samples_step = None, 0, None
        self.saved_step = 0

    @property
    def step(self) -> int:
        return self.n

    def advance(self, steps: int) -> int:
        sleep(0.002)
        self.n += steps
        return steps

    @property
    def eval_every(self) -> int:
        return self.config.eval_every

    def evaluate(self) -> None:
        self.figures_step = self.n

    def draw(self) -> None:
        self.ctx.busy("drawing Langevin samples")
        sleep(self.draw_seconds)  # as MALA takes a while: requests made meanwhile wait for the next draw
        self.draws.append(self.n)
        self.samples_step = self.n

    def handle(self, command: Command) -> None:
        self.handled.append(command)
        match command:
            case Grid(size=size, plane=plane):
                self.panel, self.plane = tuple(size), self.plane if plane is None else plane
            case Configure(changes=changes):
                old, self.config = self.config, self.config.with_changes(**changes)
                self.marks.append((self.n, ", ".join(f"{k}={v}" for k, v in changes.items()
                                                       if getattr(old, k) != v)))
                self.samples_step = None
                self.ctx.stale()
            case Reinit():
                self.marks.append((self.n, "re-initialised"))
                self.samples_step = None
                self.ctx.stale()
            case Langevin():
                self.ctx.later(self.draw)
            case Save(path=path) | Load(path=path):
                self.saved_step = self.n
                self.ctx.say("done", f"{type(command).__name__.lower()} {path} (fake, step {self.n:,})", path)
            case ExportCsv(path=path):
                self.ctx.say("done", f"history written to {path} (fake)", path)

    def report(self, changed: bool) -> Report:
        base = _real(self.start).snapshot(figures=False)
        figures = None if self.figures_step is None else {**base.figures, "step": self.figures_step}
        field = _field(self.start, grid_shape(*self.panel, base.dim)) if self.panel else None
        samples = None if self.samples_step is None else base.points[:64]
        snap = replace(base, step=self.n, config=self.config, marks=tuple(self.marks), figures=figures,
                       figures_step=self.figures_step, field=field, samples=samples)
        return Report(snapshot=snap, samples_step=self.samples_step, saved_step=self.saved_step)


@pytest.fixture
def fake_job():
    """A FakeTrainerJob class of this test's own (its records start empty)."""
    return type("FakeJob", (FakeTrainerJob,), {"handled": [], "draws": []})


@pytest.fixture
def fake_app(fake_job):
    """make(config=FAST, **kwargs): the app with the fake trainer job in a thread; the
    job's class (and its records) is ``app.runner.job``."""
    from smtui.tui.app import SMApp

    def make(config: Config = FAST, job: type[Job] | None = None, **kwargs) -> SMApp:
        return SMApp(config, runner_mode="thread", job=job or fake_job, **kwargs)

    return make


# --- Pilot's waits and what the app shows -------------------------------------------------------


async def _wait_for(pilot, condition, timeout=20.0, what="condition"):
    t0 = time.perf_counter()
    while not condition():
        if time.perf_counter() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def _is_settled(app, step=None, field=True) -> bool:
    r = app.main.report
    return (r is not None and r.snapshot.figures is not None and not r.training and not r.busy
            and r.snapshot.figures_step == r.snapshot.step and (step is None or r.snapshot.step == step)
            and app.main.drawn == (r.snapshot.step, r.snapshot.figures_step, r.snapshot.field is not None)
            and (r.snapshot.field is not None or not field or not _field_shown(app)))


def _field_shown(app) -> bool:
    """Whether the main screen has room for its field panel (the trainer is then told its size
    and sends a field: a screen is settled once it is drawn)."""
    try:
        size = app.main.query_one("#field").content_size
    except NoMatches:
        return False
    return size.width > 0 and size.height > 0


async def _settled(app, pilot, step=None, field=True):
    await _wait_for(pilot, lambda: _is_settled(app, step, field), what="a settled report")


def _status(app) -> str:
    return str(app.main.query_one("#status").render())


def _notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def _until_config(app, pilot, **expected):
    await _wait_for(pilot, lambda: app.main.report and all(getattr(app.main.report.snapshot.config, k) == v
                                                       for k, v in expected.items()), what=f"config {expected}")


async def _answer_prompt(pilot, value: str):
    await _wait_for(pilot, lambda: isinstance(pilot.app.screen, ValuePrompt) and bool(pilot.app.screen.query(Input)),
                    what="the value prompt")
    pilot.app.screen.query_one(Input).value = value
    await pilot.press("enter")
    await pilot.pause(0.05)


@pytest.fixture(scope="session")
def wait_for():
    """await wait_for(pilot, condition, timeout=20.0, what=...): pause until ``condition()``,
    failing after ``timeout`` seconds with what was awaited."""
    return _wait_for


@pytest.fixture(scope="session")
def settled():
    """await settled(app, pilot, step=None, field=True): until the trainer has reported figures
    for the current step (``step``, if given) and they are drawn, with its score field where
    the screen has room for one (``field``=False: a test whose field never comes)."""
    return _settled


@pytest.fixture(scope="session")
def status():
    """status(app): the main screen's status line."""
    return _status


@pytest.fixture(scope="session")
def notes():
    """notes(app): the messages of every toast shown so far."""
    return _notes


@pytest.fixture(scope="session")
def until_config():
    """await until_config(app, pilot, **expected): until the trainer reports that setup."""
    return _until_config


@pytest.fixture(scope="session")
def answer_prompt():
    """await answer_prompt(pilot, value): type ``value`` into the open value prompt and enter."""
    return _answer_prompt


@pytest.fixture(scope="session")
def palette_set():
    """await palette_set(pilot, title, value): through the real palette, search for the title,
    enter, type the value, enter."""

    async def palette_set(pilot, title: str, value: str):
        await pilot.press("ctrl+p")
        await pilot.press(*title)
        await _wait_for(pilot, lambda: any(lst.option_count for lst in pilot.app.screen.query(CommandList)),
                        what="palette hits")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await _answer_prompt(pilot, value)

    return palette_set


@pytest.fixture(scope="session")
def prompt_set():
    """await prompt_set(pilot, title, value): the setting's prompt, opened as its palette entry's
    callback does, answered with ``value``."""

    async def prompt_set(pilot, title: str, value: str):
        pilot.app.main.ask_setting(next(s for s in SETTINGS if s.title == title))
        await _answer_prompt(pilot, value)

    return prompt_set


# --- the compare screen -------------------------------------------------------------------------


def _compare_settled(s: CompareScreen, step=None) -> bool:
    r = s.report
    return (isinstance(r, CompareReport) and not r.training and not r.busy
            and r.acked >= s.runner.sent and (step is None or r.snapshot.step == step)
            and all(len(c) and c[-1, 0] == r.snapshot.step for c in r.snapshot.curves.values())
            and s.drawn == (r.snapshot.step, r.snapshot.step) and s.grid_matches() and not s.render_errors)


@pytest.fixture(scope="session")
def compare_settled():
    """compare_settled(screen, step=None): the compare screen has its trainer's report for the
    current step (``step``, if given), every command acknowledged, drawn at its size."""
    return _compare_settled


@pytest.fixture(scope="session")
def settled_compare():
    """await settled_compare(app, pilot): c pressed on the settled main screen; the compare screen,
    settled at step 0."""

    async def settled_compare(app, pilot) -> CompareScreen:
        await _settled(app, pilot, step=0)
        await pilot.press("c")
        await _wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the compare screen")
        s = app.screen
        await _wait_for(pilot, lambda: _compare_settled(s, 0) or s.render_errors, what="compare at step 0")
        assert not s.render_errors, s.render_errors
        return s

    return settled_compare


# --- the ladder screen --------------------------------------------------------------------------

LADDER = Config(distribution="ring8w", n_train=128, hidden=16, seed=0)
SMALL_LADDER = LadderSetup(LADDER, levels=6, steps=300, steps_per_level=10, particles=300)
RING8W_WEIGHTS = (3 / 16, 1 / 16) * 4


def _ladder_done(s: LadderScreen, round_=None) -> bool:
    snap = s.snapshot
    return (snap is not None and snap.phase == "done" and not s.report.training and not s.report.busy
            and s.report.acked >= s.runner.sent and (round_ is None or snap.round == round_)
            and s.drawn is not None and s.drawn[0] == snap.round and s.drawn[-1] == "done" and not s.render_errors)


@pytest.fixture(scope="session")
def ladder_config() -> Config:
    """The ladder screen's quick setup: ring8w, 128 points, 16 hidden units, seed 0."""
    return LADDER


@pytest.fixture(scope="session")
def small_ladder() -> LadderSetup:
    """A small ladder of ``ladder_config``: 6 rungs, 300 steps, 10 steps a rung, 300 particles."""
    return SMALL_LADDER


@pytest.fixture(scope="session")
def ladder_done():
    """ladder_done(screen, round_=None): the ladder screen's walks are done (in round ``round_``,
    if given), every command acknowledged, and drawn."""
    return _ladder_done


@pytest.fixture(scope="session")
def open_ladder():
    """await open_ladder(app, pilot, setup=small_ladder): the ladder screen pushed over the
    settled main screen, its job in a thread; the screen, once its walks are done."""

    async def open_ladder(app, pilot, setup: LadderSetup = SMALL_LADDER) -> LadderScreen:
        await _settled(app, pilot, step=0)
        screen = LadderScreen(setup, mode="thread")
        app.push_screen(screen)
        await _wait_for(pilot, lambda: _ladder_done(screen) or screen.render_errors, timeout=60,
                        what="the ladder done")
        assert not screen.render_errors, screen.render_errors
        return screen

    return open_ladder


@pytest.fixture(scope="session")
def ring8w_weights() -> tuple:
    """ring8w's mode weights, 3:1 around the ring."""
    return RING8W_WEIGHTS


@pytest.fixture(scope="session")
def ladder_snapshot():
    """ladder_snapshot(walks, **changes): a hand-made ladder snapshot of four rungs on ring8w,
    done, with ``walks`` and the fields in ``changes``."""

    def ladder_snapshot(walks: dict, **changes) -> LadderSnapshot:
        base = dict(setup=LadderSetup(Config(distribution="ring8w"), levels=4), sigmas=(3.0, 1.0, 0.3, 0.05),
                    dim=2, box=(np.array([-3.0, -3.0]), np.array([3.0, 3.0])), points=np.zeros((0, 2)),
                    phase="done", round=1, step=10, loss=1.0, status="ok", message="", train_seconds=1.0,
                    walks=walks, per_level=tuple({"sigma": s, "mmd2": 0.01 * k, "exact_mmd2": None,
                                                  "identity": {"verdict": "agree"}}
                                                 for k, s in enumerate((3.0, 1.0, 0.3, 0.05))),
                    target_weights=RING8W_WEIGHTS)
        base.update(changes)
        return LadderSnapshot(**base)

    return ladder_snapshot
