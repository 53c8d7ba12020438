"""The app's chrome told straight: the key bar and status line at every size, the palette's
built-ins, q with unsaved steps, space when diverged, a stalled trainer, the training clock
(saved and restored, not jumping after a stall), a steady steps/s, and figures that belong
to the current setup."""

from __future__ import annotations

import os
import signal
import time

import pytest
from textual import events
from textual.widgets import Input

from smtui.tui.app import SMApp
from smtui.tui.render import onescale
from smtui.tui.render.status import STALL_AFTER
from smtui.tui.runner.protocol import Save
from smtui.tui.screens.keys import MAIN_KEYS, QUIT_KEYS
from smtui.tui.screens.modals import QuitPrompt, ValuePrompt


def keybar(app) -> str:
    return str(app.main.query_one("#keys").render())


ESSENTIAL = [f"{k.footer_key or k.label} {k.short}" for k in MAIN_KEYS if k.rank == 0]


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
async def test_every_essential_key_and_a_whole_status_line_fit(fake_app, size, settled, status, wait_for):
    app = fake_app()
    async with app.run_test(size=size) as pilot:
        await settled(app, pilot, step=0)
        bar, line = keybar(app), status(app)
        assert all(item in bar for item in ESSENTIAL), bar
        assert len(bar) <= size[0] and not bar.rstrip().endswith(("▏", "…")) and "▏" not in bar
        # The line keeps whole parts: the state and its hint end it, nothing is cut mid-word.
        assert len(line) <= size[0] - 2 and "…" not in line
        assert line.endswith(("space trains, n steps once", "n steps once, ? help")), line
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.training and app.main.report.steps_per_second, what="a rate")
        line = status(app)
        assert "▶ training" in line and "steps/s" in line and "…" not in line and len(line) <= size[0] - 2
        await pilot.press("space")  # paused, the rate it had is no rate now: none is shown
        await wait_for(pilot, lambda: not app.main.report.training and "paused" in status(app), what="paused")
        assert "steps/s" not in status(app), status(app)


async def test_resizing_refits_the_key_bar_and_status_line(fake_app, settled, status, wait_for):
    app = fake_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await settled(app, pilot, step=0)
        assert "^p commands" in keybar(app) and "r re-init" in keybar(app)
        for size in ((80, 24), (70, 20), (120, 40)):
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda w=size[0]: len(keybar(app)) <= w and len(status(app)) <= w - 2, what="refit")
            assert len(keybar(app)) <= size[0] and len(status(app)) <= size[0] - 2
            assert "? help" in keybar(app) and "q quit" in keybar(app)


def test_key_bar_gives_way_by_rank_and_keeps_help_and_quit():
    assert MAIN_KEYS.footer(200).plain.count("  ") >= 5  # room: every key, spaced out
    assert "r re-init" not in MAIN_KEYS.footer(80).plain and all(i in MAIN_KEYS.footer(80).plain for i in ESSENTIAL)
    for width in range(30, 201):
        bar = MAIN_KEYS.footer(width).plain
        assert len(bar) <= max(width, len(" ? help q quit")) and "? help" in bar and "q quit" in bar


async def test_at_80x24_the_one_scale_plot_takes_the_esm_dsm_lines_place_and_keeps_its_marks(fast, settled, wait_for):
    """80x24: the ESM-DSM line gives way to the one-scale plot, which fits its panel and shows
    every mark; at 120x40 both are shown, the ESM-DSM line with its x labels."""
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n", "n")
        await settled(app, pilot, step=2)
        assert not app.main.query_one("#idplot").display and "idplot" not in app.main.panel_texts
        rows = app.main.panel_texts["onescale"].plain.splitlines()
        assert len(rows) == app.main.query_one("#onescale").content_size.height == 5
        assert all(mark in app.main.panel_texts["onescale"].plain for mark in "·DIA")
        assert app.main.query_one("#onescale").border_title == onescale.SHORT_TITLE  # the legend
        assert "C2−C3 = " in app.main.query_one("#onescale").border_subtitle
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: "idplot" in app.main.panel_texts, what="the ESM-DSM line at 120x40")
        assert app.main.query_one("#onescale").border_title == onescale.TITLE
        assert "D DSM+(C2−C3)" in app.main.panel_texts["onescale"].plain  # the legend inside
        rows = app.main.panel_texts["idplot"].plain.splitlines()
        assert len(rows) <= app.main.query_one("#idplot").content_size.height
        assert "└" in rows[-2] and any(ch.isdigit() for ch in rows[-1]), rows


