"""Checks of everything an experiment's files hold, before any of it is used: each field's
type, dtype and range, and its consistency with the others (the step, the dtype of the
setup, the histories). A hand-edited, cut or mismatched file is refused in one line that
names the field; nothing half-checked reaches a Trainer.

core/experiment.py reads the files (through core/reading.py) and calls these."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from smtui.core.batches import VERSIONS, block_steps
from smtui.core.errors import UserError
from smtui.core.reading import name
from smtui.core.text import quoted

MAX_STEP = 2**62  # steps a run can have reached (an int64 with room to train on)
MAX_TEXT = 16_384  # characters of a saved message or mark label (a mark may name a 4,096-byte path)
METHODS = ("quadrature", "monte-carlo")
INT_CSV_COLUMNS = ("step", "eval_points", "reference_points")


def whole(v) -> bool:
    """A TOML/JSON whole number (``true`` is not one)."""
    return isinstance(v, int) and not isinstance(v, bool)


def check_top(doc: dict, path: Path, fmt: str, versions: tuple[int, ...]) -> None:
    if not isinstance(doc["format"], str) or doc["format"] != fmt:
        raise UserError(f"{name(path)}: format must be {fmt!r}, got {quoted(doc['format'])}")
    if not whole(doc["version"]) or doc["version"] not in versions:
        raise UserError(f"{name(path)}: version {quoted(doc['version'])} is not supported (this smtui reads "
                        f"{' and '.join(map(str, versions))})")


def check_run(run: dict, path: Path, max_marks: int) -> tuple[int, list[tuple[int, str]]]:
    """The [run] table's step and marks, once every field is the right type and range."""
    where = name(path)
    step = run["step"]
    if not whole(step) or not 0 <= step <= MAX_STEP:
        raise UserError(f"{where}: run.step must be a whole number from 0 to {MAX_STEP}, got {quoted(step)}")
    status, message = run["status"], run["message"]
    if status not in ("ok", "diverged"):
        raise UserError(f"{where}: run.status must be 'ok' or 'diverged', got {quoted(status)}")
    for key in ("message", "save_id"):
        if not isinstance(run[key], str) or len(run[key]) > MAX_TEXT:
            raise UserError(f"{where}: run.{key} must be a string of at most {MAX_TEXT} characters, got "
                            f"{quoted(run[key])}")
    if (status == "ok") != (message == ""):
        raise UserError(f"{where}: run.message must be empty when run.status is 'ok' and say why when it is "
                        f"'diverged'; got status {status!r} with message {quoted(message)}")
    marks = run["marks"]
    if not isinstance(marks, list) or len(marks) > max_marks:
        raise UserError(f"{where}: run.marks must be a list of at most {max_marks} {{step, label}} tables")
    out: list[tuple[int, str]] = []
    for i, m in enumerate(marks):
        if not isinstance(m, dict) or set(m) != {"step", "label"}:
            raise UserError(f"{where}: run.marks[{i}] must be a table with exactly step and label")
        s, label = m["step"], m["label"]
        if not whole(s) or not 0 <= s <= step:
            raise UserError(f"{where}: run.marks[{i}].step must be a whole number from 0 to run.step ({step}), "
                            f"got {quoted(s)}")
        if out and s < out[-1][0]:
            raise UserError(f"{where}: run.marks[{i}].step {s} comes before the previous mark's {out[-1][0]}")
        if not isinstance(label, str) or len(label) > MAX_TEXT:
            raise UserError(f"{where}: run.marks[{i}].label must be a string of at most {MAX_TEXT} characters")
        out.append((s, label))
    return step, out


# --- the .npz state -------------------------------------------------------------------------


