"""The compare screen's job: 2 to 4 objectives trained side by side from one start
(``smtui.core.compare``), run by the one loop (``smtui.tui.runner.loop``).

Evaluations (every run's figures and the probe gradients) may take a larger share of the
time than the main trainer's, and exact steps cost about what an evaluation does, so in
exact mode the figures come every few steps."""

from __future__ import annotations

from dataclasses import dataclass

from smtui.core.compare import Comparison
from smtui.core.config import Config
from smtui.tui.runner.loop import Job, Loop
from smtui.tui.runner.protocol import Command, CompareReport, Configure, Exact, Grid, Reinit, grid_shape

EXACT_EVAL_EVERY = 5  # in exact mode, evaluate at most every this many steps (not eval_every)


@dataclass(frozen=True)
class CompareSetup:
    config: Config
    objectives: tuple[str, ...]
    exact: bool = False
    match_lr: bool = True  # DAE's lr matched to DSM's (smtui.core.compare.matched_lrs)


class CompareJob(Job):
    name = "compare trainer"
    commands = (Grid, Configure, Reinit, Exact)
    frames_per_second = 10
    chunk_seconds = 0.03
    first_chunk = 1
    max_chunk = 2048
    eval_share = 0.2

    def __init__(self, setup: CompareSetup, ctx: Loop):
        super().__init__(setup, ctx)
        ctx.busy("building the evaluation set")
        self.comparison = Comparison(setup.config, setup.objectives, exact=setup.exact, match_lr=setup.match_lr)
        self.panel: tuple[int, int] | None = None  # a small multiple's size in cells
        ctx.set_clock(self.comparison.train_seconds)

    @property
    def step(self) -> int:
        return self.comparison.step

    def advance(self, steps: int) -> int:
        return self.comparison.train(steps, evaluate=False)

    def can_go_on(self) -> bool:
        return self.comparison.live

    @property
    def eval_every(self) -> int:
        c = self.comparison
        return min(c.config.eval_every, EXACT_EVAL_EVERY) if c.exact else c.config.eval_every

    def evaluating(self) -> str:
        return "evaluating every run"

    def evaluate(self) -> None:
        self.comparison.evaluate()

    def handle(self, command: Command) -> None:
        c, ctx = self.comparison, self.ctx
        match command:
            case Grid(size=size):
                self.panel = tuple(size)
            case Reinit():
                c.reinitialise()
                ctx.stale()
            case Configure(changes=changes):
                if "sigma" in changes:
                    ctx.busy("rebuilding the evaluation set for the new sigma")
                c.configure(**changes)
                ctx.stale()
            case Exact(on=on):
                if on:
                    ctx.busy("building the exact batch")
                said = c.set_exact(on)  # from one start: drifted runs restart (core/compare.py)
                if said:
                    ctx.say("note", said)
                ctx.stale()
                ctx.new_pace()

    def report(self, changed: bool) -> CompareReport:
        c = self.comparison
        shape = grid_shape(*self.panel, c.dim) if self.panel else None
        return CompareReport(snapshot=c.snapshot(field_shape=shape))
