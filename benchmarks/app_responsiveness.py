"""How alive the app is while training at 120x40 (headless Textual driver, real trainer
process): panel frames per second, key latency, and in-app steps/s against `smtui run`.

    python benchmarks/app_responsiveness.py [--seconds 10] [smtui setup flags...]

Prints figures; asserts nothing (timings depend on the machine and its load)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

from textual import events

from core.config import Config
from tui.app import SMApp
from tui.cli import add_setup_options, config_from_args


def headless(config: Config, steps: int) -> dict:
    """`smtui run` with the same setup: its training rate and its wall-clock rate."""
    flags = ["--distribution", config.distribution, "--objective", config.objective, "--sigma", str(config.sigma),
             "--lr", str(config.lr), "--optimizer", config.optimizer, "--batch", str(config.batch),
             "--hidden", str(config.hidden), "--n-train", str(config.n_train), "--seed", str(config.seed)]
    out = subprocess.run([sys.executable, "-m", "tui.cli", "run", "--steps", str(steps), "--json", "-", *flags],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return {"train_steps_per_second": result["train_steps_per_second"],
            "wall_steps_per_second": result["steps"] / result["wall_seconds"]}


async def in_app(config: Config, seconds: float) -> dict:
    app = SMApp(config, bridge_mode="process")
    t_start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while not (app.report and app.frames):
            await pilot.pause(0.01)
        first_frame = time.perf_counter() - t_start
        while not (app.report.snapshot.figures and not app.report.busy):
            await pilot.pause(0.02)
        await pilot.press("space")
        await pilot.pause(1.5)  # past the first rate window
        f0, s0, t0 = app.frames, app.report.snapshot.step, time.perf_counter()
        key_ms, redraw_ms = [], []
        while time.perf_counter() - t0 < seconds:
            await pilot.pause(0.4)
            before = app.view
            # Post the key as the terminal driver would, then watch for the app's answer
            # (the view changed) and for the redrawn panel; Pilot.press would also wait
            # for the screen to go idle, which is not what a user waits for.
            k0 = time.perf_counter()
            app.post_message(events.Key("v", "v"))
            while app.view == before:
                await asyncio.sleep(0.001)
            key_ms.append(1e3 * (time.perf_counter() - k0))
            while app.drawn_view != app.view:
                await asyncio.sleep(0.001)
            redraw_ms.append(1e3 * (time.perf_counter() - k0))
        dt = time.perf_counter() - t0
        fps, rate = (app.frames - f0) / dt, (app.report.snapshot.step - s0) / dt
        reported = app.report.steps_per_second
        await pilot.press("space")
    return {"first_frame_s": first_frame, "fps": fps, "steps_per_second": rate, "status_steps_per_second": reported,
            "key_ms": key_ms, "redraw_ms": redraw_ms}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    add_setup_options(p)
    config = config_from_args(p.parse_args())
    app = asyncio.run(in_app(config, config_seconds := p.parse_args().seconds))
    ref = headless(config, steps=max(2000, int(app["steps_per_second"] * config_seconds / 2)))
    q = lambda xs, f: statistics.quantiles(xs, n=20)[f] if len(xs) >= 2 else xs[0]
    print(f"setup: {config.source}, {config.objective}, sigma {config.sigma}, batch {config.batch}, "
          f"hidden {config.hidden}; 120x40, trainer in its own process")
    print(f"first frame after start         {app['first_frame_s']:.2f} s")
    print(f"panel frames per second         {app['fps']:.1f}")
    print(f"key handled (v), median / p95   {statistics.median(app['key_ms']):.0f} / {q(app['key_ms'], 18):.0f} ms")
    print(f"key to redrawn panel, med / p95 {statistics.median(app['redraw_ms']):.0f} / "
          f"{q(app['redraw_ms'], 18):.0f} ms")
    print(f"in-app steps/s (wall clock)     {app['steps_per_second']:.0f}"
          f"  (status line said {app['status_steps_per_second'] or 0:.0f})")
    print(f"smtui run steps/s               {ref['train_steps_per_second']:.0f} training only, "
          f"{ref['wall_steps_per_second']:.0f} wall clock (evaluating every {config.eval_every} steps)")
    print(f"in-app / smtui run training     {app['steps_per_second'] / ref['train_steps_per_second']:.0%}")


if __name__ == "__main__":
    main()
