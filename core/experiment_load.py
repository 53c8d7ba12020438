"""Loading an experiment: the state and history files are first checked to be the ones the
TOML's save names (save id in their names and in the state, SHA-256 in the TOML), then
every field is checked (core/experiment_checks.py), then a Trainer is put back exactly as
it was. Files are read through core/reading.py (regular files only, size caps, .npz
members refused from their headers). Version 1 experiments (no checksums) still load."""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import fields
from pathlib import Path

import numpy as np

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment_checks import (
    check_arrays,
    check_block_step,
    check_losses,
    check_optimiser,
    check_rng,
    check_run,
    check_stream,
    check_top,
    parse_history,
    whole,
)
from smtui.core.experiment_layout import (
    FORMAT,
    READABLE_VERSIONS,
    SAVE_ID,
    data_digest,
    experiment_toml,
    flatten,
    folder_lock,
    remove_leftovers,
    sha256,
    state_files,
)
from smtui.core.reading import MiB, name, read_bytes, read_npz, read_text
from smtui.core.text import quoted, shown
from smtui.core.trainer import HISTORY_REQUIRED, MAX_EVALUATIONS, MAX_MARKS, Trainer, identity_row, scale_row

TOP_KEYS = ("format", "version", "setup", "run")
RUN_KEYS = {1: ("step", "status", "message", "save_id", "marks"),
            2: ("step", "status", "message", "save_id", "state_sha256", "history_sha256", "marks"),
            3: ("step", "batch_stream", "status", "message", "save_id", "state_sha256", "history_sha256", "marks")}
# Caps on what is read (a save of the largest setup is far below each): nothing bigger
# is ever read into memory, and an .npz member claiming more is refused from its header.
MAX_TOML_BYTES = 4 * MiB
MAX_NPZ_BYTES = 64 * MiB
MAX_CSV_BYTES = 64 * MiB


def load_config(path: str | Path) -> Config:
    """The setup of an experiment file (its [run] section and state files are ignored)."""
    toml_path = _followed(experiment_toml(path))
    return _config_from_setup(_read_toml(toml_path)["setup"], toml_path)


def load_experiment(path: str | Path) -> Trainer:
    """A Trainer exactly as it was saved: training on from it continues the same run.
    Every field of the three files is checked first (core/experiment_checks.py)."""
    toml_path = _followed(experiment_toml(path))
    doc = _read_toml(toml_path)
    config = _config_from_setup(doc["setup"], toml_path)
    if "run" not in doc:
        raise UserError(f"{name(toml_path)} holds a setup only (no [run]); start from it with --config")
    run, version = doc["run"], doc["version"]
    _exact_keys(run, RUN_KEYS[version], RUN_KEYS[version], toml_path, "run.")
    step, marks = check_run(run, toml_path, MAX_MARKS)
    stream = check_stream(run, toml_path) if version >= 3 else None  # before format 3: stream version 1
    if version >= 2:
        for key in ("save_id", "state_sha256", "history_sha256"):
            pattern = SAVE_ID.pattern if key == "save_id" else "[0-9a-f]{64}"
            if not isinstance(run[key], str) or not _full(pattern, run[key]):
                raise UserError(f"{name(toml_path)}: run.{key} must be {'12' if key == 'save_id' else '64'} "
                                f"hexadecimal digits, got {quoted(run[key])}")
    npz_path, csv_path = state_files(toml_path, run["save_id"], version)
    if version >= 2:
        _check_tie(npz_path, "experiment state", MAX_NPZ_BYTES, run["state_sha256"], toml_path)
        _check_tie(csv_path, "metric history", MAX_CSV_BYTES, run["history_sha256"], toml_path)

    arrays = _read_npz(npz_path)
    if "save_id" in arrays and arrays["save_id"].shape == () and str(arrays["save_id"]) != run["save_id"]:
        raise UserError(f"{name(npz_path)} does not belong to {name(toml_path)} (an interrupted save?); "
                        "start afresh from its setup with --config")
    trainer = Trainer(config)  # data, and a template of every array's shape and dtype
    _restore_state(trainer, arrays, step, stream, npz_path)
    if str(arrays["data_digest"]) != data_digest(trainer.data):
        raise UserError(f"the data of {name(toml_path)} ({quoted(config.source, tail=True)}) differs from when it "
                        "was saved; resuming would not continue the same run. Start afresh with --config")
    history = _read_history(csv_path, step)
    trainer.evaluations = history
    for figs in trainer.evaluations:  # the identity history is a function of the evaluations
        trainer.identity.append(identity_row(figs))
        trainer.scale.append(scale_row(figs, trainer.config.sigma))
    if trainer.evaluations and trainer.evaluations[-1].get("step") == trainer.step:
        trainer._figures = (trainer.step, trainer.evaluations[-1])  # no duplicate row on the next evaluate()
    trainer.marks = marks
    trainer.status, trainer.message = run["status"], run["message"]
    if version >= 2:
        _tidy(toml_path, run["save_id"])
    return trainer


