"""Reading a user's files without hanging or filling memory.

Only regular files are read (a FIFO, a device or a socket is refused from its type,
before it is opened for reading: a FIFO would block forever, /dev/zero never ends), the
size is checked against a cap before reading, and at most that many bytes are read. An
.npy/.npz member is refused from its header (shape and dtype) before its data is read.
Every refusal is a one-line UserError naming the file, its text escaped and cut short.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

from smtui.core.errors import UserError
from smtui.core.text import quoted, shown

MiB = 2**20
KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


PATH_LIMIT = 100  # characters of a path shown (its end: the file name matters most)


def name(path) -> str:
    """A path as messages show it: escaped, and cut from the front if long."""
    return quoted(os.fspath(path), PATH_LIMIT, tail=True)


def check_regular(path, what: str) -> Path:
    """``path`` as a Path if it names an existing regular file (symlinks followed), else a
    UserError saying exactly what it is instead (empty, missing, a loop, a FIFO, ...)."""
    text = os.fspath(path) if path is not None else ""
    if text == "":
        raise UserError(f"{what}: empty path; give a file name")
    p = Path(text)
    if "\0" in text:
        raise UserError(f"{what} {name(text)} holds a NUL character, which no file name can")
    try:
        st = os.stat(text)  # as typed: Path() would drop a trailing slash ("a file/")
    except OSError as exc:
        raise UserError(f"{what} {name(text)} {_why(p, exc)}") from None
    _require_regular(st, p, what)
    return p


def _why(p: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symlink loop (links that point back to each other)"
    if exc.errno == errno.ENOENT:
        if os.path.lexists(p):
            return f"is a broken symlink (it points to {name(os.readlink(p))}, which does not exist)"
        return "does not exist"
    if exc.errno == errno.ENOTDIR:
        return "does not exist (a folder in its path is a file)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read: permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "cannot be read: the name is too long"
    return f"cannot be read: {exc.strerror or type(exc).__name__}"


def _require_regular(st: os.stat_result, p: Path, what: str) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    kind = next((k for test, k in KINDS if test(st.st_mode)), "not a regular file")
    raise UserError(f"{what} {name(p)} is {kind}, not a regular file; give a file")


def open_regular(path, what: str, limit: int):
    """A binary file object for ``path``, once it is known to be a regular file of at most
    ``limit`` bytes. Opened without blocking and checked again on the open descriptor, so
    a FIFO swapped in after the first check is still refused, never waited on."""
    p = check_regular(path, what)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise UserError(f"{what} {name(p)} {_why(p, exc)}") from None
    try:
        st = os.fstat(fd)
        _require_regular(st, p, what)
        _require_size(st.st_size, limit, p, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _require_size(size: int, limit: int, p: Path, what: str) -> None:
    if size > limit:
        raise UserError(f"{what} {name(p)} is {_bytes(size)}; the most smtui reads is {_bytes(limit)}")


def _bytes(n: int) -> str:
    return f"{n / MiB:,.1f} MiB" if n >= MiB else f"{n:,} bytes"


def read_bytes(path, what: str, limit: int) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (never more is read, even
    if it grows meanwhile)."""
    with open_regular(path, what, limit) as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise UserError(f"{what} {name(path)} cannot be read: {exc.strerror or exc}") from None
    _require_size(len(data), limit, Path(path), what)
    return data


def read_text(path, what: str, limit: int) -> str:
    """A regular file of at most ``limit`` bytes, as UTF-8 text."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{what} {name(path)} is not UTF-8 text (line {line}, byte {exc.start:,}); "
                        "is it the right file?") from None


# --- NumPy files ----------------------------------------------------------------------------


def _read_npy(fh, label: str, budget: int, what: str, p: Path) -> np.ndarray:
    """One array from an open .npy stream: its header is read and checked (numbers only,
    at most ``budget`` bytes of data) before any of its data is."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=10_000)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=10_000)
        else:
            raise ValueError(f"unknown .npy format version {version}")
    except (ValueError, SyntaxError, EOFError, OSError) as exc:
        raise UserError(f"{what} {name(p)}{label}: not a valid .npy array ({_first_line(exc)})") from None
    if dtype.hasobject or dtype.kind not in "biufcUS" or dtype.fields is not None:
        raise UserError(f"{what} {name(p)}{label} holds {dtype} values, not plain numbers or text; refused "
                        "(it is never unpickled)")
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > budget:
        raise UserError(f"{what} {name(p)}{label} claims shape {shape} ({dtype}), {_bytes(size)}; "
                        f"the most smtui reads is {_bytes(budget)}")
    try:
        data = fh.read(size)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{what} {name(p)}{label} cannot be read: {_first_line(exc)}") from None
    if len(data) != size:
        raise UserError(f"{what} {name(p)}{label} is cut short ({len(data):,} of {size:,} bytes)")
    try:
        extra = fh.read(1)  # also reaches the end of a zip member, where its CRC is checked
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{what} {name(p)}{label} is damaged: {_first_line(exc)}") from None
    if extra:
        raise UserError(f"{what} {name(p)}{label} has data beyond its shape {shape}: not an array smtui wrote")
    a = np.frombuffer(data, dtype=dtype)
    a = a.reshape(shape[::-1]).transpose() if fortran else a.reshape(shape)
    return a.copy()


def read_npy(path, what: str, limit: int) -> np.ndarray:
    """One array from a regular .npy file of at most ``limit`` bytes; never unpickles."""
    with open_regular(path, what, limit) as fh:
        return _read_npy(fh, "", limit, what, Path(path))


def read_npz(path, what: str, limit: int) -> dict[str, np.ndarray]:
    """Every array of a regular .npz file of at most ``limit`` bytes, each member refused
    from its header if its data would pass ``limit`` bytes in all; never unpickles."""
    p = Path(path)
    with open_regular(p, what, limit) as fh:
        if fh.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise UserError(f"{what} {name(p)} is not an .npz file (not a zip archive); is it the right file?")
        fh.seek(0)
        out: dict[str, np.ndarray] = {}
        budget = limit
        try:
            with zipfile.ZipFile(fh) as z:
                for info in z.infolist():
                    if not info.filename.endswith(".npy"):
                        raise UserError(f"{what} {name(p)} holds {quoted(info.filename)}, which is not an array")
                    key = info.filename[:-4]
                    with z.open(info) as member:
                        out[key] = _read_npy(member, f" array {quoted(key)}", budget, what, p)
                    budget -= out[key].nbytes
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError,
                RuntimeError) as exc:
            raise UserError(f"{what} {name(p)} is a damaged .npz: {_first_line(exc)}") from None
    return out


def _first_line(exc: BaseException) -> str:
    return shown((str(exc).strip().splitlines() or [type(exc).__name__])[0], 120)
