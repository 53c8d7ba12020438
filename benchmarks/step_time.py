"""Training step time of the engine (core.trainer.Trainer.train) against the hand-written
closed-form numpy reference (benchmarks/reference.py), for every objective, three sizes
and both float types. A step is: draw the batch, value and gradient, Adam update,
finiteness check. Interleaved blocks of steps; medians; ratios.

    python -m benchmarks.step_time                      # the full table (a few minutes)
    python -m benchmarks.step_time --size 2,8,16 --rounds 1 --steps 2   # a smoke run

For orientation only (issue 4, same machine kind, not measured here because PyTorch is
not installed): PyTorch eager on CPU took about 1.75x the reference's time for the
default DSM step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SIZES, interleaved, make_trainer, parse_size, table
from benchmarks.reference import reference_for
from core.objectives import OBJECTIVES

TORCH_EAGER_ORIENTATION = 1.75  # x the reference's time, default DSM step, from issue 4


def measure(objective, d, h, b, dtype, rounds, steps):
    trainer = make_trainer(objective, d, h, b, dtype)
    if trainer is None:
        return None
    ref = reference_for(trainer)
    runners = {"engine": trainer.train, "reference": ref.train}
    for run in runners.values():  # warm up caches, allocator and branch predictors
        run(max(1, steps // 2))
    return interleaved(runners, rounds, steps)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", action="append", type=parse_size, metavar="D,H,B",
                    help="dimension, hidden units, batch (repeatable; default: the three of issue 4)")
    ap.add_argument("--objective", action="append", choices=list(OBJECTIVES), help="repeatable; default all")
    ap.add_argument("--dtype", action="append", choices=["float64", "float32"], help="repeatable; default both")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per cell (median taken)")
    ap.add_argument("--steps", type=int, default=40, help="steps per timed block")
    args = ap.parse_args(argv)
    rows = []
    for d, h, b in args.size or SIZES:
        for dtype in args.dtype or ["float64", "float32"]:
            for name in args.objective or list(OBJECTIVES):
                t = measure(name, d, h, b, dtype, args.rounds, args.steps)
                if t is None:
                    rows.append([name, dtype, f"{d},{h},{b}", "-", "-", "-", "n/a (no analytic q)"])
                    continue
                e, r = t["engine"] * 1e6, t["reference"] * 1e6
                rows.append([name, dtype, f"{d},{h},{b}", e, r, e / r, r / e])
                print(table(_HEADER, rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(_HEADER, rows, title=f"median us per step over {args.rounds} interleaved rounds "
                                       f"of {args.steps} steps"))
    print(f"(orientation, issue 4: PyTorch eager ~{TORCH_EAGER_ORIENTATION}x the reference time "
          "for default DSM; not installed here)")
    return 0


_HEADER = ["objective", "dtype", "d,h,b", "engine us", "ref us", "engine/ref", "speed vs ref"]

if __name__ == "__main__":
    raise SystemExit(main())
