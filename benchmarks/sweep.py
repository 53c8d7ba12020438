"""The cost of a sigma sweep (issue 12: 8 sigmas x 3 seeds x 2,000 steps at the default setup
in under a minute on 2 cores): wall time with --jobs worker processes, the CPU seconds the
runs used, and the wall time that CPU implies on idle cores (sum of CPU / jobs), beside the
load average, since a loaded machine stretches the wall time.

    python -m benchmarks.sweep                               # the target: 0.03:3:8, 3 seeds, 2,000 steps
    python -m benchmarks.sweep --sigma 0.1,1 --seeds 1 --steps 20 --jobs 2   # a smoke run
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
from smtui.core.sweep import default_jobs, parse_sigmas, run_sweep, sweep_configs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigma", default="0.03:3:8")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=default_jobs())
    args = ap.parse_args(argv)
    configs = sweep_configs(Config(), parse_sigmas(args.sigma), args.seeds)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    results = run_sweep(configs, args.steps, args.jobs)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    cpu = sum(r["cpu_seconds"] for r in results)
    per_run = sorted(r["cpu_seconds"] for r in results)
    rows = [[len(results), args.steps, args.jobs, os.cpu_count(), wall, cpu, per_run[len(per_run) // 2],
             cpu / args.jobs, f"{load0:.1f} -> {load1:.1f}"]]
    print(table(["runs", "steps", "jobs", "cores", "wall s", "CPU s (sum)", "CPU s/run (median)",
                 "idle-core wall s (CPU/jobs)", "load average (1 min)"], rows, "sigma sweep"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
