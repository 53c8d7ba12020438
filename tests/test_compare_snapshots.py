"""Screenshots of the compare screen, paused at step 0 with a fixed seed, at 80x24
(compact) and 120x40. Regenerate with --snapshot-update."""

from __future__ import annotations

import sys
from pathlib import Path

from smtui.core.config import Config
from smtui.tui.app import SMApp

sys.path.insert(0, str(Path(__file__).parent))
from test_compare_app import open_settled  # noqa: E402

SETUP = Config(seed=0)  # ring8 and the defaults: what `c` opens on first


async def _compare(pilot):
    await open_settled(pilot.app, pilot)
    await pilot.pause(0.2)


def test_compare_screen_80x24(snap_compare):
    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(80, 24), run_before=_compare)


def test_compare_screen_120x40(snap_compare):
    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(120, 40), run_before=_compare)
