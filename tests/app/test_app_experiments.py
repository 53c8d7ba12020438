"""Experiments in the app: s saves (default name, never overwriting silently), the palette
loads (and refuses bad files in one line), the app resumes a saved experiment exactly, and
exports write an SVG screenshot and the metric history as CSV."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from smtui.core.experiment import load_experiment, save_experiment
from smtui.core.trainer import Trainer
from smtui.tui.app import SMApp
from smtui.tui.screens.commands import ask_history, ask_load, ask_screenshot
from smtui.tui.screens.modals import Confirm


@pytest.fixture
def reference(fast):
    """reference(steps): a trainer of the quick setup, trained ``steps`` steps here."""

    def reference(steps: int) -> Trainer:
        t = Trainer(fast)
        t.train(steps, evaluate=False)
        return t

    return reference


@pytest.fixture
def press_s_and_accept_default(wait_for):
    async def press_s_and_accept_default(app, pilot) -> None:
        await pilot.press("s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ValuePrompt", what="the save prompt")
        await pilot.press("enter")

    return press_s_and_accept_default


async def test_s_saves_with_the_default_name_and_the_saved_run_resumes(
        tmp_path, monkeypatch, fast, named_files, notes, settled, wait_for, press_s_and_accept_default, reference):
    monkeypatch.chdir(tmp_path)
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n", "n", "n")
        await settled(app, pilot, step=3)
        await press_s_and_accept_default(app, pilot)
        await wait_for(pilot, lambda: any("experiment saved to" in n for n in notes(app)), what="saved")
        assert app.main.experiment == "bimodal-dsm-sigma0.3.toml"
    toml = tmp_path / "bimodal-dsm-sigma0.3.toml"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [toml.name, *(p.name for p in named_files(toml))])  # no temp files
    saved = load_experiment(tmp_path / "bimodal-dsm-sigma0.3.toml")
    ref = reference(3)
    assert saved.step == 3 and saved.config == fast
    for k in ref.params:
        np.testing.assert_array_equal(saved.params[k], ref.params[k])


async def test_save_never_overwrites_without_a_yes(
        tmp_path, monkeypatch, fast, answer_prompt, notes, settled, wait_for, press_s_and_accept_default, reference):
    monkeypatch.chdir(tmp_path)
    save_experiment(reference(1), tmp_path / "mine.toml")
    before = (tmp_path / "mine.toml").read_bytes()
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n", "n")
        await settled(app, pilot, step=2)
        await pilot.press("s")
        await answer_prompt(pilot, "mine")  # .toml is added
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), what="the overwrite question")
        assert "mine.toml" in app.screen.question and "Overwrite?" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: any("nothing written" in n for n in notes(app)), what="the refusal")
        assert (tmp_path / "mine.toml").read_bytes() == before
        # The default name never collides: it saves beside, not over.
        await press_s_and_accept_default(app, pilot)
        await wait_for(pilot, lambda: (tmp_path / "bimodal-dsm-sigma0.3.toml").exists(), what="a fresh save")
        await pilot.press("s")
        await answer_prompt(pilot, "mine.toml")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), what="the overwrite question")
        await pilot.press("y")
        await wait_for(pilot, lambda: any("saved to mine.toml (step 2)" in n for n in notes(app)), what="overwrite")
    assert load_experiment(tmp_path / "mine.toml").step == 2


async def test_palette_loads_an_experiment_and_training_goes_on_as_if_never_stopped(
        tmp_path, fast, answer_prompt, notes, settled, reference):
    path = tmp_path / "five.toml"
    save_experiment(reference(5), path)
    app = SMApp(fast.with_changes(distribution="gaussian", sigma=0.7), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        for bad, why in ((tmp_path / "missing.toml", "does not exist"), (tmp_path / "x.csv", "must end in .toml")):
            ask_load(app.main)
            await answer_prompt(pilot, str(bad))
            assert any(why in n and "\n" not in n for n in notes(app)), why
        (tmp_path / "broken.toml").write_text("format = [")
        ask_load(app.main)
        await answer_prompt(pilot, str(tmp_path / "broken.toml"))
        assert any("not valid TOML" in n for n in notes(app))
        ask_load(app.main)
        await answer_prompt(pilot, str(path))
        await settled(app, pilot, step=5)
        assert app.main.config == fast and any("loaded" in n for n in notes(app))
        await pilot.press("n")
        await settled(app, pilot, step=6)
        shown_loss = app.main.report.snapshot.loss
    ref = reference(6)
    assert shown_loss == ref.last_loss  # same parameters, optimiser state and batch stream


async def test_app_started_on_an_experiment_path_resumes_it_in_the_trainer_process(
        tmp_path, settled, status, reference):
    """What `smtui --load EXP.toml` does: run_app(config, experiment=path)."""
    path = tmp_path / "seven.toml"
    saved = reference(7)
    save_experiment(saved, path)
    app = SMApp(saved.config, experiment=str(path))  # the real trainer process
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=7)
        assert app.main.runner.mode == "process" and app.main.runner.pid is not None
        assert "step 7" in status(app)
        await pilot.press("n")
        await settled(app, pilot, step=8)
        assert app.main.report.snapshot.loss == reference(8).last_loss


async def test_exports_write_an_svg_screenshot_and_the_metric_history(
        tmp_path, monkeypatch, fast, answer_prompt, notes, settled, wait_for):
    monkeypatch.chdir(tmp_path)
    app = SMApp(fast.with_changes(eval_every=2), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n", "n")
        await settled(app, pilot, step=2)
        ask_screenshot(app.main)
        await answer_prompt(pilot, "")  # an empty name is refused, nothing written
        assert any("no file name" in n for n in notes(app))
        ask_screenshot(app.main)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ValuePrompt", what="the prompt")
        await pilot.press("enter")  # the default name
        svg = tmp_path / "smtui-bimodal-step2.svg"
        await wait_for(pilot, lambda: svg.exists(), what="the screenshot")
        ask_history(app.main)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ValuePrompt", what="the prompt")
        await pilot.press("enter")
        history = tmp_path / "smtui-bimodal-step2-history.csv"
        await wait_for(pilot, lambda: any("metric history" in n for n in notes(app)), what="the CSV")
        ask_history(app.main)  # the same name again: asks first
        await answer_prompt(pilot, history.name)
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), what="the overwrite question")
        await pilot.press("escape")
    text = svg.read_text()
    assert text.lstrip().startswith("<svg") and "step" in text and "identities" in text
    rows = list(csv.DictReader(history.open()))
    assert [int(r["step"]) for r in rows] == [0, 1, 2]
    assert {"esm_minus_dsm", "esm_minus_dsm_theory", "dsm"} <= set(rows[0])
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


async def test_exports_never_write_over_the_data_file_or_the_experiment(
        tmp_path, monkeypatch, fast, answer_prompt, named_files, notes, settled, wait_for, press_s_and_accept_default):
    """The screenshot and history exports are refused, before any "Overwrite?", over the data
    file the app trains on (by inode: a hard link too) and over the experiment it last saved."""
    monkeypatch.chdir(tmp_path)
    pts = tmp_path / "pts.csv"
    np.savetxt(pts, np.random.default_rng(0).normal(size=(60, 2)), delimiter=",")
    os.link(pts, tmp_path / "same.csv")
    before = pts.read_bytes()
    app = SMApp(fast.with_changes(data_path=str(pts)), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        for ask, name in ((ask_screenshot, "pts.csv"), (ask_screenshot, "same.csv"), (ask_history, "pts.csv")):
            ask(app.main)
            await answer_prompt(pilot, name)
            await wait_for(pilot, lambda: any("is the data file the app trains on" in n for n in notes(app)),
                           what="the refusal")
            assert not isinstance(app.screen, Confirm)
            app.clear_notifications()
        await press_s_and_accept_default(app, pilot)
        await wait_for(pilot, lambda: any("experiment saved to" in n for n in notes(app)), what="saved")
        saved = app.main.experiment
        for name in (saved, str(named_files(tmp_path / saved)[0])):
            ask_screenshot(app.main)
            await answer_prompt(pilot, name)
            await wait_for(pilot, lambda: any("the experiment last loaded or saved" in n for n in notes(app)),
                           what="the refusal")
            assert not isinstance(app.screen, Confirm)
            app.clear_notifications()
    assert pts.read_bytes() == before and load_experiment(tmp_path / saved).step == 0
    assert not list(tmp_path.glob("*.svg"))


async def test_a_screenshot_into_a_fifo_with_no_reader_is_one_note(
        tmp_path, monkeypatch, fast, answer_prompt, notes, settled, wait_for):
    """Written straight into the FIFO, off the UI thread, with the writer's bounded wait."""
    import stat

    import smtui.core.outputs

    monkeypatch.setattr(smtui.core.outputs, "FIFO_WAIT", 0.05)
    fifo = tmp_path / "shot.svg"
    os.mkfifo(fifo)
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        ask_screenshot(app.main)
        await answer_prompt(pilot, str(fifo))
        await wait_for(pilot, lambda: any("FIFO with no reader" in n for n in notes(app)), what="the failure")
        assert not isinstance(app.screen, Confirm)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["shot.svg"]
