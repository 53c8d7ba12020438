"""Nothing a user or a terminal does breaks the app: divergence, resize storms, key bursts,
a 20x8 terminal, NO_COLOR, trainer failures (shown, never swallowed), and random bad values
typed into the palette (one-line refusals naming the value)."""

from __future__ import annotations

import os
import random
import signal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from textual import events

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment import load_experiment
from smtui.core.trainer import Trainer
from smtui.tui.app import SMApp
from smtui.tui.runner.protocol import Save
from smtui.tui.screens.commands import SETTINGS, parse_setting
from smtui.tui.screens.keys import MAIN_KEYS


async def test_divergence_stops_keeps_finite_parameters_says_what_to_do_and_training_goes_on(
        tmp_path, fast, notes, settled, status, until_config, wait_for):
    app = SMApp(fast.with_changes(lr=50.0, optimizer="sgd"), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.status == "diverged" and not app.main.report.training,
                       what="divergence")
        snap = app.main.report.snapshot
        assert "diverged" in status(app) and "lower the learning rate" in status(app) and "raise σ" in status(app)
        assert any("smaller learning rate or a larger sigma" in n for n in notes(app))
        await settled(app, pilot)
        kept = app.main.report.snapshot
        assert kept.step == snap.step and kept.status == "diverged" and not app.main.render_errors
        app.main.command(Save(str(tmp_path / "kept.toml")))  # what s sends: the kept state, saved
        await wait_for(pilot, lambda: any("saved to" in n for n in notes(app)), what="the save")
        saved = load_experiment(tmp_path / "kept.toml")
        assert saved.step == kept.step and saved.status == "diverged"
        assert all(np.isfinite(v).all() for v in saved.params.values())
        app.main.change(optimizer="adam", lr=0.01)  # what the palette's entries do
        await until_config(app, pilot, optimizer="adam", lr=0.01)
        await pilot.press("r", "space")  # parameters at 1e155 would overflow again: start them afresh
        await wait_for(pilot, lambda: app.main.report.snapshot.step > kept.step + 50, what="training on")
        await pilot.press("space")
        await settled(app, pilot)
        assert app.main.report.snapshot.status == "ok" and "diverged" not in status(app) and not app.main.render_errors


async def test_a_storm_of_resizes_while_training(fast, settled, wait_for):
    rng = random.Random(0)
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        for _ in range(50):
            size = (rng.randint(20, 200), rng.randint(8, 60))
            app.post_message(events.Resize(size, size))  # no waiting between them
        await pilot.resize_terminal(120, 40)
        frames = app.main.frames
        await wait_for(pilot, lambda: app.main.frames > frames + 2, what="frames after the storm")
        assert app.is_running and app.main.report.training and not app.main.has_class("-too-small")
        await pilot.press("space")
        await settled(app, pilot)
        assert not app.main.render_errors and not app.main.stopped and app.main.problem == ""


async def test_a_burst_of_keys_faster_than_the_app_can_draw(fast, fake_app, settled, wait_for):
    rng = random.Random(1)
    keys = [k.keys.split(",")[0] for k in MAIN_KEYS
            if k.action not in ("quit_asking", "command_palette", "save", "help")]
    app = fake_app(fast.with_changes(distribution="gaussian"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        for key in (rng.choice(keys) for _ in range(200)):  # queued at once, as a fast typist's would be
            char = {"space": " ", "plus": "+", "minus": "-", "left_square_bracket": "[",
                    "right_square_bracket": "]"}.get(key, key)
            app.post_message(events.Key(key, char))
        await pilot.pause(0.5)
        for key in ("question_mark", "escape", "s", "escape"):  # the modal keys still open and close
            await pilot.press(key)
        await pilot.pause(0.2)
        assert app.is_running and app.screen is app.main
        if app.main.training:
            await pilot.press("space")
        # the trainer and the screen agree at the end: the last command's report is awaited, not guessed
        await wait_for(pilot, lambda: app.main.report.snapshot.config == app.main.config, what="the same setup")
        await settled(app, pilot)
        assert not app.main.render_errors and not app.main.stopped
        assert app.main.report.snapshot.config == app.main.config


async def test_a_20x8_terminal_says_it_is_too_small_and_recovers(fast, wait_for):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(20, 8)) as pilot:
        await pilot.pause(0.5)
        assert app.main.has_class("-too-small")
        shown = app.export_screenshot()
        assert "too" in shown and "small" in shown and "20x8" in shown
        await pilot.press("space")  # keys still work underneath
        await wait_for(pilot, lambda: app.main.report is not None and app.main.report.training, what="training")
        await pilot.resize_terminal(80, 24)
        frames = app.main.frames
        await wait_for(pilot, lambda: app.main.frames > frames, what="panels once big enough")
        assert not app.main.has_class("-too-small") and not app.main.render_errors


async def test_no_color(monkeypatch, fast, settled, status):
    monkeypatch.setenv("NO_COLOR", "1")
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n", "v", "v", "v", "v", "l")
        await settled(app, pilot, step=1)
        assert app.no_color and not app.main.render_errors
        assert "step 1" in status(app)


async def test_an_exception_in_the_engine_is_shown_and_the_app_stays_usable(
        monkeypatch, fast, notes, settled, status, until_config, wait_for):
    calls = {"n": 0}
    original = Trainer.train

    def flaky(self, steps, evaluate=True):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated engine failure")
        return original(self, steps, evaluate)

    monkeypatch.setattr(Trainer, "train", flaky)
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: "simulated engine failure" in status(app), what="the error shown")
        assert any("RuntimeError: simulated engine failure" in n for n in notes(app))
        await settled(app, pilot)  # training paused, figures still current
        assert not app.main.report.training
        await pilot.press("d", "n")  # usable: commands still run
        await until_config(app, pilot, distribution="moons")
        await settled(app, pilot)
        assert "simulated" not in status(app) and not app.main.stopped


