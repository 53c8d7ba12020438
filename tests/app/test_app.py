"""The app driven by Pilot: every key and palette action, refusals, training, resizing.

What the UI does alone is tested against the fake trainer job (``fake_app``); what the
trainer computes (the identities shown, a data file read, its failures and divergence)
against the real one in a thread; ``test_the_trainer_process_trains`` drives the real
trainer process."""

from __future__ import annotations

import inspect
import time

from textual.command import CommandList

from smtui.core.config import Config
from smtui.core.trainer import Trainer
from smtui.tui.app import MIN_SIZE, SMApp
from smtui.tui.render import report as render
from smtui.tui.runner.protocol import Configure
from smtui.tui.screens.commands import palette
from smtui.tui.screens.keys import MAIN_KEYS
from smtui.tui.screens.modals import HelpScreen

# --- starting, training, the trainer process ---------------------------------------------------


async def test_starts_paused_with_hint_then_space_trains_and_pauses(fake_app, settled, status, wait_for):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        assert "step 0" in status(app) and "paused" in status(app) and "space trains" in status(app)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.step > 50, what="training")
        assert "training" in status(app)
        await pilot.press("space")
        await settled(app, pilot)
        assert f"step {app.main.report.snapshot.step:,}" in status(app) and "paused" in status(app)


async def test_the_trainer_process_trains(fast, settled, wait_for):
    app = SMApp(fast, runner_mode="process")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.step > 100, what="training in the process")
        await pilot.press("space")
        await settled(app, pilot)
        assert app.main.runner.mode == "process" and not app.main.stopped


async def test_identity_figures_shown_equal_the_engine(fast, settled, status, wait_for):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.step > 200, what="training")
        await pilot.press("space")
        await settled(app, pilot)
        step = app.main.report.snapshot.step
        assert f"step {step:,}" in status(app)
        shown = app.main.panel_texts["identities"].plain
    reference = Trainer(fast)
    reference.train(step, evaluate=False)
    expected = render.identities_table(reference.snapshot()).plain
    assert shown == expected
    figs = reference.evaluate()
    assert f"{figs['esm_minus_dsm']:.6g}" in shown and f"{figs['esm_minus_dsm_theory']:.6g}" in shown
    assert "✗" not in shown


async def test_n_steps_once_and_is_disabled_while_training(fake_app, settled):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("n")
        await settled(app, pilot, step=1)
        await pilot.press("n")
        await settled(app, pilot, step=2)
        await pilot.press("space")
        await pilot.pause(0.05)
        assert app.main.check_action("step", ()) is None
        await pilot.press("space")
        assert app.main.check_action("step", ()) is True


async def test_r_reinitialises_and_marks_the_loss(fake_app, notes, settled, wait_for):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        for _ in range(3):
            await pilot.press("n")
        await settled(app, pilot, step=3)
        await pilot.press("r")
        await wait_for(pilot, lambda: any(m[1] == "re-initialised" for m in app.main.report.snapshot.marks),
                       what="mark")
        assert any("re-initialised" in n for n in notes(app))


async def test_distribution_keys_cycle_both_ways(fake_app, settled, until_config):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("d")
        await until_config(app, pilot, distribution="moons")
        await pilot.press("D")
        await pilot.press("D")
        await until_config(app, pilot, distribution="gaussian")
        assert app.main.report.snapshot.marks[-1][1].startswith("distribution=")


