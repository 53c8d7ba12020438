"""The files `smtui run` writes (--save, --json, --csv, --save-params): every path, every
clash between them and with the inputs checked before the first training step; after
training each is written on its own, so one failure (a full disk) is one line on stderr
and the others are still written, the experiment first."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from smtui.core.errors import UserError
from smtui.core.experiment import ExperimentExists, experiment_toml, save_experiment
from smtui.core.experiment_layout import named_files
from smtui.core.io import atomic_write_text, check_output, rows_to_csv, same_file, save_params, to_json
from smtui.core.reading import name
from smtui.core.text import visible
from smtui.core.trainer import Trainer

FLAGS = ("save", "json", "csv", "save_params")  # the order they are written in: the experiment first


@dataclass(frozen=True)
class Output:
    flag: str  # "--json"
    given: str  # the path as typed
    path: Path | None  # the file written (a symlink followed); None for stdout


def inputs_of(args: argparse.Namespace, data_path: str | None) -> list[tuple[str, Path]]:
    """Every file the run reads, with what it is (for refusing an output that is one)."""
    found: list[tuple[str, Path]] = []
    if data_path:
        found.append(("the data file", Path(data_path)))
    for flag in ("load", "config"):
        given = getattr(args, flag, None)
        if given:
            toml = Path(given)
            found.append((f"the experiment given with --{flag}", toml))
            found += [(f"a file of the experiment given with --{flag}", p) for p in named_files(toml)]
    return found


def plan_outputs(args: argparse.Namespace, inputs: list[tuple[str, Path]]) -> list[Output]:
    """Check every output before anything runs; a UserError names the first problem."""
    planned: list[Output] = []
    for attr in FLAGS:
        given = getattr(args, attr, None)
        if given is None:
            continue
        flag = "--" + attr.replace("_", "-")
        if given == "":
            raise UserError(f"{flag}: empty path; give a file name" + (" (or - for stdout)" if attr == "json" else ""))
        if attr == "json" and given == "-":
            planned.append(Output(flag, given, None))
            continue
        if given == "-":  # a file literally named '-' is almost surely a mistaken stdout
            raise UserError(f"{flag} writes a file; only --json takes - for stdout (for a file named -, give ./-)")
        if attr == "save":
            path = check_output(experiment_toml(given), flag, regular_only=True)
            if os.path.lexists(path) and not args.force:
                raise UserError(f"--save: {name(given)} already exists; choose another name or add --force to "
                                "overwrite it")
        else:
            path = check_output(given, flag)
        planned.append(Output(flag, given, path))
    files = [o for o in planned if o.path is not None]
    for i, out in enumerate(files):
        for other in files[i + 1:]:
            if same_file(out.path, other.path) and not _is_char_device(out.path):
                raise UserError(f"{out.flag} and {other.flag} name the same file {name(out.given)}; give each "
                                "output its own name")
        for what, p in inputs:
            if same_file(out.path, p):
                raise UserError(f"{out.flag} {name(out.given)} is {what}; an output never replaces an input "
                                "(--force or not): choose another name")
    return planned


def _is_char_device(p: Path) -> bool:
    try:
        return stat.S_ISCHR(os.stat(p).st_mode)
    except OSError:
        return False


def write_outputs(planned: list[Output], trainer: Trainer, result: dict, force: bool,
                  written: list[Output]) -> list[str]:
    """Write each output; returns one line per failure (the rest are still written).
    ``written`` collects those done, for a report if the run is interrupted meanwhile."""
    failures = []
    for out in planned:
        try:
            _write(out, trainer, result, force)
            written.append(out)
        except ExperimentExists as exc:  # appeared while training
            failures.append(f"--save: {exc} (add --force)")
        except UserError as exc:
            failures.append(f"{out.flag}: {exc}")
        except OSError as exc:
            failures.append(f"{out.flag} {name(out.given)} not written: {visible(exc.strerror or str(exc))}")
    return failures


def _write(out: Output, trainer: Trainer, result: dict, force: bool) -> None:
    if out.flag == "--save":
        save_experiment(trainer, out.given, overwrite=force)
    elif out.flag == "--json":
        if out.path is None:
            sys.stdout.write(to_json(result))
            sys.stdout.flush()
        else:
            atomic_write_text(out.path, to_json(result))
    elif out.flag == "--csv":
        atomic_write_text(out.path, rows_to_csv(trainer.evaluations))
    else:
        save_params(out.path, trainer.params, trainer.config.sigma)
