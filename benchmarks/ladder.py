"""The noise ladder's costs and its target over seeds (issue 17): for each seed, the default
training's wall time, the learned ladder's weight TV beside the one-sigma MALA baseline's, ms
per annealing step for 2,000 particles (learned and exact score), and the ladder screen's
frames per second while it samples (headless app at 120x40, its job in a process, as the app
runs it). Targets on 2 idle cores: training <= 20 s, a step <= 2 ms, >= 10 frames/s.

    python -m benchmarks.ladder                    # 3 seeds, the defaults
    python -m benchmarks.ladder --seeds 1 --steps 50 --particles 100 --levels 3 --steps-per-level 3

Prints figures with the load average; asserts nothing (timings depend on the machine)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import table
from smtui.core.config import Config
from smtui.core.ladder_run import DEFAULT_PARTICLES, DEFAULT_STEPS, DEFAULT_STEPS_PER_LEVEL, LadderRun, LadderSetup


def seed_row(setup: LadderSetup) -> list:
    run = LadderRun(setup)
    run.train(setup.steps)
    rows = {}
    for exact in (False, True):
        walk = run.walk(exact=exact)
        t0 = time.perf_counter()
        walk.run()
        rows[exact] = (1e3 * (time.perf_counter() - t0) / walk.total, run.measure(walk.x))
    one = run.baseline()
    one.train(setup.steps)
    base = one.sample()["metrics"]
    learned = rows[False][1]
    return [setup.config.seed, run.train_seconds, rows[False][0], rows[True][0], learned["weight_tv"],
            base["weight_tv"], learned["weight_tv"] / base["weight_tv"], learned["off_mode"],
            rows[True][1]["weight_tv"]]


async def screen_frames(setup: LadderSetup, mode: str) -> tuple[float, float, int]:
    """(frames/s and reports/s while sampling, frames drawn then) of the ladder screen at 120x40."""
    from smtui.tui.app import SMApp
    from smtui.tui.screens.ladder import LadderScreen

    app = SMApp(setup.config, runner_mode=mode)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = LadderScreen(setup, mode=mode)
        app.push_screen(screen)
        seen = []  # (time, frames, reports) while sampling

        def phase():
            return screen.snapshot.phase if screen.snapshot is not None else None

        reports, last = 0, None
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline and phase() not in ("measuring", "done"):
            await pilot.pause(0.02)
            if screen.report is not last:
                last, reports = screen.report, reports + 1
            if phase() == "sampling":
                seen.append((time.perf_counter(), screen.frames, reports))
        if len(seen) < 2:
            return float("nan"), float("nan"), 0
        (t0, f0, r0), (t1, f1, r1) = seen[0], seen[-1]
        return (f1 - f0) / (t1 - t0), (r1 - r0) / (t1 - t0), f1 - f0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ap.add_argument("--particles", type=int, default=DEFAULT_PARTICLES)
    ap.add_argument("--levels", type=int, default=10)
    ap.add_argument("--steps-per-level", type=int, default=DEFAULT_STEPS_PER_LEVEL)
    ap.add_argument("--mode", default="process", choices=("process", "thread"), help="the screen's job")
    args = ap.parse_args(argv)
    rows = []
    for seed in range(args.seeds):
        setup = LadderSetup(Config(distribution="ring8w", seed=seed), levels=args.levels, steps=args.steps,
                            steps_per_level=args.steps_per_level, particles=args.particles)
        rows.append(seed_row(setup))
        print(f"seed {seed} done (load average {os.getloadavg()[0]:.2f})", file=sys.stderr)
    print(table(["seed", "train s", "ms/step learned", "ms/step exact", "weight TV", "one-σ TV", "ratio",
                 "off-mode", "exact TV"], rows,
                title=f"ring8w, K {args.levels}, {args.steps:,} training steps, T {args.steps_per_level}, "
                      f"{args.particles:,} particles; load average {os.getloadavg()[0]:.2f}"))
    setup = LadderSetup(Config(distribution="ring8w", seed=0), levels=args.levels, steps=args.steps,
                        steps_per_level=args.steps_per_level, particles=args.particles)
    fps, rps, frames = asyncio.run(screen_frames(setup, args.mode))
    print(table(["screen", "frames/s", "reports/s", "frames"], [["120x40, sampling", fps, rps, frames]],
                title=f"the ladder screen while it samples (6 walks; load average {os.getloadavg()[0]:.2f})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