async def test_loss_title_never_shows_another_setups_number(fast, settled, until_config, wait_for):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n")
        await settled(app, pilot, step=1)
        latest = f"latest {app.main.report.snapshot.losses[-1, 1]:.4g}"
        assert latest in app.main.panel_texts["loss"].plain
        await pilot.press("o")
        await until_config(app, pilot, objective="dae")
        await settled(app, pilot, step=1)
        await wait_for(pilot, lambda: "setup changed, no step yet" in app.main.panel_texts["loss"].plain,
                       what="the loss title")
        assert latest not in app.main.panel_texts["loss"].plain
        await pilot.press("n")
        await settled(app, pilot, step=2)
        assert f"latest {app.main.report.snapshot.losses[-1, 1]:.4g}" in app.main.panel_texts["loss"].plain


async def test_palette_builtins_are_the_apps_own(fast, settled):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Keys" not in titles and "Screenshot" not in titles  # Textual's: one fails, one cannot close
        assert "Export a screenshot (SVG)…" in titles and "This help: every key (escape closes it)" in titles
        assert [t for t in titles if t.startswith("Quit")] == [
            "Quit (asks first if steps are unsaved; ctrl+q quits at once)"]


async def test_q_asks_when_steps_are_unsaved_and_quits_at_once_when_none_are(fake_app, tmp_path, settled, wait_for):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n", "n", "n")
        await settled(app, pilot, step=3)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitPrompt), what="the question")
        assert isinstance(app.screen, QuitPrompt) and "3 steps" in app.screen.question and app.is_running
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, QuitPrompt), what="the question closed")
        assert app.is_running and not isinstance(app.screen, QuitPrompt)
        app.main.command(Save(str(tmp_path / "x.toml")))
        await wait_for(pilot, lambda: app.main.report.saved_step == 3, what="the save")
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
        assert not app.is_running  # everything is saved: no question
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n")
        await settled(app, pilot, step=1)
        await pilot.press("q", "q")  # q twice: quit anyway, as a script would
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
        assert not app.is_running
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n")
        await settled(app, pilot, step=1)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
        assert not app.is_running


async def test_space_when_diverged_retries_and_says_it_diverged_again(fast, notes, settled, status, wait_for):
    app = SMApp(fast.with_changes(lr=50.0, optimizer="sgd"), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.status == "diverged" and not app.main.report.training,
                       what="divergence")
        step = app.main.report.snapshot.step
        assert "then space" in status(app)
        await pilot.press("space")
        await wait_for(pilot, lambda: any("diverged again" in n for n in notes(app)), what="the retry")
        await settled(app, pilot)
        # The parameters kept are the last whose figures are finite (|theta| <= 1e50), so a
        # retry may take a step or two before it diverges again.
        assert step <= app.main.report.snapshot.step <= step + 2 and "diverged" in status(app)


async def test_a_stopped_trainer_is_shown_stalled_and_its_clock_does_not_jump(fast, settled, status, wait_for):
    app = SMApp(fast, runner_mode="process")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.step > 200, what="training")
        pid = app.main.runner.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped_at = time.monotonic()
            await wait_for(pilot, lambda: "stalled" in status(app), what="the stall")
            assert time.monotonic() - stopped_at >= STALL_AFTER - 0.6
            before = app.main.report.elapsed
            await pilot.pause(max(0.0, 4.0 - (time.monotonic() - stopped_at)))
        finally:
            os.kill(pid, signal.SIGCONT)
            continued_at = time.monotonic()
        step = app.main.report.snapshot.step
        await wait_for(pilot, lambda: app.main.report.snapshot.step > step + 50, what="training again")
        assert "stalled" not in status(app) and "▶ training" in status(app)
        # A report's clock is the loop's before the turn it is sent in: one turn more, and the
        # turn the stop fell in is on the clock
        step = app.main.report.snapshot.step
        await wait_for(pilot, lambda: app.main.report.snapshot.step > step, what="a later turn")
        # At least 4 s stopped; the clock moved on only by the training since, which took no longer
        # than the wall clock since (however loaded the machine), give or take the report before the stop
        since = time.monotonic() - continued_at
        assert app.main.report.elapsed - before < since + 1.0, (before, app.main.report.elapsed, since)
        await pilot.press("space")


