"""Experiments that last: a TOML file with the whole setup, and beside it ``NAME.npz``
(parameters, optimiser state, batch stream, histories) and ``NAME.csv`` (the metric
history). Loading one resumes exactly: k more steps give the same parameters as never
having stopped.

    save_experiment(trainer, "runs/ring.toml")      # refuses to overwrite unless asked
    trainer = load_experiment("runs/ring.toml")     # resume
    config = load_config("runs/ring.toml")          # the setup only, to rerun or share

Everything read back is checked; a wrong, missing or extra field is a one-line
UserError naming it. The .npz is read with allow_pickle=False.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tomllib
import uuid
from dataclasses import fields
from pathlib import Path

import numpy as np
import tomli_w

from core.config import Config
from core.errors import UserError
from core.experiment_checks import (
    check_arrays,
    check_losses,
    check_optimiser,
    check_rng,
    check_run,
    check_top,
    parse_history,
    whole,
)
from core.io import atomic_write_many, check_writable, rows_to_csv
from core.reading import MiB, name, read_npz, read_text
from core.text import quoted, shown
from core.trainer import IDENTITY_COLUMNS, MAX_EVALUATIONS, MAX_MARKS, Trainer

FORMAT = "smtui-experiment"
VERSION = 1
HEADER = (
    "# An smtui experiment (Vincent 2011, score matching and denoising autoencoders).\n"
    "# [setup] is the whole setup: `smtui run --config THIS.toml` reruns it from scratch.\n"
    "# [run] and the .npz / .csv beside this file hold the trained state and metric\n"
    "# history: `smtui run --load THIS.toml` resumes exactly. data_path = \"\" means none;\n"
    "# a relative data_path is relative to this file's folder.\n"
)
TOP_KEYS = ("format", "version", "setup", "run")
RUN_KEYS = ("step", "status", "message", "save_id", "marks")
# Caps on what is read (a save of the largest setup is far below each): nothing bigger
# is ever read into memory, and an .npz member claiming more is refused from its header.
MAX_TOML_BYTES = 4 * MiB
MAX_NPZ_BYTES = 512 * MiB
MAX_CSV_BYTES = 64 * MiB


class ExperimentExists(UserError):
    """Saving would overwrite an existing experiment and overwriting was not asked for."""


def experiment_paths(path: str | Path) -> tuple[Path, Path, Path]:
    """The experiment's three files: NAME.toml, NAME.npz, NAME.csv."""
    p = Path(path)
    if p.suffix.lower() != ".toml":
        raise UserError(f"experiment file {str(p)!r} must end in .toml")
    return p, p.with_suffix(".npz"), p.with_suffix(".csv")


def suggest_experiment_path(config: Config, folder: str | Path = ".") -> Path:
    """A default name that says what the experiment is and overwrites nothing, e.g.
    ``ring8-dsm-sigma0.3.toml`` (then ``-2``, ``-3``, ... if taken)."""
    source = Path(config.data_path).stem if config.data_path else config.distribution
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{source}-{config.objective}-"
                   f"sigma{config.sigma:g}")
    folder = Path(folder)
    for i in range(1, 10_000):
        candidate = folder / (f"{stem}.toml" if i == 1 else f"{stem}-{i}.toml")
        if not any(p.exists() for p in experiment_paths(candidate)):
            return candidate
    raise UserError(f"no free experiment name like {stem!r} in {str(folder)!r}")


# --- saving ---------------------------------------------------------------------


def save_experiment(trainer: Trainer, path: str | Path, overwrite: bool = False) -> Path:
    """Write the experiment's three files as one atomic save; returns the TOML path.

    Raises ExperimentExists if any of them exists and ``overwrite`` is False, and
    UserError (with the previous files intact) if the disk refuses the write. Call it
    from the thread that trains (between steps), so the state saved is one moment's."""
    toml_path, npz_path, csv_path = experiment_paths(path)
    for p, what in ((toml_path, "experiment"), (npz_path, "experiment state"), (csv_path, "metric history")):
        check_writable(p, what)
        if p.exists() and not overwrite:
            raise ExperimentExists(f"{str(p)!r} already exists; choose another name or allow overwriting it")
    save_id = uuid.uuid4().hex
    files = {
        npz_path: _state_bytes(trainer, save_id),
        csv_path: rows_to_csv(trainer.evaluations).encode("utf-8"),
        toml_path: _toml_text(trainer, toml_path, save_id).encode("utf-8"),  # last: it commits the save
    }
    try:
        atomic_write_many(files)
    except OSError as exc:
        raise UserError(f"cannot save experiment {str(toml_path)!r}: {exc.strerror or exc}; "
                        "the previous files are unchanged") from None
    return toml_path


