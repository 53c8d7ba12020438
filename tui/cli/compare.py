"""`smtui compare`: train several objectives headless from one start on one batch stream,
and report their curves on one scale, how far apart they end, and their gradient noise."""

from __future__ import annotations

import argparse
import sys
import time

from smtui.core.compare import Comparison
from smtui.core.compare_batches import DEFAULT_OBJECTIVES, check_objectives
from smtui.core.errors import UserError
from smtui.core.io import rows_to_csv, to_json
from smtui.core.outputs import write, write_each
from smtui.tui.cli.flags import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_FAILED,
    Parser,
    add_setup_options,
    config_from_args,
    one_line,
)
from smtui.tui.cli.outputs import inputs_of, plan_outputs
from smtui.tui.cli.progress import Stop, stop_on_ctrl_c, train_in_chunks
from smtui.tui.render.compare import noise_lines
from smtui.tui.render.numbers import g

MAX_STEPS = 10**9  # as smtui run


def build_compare_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui compare", description="Train 2 to 4 objectives side by side from the same initial "
               "parameters on the same batches, and compare them on one scale (ESM_qsigma).")
    add_setup_options(p, list_objective=False)  # refused in main(): --objectives says which
    o = p.add_argument_group("compare")
    o.add_argument("--objectives", metavar="A,B[,...]", default=",".join(DEFAULT_OBJECTIVES),
                   help=f"2 to 4 objectives, comma-separated (default {','.join(DEFAULT_OBJECTIVES)})")
    o.add_argument("--steps", type=int, default=1000, metavar="K", help="training steps, >= 0 (default 1000)")
    o.add_argument("--exact", action="store_true",
                   help="train on the expectation itself (the evaluation set's weighted pairs as one batch): the "
                   "ESM, DSM and ISM trajectories then coincide; much slower per step")
    o.add_argument("--match-lr", action=argparse.BooleanOptionalAction, default=True,
                   help="with SGD or momentum, divide DAE's learning rate by 2 sigma^4 so DSM and DAE take the "
                   "same steps (default on; Adam needs no match)")
    o.add_argument("--json", metavar="PATH|-", help="write the result as JSON to PATH, or - for stdout")
    o.add_argument("--csv", metavar="PATH", help="write one row per evaluation and objective as CSV")
    p.epilog = ("Exit status: 0 ok, 2 bad input, 3 a run diverged (the others carry on; its last finite "
                "parameters are reported), 4 an output could not be written (the others still are), 130 "
                "interrupted (ctrl+c: stops at the next chunk of steps, nothing written).")
    return p