def check_arrays(arrays: dict, template: dict, scalars: dict, path: Path) -> None:
    """Names, shapes and exact dtypes: every parameter and optimiser array must be what the
    setup makes (a float32 W in a float64 setup is refused), finite, and the rest scalars
    of the right kind."""
    where = name(path)
    expected = set(template) | set(scalars) | {"losses"}
    for k in arrays:
        if k not in expected:
            raise UserError(f"{where}: unknown array {quoted(k)}")
    for k in sorted(expected):
        if k not in arrays:
            raise UserError(f"{where}: missing array {k!r}")
    for k, t in template.items():
        a = arrays[k]
        if a.shape != t.shape or a.dtype != t.dtype:
            raise UserError(f"{where}: array {k!r} has shape {a.shape} ({a.dtype}); the setup needs {t.shape} "
                            f"({t.dtype})")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise UserError(f"{where}: array {k!r} has non-finite values")
    for k, (shape, kinds) in scalars.items():
        a = arrays[k]
        if a.shape != shape or a.dtype.kind not in kinds:
            raise UserError(f"{where}: array {k!r} must have shape {shape} ({'/'.join(kinds)}), got {a.shape} "
                            f"({a.dtype})")


def check_optimiser(arrays: dict, step: int, path: Path) -> None:
    """Adam's count t is from 0 to the step count (0: nothing accumulated yet, so m = v = 0)
    and its second moments v are >= 0; otherwise the first step would diverge or lie."""
    where = name(path)
    if "opt.t" not in arrays:
        return
    t = int(arrays["opt.t"])
    if not 0 <= t <= step:
        raise UserError(f"{where}: array 'opt.t' (Adam's step count) must be from 0 to the run's step {step}, "
                        f"got {t}")
    moments = [k for k in arrays if k.startswith(("opt.m.", "opt.v."))]
    if t == 0 and any(np.any(arrays[k] != 0) for k in moments):
        raise UserError(f"{where}: array 'opt.t' is 0 but Adam's moments are not zero; the state is inconsistent")
    for k in moments:
        if k.startswith("opt.v.") and np.any(arrays[k] < 0):
            raise UserError(f"{where}: array {k!r} (Adam's second moment) has negative values; it is a mean of "
                            "squares")


def check_rng(words: np.ndarray, path: Path) -> None:
    """A PCG64 state as numpy makes it: an odd increment, a 0/1 flag, a 32-bit buffer."""
    w = [int(v) for v in words]
    if w[3] % 2 == 0 or w[4] not in (0, 1) or w[5] >= 2**32:
        raise UserError(f"{name(path)}: array 'rng' is not a valid PCG64 batch-stream state")


def check_stream(run: dict, path: Path) -> int:
    """run.batch_stream: a batch stream version this smtui draws (core/batches.py)."""
    v = run["batch_stream"]
    if not whole(v) or v not in VERSIONS:
        raise UserError(f"{name(path)}: run.batch_stream must be one of {', '.join(map(str, VERSIONS))} (the batch "
                        f"stream's version), got {quoted(v)}")
    return v


def check_block_step(arrays: dict, stream: int, batch: int, path: Path) -> int:
    """The steps taken from the batch stream's block under way: fewer than a block holds."""
    taken, steps = int(arrays["block_step"]), block_steps(stream, batch)
    if not 0 <= taken < steps:
        raise UserError(f"{name(path)}: array 'block_step' must be from 0 to {steps - 1} (steps taken from a block "
                        f"of {steps}), got {taken}")
    return taken


