"""What a compare step costs (issue 12: exact mode is slower per step; say by how much;
issue 19: exact mode at 10 steps/s or more): median milliseconds per step of `smtui
compare`'s engine for the K objectives together, in minibatch and in exact mode, beside one
lone Trainer step and one evaluation (every run's figures plus the probe gradients), by
wall clock and by CPU time; then the compare screen's job in exact mode (its loop:
evaluations every few steps on their time budget, reports with the small multiples' fields
ten times a second, no UI) as steps per second. Printed with the load average: a loaded
machine stretches every wall-clock figure.

    python -m benchmarks.compare_step                          # the default setup, 4 objectives
    python -m benchmarks.compare_step --n-train 64 --steps 2 --rounds 1 --job-seconds 0.5   # a smoke run
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import load_line, table
from smtui.core.compare import Comparison
from smtui.core.compare_batches import DEFAULT_OBJECTIVES
from smtui.core.config import Config
from smtui.core.trainer import Trainer
from smtui.tui.runner.compare_job import CompareJob, CompareSetup
from smtui.tui.runner.loop import Loop
from smtui.tui.runner.protocol import Grid


def _median_step(train, steps: int, rounds: int) -> tuple[float, float]:
    """(wall, cpu) median seconds per step over ``rounds`` blocks of ``steps``."""
    wall, cpu = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        train(steps)
        wall.append((time.perf_counter() - t0) / steps)
        cpu.append((time.process_time() - c0) / steps)
    return statistics.median(wall), statistics.median(cpu)


class _Pickling:
    """A pipe end that pickles what is sent (the cost a real pipe adds) and drops it."""

    def poll(self, timeout):
        return False

    def send(self, item):
        pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)


def job_rate(cfg: Config, names, seconds: float, panel=(38, 12)) -> tuple[float, float]:
    """The compare job's exact-mode steps per second (wall, cpu) over ``seconds``: its loop
    with evaluations and reports (small multiples of ``panel`` cells), as the screen runs it."""
    loop = Loop(_Pickling(), CompareJob, CompareSetup(cfg, tuple(names), exact=True))
    loop.job.handle(Grid(panel))
    loop.training = True
    loop.maybe_evaluate()  # the first evaluation builds the evaluation set: not part of the rate
    t0, c0, s0 = time.perf_counter(), time.process_time(), loop.job.step
    while time.perf_counter() - t0 < seconds:
        loop.train_chunk()
        loop.maybe_evaluate()
        loop.maybe_send()
    steps = loop.job.step - s0
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES))
    ap.add_argument("--steps", type=int, default=50, help="minibatch steps per round (exact: a fifth)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--job-seconds", type=float, default=10.0, help="seconds of the compare job in exact mode")
    args = ap.parse_args(argv)
    print(f"at the start: {load_line()}", flush=True)
    cfg = Config(n_train=args.n_train, eval_every=10**9)
    names = args.objectives.split(",")
    mini = Comparison(cfg, names)
    exact = Comparison(cfg, names, exact=True)
    exact.exact_batches()  # built once, not part of a step
    lone = Trainer(cfg)
    exact_steps = max(1, args.steps // 5)
    rows = [
        ["lone Trainer (dsm)", 1, *_median_step(lambda k: lone.train(k, evaluate=False), args.steps, args.rounds)],
        ["compare, minibatch", len(names), *_median_step(lambda k: mini.train(k, evaluate=False), args.steps,
                                                         args.rounds)],
        ["compare, exact", len(names), *_median_step(lambda k: exact.train(k, evaluate=False), exact_steps,
                                                     args.rounds)],
    ]
    t0, c0 = time.perf_counter(), time.process_time()
    mini.evaluate()
    rows.append(["one evaluation (minibatch)", len(names), time.perf_counter() - t0, time.process_time() - c0])
    t0, c0 = time.perf_counter(), time.process_time()
    exact.evaluate()
    rows.append(["one evaluation (exact)", len(names), time.perf_counter() - t0, time.process_time() - c0])
    rate = job_rate(cfg, names, args.job_seconds)
    print(table(["what", "runs", "ms per step (wall)", "ms (cpu)"], [[w, k, 1e3 * s, 1e3 * c] for w, k, s, c in rows],
                title=f"ring8, n_train {args.n_train}, {len(exact.exact_batches()[0][names[0]]['weight']):,} "
                      f"exact rows"))
    print(f"exact / minibatch: {rows[2][2] / rows[1][2]:.0f}x per step (wall), {rows[2][3] / rows[1][3]:.0f}x (cpu)")
    print(f"exact mode, {len(names)} objectives: {1 / rows[2][2]:.1f} steps/s by wall clock, {1 / rows[2][3]:.1f} by "
          f"CPU time (goal >= 10 on 2 idle cores)")
    print(f"the compare job in exact mode (evaluations and reports included, no UI): {rate[0]:.1f} steps/s by wall "
          f"clock, {rate[1]:.1f} by CPU time")
    print(f"at the end: {load_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
