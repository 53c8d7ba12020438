"""Resident memory (RSS) of headless training, evaluation on, after 1,000 and 100,000 steps.

    python -m benchmarks.memory                       # the default DSM setup
    python -m benchmarks.memory --checkpoints 10,50   # a smoke run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import make_trainer, table
from benchmarks.end_to_end import run_like_smtui
from smtui.core.objectives import OBJECTIVES


def rss_mb() -> float:
    """Current resident set size from /proc (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objective", default="dsm", choices=list(OBJECTIVES))
    ap.add_argument("--checkpoints", default="1000,100000", help="comma-separated step counts")
    ap.add_argument("--eval-every", type=int, default=250)
    args = ap.parse_args(argv)
    rows = [["start (imports, data)", 0, rss_mb()]]
    trainer = make_trainer(args.objective, 2, 64, 256, eval_every=args.eval_every)
    for steps in sorted(int(s) for s in args.checkpoints.split(",")):
        run_like_smtui(trainer, steps)
        rows.append([f"after {steps:,} steps", trainer.step, rss_mb()])
    rows.append(["growth, first to last checkpoint", "", rows[-1][2] - rows[1][2]])
    print(table(["when", "step", "RSS MB"], rows, title=f"headless {args.objective}, default setup"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
