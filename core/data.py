"""Loading the user's own points: CSV / whitespace text or .npy, shape (n, d)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from core.errors import UserError

MAX_COORDINATE = 1e15


def load_points(path: str | Path) -> np.ndarray:
    """Read an (n, d) float array; every failure is a one-line UserError naming the file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"data file {str(p)!r} does not exist")
    if p.is_dir():
        raise UserError(f"data file {str(p)!r} is a directory, not a file")
    try:
        if p.suffix.lower() == ".npy":
            pts = np.load(p, allow_pickle=False)
        else:
            pts = _parse_text(p.read_text(encoding="utf-8", errors="strict"), p)
    except UserError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"data file {str(p)!r} cannot be read: {_first_line(exc)}") from None
    return validate_points(pts, str(p))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _parse_text(text: str, p: Path) -> np.ndarray:
    rows = []
    seen_header = False
    for lineno, line in enumerate(io.StringIO(text), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f for f in line.replace(",", " ").replace(";", " ").split()]
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            if not rows and not seen_header and all(_is_word(f) for f in fields):
                seen_header = True  # one header line of column names is allowed
                continue
            bad = next(f for f in fields if not _is_float(f))
            raise UserError(f"data file {str(p)!r} line {lineno}: {bad!r} is not a number") from None
        if len(rows[-1]) != len(rows[0]):
            raise UserError(
                f"data file {str(p)!r} line {lineno}: {len(rows[-1])} columns, expected {len(rows[0])} (ragged rows)"
            )
    if not rows:
        raise UserError(f"data file {str(p)!r} has no data rows")
    return np.array(rows, dtype=float)


def _is_float(f: str) -> bool:
    try:
        float(f)
    except ValueError:
        return False
    return True


def _is_word(f: str) -> bool:
    return not _is_float(f) and f.replace("_", "").replace("-", "").replace(".", "").isalnum()


def validate_points(pts, name: str = "data") -> np.ndarray:
    """Check shape (n, d) with n >= 1, d >= 1, numeric and finite; 1-D input is one column."""
    pts = np.asarray(pts)
    if pts.dtype.kind not in "fiu":
        raise UserError(f"{name}: expected numbers, found dtype {pts.dtype}")
    pts = pts.astype(float)
    if pts.ndim == 1:
        pts = pts[:, None]
    if pts.ndim != 2:
        raise UserError(f"{name}: expected an (n, d) array, found shape {pts.shape}")
    if pts.shape[0] == 0 or pts.shape[1] == 0:
        raise UserError(f"{name}: no points (shape {pts.shape})")
    bad = ~np.isfinite(pts)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UserError(f"{name}: row {row + 1} has a non-finite value (nan or inf)")
    big = np.abs(pts) > MAX_COORDINATE
    if big.any():
        row, col = (int(i) for i in np.argwhere(big)[0])
        raise UserError(f"{name}: row {row + 1} has {pts[row, col]:.3g}; coordinates must be at most "
                        f"{MAX_COORDINATE:g} in size (squared distances would overflow): rescale the data")
    return pts
