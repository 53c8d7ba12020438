"""`smtui run`: train headless, then report as JSON / CSV / .npz."""

from __future__ import annotations

import argparse
import sys
import time

from core.errors import UserError
from core.experiment import ExperimentExists, experiment_targets, save_experiment
from core.io import atomic_write_text, check_writable, rows_to_csv, save_params, to_json
from core.text import visible
from core.trainer import Trainer
from tui.setup_flags import (
    EXIT_DIVERGED,
    EXIT_OK,
    Parser,
    add_experiment_options,
    add_setup_options,
    setup_from_args,
)


def build_run_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui run", description="Train headless and report every figure.")
    add_setup_options(p)
    o = p.add_argument_group("run")
    o.add_argument("--steps", type=int, default=1000, metavar="K", help="training steps, >= 0 (default 1000)")
    o.add_argument("--json", metavar="PATH|-", help="write the result as JSON to PATH, or - for stdout")
    o.add_argument("--csv", metavar="PATH", help="write the history of evaluations as CSV")
    o.add_argument("--save-params", metavar="PATH.npz", help="save W, b, c and sigma as .npz")
    o.add_argument("--save", metavar="EXP.toml",
                   help="save the experiment at the end: EXP.toml (setup) plus EXP.npz (parameters, optimiser "
                   "and batch-stream state) and EXP.csv (metric history); refuses to overwrite without --force")
    o.add_argument("--force", action="store_true", help="let --save overwrite an existing experiment")
    add_experiment_options(p)
    p.epilog = ("With --load, --steps counts the steps to train beyond the saved ones. Exit status: 0 ok, "
                "2 bad input, 3 training diverged (the last finite parameters are kept and still reported).")
    return p


def main(argv: list[str]) -> int:
    """`smtui run ARGS`."""
    return run_headless(build_run_parser().parse_args(argv))


def run_headless(args: argparse.Namespace) -> int:
    if args.steps < 0:
        raise UserError(f"steps must be a whole number >= 0, got {args.steps}")
    if args.force and not args.save:
        raise UserError("--force only applies to --save (overwriting an existing experiment)")
    outputs = {"json": args.json, "csv": args.csv, "save-params": args.save_params}
    for what, path in outputs.items():
        if path and not (what == "json" and path == "-"):
            check_writable(path, f"--{what}")
    if args.save:
        _check_save(args.save, args.force)
    wall0 = time.perf_counter()
    config, trainer = setup_from_args(args)
    trainer = trainer or Trainer(config)
    config = trainer.config
    _train(trainer, trainer.step + args.steps)
    metrics = trainer.evaluate()
    wall = time.perf_counter() - wall0
    result = {
        "config": config.to_dict(),
        "status": trainer.status,
        "steps": trainer.step,
        "wall_seconds": wall,
        "train_steps_per_second": trainer.step / trainer.train_seconds if trainer.train_seconds > 0 else None,
        "metrics": {k: v for k, v in metrics.items() if k != "step"},
    }
    if trainer.status == "diverged":
        result["message"] = trainer.message
    if args.json == "-":
        sys.stdout.write(to_json(result))
    elif args.json:
        atomic_write_text(args.json, to_json(result))
    if args.csv:
        atomic_write_text(args.csv, rows_to_csv(trainer.evaluations))
    if args.save_params:
        save_params(args.save_params, trainer.params, config.sigma)
    if args.save:
        _save(trainer, args.save, args.force)
    if trainer.status == "diverged":
        print(f"smtui: diverged: {visible(trainer.message)}", file=sys.stderr)
        return EXIT_DIVERGED
    return EXIT_OK


def _check_save(path: str, force: bool) -> None:
    """Refuse a --save destination before training rather than after."""
    for p in experiment_targets(path):
        check_writable(p, "--save")
        if p.exists() and not force:
            raise UserError(f"--save: {str(p)!r} already exists; choose another name or add --force to overwrite it")


def _save(trainer: Trainer, path: str, force: bool) -> None:
    try:
        save_experiment(trainer, path, overwrite=force)
    except ExperimentExists as exc:  # appeared while training
        raise UserError(f"--save: {exc} (add --force)") from None


def _train(trainer: Trainer, steps: int) -> None:
    """Train until ``trainer.step`` reaches ``steps`` or training diverges."""
    chunk = max(1, min(trainer.config.eval_every, 100))
    if trainer.step < steps and trainer.status == "diverged":
        trainer.status, trainer.message = "ok", ""  # resuming a diverged run: try again
    if not sys.stderr.isatty() or steps == trainer.step:
        while trainer.step < steps and trainer.status == "ok":
            trainer.train(min(chunk, steps - trainer.step))
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("loss {task.fields[loss]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("train", total=steps, completed=trainer.step, loss="-")
        while trainer.step < steps and trainer.status == "ok":
            trainer.train(min(chunk, steps - trainer.step))
            bar.update(task, completed=trainer.step, loss=f"{trainer.last_loss:.4g}" if trainer.last_loss else "-")
