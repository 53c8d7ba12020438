"""`smtui run`: train headless, then report: a table of the final figures, and the
outputs asked for (JSON, CSV, .npz, the experiment), written by core/outputs.py."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from smtui.core.errors import UserError
from smtui.core.text import shown, visible
from smtui.core.trainer import Trainer
from smtui.core.verdicts import identity_verdicts
from smtui.tui.cli.flags import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_FAILED,
    Parser,
    add_experiment_options,
    add_setup_options,
    one_line,
    setup_from_args,
)
from smtui.tui.cli.outputs import Output, inputs_of, plan_outputs, write_outputs
from smtui.tui.cli.progress import Stop, stop_on_ctrl_c, train_in_chunks

MAX_STEPS = 10**9  # like every whole-number flag: bounded (about a day at 10,000 steps/s)


def build_run_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui run", description="Train headless and report every figure.")
    add_setup_options(p)
    o = p.add_argument_group("run")
    o.add_argument("--steps", type=int, default=1000, metavar="K",
                   help=f"training steps, 0 to {MAX_STEPS:,} (default 1000); ctrl+c stops early (with --save, the "
                   "experiment is saved at the step reached)")
    o.add_argument("--json", metavar="PATH|-", help="write the result as JSON to PATH, or - for stdout")
    o.add_argument("--csv", metavar="PATH", help="write the history of evaluations as CSV")
    o.add_argument("--save-params", metavar="PATH.npz", help="save W, b, c and sigma as .npz")
    o.add_argument("--save", metavar="EXP.toml",
                   help="save the experiment at the end: EXP.toml (setup, run, save id) plus EXP.<save id>.npz "
                   "(parameters, optimiser and batch-stream state) and EXP.<save id>.csv (metric history), "
                   "atomically; refuses to overwrite without --force")
    o.add_argument("--force", action="store_true",
                   help="let --save replace an existing experiment (never an input file, nor anything that is "
                   "not a regular file)")
    add_experiment_options(p)
    p.epilog = ("With --load, --steps counts the steps to train beyond the saved ones. Every output is checked "
                "before the first step (an output may not be an input nor another output). Exit status: 0 ok, "
                "2 bad input, 3 training diverged (the last finite parameters are kept and reported), 4 some "
                "output could not be written (each said on stderr; the others are written), 130 interrupted.")
    return p


def main(argv: list[str]) -> int:
    """`smtui run ARGS`."""
    return run_headless(build_run_parser().parse_args(argv))


def run_headless(args: argparse.Namespace) -> int:
    if not 0 <= args.steps <= MAX_STEPS:
        raise UserError(f"steps must be a whole number from 0 to {MAX_STEPS:,}, got {shown(str(args.steps))}")
    if args.force and not args.save:
        raise UserError("--force only applies to --save (overwriting an existing experiment)")
    plan_outputs(args, inputs_of(args, args.data))  # the cheap checks, before loading anything
    wall0 = time.perf_counter()
    try:
        config, trainer = setup_from_args(args)
        trainer = trainer or Trainer(config)
    except KeyboardInterrupt:
        print("smtui: interrupted before training; nothing was saved or written", file=sys.stderr)
        return EXIT_INTERRUPTED
    config = trainer.config
    inputs = inputs_of(args, config.data_path)
    planned = plan_outputs(args, inputs)  # again, knowing the data file
    written: list[Output] = []
    try:
        with stop_on_ctrl_c() as stop:
            _train(trainer, trainer.step + args.steps, stop)
            metrics = trainer.evaluate() if not stop.asked else None  # ctrl+c here too: saved, then said
        if stop.asked:
            return _interrupted(trainer, [o for o in planned if o.flag == "--save"], args.force, inputs)
        result = _result(trainer, metrics, time.perf_counter() - wall0)
        failures = write_outputs(planned, trainer, result, args.force, written, inputs)
    except KeyboardInterrupt:
        done = ", ".join(f"{o.flag} {o.given}" for o in written)
        print(f"smtui: interrupted at step {trainer.step:,}; " + (f"written: {done}; the rest not written" if done
              else "nothing was saved or written"), file=sys.stderr)
        return EXIT_INTERRUPTED
    with contextlib.suppress(OSError):  # stdout closed: the table is not an output that can fail
        if not any(o.flag in ("--json", "--csv") for o in planned):  # else the figures are in those
            print_summary(result)
        sys.stdout.flush()  # the figures before any line on stderr
    for line in failures:
        print(f"smtui: error: {one_line(line)}", file=sys.stderr)
    if trainer.status == "diverged":
        print(f"smtui: diverged: {visible(trainer.message)}", file=sys.stderr)
    if failures:
        return EXIT_OUTPUT_FAILED
    return EXIT_DIVERGED if trainer.status == "diverged" else EXIT_OK


def _result(trainer: Trainer, metrics: dict, wall: float) -> dict:
    config = trainer.config.to_dict()
    if trainer.config.data_path is not None:
        config["distribution"] = None  # the data file is the source, not the default distribution
    result = {
        "config": config,
        "status": trainer.status,
        "steps": trainer.step,
        "wall_seconds": wall,
        "train_steps_per_second": trainer.step / trainer.train_seconds if trainer.train_seconds > 0 else None,
        "metrics": {k: v for k, v in metrics.items() if k != "step"},
    }
    # Each identity's verdict by the one rule (smtui.core.verdicts): agree / undecided / disagree.
    verdicts = identity_verdicts(metrics, trainer.config.sigma, diverged=trainer.status == "diverged")
    result["metrics"]["verdicts"] = {v.key: v.as_dict() for v in verdicts}
    if trainer.status == "diverged":
        result["message"] = trainer.message
    return result


def _interrupted(trainer: Trainer, saves: list[Output], force: bool, inputs: list) -> int:
    """Stopped by ctrl+c: save the experiment if --save was given, and say what was saved."""
    where = f"smtui: interrupted at step {trainer.step:,}"
    failures = write_outputs(saves, trainer, {}, force, [], inputs) if saves else []
    if saves and not failures:
        print(f"{where}; experiment saved to {visible(saves[0].given)} (resume with --load); no other output "
              "written", file=sys.stderr)
    else:
        print(f"{where}; nothing was saved or written" + (f" ({one_line(failures[0])})" if failures else ""),
              file=sys.stderr)
    return EXIT_INTERRUPTED


def _train(trainer: Trainer, steps: int, stop: Stop) -> None:
    """Train until ``trainer.step`` reaches ``steps``, training diverges or ctrl+c."""
    if trainer.step < steps and trainer.status == "diverged":
        trainer.status, trainer.message = "ok", ""  # resuming a diverged run: try again
    train_in_chunks("training", steps, stop, position=lambda: trainer.step, train=trainer.train,
                    going=lambda: trainer.status == "ok", chunk=max(1, min(trainer.config.eval_every, 100)),
                    note=lambda: f"loss {trainer.last_loss:.4g}" if trainer.last_loss else "loss -")


# Rows of the summary: (label, figure, its standard error, the theory value beside it). The
# identities are measured with DSM as training defines it; their error is the standard error
# (Monte Carlo) or what the quadrature resolves, and their verdict is metrics.verdicts'.
SUMMARY = (
    ("training loss", "loss", None, None),
    ("ESM (q_sigma)", "esm_sigma", "esm_sigma_se", None),
    ("ISM (q_sigma)", "ism_sigma", "ism_sigma_se", None),
    ("DSM", "dsm", "dsm_se", None),
    ("DAE", "dae", "dae_se", None),
    ("ESM - DSM", "esm_minus_dsm_measured", "esm_minus_dsm_measured_err", "esm_minus_dsm_theory"),
    ("ISM - DSM", "ism_minus_dsm_measured", "ism_minus_dsm_measured_err", "ism_minus_dsm_theory"),
    ("ESM (q)", "esm", None, None),
    ("ISM (q)", "ism", None, None),
)


def print_summary(result: dict) -> None:
    """A short table of the final figures on stdout (plain text when it is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    m, cfg = result["metrics"], result["config"]
    source = cfg["data_path"] or cfg["distribution"]
    verdicts = {"esm_minus_dsm_measured": "esm_minus_dsm", "ism_minus_dsm_measured": "ism_minus_dsm"}
    checks = m.get("verdicts", {})
    rows = [(label, m[key], m.get(se) if se else None, m.get(theory) if theory else None,
             checks.get(verdicts.get(key), {}).get("verdict", ""))
            for label, key, se, theory in SUMMARY if m.get(key) is not None]
    with_se = any(r[2] is not None for r in rows)
    table = Table()
    table.add_column("figure")
    table.add_column("value", justify="right")
    if with_se:
        table.add_column("± error", justify="right")
    table.add_column("theory", justify="right")
    table.add_column("check")
    for label, value, se, theory, verdict in rows:
        table.add_row(label, _num(value), *([_num(se)] if with_se else []), _num(theory), verdict)
    rate = result.get("train_steps_per_second")
    console = Console(highlight=False)
    console.print(f"smtui run: {visible(str(source))}, {cfg['objective']}, sigma {cfg['sigma']:g}: step "
                  f"{result['steps']:,} ({result['status']})", markup=False)
    console.print(table, markup=False)
    console.print(f"{m.get('evaluation', '')} evaluation" + (f"; {rate:,.0f} training steps/s" if rate else ""),
                  markup=False)


def _num(v) -> str:
    return "" if v is None else f"{v:.6g}"
