"""Screenshots of the compare screen, paused at step 0 with a fixed seed, at 80x24
(compact) and 120x40. Regenerate with --snapshot-update."""

from __future__ import annotations

from smtui.core.config import Config
from smtui.tui.app import SMApp

SETUP = Config(seed=0)  # ring8 and the defaults: what `c` opens on first


def test_compare_screen_80x24(snap_compare, settled_compare):
    async def compare_at_step_0(pilot):
        await settled_compare(pilot.app, pilot)
        await pilot.pause(0.2)

    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(80, 24), run_before=compare_at_step_0)


def test_compare_screen_120x40(snap_compare, settled_compare):
    async def compare_at_step_0(pilot):
        await settled_compare(pilot.app, pilot)
        await pilot.pause(0.2)

    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(120, 40), run_before=compare_at_step_0)
