"""`smtui ladder`: one noise-conditional model trained across a ladder of sigmas, sampled by
walking down it, against one sigma with the same budget (core/ladder_run.py); the outputs by
the one writer (core/outputs.py) under `smtui run`'s rules."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import numpy as np

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.io import rows_to_csv, to_json
from smtui.core.ladder import DEFAULT_LEVELS, DEFAULT_SIGMA_MIN, MATCHED
from smtui.core.ladder_run import (
    DEFAULT_PARTICLES,
    DEFAULT_STEPS,
    DEFAULT_STEPS_PER_LEVEL,
    MAX_STEPS,
    LadderRun,
    LadderSetup,
)
from smtui.core.outputs import write, write_each
from smtui.core.samplers import SAMPLERS
from smtui.core.text import quoted, visible
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

DEFAULT_CONFIG = Config(distribution="ring8w")  # the lesson's data: 8 modes weighted 3:1
NOT_HERE = {"objective": "--objective: the ladder trains DSM over every rung; there is no objective to choose",
            "sigma": "--sigma: the ladder has many; set its ends with --sigma-max and --sigma-min",
            "lambda_": "--lambda is ISMreg's; the ladder trains DSM", "eval_every": "--eval-every: the ladder "
            "evaluates once, at the end"}
CSV_COLUMNS = ("level", "sigma", "mmd2_to_q_sigma", "identity", "identity_difference", "identity_bound",
               "acceptance")


def build_ladder_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui ladder", description="Train one noise-conditional energy across a ladder of sigmas "
               "(Song & Ermon 2019), sample it by walking down the ladder, and compare with one sigma given "
               "the same budget.")
    add_setup_options(p, list_objective=False, hide=("sigma", "lam", "eval_every"), default=DEFAULT_CONFIG)
    o = p.add_argument_group("ladder")
    o.add_argument("--levels", type=int, default=DEFAULT_LEVELS, metavar="K",
                   help=f"rungs, 1 to 64, geometric from sigma max to sigma min (default {DEFAULT_LEVELS})")
    o.add_argument("--sigma-max", type=float, metavar="S", help="the top rung (default: the data's diameter)")
    o.add_argument("--sigma-min", metavar="S", default=str(DEFAULT_SIGMA_MIN),
                   help=f"the bottom rung, or '{MATCHED}': the data's nearest-neighbour scale "
                   f"(default {DEFAULT_SIGMA_MIN})")
    o.add_argument("--steps", type=int, metavar="N", help=f"training steps (default {DEFAULT_STEPS:,}; the "
                   "one-sigma baseline trains as many)")
    o.add_argument("--sampler", default="ald", metavar="NAME",
                   help="; ".join(f"{k}: {v}" for k, v in SAMPLERS.items()) + " (default ald)")
    o.add_argument("--steps-per-level", type=int, default=DEFAULT_STEPS_PER_LEVEL, metavar="T",
                   help=f"sampler steps at each rung (default {DEFAULT_STEPS_PER_LEVEL})")
    o.add_argument("--particles", type=int, default=DEFAULT_PARTICLES, metavar="P",
                   help=f"samples drawn (default {DEFAULT_PARTICLES:,})")
    o.add_argument("--exact-score", action="store_true",
                   help="sample with the exact score of q smoothed at each sigma instead of a learned one (an "
                   "analytic distribution only; nothing is trained): what the sampler alone does")
    o.add_argument("--json", metavar="PATH|-", help="write the result as JSON to PATH, or - for stdout")
    o.add_argument("--csv", metavar="PATH", help="write one row per rung as CSV")
    p.epilog = ("The baseline: one sigma = sigma min, trained by the paper's DSM with the same steps and sampled "
                "by MALA from the same start with the same budget. Exit status: 0 ok, 2 bad input, 3 training "
                "diverged (the last finite parameters are sampled and reported), 4 an output could not be written "
                "(the others still are), 130 interrupted (ctrl+c stops at the next chunk; nothing written).")
    return p


def setup_from(args: argparse.Namespace) -> LadderSetup:
    """The LadderSetup the flags describe, validated; a UserError names the first problem."""
    for flag, why in NOT_HERE.items():
        if getattr(args, flag, None) is not None:
            raise UserError(why)
    if args.exact_score and args.steps is not None:
        raise UserError("--exact-score samples the exact score: nothing is trained, so --steps does not apply")
    sigma_min = args.sigma_min if args.sigma_min == MATCHED else _number("--sigma-min", args.sigma_min)
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    if not 0 <= steps <= MAX_STEPS:
        raise UserError(f"steps must be a whole number from 0 to {MAX_STEPS:,}, got {steps}")
    config = config_from_args(args, DEFAULT_CONFIG)
    return LadderSetup(config, levels=args.levels, sigma_max=args.sigma_max, sigma_min=sigma_min,
                       steps=0 if args.exact_score else steps, sampler=args.sampler,
                       steps_per_level=args.steps_per_level, particles=args.particles,
                       exact_score=args.exact_score).validated()


def _number(flag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{flag} must be a number or '{MATCHED}', got {quoted(text)}") from None


def main(argv: list[str]) -> int:
    """`smtui ladder ARGS`."""
    args = build_ladder_parser().parse_args(argv)
    setup = setup_from(args)
    planned = plan_outputs(args, inputs_of(args, setup.config.data_path))  # before anything runs
    wall0 = time.perf_counter()
    run = LadderRun(setup)
    with stop_on_ctrl_c() as stop:
        result = _run(run, stop)
    if stop.asked:
        print(f"smtui: interrupted at training step {run.step:,}; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    result["wall_seconds"] = time.perf_counter() - wall0
    failures = write_each(planned, lambda out: write(out, to_json(result) if out.flag == "--json"
                                                     else rows_to_csv(csv_rows(result))))
    with contextlib.suppress(OSError):  # stdout closed: the table is not an output that can fail
        if args.json != "-":
            print(summary(result))
        sys.stdout.flush()
    for line in failures:
        print(f"smtui: error: {one_line(line)}", file=sys.stderr)
    if run.status != "ok":
        print(f"smtui: diverged: {visible(run.message)}", file=sys.stderr)
    if failures:
        return EXIT_OUTPUT_FAILED
    return EXIT_DIVERGED if run.status != "ok" else EXIT_OK


def _run(run: LadderRun, stop: Stop) -> dict | None:
    """Train, sample, measure, and the same for the baseline; None if ctrl+c asked to stop."""
    s = run.setup
    train_in_chunks("training the ladder", s.steps, stop, position=lambda: run.step, train=run.train,
                    going=lambda: run.status == "ok", chunk=250,
                    note=lambda: f"loss {run.run.loss:.4g}" if run.run.loss is not None else "")
    if stop.asked:
        return None
    walk, t0 = run.walk(), time.perf_counter()
    train_in_chunks(f"sampling ({s.sampler})", walk.total, stop, position=lambda: walk.done, train=walk.advance,
                    going=lambda: True, chunk=50, note=lambda: f"sigma {walk.sigma:.3g}")
    if stop.asked:
        return None
    sample_seconds = time.perf_counter() - t0
    one = run.baseline()
    train_in_chunks("training one sigma", one.target_steps, stop, position=lambda: one.step, train=one.train,
                    going=lambda: one.status == "ok", chunk=250)
    if stop.asked:
        return None
    base = one.sample()
    t0 = time.perf_counter()
    metrics, per_level = run.measure(walk.x), run.per_level(walk)
    result = {"config": {**s.to_dict(), "mmd_width": metrics["mmd_width"]}, "status": run.status,
              "steps": run.step, "sigmas": run.sigmas.tolist(), "samples": walk.x.tolist(), "metrics": metrics,
              "per_level": per_level, "baseline": {**base, "samples": np.asarray(base["samples"]).tolist()},
              "train_seconds": run.train_seconds, "sample_seconds": sample_seconds,
              "sample_ms_per_step": 1e3 * sample_seconds / max(walk.done, 1),
              "measure_seconds": time.perf_counter() - t0, "score_evaluations": walk.score_evaluations}
    if run.status != "ok":
        result["message"] = run.message
    return result


def csv_rows(result: dict) -> list[dict]:
    """One row per rung: CSV_COLUMNS."""
    rows = []
    for r in result["per_level"]:
        ident = r["identity"] or {}
        rows.append({"level": r["level"], "sigma": r["sigma"], "mmd2_to_q_sigma": r["mmd2_to_q_sigma"],
                     "identity": ident.get("verdict"), "identity_difference": ident.get("difference"),
                     "identity_bound": ident.get("bound"), "acceptance": r["acceptance"]})
    return rows


def summary(result: dict) -> str:
    """A plain table for the terminal: the ladder against one sigma, then each rung."""
    cfg, m, b = result["config"], result["metrics"], result["baseline"]["metrics"]
    source = cfg["data_path"] or cfg["distribution"]
    score = "exact score" if cfg["exact_score"] else f"learned, {result['steps']:,} steps"
    lines = [f"smtui ladder: {visible(str(source))}, {cfg['levels']} rungs from {result['sigmas'][0]:.3g} to "
             f"{result['sigmas'][-1]:.3g}, {cfg['sampler']} ({score})", "",
             f"{'':<22}{'ladder':>10}{'one sigma':>12}"]
    for key, label in (("weight_tv", "mode-weight TV"), ("off_mode", "off-mode share"), ("mmd2", "MMD^2"),
                       ("hist_tv", "histogram TV"), ("spread", "spread")):
        if m.get(key) is not None:
            lines.append(f"{label:<22}{m[key]:>10.4f}{b[key]:>12.4f}")
    lines += ["", f"{'rung':>4}{'sigma':>9}{'MMD^2 to q_sigma':>18}  identity"]
    for r in result["per_level"]:
        verdict = r["identity"]["verdict"] if r["identity"] else "-"
        mmd = "-" if r["mmd2_to_q_sigma"] is None else f"{r['mmd2_to_q_sigma']:.4f}"
        lines.append(f"{r['level']:>4}{r['sigma']:>9.4g}{mmd:>18}  {verdict}")
    lines += ["", f"MMD^2 with a Gaussian kernel of width {cfg['mmd_width']:g}; one sigma = "
              f"{result['sigmas'][-1]:.3g}, {result['baseline']['sampler']}; training "
              f"{result['train_seconds']:.1f} s, sampling {result['sample_ms_per_step']:.2f} ms a step"]
    return "\n".join(lines)
