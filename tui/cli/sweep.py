"""`smtui sweep`: one headless run per (sigma, seed) in worker processes (core/sweep.py),
a progress bar while they run, then a table and plots of what sigma buys and costs."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from smtui.core.errors import UserError
from smtui.core.io import rows_to_csv, to_json
from smtui.core.outputs import write, write_each
from smtui.core.reading import name
from smtui.core.sweep import (
    MAX_SEEDS,
    SweepEnded,
    SweepFailed,
    default_jobs,
    parse_sigmas,
    run_sweep,
    summarise,
    sweep_configs,
)
from smtui.tui.cli.flags import (
    EXIT_DIVERGED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_FAILED,
    EXIT_TERMINATED,
    Parser,
    add_setup_options,
    config_from_args,
    one_line,
)
from smtui.tui.cli.outputs import inputs_of, plan_outputs
from smtui.tui.cli.progress import progress_line, stop_on_ctrl_c

MAX_STEPS = 10_000_000
MAX_JOBS = 256


def build_sweep_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui sweep", conflict_handler="resolve",
               description="Train once per (sigma, seed) in parallel and show what sigma buys (ESM_q, the bias "
               "of learning q_sigma's score) and costs (DSM's gradient variance over ESM_qsigma's at the same "
               "parameters, and the noise relative to the mean gradient).")
    add_setup_options(p)
    o = p.add_argument_group("sweep")
    o.add_argument("--sigma", required=True, metavar="LIST|RANGE",
                   help="sigmas: a list 0.05,0.1,0.3 or START:STOP:COUNT evenly in log sigma, e.g. 0.03:3:8")
    o.add_argument("--seeds", type=int, default=3, metavar="K",
                   help=f"runs per sigma, seeds S..S+K-1 (data, start and batches differ), 1 to {MAX_SEEDS} "
                   "(default 3)")
    o.add_argument("--steps", type=int, default=2000, metavar="N", help="training steps per run (default 2000)")
    o.add_argument("--jobs", type=int, default=None, metavar="J",
                   help=f"worker processes (default: the number of cores, {default_jobs()} here)")
    o.add_argument("--json", metavar="PATH|-", help="write every run and the per-sigma summary as JSON (- stdout)")
    o.add_argument("--csv", metavar="PATH", help="write one row per run as CSV")
    p.epilog = ("Every output is checked before the first run. Exit status: 0 ok, 2 bad input, 3 a run diverged "
                "(its figures are still reported), 4 an output could not be written (each said on stderr; the "
                "others are written), 130 interrupted (ctrl+c; 143 SIGTERM: the runs under way are ended, the "
                "finished ones written, marked partial), 1 a worker process was killed (the same).")
    return p


def main(argv: list[str]) -> int:
    """`smtui sweep ARGS`."""
    args = build_sweep_parser().parse_args(argv)
    sigmas = parse_sigmas(args.sigma)
    args.sigma = None  # the Config's own sigma is set per run
    if not 0 <= args.steps <= MAX_STEPS:
        raise UserError(f"--steps must be a whole number from 0 to {MAX_STEPS:,}, got {args.steps}")
    jobs = default_jobs() if args.jobs is None else args.jobs
    if not 1 <= jobs <= MAX_JOBS:
        raise UserError(f"--jobs must be a whole number from 1 to {MAX_JOBS}, got {jobs}")
    base = config_from_args(args)
    # Every output checked before the first run: paths, clashes, an output that is the data file.
    planned = plan_outputs(args, inputs_of(args, base.data_path))
    configs = sweep_configs(base, sigmas, args.seeds)
    wall0 = time.perf_counter()
    ended = None
    with stop_on_ctrl_c(term=True) as stop:
        try:
            results = _run(configs, args.steps, jobs, stop)
        except SweepEnded as exc:
            ended, results = exc, exc.results
    summary = summarise(results)
    result = {
        "config": {k: v for k, v in base.to_dict().items() if k not in ("sigma", "seed", "eval_every")},
        "sigmas": sigmas, "seeds": [base.seed + k for k in range(args.seeds)], "steps": args.steps,
        "jobs": jobs, "wall_seconds": time.perf_counter() - wall0, "partial": ended is not None,
        "planned_runs": len(configs), "runs": results, "summary": summary,
    }
    if ended is not None and not results:
        planned = []  # nothing finished: nothing to write
    # Each output on its own: one failure (a full disk, a FIFO with no reader) is one line and
    # leaves the others written.
    written = []
    failures = write_each(planned, lambda out: write(out, to_json(result) if out.flag == "--json"
                                                     else rows_to_csv(results)), written)
    if args.json != "-" and results:
        _show(summary, base.is_analytic, partial=ended is not None)
    if ended is not None:
        print(_ended_line(ended, stop.signal, written), file=sys.stderr)
    for line in failures:
        print(f"smtui: error: {one_line(line)}", file=sys.stderr)
    if ended is not None:
        return (EXIT_FAILED if isinstance(ended, SweepFailed) else
                EXIT_TERMINATED if stop.signal == signal.SIGTERM else EXIT_INTERRUPTED)
    diverged = sum(r["status"] != "ok" for r in results)
    if diverged:
        print(f"smtui: diverged: {diverged} of {len(results)} runs (try a smaller --lr or larger sigmas)",
              file=sys.stderr)
    if failures:
        return EXIT_OUTPUT_FAILED
    return EXIT_DIVERGED if diverged else EXIT_OK


def _ended_line(ended: SweepEnded, signum: int | None, written: list) -> str:
    """One line: why the sweep ended early, how far it got, and where the finished runs went."""
    if isinstance(ended, SweepFailed):
        why = f"smtui: error: {ended}"
    else:
        why = "smtui: terminated" if signum == signal.SIGTERM else "smtui: interrupted"
    where = " and ".join(name(o.given) if o.path else "stdout" for o in written)
    kept = f"the {ended.done} finished written to {where} (partial)" if written else "nothing written"
    return one_line(f"{why} after {ended.done} of {ended.total} runs; {kept}")


def _run(configs, steps: int, jobs: int, stop) -> list[dict]:
    """Every run, with the progress line; the first ctrl+c or SIGTERM ends the runs under way."""

    def progress(done: int, total: int, r: dict) -> None:
        show(done, f"done sigma={r['sigma']:.3g} seed={r['seed']}")

    start = f"{len(configs)} runs x {steps:,} steps"
    with progress_line("sweep", len(configs), 0, start) as show:
        return run_sweep(configs, steps, jobs, progress, stop.event)


def _show(summary: list[dict], analytic: bool, partial: bool = False) -> None:
    from rich.console import Console

    from smtui.tui.render.sweep import plots, summary_table

    console = Console()
    table = summary_table(summary, analytic)
    if partial:
        table.title = f"partial (the runs that finished): {table.title}"
    console.print(table)
    width = max(40, min(console.width, 100))
    for text in plots(summary, analytic, width, 14):
        console.print(text)
