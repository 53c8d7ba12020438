"""Presenter mode's one app (`smtui serve --ssh|--web --present`): run on a pty this process owns
and driven from the operator's own terminal (``Console``), watched by every viewer, read-only, at
the presenter's size. The app's output goes to the operator's terminal and through a terminal
emulator (smtui.tui.serve.mirror), then on to every viewer as it comes: a viewer who joins, or
who fell more than MAX_BEHIND behind, is first sent the whole screen at once. A viewer's window
smaller than the presenter's is told the size it needs. The app's status line shows how many
watch (smtui.tui.serve.audience). One app, so one trainer, however many watch."""

from __future__ import annotations

import asyncio
import os
import signal
import termios
import textwrap
import tty
from typing import Protocol

from smtui.tui.serve.audience import ENV, CountWriter
from smtui.tui.serve.bounds import clamp_size
from smtui.tui.serve.mirror import START, Mirror
from smtui.tui.serve.pty_session import AppProcess

MAX_BEHIND = 1 << 20  # bytes queued for a viewer with a slow connection; beyond, it skips ahead (a snapshot)
CATCH_UP_BELOW = 64 << 10  # a viewer that skips ahead is sent the snapshot once its queue is below this
MAX_CONSOLE_BEHIND = 1 << 20  # bytes held for the operator's terminal; beyond, the app waits for it
TICK = 0.25  # seconds between looks for viewers to catch up while the app draws nothing


class Viewer(Protocol):
    """A viewer as the stage sees it (an SSH session or a browser tab)."""

    size: tuple[int, int]

    def send(self, data: bytes) -> None:
        """Queue screen data for the viewer (never blocks)."""

    def backlog(self) -> int:
        """Bytes queued for the viewer, not yet on their way."""


def too_small(need: tuple[int, int], have: tuple[int, int]) -> bytes:
    """What a viewer whose window is smaller than the presenter's sees instead of the app."""
    text = (f"smtui serve: the presenter's screen is {need[0]}x{need[1]}, this window {have[0]}x{have[1]}. "
            f"Make it at least {need[0]}x{need[1]} (a larger window or a smaller font) to watch. q leaves.")
    lines = textwrap.wrap(text, max(have[0] - 1, 20))[:max(have[1] - 1, 1)]
    return (START + "\r\n".join(lines)).encode()


