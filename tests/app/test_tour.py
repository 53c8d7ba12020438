"""The guided tour of the paper (smtui.tui.screens.tour): its pages fit 80x24, each sets the
app up as it says (through the keys' own checked changes), t / → / ← / escape move through it,
and `smtui tour` opens the app on it."""

from __future__ import annotations

import pytest
from rich.console import Console

from smtui.core.config import Config
from smtui.tui.app import SMApp
from smtui.tui.render.field import VIEWS
from smtui.tui.runner.protocol import Reinit, Train
from smtui.tui.screens.tour import PAGES, page_text, tour_keys

RING = Config(n_train=96, hidden=16, seed=0)


def lines(text, width: int) -> int:
    return len(Console(width=width, legacy_windows=False).render_lines(text, pad=False))


@pytest.mark.parametrize("i", range(len(PAGES)))
def test_every_page_fits_80x24_and_says_what_to_look_at(i):
    """At 80x24 the tour panel is the whole bottom row: 76 cells by 6 rows of text."""
    assert lines(page_text(i), 76) <= 6
    assert "Look at" in page_text(i).plain and len(f"tour {i + 1}/7 · {PAGES[i].title}") <= 74


def test_the_pages_walk_through_the_argument_in_order():
    objectives = [p.setup["objective"] for p in PAGES]
    assert objectives == ["dsm", "esm", "ism", "esm-sigma", "dsm", "dae", "dsm"]
    assert [p.fresh for p in PAGES].index(True) == 4  # page 5 (DSM) starts afresh: the fall is seen
    assert "one-scale plot" in PAGES[4].look and "C2 − C3" in PAGES[4].text
    assert "∂ψᵢ/∂xᵢ" in PAGES[2].text and "2σ⁴" in PAGES[5].title and "Sweep sigma" in PAGES[6].look
    assert all(p.view in VIEWS for p in PAGES)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_t_opens_the_tour_keys_move_through_it_and_each_page_sets_the_app_up(fake_app, size, settled, wait_for):
    app = fake_app(RING)
    async with app.run_test(size=size) as pilot:
        await settled(app, pilot, step=0)
        main = app.main
        await pilot.press("escape", "right")  # no tour: not its keys, nothing happens
        assert main.tour_page == -1 and not main.query_one("#tour").display
        await pilot.press("t")
        await wait_for(pilot, lambda: main.query_one("#tour").display, what="the tour")
        tour = main.query_one("#tour")
        assert tour.display and "tour 1/7" in tour.border_title and tour_keys() == tour.border_subtitle
        assert tour.content_size.height >= lines(page_text(0), tour.content_size.width)  # the page fits
        assert not main.query_one("#setup").display and not main.query_one("#idplot").display
        assert main.query_one("#loss").display == (size == (120, 40))  # 80x24: the whole bottom row
        for i in range(1, len(PAGES)):
            await pilot.press("right")
            await pilot.pause(0.05)
            page = PAGES[i]
            assert main.tour_page == i and f"tour {i + 1}/7" in tour.border_title
            assert tour.content_size.height >= lines(page_text(i), tour.content_size.width)
            assert main.config.objective == page.setup["objective"] and main.config.sigma == 0.3
            assert main.view == VIEWS.index(page.view) and main.training == page.train
        await pilot.press("right")  # the last page stays
        assert main.tour_page == len(PAGES) - 1
        await pilot.press("left", "left", "left")  # back through page 5, which starts afresh again
        assert main.tour_page == 3 and main.config.objective == "esm-sigma"
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert main.tour_page == -1 and not tour.display and main.query_one("#setup").display
        handled = app.main.runner.job.handled
        assert sum(isinstance(c, Reinit) for c in handled) == 2  # page 5, each time it is shown
        assert any(isinstance(c, Train) for c in handled)


async def test_a_page_sets_up_in_one_checked_change_as_the_keys_do(fake_app, notes, settled, wait_for):
    """From sample-only data, page 2 (ESM, which needs an analytic q) brings ring8 back and ESM
    with it in one change, checked as a key's is (Config.with_changes) and sent as one Configure."""
    from smtui.tui.runner.protocol import Configure

    app = fake_app(Config(distribution="moons", n_train=96, hidden=16))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("t", "right")
        await wait_for(pilot, lambda: app.main.config.objective == "esm", what="page 2's setup")
        assert app.main.config.distribution == "ring8" and app.main.config.objective == "esm"
        sent = [c.changes for c in app.main.runner.job.handled if isinstance(c, Configure)]
        assert any(c.get("distribution") == "ring8" and c.get("objective") == "esm" for c in sent), sent
        assert not any("refused" in n for n in notes(app))


async def test_the_palette_opens_it_and_smtui_tour_starts_on_it(fake_app, monkeypatch, settled):
    from smtui.tui.cli import main as cli
    from smtui.tui.screens.commands import palette

    app = fake_app(RING, tour=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot, step=0)
        assert app.main.tour_page == 0 and app.main.query_one("#tour").display
        titles = [c.title for c in palette(app.main)]
        assert any(t.startswith("A guided tour of the paper") for t in titles)
        assert not any("tour's" in t or t == "Leave the tour" for t in titles)  # its page keys are not commands
    opened = {}
    monkeypatch.setattr("smtui.tui.app.run_app", lambda config, **kw: opened.update(kw) or 0)
    assert cli.main(["tour"]) == 0 and opened["tour"] is True
    with pytest.raises(SystemExit) as bad:  # a bad flag: one line, exit status 2, as every command
        cli.main(["tour", "--bogus"])
    assert bad.value.code == 2


def test_smtui_tour_is_a_command_of_its_own():
    from smtui.tui.cli.main import COMMANDS

    assert COMMANDS["tour"][0] == "smtui.tui.cli.tour"


async def test_page_5_draws_the_fall_on_the_one_scale_plot(settled, wait_for):
    """With the real trainer: page 5 restarts and trains DSM; the one-scale plot then holds
    several evaluations falling, with D on ESM_qsigma's line."""
    app = SMApp(RING, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("t", "t", "t", "t", "t")
        await wait_for(pilot, lambda: app.main.tour_page == 4 and app.main.training, what="page 5 training")
        await wait_for(pilot, lambda: app.main.report and len(app.main.report.snapshot.scale_history) >= 4,
                       what="evaluations while it falls", timeout=60)
        await pilot.press("space")
        h = app.main.report.snapshot.scale_history
        assert h[-1, 1] < h[0, 1]  # ESM_qsigma fell
        await wait_for(pilot, lambda: "onescale" in app.main.panel_texts and "D" in app.main.panel_texts["onescale"]
                       .plain, what="the plot")
