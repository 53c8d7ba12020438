"""The compare screen driven by Pilot (its trainer in a thread), and its render helpers:
opened with c and the palette, keys, what it shows against the engine, refusals, sizes;
its trainer's heartbeat and restarts (the real process killed, and a job that dies)."""

from __future__ import annotations

import dataclasses
import os
import signal

import numpy as np
import pytest

from smtui.core.compare import Comparison
from smtui.core.config import Config
from smtui.tui.app import SMApp
from smtui.tui.render import compare as cr
from smtui.tui.runner.compare_job import CompareJob
from smtui.tui.runner.protocol import CompareReport
from smtui.tui.screens.compare import CompareScreen, open_compare
from smtui.tui.screens.keys import COMPARE_KEYS
from smtui.tui.screens.modals import HelpScreen

FAST = Config(distribution="ring8", n_train=96, hidden=16, seed=0)


async def test_c_opens_compare_and_the_table_shows_the_engines_figures(settled_compare, wait_for):
    app = SMApp(FAST, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        s = await settled_compare(app, pilot)
        engine = Comparison(FAST, s.names)
        values = engine.evaluate()["values"]
        table = s.panel_texts["cmp-table"].plain
        for name in s.names:
            line = next(row for row in table.splitlines() if f" {name} " in row + " ")
            assert f"{values[name]:.4g}" in line, (name, line)
        assert s.report.snapshot.scale == "ESM_qσ"
        for i in range(4):
            assert s.panel_texts[f"cmp-field-{i}"].plain.strip(), "every small multiple is drawn"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen), what="back to main")
        await wait_for(pilot, lambda: s.runner._worker is None, what="the compare trainer closed")


