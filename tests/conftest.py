"""Shared fixtures: seeded generators, SSH keys for the serve tests, and fake jobs that let
UI tests run without the training."""

from dataclasses import dataclass, replace
from functools import lru_cache
from time import sleep

import asyncssh
import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.trainer import Trainer
from smtui.tui.runner.loop import Job
from smtui.tui.runner.protocol import (
    Command,
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


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_params(rng, d, h, scale=1.0):
    """A generic theta (not the init): weights of order one, random biases and c."""
    return {
        "W": scale * rng.normal(0.0, 1.0, (h, d)),
        "b": rng.normal(0.0, 1.0, h),
        "c": rng.normal(0.0, 0.5, d),
    }


@pytest.fixture
def keys(tmp_path):
    """For the serve tests: (viewer key, stranger key, authorized-keys path listing only the
    viewer, host key path)."""
    viewer, stranger = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    ak = tmp_path / "authorized_keys"
    ak.write_bytes(viewer.export_public_key())
    return viewer, stranger, ak, tmp_path / "host_key"


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


@pytest.fixture
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


FAST = Config(distribution="bimodal", n_train=128, seed=0)


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
