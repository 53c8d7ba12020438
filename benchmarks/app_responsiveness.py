"""How alive the app is while training at 120x40 and 200x60 (headless Textual driver, real
trainer process): first paint after launch, panel frames per second, key latency for
several keys, and in-app steps/s against `smtui run`; and the trainer's loop (reports
with the field, evaluations on their time budget, no UI) against Trainer.train alone,
interleaved in one process, by wall clock and by CPU time (what a loaded machine
stretches least).

    python benchmarks/app_responsiveness.py [--size 120x40 --size 200x60] [--seconds 10] [--presses 8] [flags...]

A key counts as answered when the app's state shows it (the view or setup changed, or
the command went to the trainer); `n` is timed while paused (training greys it out).
Prints figures; asserts nothing (timings depend on the machine and its load)."""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events

from benchmarks.common import load_line
from benchmarks.frame_build import _panel_sizes
from smtui.core.config import Config
from smtui.core.trainer import Trainer
from smtui.tui.app import SMApp
from smtui.tui.cli.flags import add_setup_options, config_from_args
from smtui.tui.runner.loop import Loop
from smtui.tui.runner.protocol import Grid
from smtui.tui.runner.trainer_job import TrainerJob, TrainerSetup

# key -> (Textual key name, character, what shows it was answered)
KEYS = {
    "v": ("v", "v", lambda app, before: app.main.view != before["view"]),
    "o": ("o", "o", lambda app, before: app.main.config.objective != before["config"].objective),
    "O": ("O", "O", lambda app, before: app.main.config.objective != before["config"].objective),
    "+": ("plus", "+", lambda app, before: app.main.config.sigma != before["config"].sigma),
    "-": ("minus", "-", lambda app, before: app.main.config.sigma != before["config"].sigma),
    "]": ("right_square_bracket", "]", lambda app, before: app.main.config.lr != before["config"].lr),
    "[": ("left_square_bracket", "[", lambda app, before: app.main.config.lr != before["config"].lr),
    "n": ("n", "n", lambda app, before: app.main.runner.sent != before["sent"]),
}
WHILE_TRAINING = ("v", "o", "+", "]", "O", "-", "[")  # each undone by the next of its pair: the setup stays


def headless(config: Config, steps: int) -> dict:
    """`smtui run` with the same setup: its training rate and its wall-clock rate."""
    flags = ["--distribution", config.distribution, "--objective", config.objective, "--sigma", str(config.sigma),
             "--lr", str(config.lr), "--optimizer", config.optimizer, "--batch", str(config.batch),
             "--hidden", str(config.hidden), "--n-train", str(config.n_train), "--seed", str(config.seed)]
    out = subprocess.run([sys.executable, "-m", "smtui", "run", "--steps", str(steps), "--json", "-", *flags],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    return {"train_steps_per_second": result["train_steps_per_second"],
            "wall_steps_per_second": result["steps"] / result["wall_seconds"]}


class _Pickling:
    """A pipe end that pickles what is sent (the cost a real pipe adds) and drops it."""

    def poll(self, timeout):
        return False

    def send(self, item):
        pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)


def loop_overhead(config: Config, field: tuple[int, int], rounds: int, seconds: float) -> dict[str, list[float]]:
    """The app's trainer loop (reports with the field of a ``field``-sized panel, evaluations
    on their time budget, no UI) against the same setup's Trainer.train alone, interleaved
    in this one process so both see the same load: steps/s ratios, one per round, by wall
    clock ("wall") and by CPU time ("cpu")."""
    loop = Loop(_Pickling(), TrainerJob, TrainerSetup(config))
    loop.job.handle(Grid(field))
    loop.training = True
    plain = Trainer(config)
    loop.maybe_evaluate()  # the evaluation set is built once, before timing
    ratios = {"wall": [], "cpu": []}
    for _ in range(rounds):
        t0, c0, s0 = time.perf_counter(), time.process_time(), loop.job.step
        while time.perf_counter() - t0 < seconds:
            loop.train_chunk()
            loop.maybe_evaluate()
            loop.maybe_send()
        in_loop = (loop.job.step - s0) / (time.perf_counter() - t0), (loop.job.step - s0) / (time.process_time() - c0)
        t0, c0, s0 = time.perf_counter(), time.process_time(), plain.step
        while time.perf_counter() - t0 < seconds:
            plain.train(16, evaluate=False)
        alone = (plain.step - s0) / (time.perf_counter() - t0), (plain.step - s0) / (time.process_time() - c0)
        ratios["wall"].append(in_loop[0] / alone[0])
        ratios["cpu"].append(in_loop[1] / alone[1])
    return ratios


