"""What smtui's outputs hold: JSON (NaN and infinity as null), CSV of dict rows, the
parameters as .npz. Writing them is core/outputs.py's job."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np


def clean_number(v):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def to_json(obj, indent: int | None = 2) -> str:
    """JSON text ending in a newline; ``indent=None``: on one line (a JSON Lines record)."""

    def walk(o):
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v) for v in o]
        return clean_number(o)

    return json.dumps(walk(obj), indent=indent) + "\n"


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


def params_npz(params: dict, sigma: float) -> bytes:
    """An .npz with W, b, c and sigma, loadable with allow_pickle=False."""
    buf = io.BytesIO()
    np.savez(buf, W=np.asarray(params["W"]), b=np.asarray(params["b"]), c=np.asarray(params["c"]),
             sigma=np.asarray(float(sigma)))
    return buf.getvalue()
