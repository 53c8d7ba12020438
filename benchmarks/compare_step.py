"""What a compare step costs (issue 12: exact mode is slower per step; say by how much):
median seconds per step of `smtui compare`'s engine for the K objectives together, in
minibatch and in exact mode, beside one lone Trainer step, and one evaluation (every run's
figures plus the probe gradients). Printed with the load average: a loaded machine
stretches every figure.

    python -m benchmarks.compare_step                          # the default setup, 4 objectives
    python -m benchmarks.compare_step --n-train 64 --steps 2 --rounds 1   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import table
from smtui.core.compare import Comparison
from smtui.core.compare_batches import DEFAULT_OBJECTIVES
from smtui.core.config import Config
from smtui.core.trainer import Trainer


def _median_step(train, steps: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        train(steps)
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES))
    ap.add_argument("--steps", type=int, default=50, help="minibatch steps per round (exact: a fifth)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    cfg = Config(n_train=args.n_train, eval_every=10**9)
    names = args.objectives.split(",")
    mini = Comparison(cfg, names)
    exact = Comparison(cfg, names, exact=True)
    exact.exact_batches()  # built once, not part of a step
    lone = Trainer(cfg)
    exact_steps = max(1, args.steps // 5)
    rows = [
        ["lone Trainer (dsm)", 1, _median_step(lambda k: lone.train(k, evaluate=False), args.steps, args.rounds)],
        ["compare, minibatch", len(names), _median_step(lambda k: mini.train(k, evaluate=False), args.steps,
                                                        args.rounds)],
        ["compare, exact", len(names), _median_step(lambda k: exact.train(k, evaluate=False), exact_steps,
                                                    args.rounds)],
    ]
    t0 = time.perf_counter()
    mini.evaluate()
    rows.append(["one evaluation (minibatch)", len(names), time.perf_counter() - t0])
    print(table(["what", "runs", "ms per step"], [[w, k, 1e3 * s] for w, k, s in rows],
                title=f"ring8, n_train {args.n_train}, {len(exact.exact_batches()[0][names[0]]['weight']):,} "
                      f"exact rows; load average {os.getloadavg()[0]:.2f}"))
    print(f"exact / minibatch: {rows[2][2] / rows[1][2]:.0f}x per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