async def test_training_time_is_saved_and_restored_as_shown(tmp_path, fast, notes, settled, wait_for):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.elapsed > 1.5
                       and len(app.main.report.snapshot.identity_history) > 2,
                       what="training with evaluations")
        await pilot.press("space")
        await settled(app, pilot)
        shown = app.main.report.elapsed
        app.main.command(Save(str(tmp_path / "t.toml")))
        await wait_for(pilot, lambda: any("saved to" in n for n in notes(app)), what="the save")
        await pilot.press("ctrl+q")
    app = SMApp(fast, runner_mode="thread", experiment=str(tmp_path / "t.toml"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        assert app.main.report.elapsed == pytest.approx(shown, abs=1e-6)


async def test_every_report_the_app_draws_has_a_field_while_training(fast, settled):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        seen = set()
        deadline = time.monotonic() + 60.0  # (a bound, not a measure: a loaded machine takes longer)
        while len(seen) <= 5 and time.monotonic() < deadline:
            assert app.main.report.snapshot.field is not None
            seen.add(app.main.report.snapshot.step)
            await pilot.pause(0.03)
        await pilot.press("space")
        assert len(seen) > 5 and not app.main.render_errors


async def test_a_burst_of_l_draws_the_samples_once(fake_app, settled, wait_for):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        for _ in range(6):  # queued at once: each used to cost a full draw (up to 2 s of MALA)
            app.post_message(events.Key("l", "l"))
        await wait_for(pilot, lambda: app.main.report.samples_step == 0 and not app.main.report.busy,
                       what="the samples")
        await settled(app, pilot, step=0)
        draws = app.main.runner.job.draws
        assert 1 <= len(draws) <= 2, draws


async def test_sigma_and_lr_keys_go_up_and_back_down_to_the_same_value(fake_app, settled):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        start = (app.main.config.sigma, app.main.config.lr)
        await pilot.press(*["plus", "right_square_bracket"] * 12)
        assert app.main.config.lr == start[1] * 4096 and app.main.config.sigma == pytest.approx(start[0] * 1.25**12)
        await pilot.press(*["minus", "left_square_bracket"] * 12)
        assert (app.main.config.sigma, app.main.config.lr) == start  # 3-figure rounding at each press drifted
        app.main.change(sigma=0.5)  # a value set another way starts a new ladder
        await pilot.press("plus", "minus")
        assert app.main.config.sigma == 0.5


async def test_the_quit_questions_s_saves_then_quits_as_its_key_line_says(
        fake_app, tmp_path, capsys, notes, settled, wait_for):
    """q's "s saves, then quits": s asks where (the usual save), and the app quits once the
    trainer says it is saved, printing where; escape at "where" saves nothing and stays."""
    hint = QUIT_KEYS.hint()
    assert "s saves, then quits" in hint
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n")
        await settled(app, pilot, step=1)
        await pilot.press("q", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, ValuePrompt) and not isinstance(app.screen, QuitPrompt),
                       what="where to save")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "nothing saved, so still here" in notes(app), what="the note")
        assert app.is_running and app.screen is app.main
        await pilot.press("q", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, ValuePrompt) and not isinstance(app.screen, QuitPrompt),
                       what="where to save")
        app.screen.query_one(Input).value = str(tmp_path / "kept.toml")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.is_running, what="the quit after the save")
    assert any(isinstance(c, Save) and c.path.endswith("kept.toml") for c in app.main.runner.job.handled)
    said = capsys.readouterr().err.replace("\n", "")  # (wrapped at the console's width, as a long path is)
    assert str(tmp_path / "kept.toml") in said  # where it went, said as the app leaves


async def test_training_pauses_while_q_asks_and_goes_on_if_the_answer_is_stay(fake_app, settled, wait_for):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.step > 50, what="training")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitPrompt), what="the question")
        assert isinstance(app.screen, QuitPrompt) and not app.main.training
        await wait_for(pilot, lambda: not app.main.report.training, what="the trainer paused")
        asked = app.main.report.snapshot.step
        await pilot.pause(0.5)
        assert app.main.report.snapshot.step == asked  # the count in the question stays true
        await pilot.press("n")
        await wait_for(pilot, lambda: app.main.report.snapshot.step > asked, what="training going on")
        assert app.main.training
        await pilot.press("space")
