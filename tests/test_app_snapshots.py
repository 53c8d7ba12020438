"""Screenshots of the app, paused at step 0 with a fixed seed: the main screen at 80x24
(compact) and 120x40, and the help screen. Regenerate with --snapshot-update."""

from __future__ import annotations

import sys
from pathlib import Path

from smtui.core.config import Config
from smtui.tui.app import SMApp

sys.path.insert(0, str(Path(__file__).parent))
from test_app import settled  # noqa: E402

SETUP = Config(seed=0)  # ring8, dsm, the defaults


async def _settled(pilot):
    await settled(pilot.app, pilot, step=0)


async def _help(pilot):
    await settled(pilot.app, pilot, step=0)
    await pilot.press("question_mark")
    await pilot.pause(0.2)


def test_main_screen_80x24(snap_compare):
    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(80, 24), run_before=_settled)


def test_main_screen_120x40(snap_compare):
    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(120, 40), run_before=_settled)


def test_help_screen(snap_compare):
    assert snap_compare(SMApp(SETUP, runner_mode="thread"), terminal_size=(120, 40), run_before=_help)