async def test_objective_keys_cycle_and_skip_esm_on_sample_only_data(fake_app, fast, notes, settled, until_config):
    app = fake_app(fast.with_changes(distribution="moons", objective="dae"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("o")  # dae -> esm is refused for moons, so ism
        await until_config(app, pilot, objective="ism")
        assert any("skipped 'esm'" in n and "analytic" in n for n in notes(app))
        await pilot.press("O")  # ism -> esm (skipped again) -> dae
        await until_config(app, pilot, objective="dae")
        await pilot.press("O")
        await until_config(app, pilot, objective="dsm")


async def test_distribution_change_that_cannot_apply_is_refused_with_why(fake_app, fast, notes, settled, wait_for):
    app = fake_app(fast.with_changes(objective="esm"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("d")  # bimodal -> moons: no analytic score for ESM
        await wait_for(pilot, lambda: any("needs an analytic score" in n for n in notes(app)), what="the refusal")
        assert app.main.config.distribution == "bimodal" and app.main.report.snapshot.config.distribution == "bimodal"
        assert any("needs an analytic score" in n for n in notes(app))


async def test_sigma_and_learning_rate_keys(fake_app, settled, until_config):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("plus")
        await until_config(app, pilot, sigma=0.375)
        await pilot.press("minus")
        await pilot.press("minus")
        await until_config(app, pilot, sigma=0.24)
        await pilot.press("right_square_bracket")
        await until_config(app, pilot, lr=0.02)
        await pilot.press("left_square_bracket")
        await pilot.press("left_square_bracket")
        await until_config(app, pilot, lr=0.005)
        assert "0.005" in str(app.main.query_one("#setup").render())


async def test_v_cycles_views_and_l_draws_langevin_samples(fake_app, settled, wait_for):
    app = fake_app(Config(distribution="gaussian", n_train=128))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        for i in range(1, len(render.VIEWS) + 1):
            await pilot.press("v")
            assert app.main.view == i % len(render.VIEWS)
            assert render.VIEWS[app.main.view] in str(app.main.query_one("#field").border_title)
        await pilot.press("l")
        await wait_for(pilot, lambda: app.main.report.samples_step == 0 and app.main.drawn is not None
                       and "Langevin samples drawn at step 0" in app.main.panel_texts["field"].plain, what="samples")
        assert app.main.view == render.VIEWS.index("Langevin samples")


async def test_help_screen_lists_every_key_and_escape_closes_it(fake_app, settled, wait_for):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        box = app.screen.query_one("#help")
        assert box.border_title == "Help"
        text = str(app.screen.query_one("#help-text").render())
        for k in MAIN_KEYS:
            assert k.help in text
        assert "C2 - C3" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await settled(app, pilot, step=0)
        await pilot.press("space", "question_mark")  # the panels keep updating under the help
        frames = app.main.frames
        await wait_for(pilot, lambda: app.main.frames > frames + 2, what="frames under the help screen")
        await pilot.press("escape", "space")
        assert not app.main.render_errors


async def test_q_quits(fake_app):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await pilot.pause(0.1)
        assert not app.is_running
    assert app.return_code in (0, None)


# --- the command palette -----------------------------------------------------------------------


async def test_palette_offers_every_key_action_and_each_one_runs(fake_app, settled, wait_for):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        commands = list(palette(app.main))
        titles = [c.title for c in commands]
        for k in MAIN_KEYS:
            if k.action not in ("command_palette", "quit") and not k.action.startswith("tour_"):  # the tour's own
                assert any(k.help.lower() in t.lower() for t in titles), k
        for name in ("Set sigma…", "Set learning rate…", "Set hidden size…", "Set seed…", "Set data file…"):
            assert name in titles
        for c in commands:
            if c.title.startswith("Set ") or c.title.startswith("Help") or c.title.startswith("Train"):
                continue  # prompts and screens are driven through the real palette below
            result = c.callback()
            if inspect.isawaitable(result):
                await result
            await pilot.pause(0.01)
        await wait_for(pilot, lambda: app.main.report.acked >= app.main.runner.sent, what="every command handled")
        assert not app.main.stopped and app.main.problem == ""


async def test_palette_sets_exact_values_and_refuses_bad_ones(
        fake_app, notes, palette_set, prompt_set, settled, until_config):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await palette_set(pilot, "set sigma", "0.5")
        await until_config(app, pilot, sigma=0.5)
        await palette_set(pilot, "set sigma", "abc")
        assert any("sigma must be" in n and "'abc'" in n for n in notes(app))
        await prompt_set(pilot, "sigma", "-1")
        assert any("sigma must be a finite number > 0" in n for n in notes(app))
        await prompt_set(pilot, "learning rate", "0.003")
        await until_config(app, pilot, lr=0.003)
        await prompt_set(pilot, "hidden size", "16")
        await until_config(app, pilot, hidden=16)
        await prompt_set(pilot, "hidden size", "1.5")
        assert any("hidden size must be" in n for n in notes(app))
        await prompt_set(pilot, "seed", "7")
        await until_config(app, pilot, seed=7)
        await prompt_set(pilot, "lambda", "0.5")
        await prompt_set(pilot, "batch size", "32")
        await prompt_set(pilot, "training-set size", "64")
        await until_config(app, pilot, lam=0.5, batch=32, n_train=64)
        await settled(app, pilot)
        assert not app.main.stopped and not app.main.render_errors
    changes = [c.changes for c in app.main.runner.job.handled if isinstance(c, Configure)]
    assert changes == [{"sigma": 0.5}, {"lr": 0.003}, {"hidden": 16}, {"seed": 7}, {"lam": 0.5}, {"batch": 32},
                       {"n_train": 64}]  # each value as typed, once; the refused ones never sent


async def test_a_data_file_set_in_the_palette_is_read_by_the_trainer(
        tmp_path, fast, notes, prompt_set, settled, until_config, wait_for):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await prompt_set(pilot, "data file", str(tmp_path / "missing.csv"))
        await wait_for(pilot, lambda: any("does not exist" in n for n in notes(app)), what="refusal")
        data = tmp_path / "pts.csv"
        data.write_text("x,y\n0,0\n1,1\n2,0.5\n-1,0.3\n0.5,-1\n")
        await prompt_set(pilot, "data file", str(data))
        await until_config(app, pilot, data_path=str(data))
        await settled(app, pilot)
        assert not app.main.stopped and not app.main.render_errors
        assert len(app.main.report.snapshot.points) == 5


async def test_palette_refuses_esm_on_sample_only_data(fake_app, fast, notes, settled, wait_for):
    app = fake_app(fast.with_changes(distribution="moons"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("ctrl+p")
        await pilot.press(*"objective: esm")
        await wait_for(pilot, lambda: any(lst.option_count for lst in app.screen.query(CommandList)), what="hits")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("needs an analytic score" in n for n in notes(app)), what="the refusal")
        assert app.main.config.objective == "dsm"
        assert any("needs an analytic score" in n for n in notes(app))


# --- errors, terminals --------------------------------------------------------------------------


async def test_trainer_exception_is_shown_and_the_app_stays_usable(monkeypatch, fast, notes, settled, status, wait_for):
    def broken(self, *a, **k):
        raise RuntimeError("simulated engine failure")

    monkeypatch.setattr(Trainer, "langevin_samples", broken)
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("l")
        await wait_for(pilot, lambda: "simulated engine failure" in status(app), what="the error in the status")
        assert any("simulated engine failure" in n for n in notes(app))
        await pilot.press("n")
        await settled(app, pilot, step=1)
        assert "simulated" not in status(app)


async def test_resize_while_training_reflows_and_too_small_says_so(fake_app, settled, wait_for):
    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await pilot.resize_terminal(60, 20)
        await wait_for(pilot, lambda: app.main.has_class("-too-small"), what="too small")
        assert app.main.has_class("-too-small")
        assert f"need {MIN_SIZE[0]}x{MIN_SIZE[1]}" in str(app.main.query_one("#too-small").render())
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: app.main.has_class("-compact"), what="compact")
        assert app.main.has_class("-compact") and not app.main.has_class("-too-small")
        frames = app.main.frames
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: app.main.frames > frames + 2 and not app.main.has_class("-compact"),
                       what="the full layout drawn after resizing back")  # (frames go on while the resize waits)
        assert not app.main.has_class("-compact") and app.main.report.training
        await pilot.press("space")
        await settled(app, pilot)


async def test_divergence_is_reported_with_what_to_do_and_training_can_go_on(
        fast, notes, settled, status, until_config, wait_for):
    app = SMApp(fast.with_changes(lr=50.0, optimizer="sgd"), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.status == "diverged", what="divergence")
        assert "diverged" in status(app) and "lower the learning rate" in status(app)
        assert any("smaller learning rate" in n for n in notes(app))
        app.main.change(optimizer="adam")  # as the palette's "Optimiser: adam" does
        for _ in range(12):
            await pilot.press("left_square_bracket")
        await until_config(app, pilot, lr=50 / 2**12)
        await pilot.press("r", "space")
        step = app.main.report.snapshot.step
        await wait_for(pilot, lambda: app.main.report.snapshot.step > step + 20, what="training after divergence")
        await pilot.press("space")
        await settled(app, pilot)
        assert app.main.report.snapshot.status == "ok" and not app.main.render_errors


async def test_frames_pause_after_a_slow_build_so_drawing_takes_at_most_its_share(fake_app, wait_for):
    """After a build of c seconds the next starts no sooner than c (1 - FRAME_SHARE) / FRAME_SHARE
    later: a request meanwhile waits on a timer (one, however many requests) and is drawn then."""
    from smtui.tui.screens import drawing
    from smtui.tui.screens.messages import PanelsBuilt

    app = fake_app()
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.main
        await wait_for(pilot, lambda: main.frames > 0, what="a first frame")
        await wait_for(pilot, lambda: not main._building and main._waiting is None, what="no build under way")
        panels = main.frame_request()(sizes={w: tuple(main.query_one(f"#{w}").content_size) for w in main.PLOTS},
                                      shown=main.shown)
        main.training = True  # (paced while training: paused, reports are rare)
        main._building = True
        before = time.perf_counter()
        main.on_panels_built(PanelsBuilt(panels, seconds=30.0))  # as if that build had taken 30 s
        expect = 30.0 * (1 - drawing.FRAME_SHARE) / drawing.FRAME_SHARE
        assert before + expect <= main._next_build <= time.perf_counter() + expect
        frames = main.frames
        main.draw()
        main.draw()
        assert not main._building and main._waiting is not None  # waiting, not building
        waiting = main._waiting
        main.draw()
        assert main._waiting is waiting  # one timer however many requests
        main._next_build = 0.0
        main._waiting.stop()
        main._paused_draw()  # the timer's end: the frame is built
        await wait_for(pilot, lambda: main.frames > frames, what="the paused frame")
        from textual.css.query import NoMatches

        def gone():
            raise NoMatches("the panels are being removed")

        main.frame_request = gone  # a screen closing as its paused draw's timer fires
        main._paused_draw()
        assert app.is_running
