"""Every file smtui writes, written one way: `smtui run`, `compare` and `sweep`'s outputs,
the app's save, history export and screenshot. Each caller says what it will write
(``Request``) and what it reads (``Input``); ``plan`` checks all of it before anything
runs, ``write`` writes one output, ``write_each`` all of them, each on its own.

The rules (a refusal is a one-line UserError naming the first problem):
- an empty path is refused; ``-`` is stdout only where the output allows it (JSON);
- a symbolic link is followed to the file it names (replaced; the link stays); a link
  that leads nowhere is refused; so are a directory and a folder that does not exist;
- a character device or FIFO is written straight into, never renamed over; any other
  file that is not regular is refused (and anything not regular where the output must be
  a regular file, as an experiment);
- an output is never an input (the data file, an experiment read and the files it
  names), whatever the path: compared by inode (st_dev, st_ino), or by the resolved path
  for a file not there yet; ``force`` does not change that;
- two outputs never name one file (a character device aside: /dev/null takes any number);
- an existing regular file is replaced only by an output that replaces by nature
  (``--json``, ``--csv``) or with ``force`` (``--force``, the app's "Overwrite?" yes).

The one way to write: a regular file through a temporary file beside it, synced, then
renamed over the old one (old or new, never half); a device or FIFO straight, with a
bounded wait for a FIFO's reader and for a reader that stops reading, so a write never
hangs. An output that grows (a sweep's results file) is made so, then each record is
appended and synced (``append_file``): never truncated, at most its last line cut by a
crash. A failure is an OSError for ``write`` and ``append_file``, one line for
``write_each``.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from smtui.core.errors import UserError
from smtui.core.experiment_layout import named_files
from smtui.core.reading import name
from smtui.core.text import visible

STDOUT = "-"
FIFO_WAIT = 2.0  # seconds a FIFO may take to get a reader before the write gives up
STALL_WAIT = 10.0  # seconds a device or FIFO may take no bytes at all before the write gives up


@dataclass(frozen=True)
class Input:
    """A file something reads, which no output may replace: ``what`` says which ("the data file")."""

    what: str
    path: Path


@dataclass(frozen=True)
class Request:
    """An output asked for. ``flag`` names it in messages ("--json", "screenshot");
    ``given`` is the path as typed."""

    flag: str
    given: str
    stdout: bool = False  # "-" means stdout
    replaces: bool = True  # an existing regular file is replaced without asking (else only with force)
    regular_only: bool = False  # must be a regular file (an experiment): never a device or FIFO


@dataclass(frozen=True)
class Output:
    """A checked output: ``path`` is the file written (a link followed), None for stdout;
    ``exists`` says a regular file is there that the write replaces."""

    flag: str
    given: str
    path: Path | None
    exists: bool = False


# --- the inputs ----------------------------------------------------------------------------


def data_input(path, what: str = "the data file") -> list[Input]:
    """The data file as an input ([] for a built-in distribution)."""
    return [Input(what, Path(path))] if path else []


def experiment_inputs(toml, what: str, with_toml: bool = True) -> list[Input]:
    """An experiment read (its TOML, unless ``with_toml`` is False) and the state and
    history files its TOML names, as inputs."""
    if not toml:
        return []
    found = [Input(what, Path(toml))] if with_toml else []
    return found + [Input(f"a file of {what}", p) for p in named_files(Path(toml))]


# --- the rules -----------------------------------------------------------------------------


def plan(requests: Iterable[Request], inputs: Iterable[Input], force: bool = False,
         force_hint: str = "add --force to overwrite it", takes_stdout: Iterable[str] | None = None) -> list[Output]:
    """Check every output against the rules (the module's docstring) and return them in
    order; a UserError names the first problem. ``force_hint`` says how to allow replacing
    an existing file, where a request does not replace by nature; ``takes_stdout`` names
    the flags that take - for stdout (default: those among the requests)."""
    requests, inputs = list(requests), list(inputs)
    takes_stdout = [r.flag for r in requests if r.stdout] if takes_stdout is None else list(takes_stdout)
    planned = [check(r, inputs, force, force_hint, takes_stdout) for r in requests]
    files = [o for o in planned if o.path is not None]
    for i, out in enumerate(files):
        for other in files[i + 1:]:
            if same_file(out.path, other.path) and not _is_char_device(out.path):
                raise UserError(f"{out.flag} and {other.flag} name the same file {name(out.given)}; give each "
                                "output its own name")
    return planned


def check(request: Request, inputs: Iterable[Input] = (), force: bool = False,
          force_hint: str = "add --force to overwrite it", takes_stdout: Iterable[str] = ()) -> Output:
    """One output checked on its own (``plan`` adds the clashes between outputs)."""
    flag, given = request.flag, os.fspath(request.given)
    if given == "":
        hint = "give one (or - for stdout)" if request.stdout else "give one"
        raise UserError(f"{flag}: empty path: no file name given; {hint}")
    if given == STDOUT:
        if request.stdout:
            return Output(flag, given, None)
        takers = list(takes_stdout)
        where = f"only {' and '.join(takers)} take{'s' if len(takers) == 1 else ''} - for stdout" if takers else \
            "- is not stdout here"
        raise UserError(f"{flag} writes a file; {where} (for a file named -, give ./-)")
    path = target(given, flag, request.regular_only)
    for inp in inputs:
        if same_file(path, inp.path):
            raise UserError(f"{flag} {name(given)} is {inp.what}; an output never replaces an input: choose "
                            "another name")
    exists = os.path.isfile(path)
    if exists and not (request.replaces or force):
        raise UserError(f"{flag}: {name(given)} already exists; choose another name or {force_hint}")
    return Output(flag, given, path, exists)


def target(path, what: str, regular_only: bool = False) -> Path:
    """The file a path writes, or a one-line UserError if it cannot or must not be written.
    A symbolic link is followed to the file it names; one that leads nowhere is refused.
    An existing character device or FIFO is written into (unless ``regular_only``); any
    other file that is not regular (block device, socket) is refused."""
    text = os.fspath(path)
    if text == "":
        raise UserError(f"{what}: empty path: no file name given; give one")
    if "\0" in text:
        raise UserError(f"{what} path {name(text)} holds a NUL character, which no file name can")
    given = Path(text)
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
            if regular_only or not _direct(mode):
                raise UserError(f"{what} path {name(given)} is a {_kind(mode)}, not a regular file; give a file name")
            if not os.access(p, os.W_OK):
                raise UserError(f"{what} path {name(given)} is not writable")
            return p
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{what} path {name(given)}: directory {name(parent)} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UserError(f"{what} path {name(given)} is not writable")
    return p


def same_file(a, b) -> bool:
    """Whether two paths name one file: the same inode (st_dev, st_ino) if both exist, else
    the same resolved path (symbolic links and .. followed)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


def _direct(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _is_char_device(p: Path) -> bool:
    try:
        return stat.S_ISCHR(os.stat(p).st_mode)
    except OSError:
        return False


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


# --- writing -------------------------------------------------------------------------------


def write(out: Output, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to the output: stdout, or a file by ``write_file``.
    Raises OSError (its strerror says why) if it cannot."""
    if out.path is None:
        try:
            sys.stdout.write(data if isinstance(data, str) else data.decode("utf-8"))
            sys.stdout.flush()
        except ValueError:  # stdout closed
            raise OSError(errno.EBADF, "stdout is closed") from None
        return
    write_file(out.path, data)


def write_each(outputs: Iterable[Output], write_one: Callable[[Output], None],
               written: list[Output] | None = None) -> list[str]:
    """Call ``write_one`` on each output in order; a failure (UserError or OSError) is one
    line in the list returned, and the outputs after it are still written. ``written``
    collects those done (for a report if the caller is interrupted meanwhile)."""
    failures = []
    for out in outputs:
        try:
            write_one(out)
        except UserError as exc:
            failures.append(f"{out.flag}: {exc}")
            continue
        except OSError as exc:
            failures.append(f"{out.flag} {name(out.given)} not written: {visible(exc.strerror or str(exc))}")
            continue
        if written is not None:
            written.append(out)
    return failures


def write_file(path, data: bytes | str) -> None:
    """Write ``data`` to ``path``: a regular file (or a new one) through a temporary file and
    a rename, so a crash or a full disk leaves the previous file whole; a symbolic link's
    target in its place; a character device or FIFO straight. Nothing else is renamed over."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    p = Path(path)
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    if p.exists() and not p.is_file():
        mode = p.stat().st_mode
        if _direct(mode):
            _write_direct(p, data)
            return
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


def append_file(path, data: bytes | str) -> None:
    """Add ``data`` at the end of the regular file ``path``, which ``write_file`` made: the
    records of an output that grows as work finishes (a sweep's results file). One write
    with O_APPEND, then synced: a crash loses at most the record being written (its reader
    drops a last line with no newline), and what was there is never truncated or renamed.
    The file must still be a regular file (never blocks on a FIFO put in its place)."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "it is no longer a regular file; nothing appended", str(path))
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def trim_cut_line(path) -> None:
    """A growing output whose last record a crash cut short (no newline at its end): cut
    back to just after its last newline, so the next record starts a line of its own; the
    whole lines before it are untouched."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "it is no longer a regular file", str(path))
        end = os.lseek(fd, 0, os.SEEK_END)
        at = end
        while at > 0:
            step = min(65536, at)
            chunk = os.pread(fd, step, at - step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                at = at - step + newline + 1
                break
            at -= step
        if at < end:
            os.ftruncate(fd, at)
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_direct(p: Path, data: bytes) -> None:
    """Write into a device or FIFO in place, never blocking for long: a FIFO gets FIFO_WAIT
    seconds to have a reader, and the write stops if STALL_WAIT seconds pass with no byte
    taken (a reader that stopped reading)."""
    fd = _open_direct(p)
    try:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                if not select.select([], [fd], [], STALL_WAIT)[1]:
                    raise OSError(errno.ETIMEDOUT, f"its reader took nothing for {STALL_WAIT:g} s; the rest is "
                                  "not written", str(p)) from None
    finally:
        os.close(fd)


def _open_direct(p: Path) -> int:
    """A non-blocking descriptor for writing ``p``; a FIFO with no reader is retried until
    FIFO_WAIT seconds have passed, then refused."""
    deadline = time.monotonic() + FIFO_WAIT
    while True:
        try:
            return os.open(p, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            if exc.errno != errno.ENXIO or not stat.S_ISFIFO(os.stat(p).st_mode):
                raise
            if time.monotonic() >= deadline:
                raise OSError(errno.ENXIO, f"it is a FIFO with no reader (waited {FIFO_WAIT:g} s); nothing written",
                              str(p)) from None
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _usual_mode(fd: int, target: Path) -> None:
    """mkstemp makes files private (0600); give the file the mode it had, or rw-r--r--."""
    try:
        os.fchmod(fd, target.stat().st_mode & 0o777 if target.exists() else 0o644)
    except (OSError, AttributeError):  # no fchmod on some platforms: keep mkstemp's mode
        pass
