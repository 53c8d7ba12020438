"""The cost of a sweep (issue 20): the wall time of one grid run here (--jobs 1), in two
worker processes (--jobs 2) and on a local Dask cluster of two workers, and each one's
overhead per run: (wall x workers - the runs' own wall seconds) / runs, the time a run
costs beyond its training and measuring (starting workers, shipping setups and results,
scheduling). The default grid is 200 runs: 10 sigmas x 2 objectives x 10 seeds, short runs
(200 steps at hidden 16), so the overhead shows. The load average is printed beside the
figures: a loaded machine stretches the wall times, not the runs' CPU seconds.

    python -m benchmarks.sweep                                  # the 200-run grid, all three
    python -m benchmarks.sweep --grid sigma=0.1,1 --seeds 1 --steps 20 --where 2   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import table
from smtui.core.config import Config
from smtui.core.grid import check_axes, grid_configs, parse_axis
from smtui.core.sweep import run_sweep

GRID = ["sigma=0.03:3:10", "objective=dsm,esm-sigma"]
WHERE = {"1": ("--jobs 1 (this process)", 1, None), "2": ("--jobs 2 (worker processes)", 2, None),
         "dask": ("--scheduler local (2 Dask workers)", 2, "local")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", action="append", help=f"NAME=VALUES, as smtui sweep takes it (default: {GRID})")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--where", default="1,2,dask", help="which of 1, 2 and dask to time (default all three)")
    args = ap.parse_args(argv)
    base = Config(hidden=args.hidden)
    axes = [parse_axis(spec, base) for spec in (args.grid or GRID)]
    check_axes(axes, {})
    configs = grid_configs(base, axes, args.seeds)
    rows = []
    for key in args.where.split(","):
        label, jobs, scheduler = WHERE[key]
        if scheduler is not None:
            try:
                import distributed  # noqa: F401
            except ImportError:
                rows.append([label, len(configs), "-", "-", "-", "dask not installed (pip install 'smtui[dask]')"])
                continue
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        runs = run_sweep(configs, args.steps, jobs, scheduler=scheduler)
        wall = time.perf_counter() - t0
        own = sum(r["wall_seconds"] for r in runs)
        overhead = (wall * jobs - own) / len(runs)
        rows.append([label, len(runs), wall, own / len(runs), overhead * 1000,
                     f"{load0:.1f} -> {os.getloadavg()[0]:.1f}"])
    print(table(["where", "runs", "wall s", "a run's own wall s (mean)", "overhead ms/run", "load average (1 min)"],
                rows, f"sweep: {' x '.join(a.name for a in axes)} x {args.seeds} seeds, {args.steps:,} steps, "
                f"hidden {args.hidden}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
