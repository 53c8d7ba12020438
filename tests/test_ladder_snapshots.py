"""Screenshots of the ladder screen once its walks are done, on a small seeded setup, at 80x24
(the clouds' page) and 120x40. Regenerate with --snapshot-update."""

from __future__ import annotations

import sys
from pathlib import Path

from smtui.tui.app import SMApp

sys.path.insert(0, str(Path(__file__).parent))
from test_ladder_app import FAST, open_done  # noqa: E402


async def _ladder(pilot):
    await open_done(pilot.app, pilot)
    await pilot.pause(0.2)


def test_ladder_screen_80x24(snap_compare):
    assert snap_compare(SMApp(FAST, runner_mode="thread"), terminal_size=(80, 24), run_before=_ladder)


def test_ladder_screen_120x40(snap_compare):
    assert snap_compare(SMApp(FAST, runner_mode="thread"), terminal_size=(120, 40), run_before=_ladder)