def _setup_table(config: Config, folder: Path) -> dict:
    setup = config.to_dict()
    if config.data_path is None:
        setup["data_path"] = ""
    else:
        data = Path(config.data_path).resolve()
        try:
            setup["data_path"] = Path(os.path.relpath(data, folder.resolve())).as_posix()
        except ValueError:  # another drive (Windows): keep it absolute
            setup["data_path"] = str(data)
    return setup


def _toml_text(trainer: Trainer, toml_path: Path, save_id: str) -> str:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "setup": _setup_table(trainer.config, toml_path.parent),
        "run": {
            "step": int(trainer.step),
            "status": trainer.status,
            "message": trainer.message,
            "save_id": save_id,
            "marks": [{"step": int(s), "label": str(label)} for s, label in trainer.marks],
        },
    }
    return HEADER + tomli_w.dumps(doc)


def _data_digest(data: np.ndarray) -> str:
    a = np.ascontiguousarray(data, dtype=np.float64)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def _pcg64_words(rng: np.random.Generator) -> np.ndarray:
    """The batch stream's PCG64 state as six uint64 words (lossless: 128-bit ints split)."""
    st = rng.bit_generator.state
    if st["bit_generator"] != "PCG64":
        raise TypeError(f"expected a PCG64 batch stream, got {st['bit_generator']}")
    s, inc = st["state"]["state"], st["state"]["inc"]
    words = (s >> 64, s & (2**64 - 1), inc >> 64, inc & (2**64 - 1), st["has_uint32"], st["uinteger"])
    return np.array(words, dtype=np.uint64)


def _pcg64_from_words(words: np.ndarray) -> np.random.Generator:
    w = [int(v) for v in words]
    bg = np.random.PCG64()
    bg.state = {"bit_generator": "PCG64", "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
                "has_uint32": w[4], "uinteger": w[5]}
    return np.random.Generator(bg)


def _flatten(prefix: str, tree: dict, out: dict) -> dict:
    for k, v in tree.items():
        if isinstance(v, dict):
            _flatten(f"{prefix}{k}.", v, out)
        else:
            out[f"{prefix}{k}"] = np.asarray(v)
    return out


def _state_arrays(trainer: Trainer, save_id: str) -> dict[str, np.ndarray]:
    rows, stride, seen = trainer.losses.state()
    arrays = {k: np.asarray(v) for k, v in trainer.params.items()}
    _flatten("opt.", trainer.opt_state, arrays)
    arrays.update(
        rng=_pcg64_words(trainer.batch_rng),
        step=np.asarray(trainer.step, dtype=np.int64),
        train_seconds=np.asarray(trainer.train_seconds, dtype=np.float64),
        last_loss=np.asarray(np.nan if trainer.last_loss is None else trainer.last_loss, dtype=np.float64),
        losses=np.asarray(rows, dtype=np.float64).reshape(-1, 2),
        losses_stride=np.asarray(stride, dtype=np.int64),
        losses_seen=np.asarray(seen, dtype=np.int64),
        data_digest=np.asarray(_data_digest(trainer.data)),
        save_id=np.asarray(save_id),
    )
    return arrays


def _state_bytes(trainer: Trainer, save_id: str) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **_state_arrays(trainer, save_id))
    return buf.getvalue()


# --- loading --------------------------------------------------------------------


def _read_toml(path: Path) -> dict:
    text = read_text(path, "experiment file", MAX_TOML_BYTES)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"experiment file {name(path)} is not valid TOML: {_first_line(exc)}") from None
    _exact_keys(doc, ("format", "version", "setup"), TOP_KEYS, path, "")
    check_top(doc, path, FORMAT, VERSION)
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


def load_config(path: str | Path) -> Config:
    """The setup of an experiment file (its [run] section and state files are ignored)."""
    toml_path = experiment_paths(path)[0]
    return _config_from_setup(_read_toml(toml_path)["setup"], toml_path)


