"""Training step time of the engine (smtui.core.trainer.Trainer.train) against three numpy
loops written on their own (benchmarks/reference.py): the minimal loop a numpy user
would write, the fastest numpy loop found, and the floor of unavoidable work; for every
objective, three sizes and both float types. A step is: draw the batch, value and
gradient, optimiser update (Adam), finiteness check. For each objective and size all
eight runners (four loops x two float types) run in interleaved blocks of steps;
medians; speeds as ratios to the minimal loop of the same float type (> 1: faster).

    python -m benchmarks.step_time                      # the full table (a few minutes)
    python -m benchmarks.step_time --size 2,8,16 --rounds 1 --steps 2   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SIZES, interleaved, make_trainer, parse_size, table
from benchmarks.reference import LOOPS, loop_for
from smtui.core.objectives import OBJECTIVES

DTYPES = ("float64", "float32")
DEFAULT = ("dsm", (2, 64, 256), "float64")
GOAL_DEFAULT, GOAL_OTHERS = 1.05, 1.0  # engine speed / minimal loop's (issue 10)


def measure(objective, size, dtypes, rounds, steps):
    """{dtype: {runner: median seconds per step}}, or None if the objective needs an
    analytic score the data at this size lacks."""
    runners = {}
    for dtype in dtypes:
        trainer = make_trainer(objective, *size, dtype)
        if trainer is None:
            return None
        runners[(dtype, "engine")] = trainer.train
        for kind in LOOPS:
            runners[(dtype, kind)] = loop_for(trainer, kind).train
    for run in runners.values():  # warm up caches, allocator and branch predictors
        run(max(1, steps // 2))
    t = interleaved(runners, rounds, steps)
    return {dt: {kind: t[(dt, kind)] for (d2, kind) in t if d2 == dt} for dt in dtypes}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", action="append", type=parse_size, metavar="D,H,B",
                    help="dimension, hidden units, batch (repeatable; default: 2,64,256 2,256,1024 64,256,256)")
    ap.add_argument("--objective", action="append", choices=list(OBJECTIVES), help="repeatable; default all")
    ap.add_argument("--dtype", action="append", choices=list(DTYPES), help="repeatable; default both")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per cell (median taken)")
    ap.add_argument("--steps", type=int, default=40, help="steps per timed block")
    args = ap.parse_args(argv)
    dtypes = args.dtype or list(DTYPES)
    rows, speeds, f32_vs_f64 = [], {}, []
    for size in args.size or SIZES:
        for name in args.objective or list(OBJECTIVES):
            label = ",".join(map(str, size))
            t = measure(name, size, dtypes, args.rounds, args.steps)
            if t is None:
                rows.append([name, "-", label] + ["-"] * 7 + ["n/a (no analytic q)"])
                continue
            for dt in dtypes:
                us = {k: v * 1e6 for k, v in t[dt].items()}
                m = us["minimal"]
                speeds[(name, size, dt)] = m / us["engine"]
                rows.append([name, dt, label, us["engine"], m, us["fastest"], us["floor"],
                             m / us["engine"], m / us["fastest"], m / us["floor"], ""])
                print(table(_HEADER, rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
            if len(dtypes) == 2:
                f32_vs_f64.append((name, label, t["float64"]["engine"] / t["float32"]["engine"]))
    print(table(_HEADER, rows, title=f"median us per step over {args.rounds} interleaved rounds of {args.steps} "
                                       f"steps; 'x' = speed relative to the minimal loop (its us / this us)"))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load:
        print(f"load average at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} ({os.cpu_count()} cores)")
    if f32_vs_f64:
        low = min(f32_vs_f64, key=lambda r: r[2])
        print(f"engine float32 speed / float64 speed: lowest {low[2]:.2f}x ({low[0]} at {low[1]}), "
              f"median {sorted(r[2] for r in f32_vs_f64)[len(f32_vs_f64) // 2]:.2f}x")
    if DEFAULT in speeds:
        print(f"default (dsm, 2,64,256, float64): engine {speeds[DEFAULT]:.2f}x the minimal loop "
              f"(goal >= {GOAL_DEFAULT}x)")
    goal = {k: v for k, v in speeds.items() if _in_goal_set(*k)}
    for label, cells, target in (("goal set (d=2, ISM at any d)", goal, f"goal >= {GOAL_OTHERS}x"),
                                 ("outside it", {k: v for k, v in speeds.items() if k not in goal}, "no goal")):
        if cells:
            low = min(cells, key=cells.get)
            print(f"lowest engine ratio, {label}: {cells[low]:.2f}x ({low[0]}, {','.join(map(str, low[1]))}, "
                  f"{low[2]}; {target})")
    return 0


def _in_goal_set(objective, size, dtype) -> bool:
    """Issue 10's cells: every objective at d = 2 (the sizes measured), and ISM at d = 64."""
    return size[0] == 2 or objective == "ism"


_HEADER = ["objective", "dtype", "d,h,b", "engine us", "minimal us", "fastest us", "floor us",
           "engine x", "fastest x", "floor x", ""]

if __name__ == "__main__":
    raise SystemExit(main())
