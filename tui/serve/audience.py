"""How many watch, told to the presenter's app (`smtui serve --present`): the server writes a line
``N how-to-join`` to a pipe each time the count changes; the app finds the pipe's read end in the
descriptor named by SMTUI_WATCHERS_FD and shows the count on its status line. A pipe: nothing to
clean up, and the app simply reads no more when the server is gone. Imports nothing heavy (the app
reads it at start)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable

from smtui.core.text import visible

ENV = "SMTUI_WATCHERS_FD"
LONGEST_HINT = 60  # characters of how to join, as the status line shows it


class CountWriter:
    """The server's end: ``open()`` gives the descriptor to pass to the app; ``say(n)`` tells it."""

    def __init__(self, hint: str = ""):
        self.hint, self.r, self.w, self.last = hint, -1, -1, None

    def open(self) -> int:
        self.r, self.w = os.pipe()
        os.set_blocking(self.w, False)
        return self.r

    def app_started(self) -> None:
        """The app holds its own copy of the read end now."""
        os.close(self.r)
        self.r = -1

    def say(self, n: int) -> None:
        if n == self.last or self.w < 0:
            return
        try:
            os.write(self.w, f"{n} {self.hint}".strip().encode() + b"\n")
            self.last = n
        except OSError:  # full (the app is busy: the next change says it again) or the app is gone
            pass

    def close(self) -> None:
        for fd in (self.r, self.w):
            if fd >= 0:
                os.close(fd)
        self.r = self.w = -1


def inherited_fd() -> int | None:
    """The count's pipe, if this app was started by a presenting server (else None: any other
    value of SMTUI_WATCHERS_FD, or a descriptor that is not a pipe, is ignored)."""
    value = os.environ.get(ENV, "")
    if not value.isdigit():
        return None
    fd = int(value)
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
        os.set_inheritable(fd, False)  # not the trainer's nor a sweep worker's
        os.set_blocking(fd, False)
    except OSError:
        return None
    return fd


def read_counts(fd: int, on_count: Callable[[int, str], None]) -> Callable[[], None]:
    """Read the count's lines from ``fd`` on the running loop, calling ``on_count(n, hint)`` with
    the latest; returns a function that stops reading (the pipe's end closes itself at EOF)."""
    loop, pending = asyncio.get_running_loop(), bytearray()

    def stop() -> None:
        try:
            loop.remove_reader(fd)
            os.close(fd)
        except (OSError, ValueError):
            pass

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return stop()
        pending.extend(data)
        *lines, rest = bytes(pending).split(b"\n")
        pending[:] = rest[-256:]
        for line in reversed(lines):
            n, _, hint = line.decode("utf-8", "replace").partition(" ")
            if n.isdigit():
                return on_count(int(n), visible(hint)[:LONGEST_HINT])

    loop.add_reader(fd, readable)
    return stop
