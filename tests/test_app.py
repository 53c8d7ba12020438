"""The app driven by Pilot: every key and palette action, refusals, training, resizing.

Most tests run the trainer loop in a thread (``bridge_mode="thread"``) to start fast;
``test_process_bridge_trains`` drives the real trainer process."""

from __future__ import annotations

import time

from core.config import Config
from tui.app import SMApp

FAST = Config(distribution="bimodal", n_train=128, seed=0)


async def wait_for(pilot, condition, timeout=20.0, what="condition"):
    t0 = time.perf_counter()
    while not condition():
        if time.perf_counter() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def settled(app, pilot, step=None):
    """Wait until the trainer has reported figures for the current step and they are drawn."""
    def done():
        r = app.report
        return (r is not None and r.snapshot.figures is not None and not r.training and not r.busy
                and r.snapshot.figures_step == r.snapshot.step and (step is None or r.snapshot.step == step)
                and app.frames > 0 and app.drawn_step == r.snapshot.step)
    await wait_for(pilot, done, what="a settled report")


def status(app) -> str:
    return str(app.query_one("#status").render())


async def test_starts_paused_with_hint_then_space_trains():
    app = SMApp(FAST, bridge_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        assert "step 0" in status(app) and "paused" in status(app) and "space trains" in status(app)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.report.snapshot.step > 50, what="training")
        assert "training" in status(app)
        await pilot.press("space")
        await wait_for(pilot, lambda: not app.report.training, what="pause")
        await settled(app, pilot)
        assert f"step {app.report.snapshot.step:,}" in status(app)


async def test_process_bridge_trains():
    app = SMApp(FAST, bridge_mode="process")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.report.snapshot.step > 100, what="training in the process")
        await pilot.press("space")
        await settled(app, pilot)
        assert app.bridge.mode == "process" and not app.stopped
