"""The main screen's job: one Trainer (``smtui.core.trainer``) run by the one loop
(``smtui.tui.runner.loop``), with its field, Langevin samples and files.

Reports carry the score field every ``FIELD_SECONDS`` while training (the runner keeps
the last one for the reports in between) and at once after a command. A saved experiment
is loaded here, from its path (a Trainer does not pickle), and saves and exports are
written here too, between steps, so each holds one moment's state."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment import load_experiment, save_experiment
from smtui.core.io import rows_to_csv
from smtui.core.outputs import Input, Request, check, data_input, write, write_each
from smtui.core.text import count
from smtui.core.trainer import Trainer
from smtui.tui.runner.loop import Job, Loop
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
    Train,
    grid_shape,
)

FIELD_SECONDS = 0.25  # while training, the field is recomputed this often (reports in between keep it)
EARLY_STEPS, EARLY_SHARE = 3000, 0.5  # evaluations' share of the time just after a change (eval_share)
LANGEVIN = {"n": 400, "steps": 2000}  # MALA, at most 2 s (Trainer.langevin_samples)


@dataclass(frozen=True)
class TrainerSetup:
    """A fresh run of ``config``, or the saved ``experiment`` (a .toml path) with ``config``'s settings."""

    config: Config
    experiment: str | None = None


