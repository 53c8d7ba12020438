"""`smtui run`-equivalent throughput with evaluation on: the engine's Trainer against the
same loop (same evaluation schedule, same figures) with the minimal numpy loop's step
(benchmarks/reference.py).

    python -m benchmarks.end_to_end                 # 5,000 steps of the default DSM setup
    python -m benchmarks.end_to_end --steps 20 --eval-every 10 --objective ism
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import make_trainer, table
from benchmarks.reference import loop_for
from smtui.core.objectives import OBJECTIVES
from smtui.core.trainer import Trainer


def run_like_smtui(trainer: Trainer, steps: int) -> None:
    """tui/cli/run.py's headless loop: chunks of at most min(eval_every, 100) steps."""
    chunk = max(1, min(trainer.config.eval_every, 100))
    while trainer.step < steps and trainer.status == "ok":
        trainer.train(min(chunk, steps - trainer.step))
    trainer.evaluate()


def reference_loop(trainer: Trainer, steps: int) -> tuple[float, float]:
    """The trainer's loop with the minimal numpy loop's step; returns (train seconds, wall seconds)."""
    ref = loop_for(trainer)
    every = trainer.config.eval_every
    train_s, wall0 = 0.0, time.perf_counter()
    while trainer.step < steps:
        t0 = time.perf_counter()
        loss = ref.step()
        train_s += time.perf_counter() - t0
        trainer.step += 1
        trainer.last_loss = loss
        trainer.losses.append((trainer.step, loss))
        if trainer.step % every == 0:
            trainer.params = ref.params
            trainer.evaluate()
    trainer.params = ref.params
    trainer.evaluate()
    return train_s, time.perf_counter() - wall0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objective", default="dsm", choices=list(OBJECTIVES))
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args(argv)
    size = (args.objective, args.dim, args.hidden, args.batch, args.dtype)
    rows = []
    for which in ("engine", "minimal loop"):
        trainer = make_trainer(*size, eval_every=args.eval_every)
        _ = trainer.eval_set  # built once per (data, sigma) in both runs; not part of the loop
        if which == "engine":
            w0 = time.perf_counter()
            run_like_smtui(trainer, args.steps)
            wall, train = time.perf_counter() - w0, trainer.train_seconds
        else:
            train, wall = reference_loop(trainer, args.steps)
        rows.append([which, args.steps, len(trainer.evaluations), args.steps / train, args.steps / wall,
                     1e3 * (wall - train) / max(1, len(trainer.evaluations))])
    rows.append(["engine/minimal", "", "", rows[0][3] / rows[1][3], rows[0][4] / rows[1][4], ""])
    print(table(["loop", "steps", "evaluations", "train steps/s", "wall steps/s", "ms per evaluation"], rows,
                title=f"{args.objective}, d={args.dim}, h={args.hidden}, b={args.batch}, {args.dtype}, "
                      f"eval every {args.eval_every} steps"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