def main(argv: list[str]) -> int:
    """`smtui compare ARGS`."""
    args = build_compare_parser().parse_args(argv)
    if args.objective is not None:
        raise UserError("compare trains several objectives: use --objectives A,B[,...], not --objective")
    if not 0 <= args.steps <= MAX_STEPS:
        raise UserError(f"steps must be a whole number from 0 to {MAX_STEPS:,}, got {args.steps}")
    names = check_objectives(n.strip() for n in args.objectives.split(",") if n.strip())
    config = config_from_args(args)
    # Every output checked before anything runs: paths, clashes, an output that is the data file.
    planned = plan_outputs(args, inputs_of(args, config.data_path))
    wall0 = time.perf_counter()
    comparison = Comparison(config, names, exact=args.exact, match_lr=args.match_lr)
    with stop_on_ctrl_c() as stop:
        comparison.evaluate()
        _train(comparison, args.steps, stop)
        if not stop.asked:
            comparison.evaluate()
    if stop.asked:
        print(f"smtui: interrupted at step {comparison.step:,}; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    result = report(comparison, time.perf_counter() - wall0)
    # Each on its own: one failure (a full disk) leaves the others written.
    failures = write_each(planned, lambda out: write(out, to_json(result) if out.flag == "--json"
                                                     else rows_to_csv(comparison.history)))
    if args.json != "-":
        print(summary(comparison))
    for line in failures:
        print(f"smtui: error: {one_line(line)}", file=sys.stderr)
    for run_name, r in comparison.runs.items():
        if r.status != "ok":
            print(f"smtui: {run_name} {r.message}", file=sys.stderr)
    if failures:
        return EXIT_OUTPUT_FAILED
    return EXIT_DIVERGED if any(r.status != "ok" for r in comparison.runs.values()) else EXIT_OK


def report(c: Comparison, wall: float) -> dict:
    """The JSON contract: config, objectives, steps, runs (lr, final_params, curve,
    gradient_variance with its standard error), gaps per pair "a|b", the DSM / ESM_qsigma
    gradient variance ratio at one run's parameters; plus what the scale and the mode mean."""
    latest = c.evaluate()
    config = {k: v for k, v in c.config.to_dict().items() if k != "objective"}
    if c.config.data_path is not None:
        config["distribution"] = None  # the data file is the source, as in smtui run's JSON
    runs = {}
    for name, run in c.runs.items():
        p = c.params(name)
        runs[name] = {
            "lr": run.lr,
            "status": run.status,
            "final_value": latest["values"][name],
            "final_params": {"W": p["W"].tolist(), "b": p["b"].tolist(), "c": p["c"].tolist()},
            "curve": c.curve(name).tolist(),
            "gradient_variance": latest["gradient_variance"][name],
            "gradient_variance_se": latest["gradient_variance_se"][name],
        }
        if run.status != "ok":
            runs[name]["message"] = run.message
    snap = c.snapshot()
    return {
        "config": config,
        "objectives": list(c.names),
        "steps": c.step,
        "exact": c.exact,
        "match_lr": c.match_lr,
        "scale": snap.scale,
        "notes": list(snap.notes),
        "wall_seconds": wall,
        "runs": runs,
        "gaps": dict(latest["gaps"]),
        "cosine": dict(latest["cosine"]),
        "probe_batches": latest["probe_batches"],
        # Var grad DSM / Var grad ESM_qsigma at one run's parameters, on the same probe batches
        "variance_ratio": None if latest["variance_ratio"] is None else dict(
            zip(("value", "se", "at"), latest["variance_ratio"])),
    }


def summary(c: Comparison) -> str:
    """A plain table for the terminal: each run's final value on the scale, lr, gradient
    variance; then each pair's parameter gap and gradient cosine."""
    latest, snap = c.evaluate(), c.snapshot()
    mode = "exact (expectation as the batch)" if c.exact else f"minibatch {c.config.batch}"
    lines = [f"step {c.step:,} · {mode} · values on the {snap.scale} scale", "",
             f"{'objective':<11}{'value':>13}{'lr':>11}{'grad var':>12}{'± s.e.':>10}  status"]
    for name, run in c.runs.items():
        lines.append(f"{name:<11}{g(latest['values'][name], 13)}{g(run.lr, 11)}"
                     f"{g(latest['gradient_variance'][name], 12)}{g(latest['gradient_variance_se'][name], 10)}"
                     f"  {run.status}")
    lines += noise_lines(snap)
    lines += ["", f"{'pair':<22}{'gap':>11}{'cosine':>10}"]
    for pair, gap in latest["gaps"].items():
        lines.append(f"{pair:<22}{g(gap, 11)}{g(latest['cosine'][pair], 10)}")
    lines += ["", "gap = max|θa − θb| / max|θa|; cosine = mean over batches of cos(∇a, ∇b) on the same batch"]
    lines += list(snap.notes)
    return "\n".join(lines)


def _train(c: Comparison, steps: int, stop: Stop) -> None:
    """Train every run ``steps`` further, until all have diverged or ctrl+c."""
    train_in_chunks("comparing", c.step + steps, stop, position=lambda: c.step, train=c.train,
                    going=lambda: any(r.status == "ok" for r in c.runs.values()),
                    chunk=max(1, min(c.config.eval_every, 25 if c.exact else 100)))
