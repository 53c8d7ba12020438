"""One app process on its own pseudo-terminal, for `smtui serve --ssh`: started in a new session
(so the pty is its controlling terminal, window changes reach it as SIGWINCH, and it and its
trainer form one process group), fed the client's keys, and ended as a whole group."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import select
import struct
import sys
import termios
from collections.abc import Callable

from smtui.tui.serve.bounds import KeyBound, clamp_size, end_group, group_alive

# Run first in the child: make the pty (fd 0) the controlling terminal of the new session that
# start_new_session made, then become the app (same pid, so the pid is the process group's id).
_ADOPT_TTY = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
              "os.execv(sys.executable, [sys.executable] + sys.argv[1:])")
# Sent to the viewer's terminal when the app is ended from outside (it then cannot restore the
# terminal itself): leave the alternate screen, show the cursor, stop mouse and paste reports.
RESET_TERMINAL = (b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l\x1b[?1004l"
                  b"\x1b[0m\x1b[?25h\x1b[?1049l")


def set_window_size(fd: int, cols: int, rows: int) -> None:
    """Tell the pty its size (the kernel then signals the app's process group with SIGWINCH)."""
    cols, rows = clamp_size(cols, rows)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class AppProcess:
    """The app on a pty. ``on_output(bytes)`` gets what it draws; ``on_exit(status)`` is called once,
    after the app exited (by itself or by ``stop``) and its whole group is gone. Keys the app has
    not taken are held up to a bound (``keys``), beyond it dropped: ``on_keys_dropped()`` says when first.
    ``pass_fds``: descriptors the app inherits (a presenting server's count of viewers)."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int, rows: int,
                 on_output: Callable[[bytes], None], on_exit: Callable[[int], None],
                 on_keys_dropped: Callable[[], None] = lambda: None, pass_fds: tuple[int, ...] = ()):
        self.argv, self.env, self.size, self.pass_fds = argv, env, (cols, rows), pass_fds
        self.on_output, self.on_exit = on_output, on_exit
        self.proc: asyncio.subprocess.Process | None = None
        self.master = -1
        self._pending = bytearray()  # keys not yet taken by the pty
        self.keys = KeyBound(on_keys_dropped)
        self._reading = False
        self._ending: asyncio.Task | None = None
        self.exited = asyncio.Event()  # the app itself is gone
        self.done = asyncio.Event()  # and its whole group, and on_exit was called

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        master, slave = os.openpty()
        try:
            set_window_size(slave, *self.size)
            os.set_blocking(master, False)
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _ADOPT_TTY, *self.argv[1:], stdin=slave, stdout=slave, stderr=slave,
                env=self.env, start_new_session=True, close_fds=True, pass_fds=self.pass_fds)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = master
        self.resume_output()
        if self._pending:
            self._flush_keys()
        self._ending = asyncio.create_task(self._wait_then_end())

    # ----- keys in, screen out
    def write(self, data: bytes) -> None:
        """Pass the viewer's keys on (kept until the app has started)."""
        was_empty = not self._pending
        if self.done.is_set() or not self.keys.fits(len(self._pending), len(data)):
            return
        self._pending += data
        if was_empty and self.master >= 0:
            self._flush_keys()

    def _flush_keys(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            n = os.write(self.master, self._pending)
            del self._pending[:n]
        except BlockingIOError:
            pass
        except OSError:
            self._pending.clear()
        if self._pending:
            loop.add_writer(self.master, self._flush_keys)
        else:
            loop.remove_writer(self.master)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: every copy of the pty's other end is closed
            if exc.errno != errno.EIO:
                raise
            data = b""
        if data:
            self.on_output(data)
        else:
            self.pause_output()

    def pause_output(self) -> None:
        """Stop reading the app's output (the viewer's connection is backed up)."""
        if self._reading:
            asyncio.get_running_loop().remove_reader(self.master)
            self._reading = False

    def resume_output(self) -> None:
        if not self._reading and self.master >= 0 and not self.done.is_set():
            asyncio.get_running_loop().add_reader(self.master, self._read)
            self._reading = True

    def resize(self, cols: int, rows: int) -> None:
        self.size = (cols, rows)
        if self.master >= 0 and not self.done.is_set():
            set_window_size(self.master, cols, rows)

    # ----- the end
    async def stop(self, grace: float = 1.0) -> None:
        """End the app and everything in its process group (smtui.tui.serve.bounds.end_group).
        Returns when all are gone and reported."""
        if self._ending is None:
            return
        if not self.done.is_set():
            await end_group(self.proc.pid, self.exited, grace)
        await self._ending

    async def _wait_then_end(self, grace: float = 1.0) -> None:
        status = await self.proc.wait()
        self.exited.set()
        for _ in range(64):  # what the app drew last, still in the pty
            if not (self._reading and select.select([self.master], [], [], 0)[0]):
                break
            self._read()
        self.pause_output()
        # The app is gone; its trainer (same process group) follows, or is made to.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while group_alive(self.proc.pid) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if group_alive(self.proc.pid):
            await end_group(self.proc.pid, self.exited, 0)
        loop.remove_writer(self.master)
        os.close(self.master)
        self.master = -1
        self.done.set()
        self.on_exit(status)