def first_paint() -> dict:
    """A fresh interpreter: seconds from launch to the first screen and to the first plots."""
    launched = time.time()
    out = subprocess.run([sys.executable, __file__, "--first-paint-child", repr(launched)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


async def _first_paint_child(launched: float) -> None:
    app = SMApp(Config(), runner_mode="process")
    async with app.run_test(size=(120, 40)) as pilot:  # entered once the first screen is painted
        painted = time.time() - launched
        while not app.main.frames:
            await pilot.pause(0.005)
        plots = time.time() - launched
    print(json.dumps({"paint_s": painted, "plots_s": plots}))


async def _answer(app, key: str) -> tuple[float, float | None]:
    """Post ``key`` as the terminal driver would; ms until answered, and (for v) until the
    field shows the new view. (Pilot.press also waits for the screen to go idle, which is
    not what a user waits for.)"""
    name, char, answered = KEYS[key]
    before = {"view": app.main.view, "config": app.main.config, "sent": app.main.runner.sent}
    k0 = time.perf_counter()
    app.post_message(events.Key(name, char))
    while not answered(app, before):
        await asyncio.sleep(0.001)
    key_ms = 1e3 * (time.perf_counter() - k0)
    if key != "v":
        return key_ms, None
    while app.main.drawn_view != app.main.view:
        await asyncio.sleep(0.001)
    return key_ms, 1e3 * (time.perf_counter() - k0)


async def in_app(config: Config, seconds: float, presses: int, size: tuple[int, int]) -> dict:
    app = SMApp(config, runner_mode="process")
    key_ms: dict[str, list[float]] = {k: [] for k in (*WHILE_TRAINING, "n")}
    redraw_ms: list[float] = []
    async with app.run_test(size=size) as pilot:
        main = app.main
        while not (main.report and main.report.snapshot.figures and not main.report.busy and main.frames):
            await pilot.pause(0.02)
        await pilot.press("space")
        await pilot.pause(1.5)  # past the first rate window
        # Frames and steps/s while a user changes the view now and then.
        f0, s0, t0 = app.main.frames, app.main.report.snapshot.step, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await pilot.pause(0.4)
            ms, redraw = await _answer(app, "v")
            key_ms["v"].append(ms)
            redraw_ms.append(redraw)
        dt = time.perf_counter() - t0
        fps, rate = (app.main.frames - f0) / dt, (app.main.report.snapshot.step - s0) / dt
        reported = app.main.report.steps_per_second
        # The other keys, still training.
        for _ in range(presses):
            for key in WHILE_TRAINING[1:]:
                await pilot.pause(0.3)
                key_ms[key].append((await _answer(app, key))[0])
        await pilot.press("space")
        while app.main.training or (app.main.report and app.main.report.training):
            await pilot.pause(0.02)
        for _ in range(presses):
            await pilot.pause(0.2)
            key_ms["n"].append((await _answer(app, "n"))[0])
    return {"fps": fps, "steps_per_second": rate, "status_steps_per_second": reported, "key_ms": key_ms,
            "redraw_ms": redraw_ms}


def _spread(xs: list[float]) -> str:
    p95 = statistics.quantiles(xs, n=20, method="inclusive")[18] if len(xs) >= 2 else xs[0]
    return f"{statistics.median(xs):5.0f} {p95:5.0f} {max(xs):5.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", action="append", default=None, help="terminal size WxH (repeatable; default 120x40 "
                                                                  "and 200x60)")
    p.add_argument("--seconds", type=float, default=10.0, help="training time with v pressed every 0.4 s")
    p.add_argument("--presses", type=int, default=8, help="presses of each other key")
    p.add_argument("--headless-steps", type=int, default=10_000, help="steps of each `smtui run` beside the app")
    p.add_argument("--loop-rounds", type=int, default=6, help="interleaved rounds of trainer loop vs train alone")
    p.add_argument("--loop-seconds", type=float, default=1.5, help="seconds of each side of a round")
    p.add_argument("--first-paint-child", type=float, default=None, help=argparse.SUPPRESS)
    add_setup_options(p)
    args = p.parse_args()
    if args.first_paint_child is not None:
        asyncio.run(_first_paint_child(args.first_paint_child))
        return
    config = config_from_args(args)
    launch = first_paint()
    print(f"setup: {config.source}, {config.objective}, sigma {config.sigma}, batch {config.batch}, "
          f"hidden {config.hidden}; trainer in its own process; at the start: {load_line()}")
    print(f"launch to first screen / first plots   {launch['paint_s']:.2f} / {launch['plots_s']:.2f} s")
    for term in args.size or ["120x40", "200x60"]:
        size = tuple(int(v) for v in term.split("x"))
        field = asyncio.run(_panel_sizes(*size))["field"]
        # `smtui run` just before and just after the app, averaged: on a shared machine the load
        # drifts, and one side measured at a quieter moment would make the ratio lie.
        before = headless(config, steps=args.headless_steps)
        app = asyncio.run(in_app(config, args.seconds, args.presses, size))
        after = headless(config, steps=args.headless_steps)
        ref = {k: (before[k] + after[k]) / 2 for k in before}
        loop = loop_overhead(config, field, args.loop_rounds, args.loop_seconds)
        print(f"\n== {term} (field panel {field[0]}x{field[1]}); {load_line()}")
        print(f"panel frames per second (training)     {app['fps']:.1f}")
        print("key latency, ms    median   p95   max")
        print("-----------------  ------------------")
        for key, xs in app["key_ms"].items():
            print(f"{key:<3} {'(paused)' if key == 'n' else '(training)':<13}  {_spread(xs)}")
        print(f"v to redrawn field  {_spread(app['redraw_ms'])}")
        print(f"in-app steps/s (wall clock)            {app['steps_per_second']:.0f}"
              f"  (status line said {app['status_steps_per_second'] or 0:.0f})")
        print(f"smtui run steps/s                      {ref['train_steps_per_second']:.0f} training only, "
              f"{ref['wall_steps_per_second']:.0f} wall clock (evaluating every {config.eval_every} steps; mean of "
              f"{before['train_steps_per_second']:.0f} before and {after['train_steps_per_second']:.0f} after the app)")
        print(f"in-app / smtui run                     {app['steps_per_second'] / ref['train_steps_per_second']:.0%} "
              f"of training only, {app['steps_per_second'] / ref['wall_steps_per_second']:.0%} of wall clock")
        for clock in ("wall", "cpu"):
            r = loop[clock]
            print(f"trainer loop / train() alone, interleaved (same load; no UI), by {clock:<4}  median "
                  f"{statistics.median(r):.0%} of {len(r)} rounds ({min(r):.0%}-{max(r):.0%})")
    print(f"\nat the end: {load_line()}")


if __name__ == "__main__":
    main()