def load_experiment(path: str | Path) -> Trainer:
    """A Trainer exactly as it was saved: training on from it continues the same run.
    Every field of the three files is checked first (core/experiment_checks.py)."""
    toml_path, npz_path, csv_path = experiment_paths(path)
    doc = _read_toml(toml_path)
    config = _config_from_setup(doc["setup"], toml_path)
    if "run" not in doc:
        raise UserError(f"{name(toml_path)} holds a setup only (no [run]); start from it with --config")
    run = doc["run"]
    _exact_keys(run, RUN_KEYS, RUN_KEYS, toml_path, "run.")
    step, marks = check_run(run, toml_path, MAX_MARKS)

    arrays = _read_npz(npz_path)
    if "save_id" in arrays and arrays["save_id"].shape == () and str(arrays["save_id"]) != run["save_id"]:
        raise UserError(f"{name(npz_path)} does not belong to {name(toml_path)} (an interrupted save?); "
                        "start afresh from its setup with --config")
    trainer = Trainer(config)  # data, and a template of every array's shape and dtype
    _restore_state(trainer, arrays, step, npz_path)
    if str(arrays["data_digest"]) != _data_digest(trainer.data):
        raise UserError(f"the data of {name(toml_path)} ({quoted(config.source, tail=True)}) differs from when it "
                        "was saved; resuming would not continue the same run. Start afresh with --config")
    history = _read_history(csv_path, step)
    trainer.evaluations = history
    for figs in trainer.evaluations:  # the identity history is a function of the evaluations
        trainer.identity.append(tuple(np.nan if figs.get(c) is None else figs[c] for c in IDENTITY_COLUMNS))
    if trainer.evaluations and trainer.evaluations[-1].get("step") == trainer.step:
        trainer._figures = (trainer.step, trainer.evaluations[-1])  # no duplicate row on the next evaluate()
    trainer.marks = marks
    trainer.status, trainer.message = run["status"], run["message"]
    return trainer


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not os.path.lexists(path):
        raise UserError(f"experiment state {name(path)} is missing; start afresh from the setup with --config")
    return read_npz(path, "experiment state", MAX_NPZ_BYTES)


def _restore_state(trainer: Trainer, arrays: dict, step: int, path: Path) -> None:
    """Check every array against the fresh trainer's template and the run's step, then put
    it in place."""
    template = {k: np.asarray(v) for k, v in trainer.params.items()}
    _flatten("opt.", trainer.opt_state, template)
    scalars = {"rng": ((6,), "u"), "step": ((), "iu"), "train_seconds": ((), "f"), "last_loss": ((), "f"),
               "losses_stride": ((), "iu"), "losses_seen": ((), "iu"), "data_digest": ((), "U"),
               "save_id": ((), "U")}
    check_arrays(arrays, template, scalars, path)
    if int(arrays["step"]) != step:
        raise UserError(f"{name(path)} does not belong to its experiment file: it is at step "
                        f"{int(arrays['step'])}, the file at {step} (an interrupted save?); start afresh from its "
                        "setup with --config")
    check_optimiser(arrays, step, path)
    check_rng(arrays["rng"], path)
    check_losses(arrays, step, trainer.losses.capacity, path)

    trainer.params = {k: np.array(arrays[k]) for k in trainer.params}
    trainer.opt_state = _unflatten(trainer.opt_state, arrays, "opt.")
    trainer.batch_rng = _pcg64_from_words(arrays["rng"])
    trainer.step = step
    trainer.train_seconds = float(arrays["train_seconds"])
    last = float(arrays["last_loss"])
    trainer.last_loss = None if math.isnan(last) else last
    trainer.losses.restore(arrays["losses"], int(arrays["losses_stride"]), int(arrays["losses_seen"]))


def _unflatten(tree: dict, arrays: dict, prefix: str) -> dict:
    out = {}
    for k, v in tree.items():
        out[k] = _unflatten(v, arrays, f"{prefix}{k}.") if isinstance(v, dict) else np.array(arrays[f"{prefix}{k}"])
    return out


def _read_history(path: Path, step: int) -> list[dict]:
    if not os.path.lexists(path):
        raise UserError(f"metric history {name(path)} is missing")
    text = read_text(path, "metric history", MAX_CSV_BYTES)
    return parse_history(text, path, step, IDENTITY_COLUMNS, MAX_EVALUATIONS - 1)
