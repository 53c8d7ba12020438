"""Training step time of the engine (smtui.core.trainer.Trainer.train) against three numpy
loops written on their own (benchmarks/reference.py): the minimal loop a numpy user
would write, the fastest numpy loop found, and the floor of unavoidable work; for every
objective, three sizes and both float types. A step is: draw the batch, value and
gradient, optimiser update (Adam), finiteness check. For each objective and size all
eight runners (four loops x two float types) run in interleaved blocks of steps;
medians; speeds as ratios to the minimal loop of the same float type (> 1: faster), each
with the quartiles of its per-round ratio (the two runs of a round share the machine's
load); the engine's time over the floor's beside. benchmarks/jax_loop.py puts JAX's
compiled loop beside these.

    python -m benchmarks.step_time                      # the full table (a few minutes)
    python -m benchmarks.step_time --size 2,8,16 --rounds 1 --steps 2   # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SIZES, interleaved_rounds, load_line, make_trainer, parse_size, ratio_spread, table
from benchmarks.reference import LOOPS, loop_for
from smtui.core.objectives import OBJECTIVES

DTYPES = ("float64", "float32")
DEFAULT_SIZE = (2, 64, 256)
GOAL_DEFAULT, GOAL_OTHERS = 1.6, 1.3  # engine speed / minimal loop's at the default size (issue 19)
GOAL_DEFAULT_FOR = ("dsm", "ism")


def measure(objective, size, dtypes, rounds, steps):
    """{"wall"/"cpu": {(dtype, runner): [seconds per step, one per round]}}, or None if the
    objective needs an analytic score the data at this size lacks."""
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
    return interleaved_rounds(runners, rounds, steps)


def spread(m, q1, q3) -> str:
    return f"{m:.2f} ({q1:.2f}-{q3:.2f})"


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
    print(f"at the start: {load_line()}", flush=True)
    rows, speeds, f32 = [], {}, []
    for size in args.size or SIZES:
        for name in args.objective or list(OBJECTIVES):
            label = ",".join(map(str, size))
            t = measure(name, size, dtypes, args.rounds, args.steps)
            if t is None:
                rows.append([name, "-", label] + ["-"] * 8 + ["n/a (no analytic q)"])
                continue
            wall, cpu = t["wall"], t["cpu"]
            for dt in dtypes:
                us = {k: statistics.median(wall[(dt, k)]) * 1e6 for k in ("engine", *LOOPS)}
                x = ratio_spread(wall[(dt, "minimal")], wall[(dt, "engine")])
                x_cpu = ratio_spread(cpu[(dt, "minimal")], cpu[(dt, "engine")])[0]
                floor = ratio_spread(wall[(dt, "engine")], wall[(dt, "floor")])[0]
                speeds[(name, size, dt)] = x
                rows.append([name, dt, label, us["engine"], us["minimal"], us["fastest"], us["floor"], spread(*x),
                             x_cpu, floor, us["minimal"] / us["fastest"], ""])
                print(table(_HEADER, rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
            if len(dtypes) == 2:
                f32.append((name, label, ratio_spread(wall[("float64", "engine")], wall[("float32", "engine")])))
    print(table(_HEADER, rows, title=f"median us per step over {args.rounds} interleaved rounds of {args.steps} steps; "
                                       "'x' = speed relative to the minimal loop (its us / this us), median of the "
                                       "per-round ratios (quartiles); 'cpu x' the same by CPU time; 'floor' = engine "
                                       "us / floor us"))
    print(f"at the end: {load_line()}")
    _summary(speeds, f32)
    return 0


def _summary(speeds: dict, f32: list) -> None:
    """The goals of issue 19, read off this run."""
    default = {k: v for k, v in speeds.items() if k[1] == DEFAULT_SIZE}
    for name in GOAL_DEFAULT_FOR:
        if (name, DEFAULT_SIZE, "float64") in default:
            print(f"default {name} (2,64,256, float64): engine {spread(*default[(name, DEFAULT_SIZE, 'float64')])}x "
                  f"the minimal loop (goal >= {GOAL_DEFAULT}x)")
    if default:
        low = min(default, key=lambda k: default[k][0])
        print(f"lowest engine ratio at 2,64,256: {spread(*default[low])}x ({low[0]}, {low[2]}; goal >= {GOAL_OTHERS}x "
              "for every objective)")
    others = {k: v for k, v in speeds.items() if k[1] != DEFAULT_SIZE}
    if others:
        low = min(others, key=lambda k: others[k][0])
        print(f"lowest engine ratio at the other sizes: {spread(*others[low])}x ({low[0]}, "
              f"{','.join(map(str, low[1]))}, {low[2]}; no goal)")
    if f32:
        low = min(f32, key=lambda r: r[2][0])
        print(f"engine float32 speed / float64 speed: lowest {spread(*low[2])}x ({low[0]} at {low[1]}; goal >= 1.0x), "
              f"median {statistics.median(r[2][0] for r in f32):.2f}x")


_HEADER = ["objective", "dtype", "d,h,b", "engine us", "minimal us", "fastest us", "floor us", "engine x (quartiles)",
           "cpu x", "floor", "fastest x", ""]

if __name__ == "__main__":
    raise SystemExit(main())
