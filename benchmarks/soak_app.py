"""Soak the app: train 100,000 steps headless (Textual's run_test, the real trainer process)
and print the resident memory of the UI process and of the trainer process as it goes.

    python -m benchmarks.soak_app                 # 100,000 steps at 120x40, the default setup
    python -m benchmarks.soak_app --tiny          # a smoke run (a few hundred steps)

Memory should level off: the trainer decimates its histories, the UI keeps only the newest
report and the panels on screen. The lengths printed show the histories stay bounded."""

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
from smtui.core.distributions import NAMES


def rss_mb(pid: int | None) -> float:
    """Resident set size of a process from /proc (Linux), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, TypeError):
        pass
    return float("nan")


def checkpoints(steps: int, every: int) -> list[int]:
    """The steps at which memory is read: every ``every`` steps, plus 1,000 and the last."""
    return sorted({s for s in (*range(every, steps + 1, every), 1000, steps) if 0 < s <= steps})


async def soak(config: Config, steps: int, every: int, size: tuple[int, int], timeout: float) -> tuple[list, dict]:
    from smtui.tui.app import SMApp

    app = SMApp(config)
    rows, t0 = [], time.perf_counter()
    async with app.run_test(size=size) as pilot:
        while app.main.report is None or app.main.runner.pid is None:
            await pilot.pause(0.05)
        rows.append(["start (paused)", 0, 0.0, rss_mb(os.getpid()), rss_mb(app.main.runner.pid), app.main.frames, 0, 0])
        await pilot.press("space")
        t_train = time.perf_counter()
        todo = checkpoints(steps, every)
        while todo:
            await pilot.pause(0.1)
            snap = app.main.report.snapshot
            if snap.step >= todo[0]:
                while todo and snap.step >= todo[0]:
                    todo.pop(0)
                rows.append([f"after {snap.step:,} steps", snap.step, time.perf_counter() - t_train,
                             rss_mb(os.getpid()), rss_mb(app.main.runner.pid), app.main.frames, len(snap.losses),
                             len(snap.identity_history)])
            if time.perf_counter() - t0 > timeout:
                rows.append([f"timed out at {snap.step:,} steps", snap.step, time.perf_counter() - t_train,
                             rss_mb(os.getpid()), rss_mb(app.main.runner.pid), app.main.frames, len(snap.losses),
                             len(snap.identity_history)])
                break
            if app.main.stopped or app.main.report.snapshot.status != "ok":
                raise SystemExit(f"soak: the trainer stopped ({app.main.stopped or app.main.report.snapshot.message})")
        await pilot.press("space")
        await pilot.pause(0.3)
        info = {"render errors": len(app.main.render_errors), "notifications": len(app._notifications),
                "steps/s (last report)": app.main.report.steps_per_second}
    return rows, info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=10_000, help="steps between memory readings")
    ap.add_argument("--size", default="120x40", help="terminal size, WxH")
    ap.add_argument("--distribution", default=Config().distribution, choices=NAMES)
    ap.add_argument("--n-train", type=int, default=Config().n_train)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before giving up")
    ap.add_argument("--tiny", action="store_true", help="a smoke run: 300 steps, readings every 100")
    args = ap.parse_args(argv)
    if args.tiny:
        args.steps, args.every, args.n_train = 300, 100, min(args.n_train, 64)
    w, h = (int(v) for v in args.size.lower().split("x"))
    config = Config(distribution=args.distribution, n_train=args.n_train)
    rows, info = asyncio.run(soak(config, args.steps, args.every, (w, h), args.timeout))
    first = next((r for r in rows if r[1] >= min(1000, args.steps)), rows[-1])
    rows.append(["growth, first 1,000 to last", "", "", rows[-1][3] - first[3], rows[-1][4] - first[4], "", "", ""])
    print(table(["when", "step", "seconds", "UI RSS MB", "trainer RSS MB", "frames", "loss rows", "identity rows"],
                rows, title=f"app soak at {w}x{h}: {config.distribution}, {config.objective}, n_train "
                            f"{config.n_train} (UI pid {os.getpid()}, trainer in its own process)"))
    print("  ".join(f"{k}: {'-' if v is None else f'{v:,.0f}'}" for k, v in info.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
