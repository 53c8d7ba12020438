"""One browser tab's app for `smtui serve --web`: `python -m smtui` in a new session (its own
process group, ended as a whole), on pipes that speak Textual's web-driver packets: a type byte
(D screen data, M meta as JSON, P packed), a 4-byte big-endian length, the payload; the app
first writes a line ``__GANGLION__``. Screen data goes to the tab at the tab's pace; once the
tab is gone the app's output is read and dropped, so the app never blocks on it while it ends."""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from collections.abc import Awaitable, Callable

from smtui.core.text import visible
from smtui.tui.serve.bounds import WEB_DRIVER, KeyBound, clamp_size, end_group

MAX_PACKET = 64 << 20  # bytes of one packet from the app (a full 500 x 200 frame is a few MB)
RESIZE_EVERY = 0.05  # seconds: a burst of window changes reaches the app as its last one
# The server's own environment that describes the operator's terminal, not the tab's.
SERVER_ONLY_ENV = ("COLORTERM", "NO_COLOR", "COLUMNS", "LINES", "ROWS", "TMUX", "TMUX_PANE", "TERM",
                   "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "STY", "WINDOW", "VTE_VERSION")


def packet(kind: bytes, payload: bytes) -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


class WebSession:
    """The app of one tab. ``send(bytes)`` shows screen data in the tab (awaited: the tab's pace);
    ``on_keys_dropped()`` is called at the first drop of keys the app did not take in time."""

    def __init__(self, argv: list[str], cols: int, rows: int, send: Callable[[bytes], Awaitable[None]],
                 on_keys_dropped: Callable[[], None]):
        self.argv, self.size, self.send = argv, clamp_size(cols, rows), send
        self.keys = KeyBound(on_keys_dropped)
        self.proc: asyncio.subprocess.Process | None = None
        self.exited = asyncio.Event()
        self.status: int | None = None
        self.showing = True  # the tab is there to show the app's output to
        self.errors: deque[bytes] = deque(maxlen=8)  # the app's last lines on stderr, for the log
        self._sent_size = self.size
        self._resize: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY_ENV and not k.startswith("TEXTUAL")}
        env.update(TEXTUAL_DRIVER=WEB_DRIVER, TEXTUAL_COLOR_SYSTEM="truecolor", TERM_PROGRAM="textual",
                   COLUMNS=str(self.size[0]), ROWS=str(self.size[1]))
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True, close_fds=True)
        self._tasks = [asyncio.create_task(t) for t in (self._screen(), self._stderr(), self._wait())]

    # ----- the tab's input
    def keys_in(self, data: bytes) -> None:
        """The tab's keys, held (in the pipe's buffer) up to smtui.tui.serve.bounds.MAX_PENDING_KEYS."""
        pipe = self._pipe()
        if pipe is not None and self.keys.fits(pipe.transport.get_write_buffer_size(), len(data) + 5):
            pipe.write(packet(b"D", data))

    def meta(self, message: dict) -> None:
        pipe = self._pipe()
        if pipe is not None:
            pipe.write(packet(b"M", json.dumps(message).encode()))

    def resize(self, cols: int, rows: int) -> None:
        self.size = clamp_size(cols, rows)
        if self._resize is None:
            self._resize = asyncio.get_running_loop().call_later(RESIZE_EVERY, self._send_size)

    def _send_size(self) -> None:
        self._resize = None
        if self.size != self._sent_size:
            self._sent_size = self.size
            self.meta({"type": "resize", "width": self.size[0], "height": self.size[1]})

    def _pipe(self):
        stdin = self.proc.stdin if self.proc else None
        if stdin is None or self.exited.is_set() or stdin.is_closing():
            return None
        return stdin

    # ----- the app's output
    async def _screen(self) -> None:
        out = self.proc.stdout
        try:
            for _ in range(10):  # anything before the prelude is not the app's screen
                if await out.readline() == b"__GANGLION__\n":
                    break
            else:
                return
            while True:
                head = await out.readexactly(5)
                size = int.from_bytes(head[1:], "big")
                if size > MAX_PACKET:
                    self.errors.append(f"a packet of {size:,} bytes from the app".encode())
                    break
                payload = await out.readexactly(size)
                if head[:1] == b"D" and self.showing:
                    try:
                        await self.send(payload)
                    except (ConnectionError, RuntimeError):  # the tab went while this was on its way
                        self.showing = False
                # M (meta: the app's exit, links) and P (file deliveries) ask nothing of a demo server.
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass  # the app closed its output (it ended), or wrote a line beyond readline's limit
        finally:
            self.showing = False
        while await out.read(1 << 16):  # the app may still be writing while it ends: never block it
            pass

    async def _stderr(self) -> None:
        err = self.proc.stderr
        try:
            while line := await err.readline():
                if line.strip():
                    self.errors.append(line[:300])
        except (ValueError, ConnectionError):
            while await err.read(1 << 16):
                pass

    async def _wait(self) -> None:
        self.status = await self.proc.wait()
        self.exited.set()

    def last_error(self) -> str:
        return visible(self.errors[-1].decode("utf-8", "replace").strip())[:200] if self.errors else ""

    # ----- the end
    async def end(self, grace: float = 1.0) -> None:
        """End the app's whole process group (smtui.tui.serve.bounds.end_group) and wait until its
        output is read to the end."""
        self.showing = False
        if self._resize:
            self._resize.cancel()
        if self.proc is None:
            return
        if not self.exited.is_set():
            self.meta({"type": "quit"})
        await end_group(self.proc.pid, self.exited, grace)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        for task in self._tasks:
            task.cancel()
