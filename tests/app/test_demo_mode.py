"""A shared demo session touches no files: `smtui --no-files`, which every `smtui serve`
session gets unless the server is started with --allow-files. Viewers then cannot save,
load, export or read a file as the serving user from inside the app."""

from __future__ import annotations

import os

from smtui.tui.app import SMApp
from smtui.tui.cli.main import build_parser
from smtui.tui.screens.actions import NO_FILES
from smtui.tui.screens.commands import palette
from smtui.tui.screens.modals import QuitPrompt, ValuePrompt
from smtui.tui.serve.command import build_serve_parser, session_argv

FILE_ENTRIES = ("Load an experiment", "Export a screenshot", "Export the metric history", "Set data file",
                "Save the experiment")


def titles(app) -> list[str]:
    return [c.title for c in palette(app.main)]


async def test_a_no_files_session_offers_no_way_to_touch_a_file(tmp_path, monkeypatch, fast, notes, settled, wait_for):
    monkeypatch.chdir(tmp_path)
    app = SMApp(fast, runner_mode="thread", files=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        shown = titles(app)
        assert not [t for t in shown if t.startswith(FILE_ENTRIES)], shown
        assert any(t.startswith("Sweep…") for t in shown)  # the rest of the palette is still there
        await pilot.press("n", "n", "n")
        await wait_for(pilot, lambda: app.main.report.snapshot.step == 3, what="three steps")
        await pilot.press("s")
        await wait_for(pilot, lambda: NO_FILES in notes(app), what="the note")
        assert not isinstance(app.screen, ValuePrompt) and NO_FILES in notes(app)
        await pilot.press("q")  # nothing could be saved, so nothing to ask about
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
        assert not isinstance(app.screen, QuitPrompt) and not app.is_running
    assert os.listdir(tmp_path) == []


async def test_an_ordinary_session_keeps_every_file_entry(fast, settled):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        shown = titles(app)
        for entry in FILE_ENTRIES:
            assert any(t.startswith(entry) for t in shown), entry


def test_serve_sessions_get_no_files_unless_the_server_allows_them():
    assert "--no-files" in session_argv(build_serve_parser().parse_args(["--ssh", "--sigma", "0.5"]))
    allowed = session_argv(build_serve_parser().parse_args(["--web", "--allow-files", "--sigma", "0.5"]))
    assert "--no-files" not in allowed and allowed == ["--sigma", "0.5", "--sweep-jobs", "1"]
    assert build_parser().parse_args(["--no-files"]).no_files