class TrainerJob(Job):
    """Owns the Trainer; speaks through the loop."""

    name = "trainer"
    commands = (Grid, Configure, Reinit, Langevin, Save, Load, ExportCsv)
    frames_per_second = 15
    chunk_seconds = 0.02
    first_chunk = 8
    max_chunk = 4096
    eval_share_steady = 0.05

    @property
    def eval_share(self) -> float:
        """A twentieth of the time; but half in the first EARLY_STEPS steps after a start, a
        re-init or a setup change, when the objectives fall fastest: the one-scale plot then
        draws the fall with its shape, not as one straight line from the first figure."""
        return EARLY_SHARE if self.trainer.step - self.changed_at < EARLY_STEPS else self.eval_share_steady

    def __init__(self, setup: TrainerSetup, ctx: Loop):
        super().__init__(setup, ctx)
        self.trainer = self._start(setup.config, setup.experiment)
        self.panel: tuple[int, int] | None = None  # the field panel's size in cells
        self.plane = 0  # which plane the field is drawn on, for d > 2 (smtui.core.field.plane)
        self.samples = self.samples_step = None
        self.saved_step = self.trainer.step if setup.experiment else 0  # steps up to here are in a file (or none made)
        self.retrying = False  # space pressed while diverged: the next chunk says if it diverges again at once
        self.fresh = True  # no evaluation since the data or sigma changed (the evaluation set is built first)
        self.changed_at = self.trainer.step  # the step of the last start, re-init or setup change (eval_share)
        self.field_at = -1.0  # when the field was last computed for a report
        ctx.set_clock(self.trainer.train_seconds)  # a resumed run's clock carries on

    def _start(self, config: Config, experiment: str | None) -> Trainer:
        """The saved experiment with ``config``'s training settings, or a fresh Trainer."""
        if experiment is None:
            return Trainer(config)
        try:
            trainer = load_experiment(experiment)
            changes = {k: v for k, v in config.to_dict().items() if getattr(trainer.config, k) != v}
            if changes:
                trainer.configure(**changes)
            return trainer
        except UserError as exc:  # e.g. the file changed since the CLI checked it
            self.ctx.say("refused", f"{exc}; started afresh from the setup instead")
            return Trainer(config)

    # --- work ---------------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self.trainer.step

    def advance(self, steps: int) -> int:
        t = self.trainer
        done = t.train(steps, evaluate=False)
        if t.status != "ok" and self.retrying:  # diverged again in the retry's first chunk
            when = "at once" if not done else f"after {done:,} step{'' if done == 1 else 's'}"
            self.ctx.say("refused", f"space retried from step {t.step - done:,} with the same setup and it diverged "
                                    f"again {when}: lower the lr ([), raise σ (+) or re-initialise (r) first")
        self.retrying = False
        return done

    def can_go_on(self) -> bool:
        return self.trainer.status == "ok"

    @property
    def eval_every(self) -> int:
        return self.trainer.config.eval_every

    def evaluating(self) -> str:
        return "evaluating every figure" if not self.fresh or self.trainer.step else "building the evaluation set"

    def evaluate(self) -> float:
        t = self.trainer
        t.eval_set  # noqa: B018 - built once per data and sigma; not part of an evaluation's cost
        t0 = time.perf_counter()
        t.evaluate()
        self.fresh = False
        return time.perf_counter() - t0

    def draw_samples(self) -> None:
        """Samples from the current model (up to MALA's time budget), once per request burst."""
        self.ctx.busy("drawing Langevin samples")
        self.samples, self.samples_step = self.trainer.langevin_samples(**LANGEVIN), self.trainer.step

    # --- commands -------------------------------------------------------------------------

    def handle(self, command: Command) -> None:
        t, ctx = self.trainer, self.ctx
        match command:
            case Train():
                self.retrying = t.status == "diverged"
            case Grid(size=size, plane=plane):
                self.panel = tuple(size)
                self.plane = self.plane if plane is None else plane
            case Configure(changes=changes):
                notes = t.configure(**changes)
                self._forget()
                if notes:
                    ctx.say("note", "; ".join(notes))
            case Reinit():
                t.reinitialise()
                self._forget()
            case Langevin():
                ctx.later(self.draw_samples)  # a burst of l presses draws once, for the latest model
            case Save(path=path, overwrite=overwrite, inputs=inputs):
                t.train_seconds = ctx.elapsed  # the clock the status line shows is the one saved
                saved = save_experiment(t, path, overwrite=overwrite, inputs=_inputs(inputs))
                self.saved_step = t.step
                ctx.say("done", f"experiment saved to {saved} (step {t.step:,})", str(saved))
            case ExportCsv(path=path, overwrite=overwrite, inputs=inputs):
                ctx.say("done", f"metric history ({count(len(t.evaluations), 'row')}) written to "
                                f"{export_csv(t, path, overwrite, _inputs(inputs))}", path)
            case Load(path=path):
                ctx.pause()  # the loaded run's clock replaces this one
                self.trainer = load_experiment(path)  # a UserError leaves the current run as it was
                self._forget()
                ctx.set_clock(self.trainer.train_seconds)
                ctx.new_pace()
                self.saved_step = self.trainer.step
                ctx.say("done", f"loaded {path}: {self.trainer.config.source}, step {self.trainer.step:,}", path)

    def _forget(self) -> None:
        """The setup or the parameters changed: samples and figures no longer hold."""
        self.samples = self.samples_step = None
        self.fresh = True
        self.changed_at = self.trainer.step
        self.ctx.stale()

    # --- reports --------------------------------------------------------------------------

    def report(self, changed: bool) -> Report:
        t = self.trainer
        # The field costs more than the rest of a report: while training, every FIELD_SECONDS
        # (the runner keeps the last one for the reports in between); at once after a command.
        now = time.perf_counter()
        keep = self.ctx.training and not changed and now - self.field_at < FIELD_SECONDS
        shape = grid_shape(*self.panel, t.dim) if self.panel and not keep else None
        if shape is not None:
            self.field_at = now
        try:
            snap = t.snapshot(field_shape=shape, figures=False, samples=self.samples, plane_index=self.plane)
        except Exception as exc:  # noqa: BLE001 - still report the rest, and say what failed
            snap = t.snapshot(figures=False, samples=self.samples)
            # (with every report: the status line keeps showing it; the app toasts it once)
            self.ctx.say("error", f"trainer error drawing the field: {type(exc).__name__}: {exc}")
        return Report(snapshot=snap, samples_step=self.samples_step, saved_step=self.saved_step, field_kept=keep)


def _inputs(pairs) -> list[Input]:
    """The files the app reads, sent with a save or export as (what, path) pairs."""
    return [Input(what, Path(p)) for what, p in pairs]


def export_csv(trainer: Trainer, path: str, overwrite: bool = False, inputs: list[Input] = ()) -> str:
    """Write the metric history (every evaluation) as CSV by core/outputs.py's rules: never
    over the data file or one of ``inputs``, over an existing file only if ``overwrite``.
    Returns the path."""
    out = check(Request("metric history", path, replaces=False),
                [*data_input(trainer.config.data_path, "the data file being trained on"), *inputs],
                force=overwrite, force_hint="allow overwriting it")
    failures = write_each([out], lambda o: write(o, rows_to_csv(trainer.evaluations)))
    if failures:
        raise UserError(failures[0])
    return path
