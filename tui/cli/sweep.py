"""`smtui sweep`: one headless run per cell of a grid of setup flags and seed (core/grid.py,
core/sweep.py), in worker processes or on a Dask cluster, with a progress line; then a
table and plots grouped by the grid's axes. `--out` keeps each finished run in a results
file as it comes (core/sweep_file.py), which `--resume` continues and `--show` re-plots."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from smtui.core.errors import UserError
from smtui.core.grid import AXES, MAX_SEEDS, check_axes, parse_axis, values_axis
from smtui.core.io import rows_to_csv, to_json
from smtui.core.outputs import Input, Request, plan, write, write_each
from smtui.core.reading import name
from smtui.core.sweep import (
    SweepEnded,
    SweepFailed,
    default_jobs,
    in_order,
    run_key,
    run_sweep,
)
from smtui.core.sweep_exec import LOCAL, open_executor
from smtui.core.sweep_file import Plan, append_run, check_resumable, csv_rows, drop_cut_line, read, start
from smtui.core.sweep_file import report as sweep_report
from smtui.tui.cli.flags import (
    EXIT_DIVERGED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_FAILED,
    EXIT_TERMINATED,
    SETUP_FLAGS,
    Parser,
    add_setup_options,
    config_from_args,
    one_line,
)
from smtui.tui.cli.outputs import inputs_of
from smtui.tui.cli.progress import progress_line, stop_on_ctrl_c

MAX_STEPS = 10_000_000
MAX_JOBS = 256
DEFAULT_SEEDS, DEFAULT_STEPS = 3, 2000


def build_sweep_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui sweep", conflict_handler="resolve",
               description="Train once per cell of a grid of setup flags and seed, in parallel, and show what each "
               "setting buys (ESM_q: the bias of learning q_sigma's score) and costs (DSM's gradient variance over "
               "ESM_qsigma's at the same parameters, and the noise relative to the mean gradient).")
    add_setup_options(p)
    o = p.add_argument_group("sweep")
    o.add_argument("--grid", action="append", default=[], metavar="NAME=VALUES",
                   help=f"a setup flag and its values, as many as wanted: a list (hidden=16,64,256; objective=dsm,"
                   f"esm-sigma) or, for numbers, START:STOP:COUNT evenly in log (sigma=0.03:3:8). NAME is one of "
                   f"{', '.join(AXES)}")
    o.add_argument("--sigma", metavar="LIST|RANGE", help="short for --grid sigma=LIST|RANGE, e.g. 0.03:3:8")
    o.add_argument("--seeds", type=int, metavar="K",
                   help=f"runs per cell, seeds S..S+K-1 (data, start and batches differ), 1 to {MAX_SEEDS} "
                   f"(default {DEFAULT_SEEDS})")
    o.add_argument("--steps", type=int, metavar="N", help=f"training steps per run (default {DEFAULT_STEPS})")
    o.add_argument("--jobs", type=int, default=None, metavar="J",
                   help=f"worker processes here, or workers of --scheduler local (default: the number of cores, "
                   f"{default_jobs()} here); 1 runs in this process")
    o.add_argument("--scheduler", metavar="local|tcp://HOST:PORT",
                   help="run on a Dask cluster (pip install 'smtui[dask]'): local starts one here, tcp://HOST:PORT "
                   "joins a running one (dask scheduler; dask worker tcp://HOST:PORT)")
    f = p.add_argument_group("results")
    f.add_argument("--out", metavar="FILE", help="the results file: every finished run is added as it comes "
                   "(JSON Lines), so an interrupted sweep can be resumed and a finished one shown again")
    f.add_argument("--resume", action="store_true", help="continue the sweep in --out FILE where it stopped (its "
                   "grid and setup are in the file; flags given must match them)")
    f.add_argument("--force", action="store_true", help="start --out FILE afresh if it exists")
    f.add_argument("--show", metavar="FILE", help="show a results file (--out) or a --json report again: the "
                   "table and plots, no training (--json and --csv write it again)")
    f.add_argument("--json", metavar="PATH|-", help="write every run (setup and figures) and the summary per cell "
                   "as JSON (- stdout)")
    f.add_argument("--csv", metavar="PATH", help="write one row per run as CSV")
    p.epilog = ("Every grid value and output is checked before the first run. Exit status: 0 ok, 2 bad input, 3 a "
                "run diverged (its figures are still reported), 4 an output could not be written (each said on "
                "stderr; the others are written), 130 interrupted (ctrl+c; 143 SIGTERM: the runs under way are "
                "ended, the finished ones written, marked partial; --resume continues --out FILE), 1 a worker was "
                "killed (the same).")
    return p


def main(argv: list[str]) -> int:
    """`smtui sweep ARGS`."""
    args = build_sweep_parser().parse_args(argv)
    if args.show is not None:
        return _show_file(args)
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    if not 0 <= steps <= MAX_STEPS:
        raise UserError(f"--steps must be a whole number from 0 to {MAX_STEPS:,}, got {steps}")
    jobs = _jobs(args)
    found = None
    if args.resume:
        if not args.out:
            raise UserError("--resume continues the results file named by --out; give --out FILE")
        if args.force:
            raise UserError("--resume continues --out FILE and --force starts it afresh; give one")
        found = read(args.out, "--out file")
    sweep = _plan_from_flags(args, steps)
    if found is not None:
        try:
            check_resumable(found, sweep)
        except UserError as exc:
            raise UserError(f"--resume: {name(args.out)} {exc}") from None
        sweep = found.plan
    if sweep is None:
        raise UserError("give the grid: --grid NAME=VALUES (e.g. --grid sigma=0.03:3:8), or --sigma LIST|RANGE")
    configs = sweep.configs()  # every cell checked before the first run
    _check_data_files(configs)
    outputs = _plan_outputs(args, configs)
    done = list(found.runs) if found is not None else []
    finished = {run_key(r) for r in done}
    todo = [c for c in configs if run_key(c) not in finished]
    out = next((o for o in outputs if o.flag == "--out"), None)
    wall0 = time.perf_counter()
    with stop_on_ctrl_c(term=True) as stop:  # from here a ctrl+c stops (a cluster starting too)
        executor = open_executor(min(jobs, max(1, len(todo))), args.scheduler) if args.scheduler and todo else None
        if out is not None:
            try:
                if found is None:
                    start(out, sweep)
                elif found.dropped_cut_line:
                    drop_cut_line(out)
            except OSError as exc:
                if executor is not None:
                    executor.end()
                print(f"smtui: error: --out {name(out.given)} not written: {one_line(exc.strerror or str(exc))}",
                      file=sys.stderr)
                return EXIT_OUTPUT_FAILED
        new, ended, problems = _run_rest(sweep, configs, done, todo, jobs, executor, out, stop)
    results = in_order(done + new, configs)
    where = executor.where if executor is not None else ("this process" if jobs == 1 else f"{jobs} worker processes")
    report = sweep_report(sweep, results, where=where, wall_seconds=time.perf_counter() - wall0)
    written: list = []
    failures = write_each([o for o in outputs if o.flag != "--out" and (results or ended is None)],
                          lambda o: write(o, to_json(report) if o.flag == "--json" else rows_to_csv(csv_rows(
                              results, sweep.fields))), written)
    if args.json != "-" and results:
        _show(report["summary"], sweep, "" if ended is None else f"{len(results)} of {len(configs)} runs")
    if ended is not None:
        print(_ended_line(ended, stop.signal, written, len(results), len(configs), out, problems), file=sys.stderr)
    for line in failures:
        print(f"smtui: error: {one_line(line)}", file=sys.stderr)
    if ended is not None:
        return (EXIT_OUTPUT_FAILED if problems else EXIT_FAILED if isinstance(ended, SweepFailed) else
                EXIT_TERMINATED if stop.signal == signal.SIGTERM else EXIT_INTERRUPTED)
    diverged = sum(r["status"] != "ok" for r in results)
    if diverged:
        print(f"smtui: diverged: {diverged} of {len(results)} runs (try a smaller --lr or larger sigmas)",
              file=sys.stderr)
    if failures:
        return EXIT_OUTPUT_FAILED
    return EXIT_DIVERGED if diverged else EXIT_OK


def _jobs(args) -> int:
    if args.jobs is not None and args.scheduler and args.scheduler != LOCAL:
        raise UserError("--jobs counts this machine's workers; a cluster has its own (dask worker --nworkers N)")
    jobs = default_jobs() if args.jobs is None else args.jobs
    if not 1 <= jobs <= MAX_JOBS:
        raise UserError(f"--jobs must be a whole number from 1 to {MAX_JOBS}, got {jobs}")
    return jobs


def _plan_from_flags(args, steps: int) -> Plan | None:
    """The sweep the flags describe, each grid value checked as its flag would be; None if
    they give no grid (a --resume then takes the file's)."""
    sigma_text, args.sigma = args.sigma, None  # --sigma here is the grid's, not one value
    base = config_from_args(args)
    axes = [parse_axis(spec, base) for spec in args.grid]
    if sigma_text is not None:
        axes.insert(0, values_axis("sigma", sigma_text, f"--sigma {sigma_text.strip()}", base))
    given = {field for flag, field in SETUP_FLAGS.items() if getattr(args, flag, None) is not None}
    check_axes(axes, given)
    if not axes:
        if args.resume and (given or args.seeds is not None or args.steps is not None):
            raise UserError("--resume with setup flags: give the grid too (--grid ...), or only --out FILE --resume")
        return None
    seeds = DEFAULT_SEEDS if args.seeds is None else args.seeds
    if not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"--seeds must be a whole number from 1 to {MAX_SEEDS}, got {seeds}")
    return Plan(base, tuple(axes), seeds, steps)