class Console:
    """The operator's terminal while presenting: raw (every key goes to the app, ctrl+c too), its
    keys read on the loop, the app's output written through a descriptor of our own opened
    non-blocking (the shell's, which shares the terminal, is left as it was), and its size."""

    def __init__(self, fd_in: int = 0, fd_out: int = 1):
        self.fd_in, self.fd_out, self.out = fd_in, fd_out, -1
        self.saved: list | None = None
        self.pending = bytearray()
        self.on_drained = lambda: None  # the app may draw again
        self.gone = False  # the terminal is gone (closed, or its reading end)

    def size(self) -> tuple[int, int]:
        try:
            cols, rows = os.get_terminal_size(self.fd_out)
        except OSError:
            return 80, 24
        return clamp_size(cols or 80, rows or 24)

    def __enter__(self) -> Console:
        self.saved = termios.tcgetattr(self.fd_in)
        self.out = os.open(os.ttyname(self.fd_out), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        tty.setraw(self.fd_in, termios.TCSANOW)
        return self

    def __exit__(self, *exc) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.fd_in)
        loop.remove_writer(self.out)
        if self.pending and not self.gone:  # what the app drew last (it is gone: nothing else waits)
            os.set_blocking(self.out, True)
            try:
                os.write(self.out, self.pending)
            except OSError:
                pass
        os.close(self.out)
        try:
            termios.tcsetattr(self.fd_in, termios.TCSADRAIN, self.saved)
        except termios.error:
            pass  # the terminal went away

    def read_keys(self, on_keys, on_gone) -> None:
        def readable() -> None:
            try:
                data = os.read(self.fd_in, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                return on_keys(data)
            asyncio.get_running_loop().remove_reader(self.fd_in)
            self.gone = True
            on_gone()

        asyncio.get_running_loop().add_reader(self.fd_in, readable)

    def write(self, data: bytes) -> None:
        if not self.gone:
            was_empty = not self.pending
            self.pending += data
            if was_empty:
                self._flush()

    def behind(self) -> bool:
        return len(self.pending) > MAX_CONSOLE_BEHIND

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            del self.pending[:os.write(self.out, self.pending)]
        except BlockingIOError:
            pass
        except OSError:
            self.pending.clear()
            self.gone = True
        if self.pending:
            loop.add_writer(self.out, self._flush)
        else:
            loop.remove_writer(self.out)
            self.on_drained()


class Stage:
    """The presenter's app and its viewers. ``ended`` is set once the app and its whole process
    group are gone (``status``: its exit status; ``stopped``: ended from outside)."""

    def __init__(self, command: list[str], console: Console):
        self.command, self.console = command, console
        self.count = CountWriter()
        self.viewers: dict[Viewer, str] = {}  # -> "new", "small" (told its size), "joining" or "live"
        self.told: dict[Viewer, tuple] = {}  # the sizes a small viewer was last told
        self.app: AppProcess | None = None
        self.mirror = Mirror(*console.size())
        self.ended = asyncio.Event()
        self.status: int | None = None
        self.stopped = False
        self._tick: asyncio.TimerHandle | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.app.size if self.app else self.console.size()

    async def start(self) -> None:
        """Start the app at the operator's terminal's size and hand it the terminal's keys."""
        cols, rows = self.console.size()
        self.mirror = Mirror(cols, rows)
        fd = self.count.open()
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {ENV: str(fd)}
        self.app = AppProcess(self.command, env, cols, rows, self._output, self._exited, pass_fds=(fd,))
        try:
            await self.app.start()
        finally:
            self.count.app_started()
        self.count.say(len(self.viewers))
        self.console.on_drained = self.app.resume_output
        self.console.read_keys(self.app.write, self._console_gone)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGWINCH, self.console_resized)
        self._tick = loop.call_later(TICK, self._on_tick)

    async def stop(self) -> None:
        """End the app from outside (a signal, the operator's terminal gone)."""
        if self.app is not None and not self.ended.is_set():
            self.stopped = True
            await self.app.stop()

    def _console_gone(self) -> None:
        self._stopping = asyncio.ensure_future(self.stop())  # (held: a task nobody holds may vanish)

    def close(self) -> None:
        if self._tick:
            self._tick.cancel()
        asyncio.get_running_loop().remove_signal_handler(signal.SIGWINCH)
        self.count.close()

    def _exited(self, status: int) -> None:
        self.status = status
        self.ended.set()

    # ----- what the app draws, to everyone
    def _output(self, data: bytes) -> None:
        self.console.write(data)
        if self.console.behind():
            self.app.pause_output()  # the presenter's own terminal sets the pace
        self.mirror.feed(data)
        for v, state in list(self.viewers.items()):
            if state == "live":
                if v.backlog() > MAX_BEHIND:
                    self.viewers[v] = "joining"  # skips what it could not take, then the whole screen
                else:
                    v.send(data)
        self._catch_up()

    def _catch_up(self) -> None:
        """Send the whole screen to each viewer waiting for it, if the output is between sequences."""
        if not self.mirror.at_rest:
            return
        snapshot = None
        for v, state in list(self.viewers.items()):
            if state == "joining" and v.backlog() <= CATCH_UP_BELOW:
                snapshot = snapshot or self.mirror.snapshot()
                v.send(snapshot)
                self.viewers[v] = "live"

    def _on_tick(self) -> None:
        self._catch_up()
        self._tick = asyncio.get_running_loop().call_later(TICK, self._on_tick)

    # ----- viewers come, change size and go
    def join(self, v: Viewer) -> None:
        self.viewers[v] = "new"
        self._place(v)
        self.count.say(len(self.viewers))

    def leave(self, v: Viewer) -> None:
        if self.viewers.pop(v, None) is not None:
            self.told.pop(v, None)
            self.count.say(len(self.viewers))

    def resized(self, v: Viewer) -> None:
        if v in self.viewers:
            self._place(v)

    def _place(self, v: Viewer) -> None:
        need, have = self.size, v.size
        if have[0] < need[0] or have[1] < need[1]:
            if self.told.get(v) != (need, have):
                v.send(too_small(need, have))
                self.told[v] = (need, have)
            self.viewers[v] = "small"
        elif self.viewers[v] in ("new", "small"):
            self.told.pop(v, None)
            self.viewers[v] = "joining"
            self._catch_up()

    def console_resized(self) -> None:
        """The operator's window changed: the app, the mirror and every viewer follow."""
        size = self.console.size()
        if self.app is None or size == self.app.size:
            return
        self.app.resize(*size)
        self.mirror.resize(*size)
        for v in list(self.viewers):
            self.viewers[v] = "new"  # the whole screen again (at the new size), or told the size it needs
            self._place(v)
