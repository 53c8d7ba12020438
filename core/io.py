"""Writing files a user keeps: always atomically (temporary file, then rename), so a
crash or a full disk mid-write leaves the previous file intact."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from core.errors import UserError


def check_writable(path: str | Path, what: str) -> Path:
    """Refuse early, with one line, an output path that cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what} path {str(p)!r} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{what} path {str(p)!r}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"{what} path {str(p)!r} is not writable")
    return p


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def clean_number(v):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def to_json(obj) -> str:
    def walk(o):
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v) for v in o]
        return clean_number(o)

    return json.dumps(walk(obj), indent=2) + "\n"


def rows_to_csv(rows: list[dict]) -> str:
    """CSV text of dict rows; columns in first-seen order, empty cells for None."""
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if clean_number(r.get(c)) is None else clean_number(r.get(c)) for c in columns])
    return buf.getvalue()


def save_params(path: str | Path, params: dict, sigma: float) -> None:
    """An .npz with W, b, c and sigma, loadable with allow_pickle=False."""
    buf = io.BytesIO()
    np.savez(buf, W=np.asarray(params["W"]), b=np.asarray(params["b"]), c=np.asarray(params["c"]),
             sigma=np.asarray(float(sigma)))
    atomic_write_bytes(path, buf.getvalue())