def _check_data_files(configs) -> None:
    from smtui.core.data import load_points

    for path in sorted({c.data_path for c in configs if c.data_path is not None}):
        load_points(path)  # a refusal names the file, before the first run


def _plan_outputs(args, configs, shown: str | None = None):
    inputs = inputs_of(args, args.data)
    grid_data = {c.data_path for c in configs if c.data_path and c.data_path != args.data}
    inputs += [Input("a data file of the grid", p) for p in sorted(grid_data)]
    if shown is not None:
        inputs.append(Input("the sweep file shown (--show)", shown))
    requests = [Request("--json", args.json, stdout=True)] if args.json is not None else []
    requests += [Request("--csv", args.csv)] if args.csv is not None else []
    if getattr(args, "out", None) is not None and shown is None:
        requests.append(Request("--out", args.out, replaces=bool(args.resume), regular_only=True))
    return plan(requests, inputs, force=args.force, takes_stdout=["--json"],
                force_hint="add --force to start it afresh, or --resume to continue it")


def _run_rest(sweep: Plan, configs, done, todo, jobs, executor, out, stop):
    """Run what is left with the progress line, each finished run added to --out as it
    comes; (the new runs, why the sweep ended early or None, problems with --out)."""
    problems: list[str] = []
    new: list[dict] = []

    def finished(n: int, total: int, r: dict) -> None:
        new.append(r)
        show(len(done) + n, _note(sweep, r))
        if out is not None and not problems:
            try:
                append_run(out, r)
            except OSError as exc:
                problems.append(f"--out {name(out.given)} not written: {exc.strerror or exc}; the sweep stopped")
                stop.event.set()

    start_note = f"{len(todo)} runs x {sweep.steps:,} steps" + (f" ({len(done)} done before)" if done else "")
    with progress_line("sweep", len(configs), len(done), start_note) as show:
        try:
            run_sweep(todo, sweep.steps, jobs, finished, stop.event, executor=executor)
        except SweepEnded as exc:
            return new, exc, problems
    return new, None, problems


