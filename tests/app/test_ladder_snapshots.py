"""Screenshots of the ladder screen once its walks are done, on a small seeded setup, at 80x24
(the clouds' page) and 120x40. Regenerate with --snapshot-update."""

from __future__ import annotations

import pytest

from smtui.tui.app import SMApp


@pytest.fixture
def ladder_done_at_step_0(open_ladder):
    async def run_before(pilot):
        await open_ladder(pilot.app, pilot)
        await pilot.pause(0.2)

    return run_before


def test_ladder_screen_80x24(snap_compare, ladder_config, ladder_done_at_step_0):
    assert snap_compare(SMApp(ladder_config, runner_mode="thread"), terminal_size=(80, 24),
                        run_before=ladder_done_at_step_0)


def test_ladder_screen_120x40(snap_compare, ladder_config, ladder_done_at_step_0):
    assert snap_compare(SMApp(ladder_config, runner_mode="thread"), terminal_size=(120, 40),
                        run_before=ladder_done_at_step_0)