def check_losses(arrays: dict, step: int, capacity: int, path: Path) -> None:
    """The training-loss history: one row per ``stride`` steps from step 1, exactly as many
    as ``losses_seen`` (== the step count) gives, and the last loss consistent with it."""
    where = name(path)
    losses = arrays["losses"]
    if losses.ndim != 2 or losses.shape[1] != 2 or losses.dtype.kind != "f" or not np.all(np.isfinite(losses)):
        raise UserError(f"{where}: array 'losses' must be finite with shape (k, 2), got {losses.shape} "
                        f"({losses.dtype})")
    stride, seen = int(arrays["losses_stride"]), int(arrays["losses_seen"])
    if seen != step:
        raise UserError(f"{where}: array 'losses_seen' is {seen}, the run's step is {step}")
    if stride < 1 or stride & (stride - 1) or (stride > 1 and -(-seen // (stride // 2)) < capacity):
        raise UserError(f"{where}: array 'losses_stride' {stride} does not fit {seen} steps")
    count = -(-seen // stride)
    if losses.shape[0] != count or not np.array_equal(losses[:, 0], np.arange(count) * stride + 1.0):
        raise UserError(f"{where}: array 'losses' has {losses.shape[0]} rows; {step} steps recorded every "
                        f"{stride} give {count} (steps 1, {1 + stride}, ...): cut or edited")
    last, seconds = float(arrays["last_loss"]), float(arrays["train_seconds"])
    if (step == 0) != math.isnan(last) or math.isinf(last):
        raise UserError(f"{where}: array 'last_loss' must be nan before the first step and finite after it, "
                        f"got {last} at step {step}")
    if count and losses[-1, 0] == step and losses[-1, 1] != last:
        raise UserError(f"{where}: array 'last_loss' {last} differs from the loss history's last {losses[-1, 1]}")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise UserError(f"{where}: array 'train_seconds' must be a finite number >= 0, got {seconds}")


# --- the .csv metric history ----------------------------------------------------------------


def parse_history(text: str, path: Path, step: int, required: tuple[str, ...], max_rows: int) -> list[dict]:
    """The evaluations written by ``rows_to_csv``: numbers back to float (int for counts),
    empty cells to None, the evaluation method as text; steps increasing, none beyond the
    run's ``step``. An empty history is one empty line; anything shorter or cut is refused."""
    where = f"metric history {name(path)}"
    if text == "":
        raise UserError(f"{where} is empty (0 bytes); a save writes at least one line: cut short?")
    if not text.endswith("\n"):
        raise UserError(f"{where} does not end with a newline: cut short?")
    rows = list(csv.reader(io.StringIO(text)))
    if rows == [[]]:
        return []
    header = rows[0]
    if len(set(header)) != len(header) or not all(c and c.replace("_", "").isalnum() and c.isascii()
                                                  for c in header):
        raise UserError(f"{where}: the header {quoted(','.join(header))} is not a list of distinct column names")
    missing = [c for c in required if c not in header]
    if missing:
        raise UserError(f"{where} has no {', '.join(missing)} column(s)")
    if len(rows) == 1:
        raise UserError(f"{where} has a header but no rows; a save writes a header only with rows: cut short?")
    if len(rows) - 1 > max_rows:
        raise UserError(f"{where} has {len(rows) - 1:,} rows; a save keeps at most {max_rows:,}")
    out: list[dict] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserError(f"{where} line {lineno}: {len(row)} cells, expected {len(header)}")
        rec = {c: _cell(c, v, where, lineno) for c, v in zip(header, row)}
        s = rec["step"]
        if s is None or not 0 <= s <= step:
            raise UserError(f"{where} line {lineno}: step {quoted(s)} is not from 0 to the run's step {step}")
        # Equal steps are fine: each setup change made while paused is evaluated at that step.
        if out and s < out[-1]["step"]:
            raise UserError(f"{where} line {lineno}: step {s} comes before the previous row's "
                            f"{out[-1]['step']}")
        out.append(rec)
    return out


def _cell(column: str, v: str, where: str, lineno: int):
    if v == "":
        return None
    if column == "evaluation":
        if v not in METHODS:
            raise UserError(f"{where} line {lineno}: evaluation {quoted(v)} is not one of {', '.join(METHODS)}")
        return v
    try:
        x = int(v) if column in INT_CSV_COLUMNS else float(v)
    except ValueError:
        raise UserError(f"{where} line {lineno}: {column} = {quoted(v)} is not a number") from None
    if not math.isfinite(x):
        raise UserError(f"{where} line {lineno}: {column} = {quoted(v)}; a save writes no nan or inf (an empty "
                        "cell stands for none)")
    if column in INT_CSV_COLUMNS[1:] and x < 1:
        raise UserError(f"{where} line {lineno}: {column} = {x} must be >= 1")
    return x
