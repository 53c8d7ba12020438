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
        _usual_mode(fd, p)
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


def _usual_mode(fd: int, target: Path) -> None:
    """mkstemp makes files private (0600); give the file the mode it had, or rw-r--r--."""
    try:
        os.fchmod(fd, target.stat().st_mode & 0o777 if target.exists() else 0o644)
    except (OSError, AttributeError):  # no fchmod on some platforms: keep mkstemp's mode
        pass


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_many(files: dict[Path, bytes]) -> None:
    """Write several files as one save: every temporary file is written and synced before
    any is renamed, and if a rename fails the files already replaced are put back, so an
    error mid-save (a full disk, a permission) leaves the previous versions intact. Files
    are renamed in the order given: put the one that commits the save last."""
    temps: dict[Path, str] = {}
    backups: dict[Path, str] = {}
    done: list[Path] = []
    try:
        for p, data in files.items():
            fd, temps[p] = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
            _usual_mode(fd, p)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for p in files:
            if p.exists():
                backups[p] = _hard_link_backup(p)
        for p in files:
            os.replace(temps[p], p)
            done.append(p)
    except BaseException:
        for p in reversed(done):  # undo the renames that happened: back to the old files
            try:
                if p in backups:
                    os.replace(backups.pop(p), p)
                else:
                    os.unlink(p)
            except OSError:
                pass
        for leftover in [t for p, t in temps.items() if p not in done] + list(backups.values()):
            try:
                os.unlink(leftover)
            except OSError:
                pass
        raise
    for b in backups.values():
        try:
            os.unlink(b)
        except OSError:
            pass


def _hard_link_backup(p: Path) -> str:
    """A second name for the current file (a hard link, or a copy where links are not
    supported), so it can be renamed back if the save fails half-way."""
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".old", dir=p.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        os.link(p, tmp)
    except OSError:
        import shutil

        shutil.copy2(p, tmp)
    return tmp


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
