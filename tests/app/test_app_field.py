"""The field and loss panels in the running app (Pilot): the field grid follows the
panel through resizes, paused and training; 5-D data is drawn on a plane that p cycles;
an error drawing the field is shown once, not once per frame; h restarts the loss plot."""

from __future__ import annotations

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.trainer import Trainer
from smtui.tui.app import SMApp
from smtui.tui.render import field as fieldview
from smtui.tui.render.frames import Same
from smtui.tui.runner.protocol import grid_shape


def grid_fits(app) -> bool:
    """The frame on screen was drawn at the field panel's size from a field computed for it.
    (Not the latest report's: while training, reports come faster than a large frame is built
    on a loaded machine, and the one on screen is seldom from the newest.)"""
    r, shown = app.main.report, app.main.shown.get("field")
    if r is None or shown is None:
        return False
    inputs, size, drawn = shown
    field = next((x.obj for x in inputs if isinstance(x, Same)), None)
    if field is None:
        return False
    f = app.main.query_one("#field").content_size
    have = tuple(len(a) for a in field.axes)
    return (have == grid_shape(f.width, f.height, r.snapshot.dim)[:len(have)] and size == (f.width, f.height)
            and len(drawn.plain.split("\n")[0]) == f.width)


def arrows(app) -> int:
    """Arrows drawn in the field's plot (not its legend line)."""
    plot = app.main.panel_texts["field"].plain.rsplit("\n", 1)[0]
    return sum(plot.count(g) for g in fieldview.ARROWS + fieldview.BIG_ARROWS)


@pytest.mark.parametrize("training", [False, True])
async def test_the_field_grid_fits_the_panel_after_every_resize(training, fast, settled, wait_for):
    app = SMApp(fast.with_changes(distribution="ring8"), runner_mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot, step=0)
        if training:
            await pilot.press("space")
        counts, laid_out = {}, [app.main.query_one("#field").content_size]

        def fits(size):
            """The panel is laid out for the new size (until then the old frame fits the old
            panel), the grid fits it, and the frame on screen was drawn from it: one arrow per
            ~4 x 2 cells of the plot, no more (crammed), not far fewer (sparse)."""
            f = app.main.query_one("#field").content_size
            if f == laid_out[-1] or not grid_fits(app):
                return False
            room = (f.width - 6) // 4 * ((f.height - 4) // 2)
            counts[size] = arrows(app)
            return 0.6 * room <= counts[size] <= room

        for size in [(200, 60), (120, 40), (80, 24), (200, 60)]:
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda size=size: fits(size), timeout=20,
                           what=f"a grid that fits at {size}: {counts}")
            laid_out.append(app.main.query_one("#field").content_size)
        assert counts[(200, 60)] > 3 * counts[(80, 24)]
        assert not app.main.render_errors


@pytest.fixture
def five_d(tmp_path):
    rng = np.random.default_rng(7)
    rot, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    path = tmp_path / "pts5d.npy"
    np.save(path, (rng.normal(size=(600, 5)) * [3.0, 2.0, 1.0, 0.5, 0.25]) @ rot.T)
    return str(path)


async def test_5d_data_is_drawn_on_a_plane_p_cycles_with_losses_and_identities(five_d, notes, settled, wait_for):
    app = SMApp(Config(data_path=five_d, objective="ism", seed=0), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await wait_for(pilot, lambda: "PC1-PC2 plane" in app.main.panel_texts["field"].plain, what="the plane")
        assert arrows(app) > 50
        await pilot.press("n", "n", "n")
        await settled(app, pilot, step=3)
        assert "linear y" in app.main.panel_texts["loss"].plain or "log10 y" in app.main.panel_texts["loss"].plain
        identities = app.main.panel_texts["identities"].plain
        assert "Monte Carlo" in identities and "✓" in identities
        await pilot.press("p")
        await wait_for(pilot, lambda: "PC1-PC3 plane" in app.main.panel_texts["field"].plain, what="the next plane")
        for _ in range(9):
            await pilot.press("p")
        await wait_for(pilot, lambda: "x1-x2 plane" in app.main.panel_texts["field"].plain, what="a coordinate plane")
        await pilot.press("v", "v", "v", "v")  # Langevin view: samples projected too
        await pilot.press("l")
        await wait_for(pilot, lambda: "Langevin samples drawn" in app.main.panel_texts["field"].plain, what="samples")
        assert not app.main.render_errors and app.main.problem == ""
        assert not any("error" in n for n in notes(app))


async def test_an_error_drawing_the_field_is_shown_once_not_per_frame(monkeypatch, fast, notes, settled, wait_for):
    def broken(self, shape, plane_index=0):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(Trainer, "field", broken)
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0, field=False)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.main.report.snapshot.step > 50, what="training")
        frames = app.main.frames
        await wait_for(pilot, lambda: app.main.frames > frames + 5, what="frames after the error")
        assert "broadcast" in str(app.main.query_one("#status").render())
        await pilot.press("space")
        shown = [n for n in notes(app) if "broadcast" in n]
        assert len(shown) == 1, shown


async def test_h_shows_the_loss_from_now_then_the_whole_history_again(fast, notes, settled, wait_for):
    app = SMApp(fast, runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        for _ in range(4):
            await pilot.press("n")
        await settled(app, pilot, step=4)
        await pilot.press("h")
        await wait_for(pilot, lambda: "from step 4" in app.main.panel_texts["loss"].plain, what="the loss from now")
        assert "whole history" in app.main.query_one("#loss").border_subtitle
        await pilot.press("h")
        await wait_for(pilot, lambda: "from step" not in app.main.panel_texts["loss"].plain, what="the whole history")
        assert "from now" in app.main.query_one("#loss").border_subtitle
        await pilot.press("p")  # 2-D data: no plane to choose, and it says so
        await wait_for(pilot, lambda: any("no plane to choose" in n for n in notes(app)), what="the p note")
