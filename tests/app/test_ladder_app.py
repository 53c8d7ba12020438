"""The ladder screen driven by Pilot (its job in a thread, on small setups): opened with L and
from the palette, what it shows against its job's figures, its keys, the pages at 80x24."""

from __future__ import annotations

from textual.command import CommandList
from textual.widgets import Input

from smtui.core.config import Config
from smtui.tui.app import SMApp
from smtui.tui.screens.keys import LADDER_KEYS
from smtui.tui.screens.ladder import LadderScreen, parse_ladder
from smtui.tui.screens.modals import HelpScreen, ValuePrompt


async def test_it_trains_walks_and_shows_the_jobs_figures(ladder_config, open_ladder):
    app = SMApp(ladder_config, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        s = await open_ladder(app, pilot)
        snap = s.snapshot
        strip = s.panel_texts["lad-strip"].plain
        ladder = snap.walks[("learned", "ladder")].metrics
        assert f"{ladder['weight_tv']:.4g}" in strip and f"{ladder['mmd2']:.4g}" in strip
        clouds = s.panel_texts["lad-learned"].plain.splitlines()[0]
        assert f"σ{snap.sigmas[0]:.3g}" in clouds and f"σ{snap.sigmas[-1]:.3g}" in clouds and "✓" in clouds
        assert "σ" in s.panel_texts["lad-exact"].plain
        bars = s.panel_texts["lad-bars"].plain
        assert f"TV {ladder['weight_tv']:.2f}" in bars or f"TV {ladder['weight_tv']:.3f}" in bars
        assert "score" in s.panel_texts["lad-field"].plain
        assert "done" in str(s.query_one("#lad-status").render())


async def test_L_opens_the_ladder_on_the_main_setup_pausing_the_main_run_and_escape_returns(settled, wait_for):
    app = SMApp(Config(distribution="ring8w", n_train=64, hidden=8, seed=1), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LadderScreen), what="the ladder screen")
        s = app.screen
        assert not app.main.training
        assert s.setup.config.distribution == "ring8w" and s.setup.config.hidden == 8 and s.setup.steps == 10_000
        await wait_for(pilot, lambda: s.snapshot is not None and s.snapshot.step > 0, what="training")
        line = str(s.query_one("#lad-status").render())  # (10,000 steps go by in seconds)
        assert any(phase in line for phase in ("training", "checking", "rung", "measuring", "done")), line
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main, what="back to the main screen")


async def test_the_palette_asks_for_the_ladder_and_refuses_a_bad_one(ladder_config, notes, settled, wait_for):
    app = SMApp(ladder_config, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await app.run_action("command_palette")
        await wait_for(pilot, lambda: bool(app.screen.query(Input)), what="the palette")
        app.screen.query_one(Input).value = "Ladder…"
        await wait_for(pilot, lambda: any(lst.option_count for lst in app.screen.query(CommandList)), what="hits")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ValuePrompt), what="the prompt")
        app.screen.query_one(Input).value = "4 3 nope"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("sigma_min a number" in n for n in notes(app)), what="the refusal")
        assert app.screen is app.main
    setup = parse_ladder(ladder_config, "4 auto matched ode 20")
    assert (setup.levels, setup.sigma_max, setup.sigma_min, setup.sampler, setup.steps_per_level) == (
        4, None, "matched", "ode", 20)


async def test_keys_change_the_ladder_sample_again_and_step_rung_by_rung(
        ladder_config, small_ladder, ladder_done, open_ladder, wait_for):
    app = SMApp(ladder_config, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        s = await open_ladder(app, pilot)
        round_ = s.snapshot.round
        await pilot.press("s")
        await wait_for(pilot, lambda: ladder_done(s, round_ + 1), timeout=60, what="sampled again")
        await pilot.press("m")  # ald -> mala: samples again, no training
        await wait_for(pilot, lambda: ladder_done(s) and s.snapshot.setup.sampler == "mala", timeout=60, what="mala")
        assert s.snapshot.step == small_ladder.steps and s.snapshot.walks[("learned", "ladder")].acceptance
        await pilot.press("less_than_sign")  # one rung fewer: trains again
        await wait_for(pilot, lambda: ladder_done(s) and len(s.snapshot.sigmas) == 5, timeout=60, what="K 5")
        round_ = s.snapshot.round
        for rungs in (1, 2):  # once done, n walks afresh, one rung at a time
            await pilot.press("n")
            await wait_for(pilot, lambda n=rungs: s.report.acked >= s.runner.sent and s.snapshot.round == round_ + 1
                           and len(s.snapshot.walks[("learned", "ladder")].clouds) == n, what=f"rung {rungs}")
        assert not s.report.training
        await pilot.press("f", "F", "F")  # the field one rung down, then up twice
        await wait_for(pilot, lambda: s.snapshot.field_rung == 2, what="the field's rung")
        await pilot.press("v", "x")
        await wait_for(pilot, lambda: s.source == "exact" and "exact" in s.query_one("#lad-field").border_title,
                       what="the exact score's field")
        assert s.view == 1 and s.source == "exact" and "exact" in s.query_one("#lad-field").border_title


async def test_at_80x24_four_rungs_and_the_bars_on_a_second_page(ladder_config, ladder_done, open_ladder, wait_for):
    app = SMApp(ladder_config, runner_mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await open_ladder(app, pilot)
        assert s.compact and s.page == 1
        head = s.panel_texts["lad-learned"].plain.splitlines()[0]
        assert head.count("σ") == 4
        assert s.query_one("#lad-bars").region.height == 0  # the bars are on page 2
        await pilot.press("b")
        await wait_for(pilot, lambda: s.query_one("#lad-bars").region.height > 10, what="page 2")
        await wait_for(pilot, lambda: "TV" in s.panel_texts["lad-bars"].plain and ladder_done(s), what="the bars drawn")
        assert s.query_one("#lad-learned").region.height == 0
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        text = str(app.screen.query_one("#help-text").render())
        assert all(k.help[:20] in text for k in LADDER_KEYS) and "From one σ to a ladder" in text
