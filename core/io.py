"""Writing files a user keeps: regular files atomically (temporary file, then rename), so
a crash or a full disk mid-write leaves the previous file intact; never a rename over a
device, FIFO or anything else that is not a regular file."""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

from smtui.core.errors import UserError
from smtui.core.reading import name


def check_output(path: str | Path, what: str, regular_only: bool = False) -> Path:
    """Refuse early, with one line, an output path that cannot or must not be written, and
    return the path to write. A symbolic link is followed to the file it names (which is
    then replaced; the link stays); a link that leads nowhere is refused. An existing
    character device or FIFO is written directly (never renamed over), unless
    ``regular_only``; any other non-regular file (block device, socket) is refused."""
    if str(path) == "":
        raise UserError(f"{what} path is empty; give a file name")
    if "\0" in str(path):
        raise UserError(f"{what} path {name(path)} holds a NUL character, which no file name can")
    given = Path(path)
    p = given
    if given.is_symlink():
        p = Path(os.path.realpath(given))
        if not p.exists():
            raise UserError(f"{what} path {name(given)} is a symbolic link that leads nowhere "
                            "(dangling or a loop); give a real file name")
    if p.is_dir():
        raise UserError(f"{what} path {name(given)} is a directory; give a file name")
    if p.exists():
        mode = p.stat().st_mode
        if not stat.S_ISREG(mode):
            direct = stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)
            if regular_only or not direct:
                kind = _kind(mode)
                raise UserError(f"{what} path {name(given)} is a {kind}, not a regular file; give a file name")
            if not os.access(p, os.W_OK):
                raise UserError(f"{what} path {name(given)} is not writable")
            return p
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{what} path {name(given)}: directory {name(parent)} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"{what} path {name(given)} is not writable")
    return p


check_writable = check_output  # the older name


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same inode if both exist, else the same
    resolved path (symbolic links and .. followed)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path``: a regular file (or a new one) through a temporary file and
    a rename, so a crash or a full disk leaves the previous file intact; a symbolic link's
    target in its place; a character device or FIFO directly. Nothing else is renamed over."""
    p = Path(path)
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    if p.exists() and not p.is_file():
        mode = p.stat().st_mode
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            _write_direct(p, data)
            return
        # An OSError, like every failure to write: callers report its strerror in one line.
        raise OSError(errno.EINVAL, f"it is a {_kind(mode)}, not a regular file; nothing written", str(path))
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


def _write_direct(p: Path, data: bytes) -> None:
    """Write to a device or FIFO in place. A FIFO with no reader is refused rather than
    waited on (opening it non-blocking fails at once)."""
    try:
        fd = os.open(p, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "it is a FIFO with no reader; nothing written", str(p)) from None
        raise
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _usual_mode(fd: int, target: Path) -> None:
    """mkstemp makes files private (0600); give the file the mode it had, or rw-r--r--."""
    try:
        os.fchmod(fd, target.stat().st_mode & 0o777 if target.exists() else 0o644)
    except (OSError, AttributeError):  # no fchmod on some platforms: keep mkstemp's mode
        pass


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