def _note(sweep: Plan, r: dict) -> str:
    return "done " + " ".join(f"{a.name}={a.label(r.get(a.field))}" for a in sweep.axes) + f" seed={r['seed']}"


def _ended_line(ended: SweepEnded, signum, written: list, done: int, total: int, out, problems: list[str]) -> str:
    """One line: why the sweep ended early, how far it got, where the finished runs went."""
    if problems:
        why = f"smtui: error: {problems[0]}"
    elif isinstance(ended, SweepFailed):
        why = f"smtui: error: {ended}"
    else:
        why = "smtui: terminated" if signum == signal.SIGTERM else "smtui: interrupted"
    where = [name(o.given) if o.path else "stdout" for o in written]
    kept = f"the {done} finished written to {' and '.join(where)} (partial)" if where else "nothing written"
    resume = f"; --out {name(out.given)} --resume continues it" if out is not None and not problems else ""
    return one_line(f"{why} after {done} of {total} runs; {kept}{resume}")


def _show_file(args) -> int:
    """--show FILE: its table and plots again, no training; --json and --csv write it again."""
    if args.resume or args.out or args.grid or args.sigma or args.scheduler:
        raise UserError("--show reads a finished sweep; give it alone (with --json or --csv to write it again)")
    found = read(args.show, "--show file")
    sweep, results = found.plan, found.runs
    outputs = _plan_outputs(args, [], shown=args.show)
    report = sweep_report(sweep, results)
    planned = report["planned_runs"]
    failures = write_each(outputs, lambda o: write(o, to_json(report) if o.flag == "--json" else rows_to_csv(
        csv_rows(results, sweep.fields))))
    if args.json != "-":
        if results:
            _show(report["summary"], sweep, f"{len(results)} of {planned} runs" if report["partial"] else "")
        else:
            print(f"no run has finished yet (of {planned})")
    for line in failures:
        print(f"smtui: error: {one_line(line)}", file=sys.stderr)
    return EXIT_OUTPUT_FAILED if failures else EXIT_OK


def _show(summary: list[dict], sweep: Plan, partial: str = "") -> None:
    from rich.console import Console

    from smtui.tui.render.sweep import shown

    console = Console()
    analytic = any(c.is_analytic for c in sweep.configs())
    width = max(40, min(console.width, 100))
    for renderable in shown(summary, analytic, list(sweep.axes), width, 14, partial):
        console.print(renderable)

