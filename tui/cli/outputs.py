"""The output flags every command shares (--save, --json, --csv, --save-params), as
requests to core/outputs.py, the one writer: its rules are checked before the first
training step, then each output is written on its own, so one failure (a full disk) is one
line on stderr and the others are still written, the experiment first."""

from __future__ import annotations

import argparse

from smtui.core.errors import UserError
from smtui.core.experiment import ExperimentExists, experiment_toml, save_experiment
from smtui.core.io import params_npz, rows_to_csv, to_json
from smtui.core.outputs import Input, Output, Request, data_input, experiment_inputs, plan, write, write_each
from smtui.core.trainer import Trainer

__all__ = ["Output", "inputs_of", "plan_outputs", "write_outputs"]

FLAGS = ("save", "json", "csv", "save_params")  # the order they are written in: the experiment first


def inputs_of(args: argparse.Namespace, data_path: str | None) -> list[Input]:
    """Every file the command reads, with what it is (for refusing an output that is one)."""
    given = getattr(args, "data", None)
    found = data_input(data_path, "the data file (the --data input)" if given else "the data file")
    for flag in ("load", "config"):
        found += experiment_inputs(getattr(args, flag, None), f"the experiment given with --{flag}")
    return found


def plan_outputs(args: argparse.Namespace, inputs: list[Input]) -> list[Output]:
    """Check every output flag given (those the command has) before anything runs; a
    UserError names the first problem."""
    requests = []
    for attr in FLAGS:
        given = getattr(args, attr, None)
        if given is None:
            continue
        flag = "--" + attr.replace("_", "-")
        if attr == "save":
            if given not in ("", "-"):
                experiment_toml(given)  # a name ending in .toml
            requests.append(Request(flag, given, replaces=False, regular_only=True))
        else:
            requests.append(Request(flag, given, stdout=attr == "json"))
    return plan(requests, inputs, force=getattr(args, "force", False), takes_stdout=["--json"])


def write_outputs(planned: list[Output], trainer: Trainer, result: dict, force: bool,
                  written: list[Output], inputs: list[Input] = ()) -> list[str]:
    """Write each of `smtui run`'s outputs; returns one line per failure (the rest are still
    written). ``written`` collects those done, for a report if the run is interrupted
    meanwhile; ``inputs`` are checked again by the save."""

    def one(out: Output) -> None:
        if out.flag == "--save":
            try:
                save_experiment(trainer, out.given, overwrite=force, inputs=inputs)
            except ExperimentExists as exc:  # appeared while training
                raise UserError(f"{exc} (add --force)") from None
        elif out.flag == "--json":
            write(out, to_json(result))
        elif out.flag == "--csv":
            write(out, rows_to_csv(trainer.evaluations))
        else:
            write(out, params_npz(trainer.params, trainer.config.sigma))

    return write_each(planned, one, written)