def _full(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def _followed(toml: Path) -> Path:
    """A symbolic link to the TOML is followed: its files sit beside the real file."""
    return Path(os.path.realpath(toml)) if toml.is_symlink() else toml


def _check_tie(path: Path, what: str, limit: int, digest: str, toml_path: Path) -> None:
    """The file must be, byte for byte, the one the TOML's save wrote."""
    if not os.path.lexists(path):
        raise UserError(f"{what} {name(path)} of {name(toml_path)} is missing; start afresh from the setup "
                        "with --config")
    if sha256(read_bytes(path, what, limit)) != digest:
        raise UserError(f"{what} {name(path)} is not the file {name(toml_path)} saved (its checksum differs: "
                        "changed, cut or from another save); start afresh from the setup with --config")


def _tidy(toml_path: Path, save_id: str) -> None:
    """Remove files of older or interrupted saves of this name, if no save is under way
    (a save holds the folder's lock until its TOML names its files)."""
    with folder_lock(toml_path.parent if str(toml_path.parent) else Path("."), wait=False) as locked:
        if locked:
            try:
                if f'save_id = "{save_id}"' not in toml_path.read_text(encoding="utf-8"):
                    return  # replaced since we read it: leave the tidying to that save
            except (OSError, UnicodeDecodeError):
                return
            remove_leftovers(toml_path, set(state_files(toml_path, save_id)))


def _read_toml(path: Path) -> dict:
    text = read_text(path, "experiment file", MAX_TOML_BYTES)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"experiment file {name(path)} is not valid TOML: {_first_line(exc)}") from None
    _exact_keys(doc, ("format", "version", "setup"), TOP_KEYS, path, "")
    check_top(doc, path, FORMAT, READABLE_VERSIONS)
    return doc


def _first_line(exc: BaseException) -> str:
    return shown((str(exc).strip().splitlines() or [type(exc).__name__])[0], 120)


def _exact_keys(table, required, allowed, path: Path, where: str) -> None:
    label = where.rstrip(".") or "the top level"
    if not isinstance(table, dict):
        raise UserError(f"{name(path)}: {label} must be a table")
    for k in table:
        if k not in allowed:
            raise UserError(f"{name(path)}: unknown field {where}{shown(k)}; allowed: {', '.join(allowed)}")
    for k in required:
        if k not in table:
            raise UserError(f"{name(path)}: missing field {where}{k}")


def _config_from_setup(setup, path: Path) -> Config:
    names = tuple(f.name for f in fields(Config))
    _exact_keys(setup, names, names, path, "setup.")
    defaults = Config()
    values = {}
    for key in names:
        v, kind = setup[key], type(getattr(defaults, key))
        if key == "data_path":
            if not isinstance(v, str):
                raise UserError(f"{name(path)}: setup.data_path must be a string (\"\" for none), got {quoted(v)}")
            if v == "":
                v = None
            elif not Path(v).is_absolute():
                v = str(path.parent / v)
        elif kind is float:
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise UserError(f"{name(path)}: setup.{key} must be a number, got {quoted(v)}")
            v = float(v)
        elif kind is int:
            if not whole(v):
                raise UserError(f"{name(path)}: setup.{key} must be a whole number, got {quoted(v)}")
        elif not isinstance(v, str):
            raise UserError(f"{name(path)}: setup.{key} must be a string, got {quoted(v)}")
        values[key] = v
    try:
        return Config(**values).validated()
    except UserError as exc:
        raise UserError(f"{name(path)}: setup: {exc}") from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not os.path.lexists(path):
        raise UserError(f"experiment state {name(path)} is missing; start afresh from the setup with --config")
    return read_npz(path, "experiment state", MAX_NPZ_BYTES)


def _restore_state(trainer: Trainer, arrays: dict, step: int, stream: int | None, path: Path) -> None:
    """Check every array against the fresh trainer's template and the run's step, then put
    it in place; the batch stream continues in version ``stream`` (None: a save from before
    format 3, stream version 1, with no block under way)."""
    template = {k: np.asarray(v) for k, v in trainer.params.items()}
    flatten("opt.", trainer.opt_state, template)
    scalars = {"rng": ((6,), "u"), "step": ((), "iu"), "train_seconds": ((), "f"), "last_loss": ((), "f"),
               "losses_stride": ((), "iu"), "losses_seen": ((), "iu"), "data_digest": ((), "U"),
               "save_id": ((), "U")}
    if stream is not None:
        scalars["block_step"] = ((), "iu")
    check_arrays(arrays, template, scalars, path)
    if int(arrays["step"]) != step:
        raise UserError(f"{name(path)} does not belong to its experiment file: it is at step "
                        f"{int(arrays['step'])}, the file at {step} (an interrupted save?); start afresh from its "
                        "setup with --config")
    check_optimiser(arrays, step, path)
    check_rng(arrays["rng"], path)
    taken = 0 if stream is None else check_block_step(arrays, stream, trainer.config.batch, path)
    check_losses(arrays, step, trainer.losses.capacity, path)

    trainer.params = {k: np.array(arrays[k]) for k in trainer.params}
    trainer.opt_state = _unflatten(trainer.opt_state, arrays, "opt.")
    trainer.resume_batches(stream or 1, _pcg64_state(arrays["rng"]), taken)
    trainer.step = step
    trainer.train_seconds = float(arrays["train_seconds"])
    last = float(arrays["last_loss"])
    trainer.last_loss = None if math.isnan(last) else last
    trainer.losses.restore(arrays["losses"], int(arrays["losses_stride"]), int(arrays["losses_seen"]))


def _pcg64_state(words: np.ndarray) -> dict:
    """The PCG64 state (``bit_generator.state``) saved as six words."""
    w = [int(v) for v in words]
    return {"bit_generator": "PCG64", "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
            "has_uint32": w[4], "uinteger": w[5]}


def _unflatten(tree: dict, arrays: dict, prefix: str) -> dict:
    out = {}
    for k, v in tree.items():
        out[k] = _unflatten(v, arrays, f"{prefix}{k}.") if isinstance(v, dict) else np.array(arrays[f"{prefix}{k}"])
    return out


def _read_history(path: Path, step: int) -> list[dict]:
    if not os.path.lexists(path):
        raise UserError(f"metric history {name(path)} is missing")
    text = read_text(path, "metric history", MAX_CSV_BYTES)
    return parse_history(text, path, step, HISTORY_REQUIRED, MAX_EVALUATIONS - 1)
