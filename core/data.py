"""Loading the user's own points: CSV / whitespace text or .npy, shape (n, d), read safely
(core/reading.py: regular files only, size capped, .npy refused from its header)."""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np

from smtui.core.errors import UserError
from smtui.core.reading import MiB, check_regular, name, read_npy, read_text
from smtui.core.text import quoted

MAX_COORDINATE = 1e15
MAX_DATA_BYTES = 64 * MiB  # a data file's size, text or .npy (README: "Your own data")
MAX_POINTS = 1_000_000  # rows, as many as --n-train allows
MAX_DIM = 256  # columns: the evaluation holds ~10^4-10^5 points of d coordinates at once


def load_points(path: str | Path) -> np.ndarray:
    """Read an (n, d) float array; every failure is a one-line UserError naming the file.
    Only a regular file of at most MAX_DATA_BYTES is read, and at most MAX_POINTS rows."""
    p = check_regular(path, "data file")
    if p.suffix.lower() == ".npy":
        pts = read_npy(p, "data file", MAX_DATA_BYTES)
    else:
        pts = _parse_text(read_text(p, "data file", MAX_DATA_BYTES), p)
    if pts.ndim >= 1 and pts.shape[0] > MAX_POINTS:
        raise UserError(f"data file {name(p)} has {pts.shape[0]:,} rows; the most smtui uses is {MAX_POINTS:,}")
    return validate_points(pts, f"data file {name(p)}")


def _parse_text(text: str, p: Path) -> np.ndarray:
    if "\x00" in text[:4096]:
        raise UserError(f"data file {name(p)} holds NUL bytes: it is binary, not CSV or text")
    values = array("d")
    columns = rows = 0
    seen_header = False
    for lineno, line in enumerate(_lines(text), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.replace(",", " ").replace(";", " ").split()
        try:
            row = [float(f) for f in fields]
        except ValueError:
            if not rows and not seen_header and all(_is_word(f) for f in fields):
                seen_header = True  # one header line of column names is allowed
                continue
            bad = next(f for f in fields if not _is_float(f))
            raise UserError(f"data file {name(p)} line {lineno:,}: {quoted(bad)} is not a number") from None
        if rows and len(row) != columns:
            raise UserError(f"data file {name(p)} line {lineno:,}: {len(row)} columns, expected {columns} "
                            "(ragged rows)")
        if rows == MAX_POINTS:
            raise UserError(f"data file {name(p)} has more than {MAX_POINTS:,} rows; the most smtui uses is "
                            f"{MAX_POINTS:,}")
        columns, rows = len(row), rows + 1
        values.extend(row)
    if not rows:
        raise UserError(f"data file {name(p)} has no data rows")
    return np.frombuffer(values, dtype=float).reshape(rows, columns).copy()


def _lines(text: str):
    """The lines of ``text`` one at a time, without a second copy of the whole (a
    StringIO of a 60 MB file took four times its size)."""
    pos, n = 0, len(text)
    while pos < n:
        end = text.find("\n", pos)
        end = n if end == -1 else end
        yield text[pos:end]
        pos = end + 1


def _is_float(f: str) -> bool:
    try:
        float(f)
    except ValueError:
        return False
    return True


def _is_word(f: str) -> bool:
    return not _is_float(f) and f.replace("_", "").replace("-", "").replace(".", "").isalnum()


def validate_points(pts, label: str = "data") -> np.ndarray:
    """Check shape (n, d) with n >= 1, 1 <= d <= MAX_DIM, numeric and finite; 1-D input is
    one column."""
    pts = np.asarray(pts)
    if pts.dtype.kind not in "fiu":
        raise UserError(f"{label}: expected numbers, found dtype {pts.dtype}")
    pts = pts.astype(float)
    if pts.ndim == 1:
        pts = pts[:, None]
    if pts.ndim != 2:
        raise UserError(f"{label}: expected an (n, d) array, found shape {pts.shape}")
    if pts.shape[0] == 0 or pts.shape[1] == 0:
        raise UserError(f"{label}: no points (shape {pts.shape})")
    if pts.shape[1] > MAX_DIM:
        raise UserError(f"{label}: {pts.shape[1]:,} columns; smtui works with at most {MAX_DIM} dimensions")
    bad = ~np.isfinite(pts)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UserError(f"{label}: row {row + 1} has a non-finite value (nan or inf)")
    big = np.abs(pts) > MAX_COORDINATE
    if big.any():
        row, col = (int(i) for i in np.argwhere(big)[0])
        raise UserError(f"{label}: row {row + 1} has {pts[row, col]:.3g}; coordinates must be at most "
                        f"{MAX_COORDINATE:g} in size (squared distances would overflow): rescale the data")
    return pts
