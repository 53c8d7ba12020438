"""Saving an experiment: NAME.toml (setup, run state, save id, checksums) committed last,
after NAME.<save_id>.npz and NAME.<save_id>.csv are written whole (core/experiment_layout.py
explains why every instant on disk loads as the old or the new experiment)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import tomli_w

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment_layout import (
    FORMAT,
    VERSION,
    commit,
    data_digest,
    experiment_toml,
    flatten,
    folder_lock,
    new_save_id,
    remove_leftovers,
    sha256,
    state_files,
    sync_folder,
    write_new,
)
from smtui.core.io import rows_to_csv
from smtui.core.outputs import Input, Request, check, data_input
from smtui.core.reading import name as shown_path
from smtui.core.trainer import Trainer

HEADER = (
    "# An smtui experiment (Vincent 2011, score matching and denoising autoencoders).\n"
    "# [setup] is the whole setup: `smtui run --config THIS.toml` reruns it from scratch.\n"
    "# [run] and the files NAME.<save_id>.npz / .csv beside this file hold the trained\n"
    "# state and metric history (checked against the sha256 below): `smtui run --load\n"
    "# THIS.toml` resumes exactly. data_path = \"\" means none; a relative data_path is\n"
    "# relative to this file's folder.\n"
)


class ExperimentExists(UserError):
    """Saving would overwrite an existing experiment and overwriting was not asked for."""


def save_experiment(trainer: Trainer, path: str | Path, overwrite: bool = False, inputs: list[Input] = ()) -> Path:
    """Write the experiment as one atomic save; returns the TOML path.

    The TOML is checked by core/outputs.py's rules (a regular file; never the trainer's
    data file nor one of ``inputs``). Raises ExperimentExists if the TOML exists and
    ``overwrite`` is False (checked atomically: of two saves racing for one new name, one
    refuses), and UserError (with the previous experiment intact) if the disk refuses the
    write. Call it from the thread that trains (between steps), so the state saved is one
    moment's."""
    request = Request("experiment", str(experiment_toml(path)), regular_only=True)
    toml = check(request, [*data_input(trainer.config.data_path, "the data file being trained on"), *inputs]).path
    save_id = new_save_id()
    npz, csv = state_files(toml, save_id)
    state = _state_bytes(trainer, save_id)
    history = rows_to_csv(trainer.evaluations).encode("utf-8")
    text = _toml_text(trainer, toml, save_id, sha256(state), sha256(history)).encode("utf-8")
    folder = toml.parent if str(toml.parent) else Path(".")
    written: list[Path] = []
    with folder_lock(folder) as locked:
        if not overwrite and os.path.lexists(toml):
            raise ExperimentExists(f"{shown_path(toml)} already exists; choose another name or allow overwriting it")
        try:
            for p, data in ((npz, state), (csv, history)):
                write_new(p, data)
                written.append(p)
            commit(toml, text, overwrite)
        except BaseException as exc:
            for p in written:
                with contextlib.suppress(OSError):
                    os.unlink(p)
            if isinstance(exc, FileExistsError) and not overwrite:
                raise ExperimentExists(f"{shown_path(toml)} already exists; choose another name or allow "
                                       "overwriting it") from None
            if isinstance(exc, OSError):
                raise UserError(f"cannot save experiment {shown_path(toml)}: {exc.strerror or exc}; "
                                "the previous files are unchanged") from None
            raise
        sync_folder(folder)
        if locked:  # the previous save's files and any interrupted save's are no longer named
            remove_leftovers(toml, {npz, csv})
    return toml


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


def _toml_text(trainer: Trainer, toml_path: Path, save_id: str, state_sha: str, history_sha: str) -> str:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "setup": _setup_table(trainer.config, toml_path.parent),
        "run": {
            "step": int(trainer.step),
            "batch_stream": int(trainer.batches.version),
            "status": trainer.status,
            "message": trainer.message,
            "save_id": save_id,
            "state_sha256": state_sha,
            "history_sha256": history_sha,
            "marks": [{"step": int(s), "label": str(label)} for s, label in trainer.marks],
        },
    }
    return HEADER + tomli_w.dumps(doc)


def _pcg64_words(st: dict) -> np.ndarray:
    """A PCG64 state (``bit_generator.state``) as six uint64 words (lossless: 128-bit ints split)."""
    if st["bit_generator"] != "PCG64":
        raise TypeError(f"expected a PCG64 batch stream, got {st['bit_generator']}")
    s, inc = st["state"]["state"], st["state"]["inc"]
    words = (s >> 64, s & (2**64 - 1), inc >> 64, inc & (2**64 - 1), st["has_uint32"], st["uinteger"])
    return np.array(words, dtype=np.uint64)


def _state_arrays(trainer: Trainer, save_id: str) -> dict[str, np.ndarray]:
    rows, stride, seen = trainer.losses.state()
    arrays = {k: np.asarray(v) for k, v in trainer.params.items()}
    flatten("opt.", trainer.opt_state, arrays)
    stream_state, taken = trainer.batches.state()
    arrays.update(
        rng=_pcg64_words(stream_state),  # before the block under way (core/batches.py)
        block_step=np.asarray(taken, dtype=np.int64),
        step=np.asarray(trainer.step, dtype=np.int64),
        train_seconds=np.asarray(trainer.train_seconds, dtype=np.float64),
        last_loss=np.asarray(np.nan if trainer.last_loss is None else trainer.last_loss, dtype=np.float64),
        losses=np.asarray(rows, dtype=np.float64).reshape(-1, 2),
        losses_stride=np.asarray(stride, dtype=np.int64),
        losses_seen=np.asarray(seen, dtype=np.int64),
        data_digest=np.asarray(data_digest(trainer.data)),
        save_id=np.asarray(save_id),
    )
    return arrays


def _state_bytes(trainer: Trainer, save_id: str) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **_state_arrays(trainer, save_id))
    return buf.getvalue()