async def test_keys_step_train_pause_sigma_view_exact_and_reinit(notes, settled_compare, compare_settled, wait_for):
    app = SMApp(FAST, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        s = await settled_compare(app, pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: compare_settled(s, 1), what="one step")
        await pilot.press("space")
        await wait_for(pilot, lambda: s.report.training and s.report.snapshot.step > 20, what="training")
        await pilot.press("space")
        await wait_for(pilot, lambda: compare_settled(s), what="paused")
        snap = s.report.snapshot
        assert snap.gaps["esm-sigma|dsm"][-1, 1] > 0  # minibatch runs drift apart
        assert snap.gaps["dsm|dae"][-1, 1] < 1e-3 and snap.cosine["dsm|dae"] == pytest.approx(1, abs=1e-9)
        await pilot.press("plus")
        await wait_for(pilot, lambda: s.report.snapshot.config.sigma == 0.375 and compare_settled(s),
                       what="sigma up")
        await pilot.press("v")
        assert s.query_one("#cmp-field-0").border_subtitle == cr.VIEWS[1]
        await pilot.press("e")
        await wait_for(pilot, lambda: s.report.snapshot.exact and compare_settled(s), what="exact mode")
        assert "exact" in str(s.query_one("#cmp-status").render())
        step = s.report.snapshot.step
        await pilot.press("n")
        await wait_for(pilot, lambda: compare_settled(s, step + 1), what="an exact step")
        assert all(v == 0.0 for v in s.report.snapshot.gradient_variance.values())
        await pilot.press("r")
        await wait_for(pilot, lambda: compare_settled(s, 0) and len(s.report.snapshot.curves["dsm"]) == 1,
                       what="re-initialised")
        assert all(g[-1, 1] == 0 for g in s.report.snapshot.gaps.values())
        await pilot.press("d")
        assert any("main screen" in n for n in notes(app))
        assert app.main.report.snapshot.config.distribution == "ring8"  # the main run untouched


async def test_exact_mode_after_drift_starts_every_run_from_one_start_and_says_so(
        notes, settled_compare, compare_settled, wait_for):
    """Issue 16: e after the minibatch runs drifted apart restarts them from one start (the
    screen says so, in a note and in the table); after an exact step the cosines are 1 within 1e-6."""
    app = SMApp(FAST, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        s = await settled_compare(app, pilot)
        await pilot.press("space")
        await wait_for(pilot, lambda: s.report.training and s.report.snapshot.step > 30, what="training")
        await pilot.press("space")
        await wait_for(pilot, lambda: compare_settled(s), what="paused")
        assert min(s.report.snapshot.cosine.values()) < 0.999  # drifted apart
        await pilot.press("e")
        await wait_for(pilot, lambda: s.report.snapshot.exact and compare_settled(s, 0), what="exact from step 0")
        assert any("drifted apart" in n and "restarted" in n for n in notes(app))
        assert "restarted every run" in s.panel_texts["cmp-table"].plain
        await pilot.press("n")
        await wait_for(pilot, lambda: compare_settled(s, 1), what="an exact step")
        assert all(abs(v - 1) <= 1e-6 for v in s.report.snapshot.cosine.values()), s.report.snapshot.cosine


async def test_the_palette_and_refusals(notes, compare_settled, settled, wait_for):
    app = SMApp(FAST.with_changes(distribution="moons"), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        open_compare(app.main, ["esm", "ism"])  # esm needs an analytic q
        await wait_for(pilot, lambda: any("analytic" in n for n in notes(app)), what="the refusal")
        assert not isinstance(app.screen, CompareScreen)
        assert any("analytic" in n for n in notes(app))
        open_compare(app.main, ["esm", "dsm"])
        await wait_for(pilot, lambda: any("no common scale" in n for n in notes(app)), what="the refusal")
        assert any("no common scale" in n for n in notes(app)) and not isinstance(app.screen, CompareScreen)
        from smtui.tui.screens.commands import palette
        titles = [c.title for c in palette(app.main)]
        assert "Compare chosen objectives…" in titles and any(t.startswith("Compare objectives") for t in titles)
        open_compare(app.main, ["dsm", "ism-sigma"])
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        s = app.screen
        await wait_for(pilot, lambda: compare_settled(s, 0), what="compare at step 0")
        assert len(s.query(".cmp-field")) == 2
        await pilot.press("question_mark")  # this screen's own keys, from its key table
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert all(k.help in text for k in COMPARE_KEYS) and "Small multiples" in text
        await pilot.press("escape")
        assert app.screen is s
        await pilot.press("q")  # the main run is at step 0, nothing unsaved: q quits from here too
        await wait_for(pilot, lambda: not app.is_running, what="the app to quit")
        assert not app.is_running


async def test_80x24_and_resizes_keep_every_panel_drawn(settled_compare, compare_settled, wait_for):
    app = SMApp(FAST, runner_mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await settled_compare(app, pilot)
        assert s.has_class("-compact")
        for size in ((120, 40), (200, 60), (40, 12), (70, 20), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause(0.3)
            await wait_for(pilot, lambda: compare_settled(s), what=f"settled at {size}")
            for wid, (_, (w, _h), text) in s.shown.items():
                if s.query_one(f"#{wid}").display and w > 0:
                    assert "could not draw" not in text.plain, wid


async def test_the_real_compare_process_trains_and_ends_with_the_screen(notes, compare_settled, wait_for):
    app = SMApp(FAST, runner_mode="process")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.main.report is not None, timeout=60, what="the main trainer")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the compare screen")
        s = app.screen
        await wait_for(pilot, lambda: compare_settled(s, 0), timeout=60, what="compare at step 0")
        first = s.runner.pid
        assert first is not None and s.runner.running
        await pilot.press("n")
        await wait_for(pilot, lambda: compare_settled(s, 1), timeout=30, what="one step")
        os.kill(first, signal.SIGKILL)
        await wait_for(pilot, lambda: any("restarted it" in n for n in notes(app)), what="the restart notice")
        await wait_for(pilot, lambda: compare_settled(s, 0), timeout=60, what="the new compare process")
        worker = s.runner._worker
        assert s.runner.pid not in (None, first) and worker.is_alive()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not worker.is_alive(), timeout=10, what="the compare process ended")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # (its death, on purpose)
async def test_a_compare_trainer_that_dies_is_restarted_with_the_setup_then_left_stopped(
        fake_app, mortal_job, notes, settled_compare, compare_settled, wait_for):
    app = fake_app(FAST, compare_job=mortal_job(CompareJob))  # (the main screen's job is a fake)
    async with app.run_test(size=(120, 40)) as pilot:
        s = await settled_compare(app, pilot)
        await pilot.press("n", "plus")
        await wait_for(pilot, lambda: compare_settled(s, 1) and s.report.snapshot.config.sigma == 0.375, what="σ up")
        s.runner.send(s.runner.job.Die())
        await wait_for(pilot, lambda: any("restarted it from step 0" in n for n in notes(app)), what="the restart")
        await wait_for(pilot, lambda: compare_settled(s, 0), what="the new compare trainer")
        assert s.report.snapshot.config.sigma == 0.375 and not s.stopped  # the setup as it stood
        await pilot.press("n")
        await wait_for(pilot, lambda: compare_settled(s, 1), what="a step in the new trainer")
        s.runner.send(s.runner.job.Die())  # again at once: said, not looped on
        await wait_for(pilot, lambda: "again" in str(s.query_one("#cmp-status").render()), what="stopped")
        await pilot.press("n")
        assert any("has stopped" in n for n in notes(app))


async def test_a_silent_compare_trainer_is_shown_stalled(fake_app, monkeypatch, settled_compare, wait_for):
    app = fake_app(FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        s = await settled_compare(app, pilot)
        monkeypatch.setattr(s.runner, "silent_for", lambda: 5.0)  # as a stopped process's would be
        await wait_for(pilot, lambda: "stalled" in str(s.query_one("#cmp-status").render()), what="the stall")
        assert "no word from the compare trainer for 5 s" in str(s.query_one("#cmp-status").render())
        monkeypatch.undo()
        await wait_for(pilot, lambda: "stalled" not in str(s.query_one("#cmp-status").render()), what="heard again")


async def test_a_late_report_from_a_beating_trainer_shows_it_working(fake_app, monkeypatch, settled_compare):
    """While training, a trainer that beats but has not reported for WORKING_AFTER seconds
    (a slow exact step, an evaluation) is shown working on the next step, not frozen."""
    app = fake_app(FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        s = await settled_compare(app, pilot)
        monkeypatch.setattr(s.runner, "silent_for", lambda: 0.1)  # beats come
        s.report = dataclasses.replace(s.report, training=True)  # the last report: training
        s.training = True
        s._report_at -= 5.0  # ... 5 s ago
        s._watch_runner()
        status = str(s.query_one("#cmp-status").render())
        assert s.waiting >= 5.0 and "working on step" in status and "stalled" not in status
        s.training = False
        s._watch_runner()
        assert s.waiting == 0.0 and "working" not in str(s.query_one("#cmp-status").render())


def test_render_helpers_without_an_app():
    c = Comparison(FAST, ["dsm", "dae"])
    c.evaluate()
    c.train(5, evaluate=False)
    c.evaluate()
    snap = c.snapshot(field_shape=(30, 12))
    assert cr.coincide(snap)  # DSM and DAE with Adam: together to well within 1e-3
    for view in range(len(cr.VIEWS)):
        assert cr.multiple_panel(snap, "dsm", view, 30, 12).plain.strip()
    text = cr.curves_panel(snap, 60, 16).plain
    assert "dsm" in text and "dae" in text
    assert "dsm|dae" in cr.table_panel(snap, 44, 16).plain
    assert cr.gaps_panel(snap, 40, 10).plain.strip()
    one = Comparison(FAST.with_changes(distribution="bimodal"), ["dsm", "esm-sigma"]).snapshot(field_shape=(30,))
    assert np.shape(one.fields["dsm"][1]) == (30, 1)
    assert cr.multiple_panel(one, "dsm", 0, 30, 10).plain.strip()


def test_the_status_line_and_the_table_say_which_runs_diverged():
    c = Comparison(Config(optimizer="sgd", lr=0.1, n_train=96, hidden=16, batch=64), ["dsm", "dae"], match_lr=False)
    c.train(400)  # DSM's steps are 62 times DAE's: DSM diverges, DAE trains on (as in test_compare)
    snap = c.snapshot()
    assert snap.status == {"dsm": "diverged", "dae": "ok"} and snap.messages["dsm"].startswith("diverged at step")
    line = cr.status_text(CompareReport(snapshot=snap)).plain
    assert "✗ dsm diverged" in line and "dae" not in line and "space trains" in line
    table = cr.table_panel(snap, 44, 16).plain.splitlines()
    assert "✗" in next(r for r in table if " dsm " in r) and "✗" not in next(r for r in table if " dae " in r)
    c.runs["dae"].status = "diverged"
    line = cr.status_text(CompareReport(snapshot=c.snapshot())).plain
    assert "every run diverged" in line and "r re-initialises" in line


def test_the_status_line_fits_the_width_by_dropping_the_least_needed_parts_whole():
    from smtui.tui.runner.protocol import CompareReport

    c = Comparison(FAST, ["dsm", "dae"])
    c.evaluate()
    busy = CompareReport(snapshot=c.snapshot(), training=False, busy="evaluating", steps_per_second=123.4)
    full = cr.status_text(busy).plain
    assert all(part in full for part in ("step 0", "minibatch", "space trains", "evaluating…"))
    assert "steps/s" not in full  # paused: no stale rate
    training = CompareReport(snapshot=c.snapshot(), training=True, steps_per_second=123.4)
    assert "123.4 steps/s" in cr.status_text(training).plain
    idle = CompareReport(snapshot=c.snapshot(), training=False, busy="", steps_per_second=123.4)
    for width in range(20, 121):
        line = cr.status_text(idle, width=width).plain
        assert len(line) <= width and line.startswith("step 0") and "❚❚ paused" in line and "…" not in line


def test_a_slow_step_shows_work_going_on_and_exact_mode_its_cost():
    """Exact mode says what a step costs; while the trainer beats but a report is late (a slow
    step or evaluation), the line says it works on the next step, with a clock that moves."""
    from smtui.tui.runner.protocol import CompareReport

    c = Comparison(FAST, ["dsm", "dae"], exact=True)
    report = CompareReport(snapshot=c.snapshot(), training=True, steps_per_second=12.5)
    line = cr.status_text(report).plain
    assert "exact (the expectation each step, 80 ms a step)" in line and "working" not in line
    late = [cr.status_text(report, waiting=w).plain for w in (0.6, 1.1, 1.6)]
    assert all("working on step 1… " in line and "▶ training" in line for line in late)
    assert len(set(late)) == 3  # the clock (and the spinner) move
    assert "1.6 s" in late[-1]
    paused = CompareReport(snapshot=c.snapshot(), training=False, steps_per_second=12.5)
    assert "working" not in cr.status_text(paused, waiting=2.0).plain


def test_the_table_keeps_its_columns_apart_when_the_numbers_are_long():
    """At sigma = 0.001 the values and gradient variances take 9 cells each (1.432e+12,
    1.581e+23): each cell still stands apart from the next (the lr and the variance ran together)."""
    c = Comparison(FAST.with_changes(sigma=0.001), ["dsm", "dae"])
    c.evaluate()
    snap = c.snapshot()
    rows = cr.table_panel(snap, 44, 16).plain.splitlines()
    for name in ("dsm", "dae"):
        row = next(r for r in rows if f" {name} " in r)
        cells = row.split()
        assert len(cells) == 5 and all("e+" in cells[i] for i in (2, 4)), row  # marker, name, value, lr, ∇ var
    assert max(len(r) for r in rows[:3]) <= 40
    c.runs["dsm"].status = "diverged"  # its mark takes the marker's cell: the row still fits the compact panel (40)
    rows = cr.table_panel(c.snapshot(), 40, 16).plain.splitlines()
    row = next(r for r in rows if " dsm " in r)
    assert row.startswith("✗ dsm ") and len(row) <= 40, row