async def test_a_trainer_process_that_dies_is_restarted_and_says_so(fast, notes, settled, status, wait_for):
    app = SMApp(fast)  # the real trainer process
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n", "n")
        await settled(app, pilot, step=2)
        first = app.main.runner.pid
        os.kill(first, signal.SIGKILL)
        await wait_for(pilot, lambda: any("restarted it" in n for n in notes(app)), what="the restart notice")
        await settled(app, pilot, step=0)
        assert app.main.runner.pid != first and not app.main.stopped
        await pilot.press("n")
        await settled(app, pilot, step=1)
        os.kill(app.main.runner.pid, signal.SIGKILL)  # again at once: said, not looped on
        await wait_for(pilot, lambda: app.main.stopped != "", what="the stopped state")
        assert "Restart the trainer" in status(app)
        app.main.restart_trainer()  # what the palette entry does
        await settled(app, pilot, step=0)


# --- typed values --------------------------------------------------------------------------

typed = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", "1e-400", "0x10", "1_000", " 3 ", "1.5", "2048",
                     "2049", "9" * 50, "1e3", "true", "None", "~/nope.csv", "/", "\n", "0.3\n0.4", "٣"]),
    st.integers(-10**6, 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(setting=st.sampled_from(SETTINGS), text=typed)
def test_any_typed_value_is_taken_whole_or_refused_in_one_line_naming_it(setting, text):
    config = Config(distribution="bimodal", n_train=64)
    try:
        change = parse_setting(config, setting, text)
    except UserError as exc:
        msg = str(exc)
        assert "\n" not in msg and 0 < len(msg) <= 240, msg
        names = (setting.title, setting.field, "lambda" if setting.field == "lam" else setting.field)
        assert any(n in msg for n in names), msg
        stripped = text.strip()
        if stripped:  # the value is quoted (cut if long), or the number it was read as
            shown = [repr(stripped)[:20], repr(os.path.expanduser(stripped))[:20]]
            try:
                shown.append(repr(setting.kind(stripped)))
            except ValueError:
                pass
            assert any(v in msg for v in shown) or "characters)" in msg, msg
        return
    assert list(change) == [setting.field]
    config.with_changes(**change)  # a value that is taken is a valid setup


# --- a data file that cannot be read ----------------------------------------------------------


async def test_the_apps_trainer_says_why_it_cannot_start_instead_of_waiting(tmp_path, fast, notes, status, wait_for):
    """A data file turned into a FIFO after the CLI checked it: the trainer refuses it at
    once, the status line says why (not "starting the trainer…"), and it is not restarted
    by itself into the same refusal."""
    os.mkfifo(tmp_path / "f.csv")
    app = SMApp(fast.with_changes(data_path=str(tmp_path / "f.csv")), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "cannot start" in status(app), timeout=15, what="the refusal")
        assert "starting the trainer" not in status(app)
        assert any("cannot start" in n and "FIFO" in n for n in notes(app)), notes(app)
        await pilot.pause(0.5)
        assert not any("restarted" in n for n in notes(app)), notes(app)
