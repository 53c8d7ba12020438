"""Screenshots of the app, paused at step 0 with a fixed seed: the main screen at 80x24
(compact) and 120x40, and the help screen; and after 600 steps, the objectives falling
together on one scale at both sizes. Regenerate with --snapshot-update."""

from __future__ import annotations

import pytest

from smtui.core.config import Config
from smtui.tui.app import SMApp
from smtui.tui.runner.trainer_job import TrainerJob

SETUP = Config(seed=0)  # ring8, dsm, the defaults
TRAINED = Config(seed=0, eval_every=50)


class TrainedJob(TrainerJob):
    """The real trainer job, 600 steps on (evaluated every 50) before the app first sees it,
    its clock at zero: the same screen every time."""

    def __init__(self, setup, ctx):
        super().__init__(setup, ctx)
        self.trainer.evaluate()
        self.trainer.train(600)
        self.trainer.train_seconds = 0.0
        ctx.set_clock(0.0)


@pytest.fixture
def at_step(settled):
    """at_step(step): a snapshot's run_before, until the app is settled at ``step``."""

    def at_step(step):
        async def run_before(pilot):
            await settled(pilot.app, pilot, step=step)

        return run_before

    return at_step


def test_main_screen_80x24(snap_compare, at_step):
    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(80, 24), run_before=at_step(0))


def test_main_screen_120x40(snap_compare, at_step):
    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(120, 40), run_before=at_step(0))


def test_help_screen(snap_compare, settled):
    async def help_at_step_0(pilot):
        await settled(pilot.app, pilot, step=0)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(120, 40), run_before=help_at_step_0)


def test_one_scale_plot_80x24(snap_compare, at_step):
    """At 80x24 the one-scale plot takes the ESM-DSM line's place: ESM_qσ's dotted line with the
    letters of DSM, ISM and DAE on it, DSM itself above, the legend in the border."""
    app = SMApp(TRAINED, runner_mode="thread", job=TrainedJob)
    assert snap_compare(app, terminal_size=(80, 24), run_before=at_step(600))


def test_one_scale_plot_120x40(snap_compare, at_step):
    """At 120x40 beside the identities, with its legend and the gap C2 − C3 labelled."""
    app = SMApp(TRAINED, runner_mode="thread", job=TrainedJob)
    assert snap_compare(app, terminal_size=(120, 40), run_before=at_step(600))


def test_tour_80x24(snap_compare, at_step):
    """`smtui tour` at 80x24: page 1 in the whole bottom row, the live app above it."""
    app = SMApp(SETUP, runner_mode="thread", tour=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=at_step(0))


def test_tour_120x40(snap_compare, at_step):
    """At 120x40 the tour sits beside the loss, in the place of the ESM-DSM line and the setup."""
    app = SMApp(SETUP, runner_mode="thread", tour=True)
    assert snap_compare(app, terminal_size=(120, 40), run_before=at_step(0))
