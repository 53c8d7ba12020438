"""`smtui serve --ssh|--web --present`: the operator presents from this terminal while every
viewer watches. The server listens, prints how to join, then gives the terminal to the app
(smtui.tui.serve.stage) until the app ends: the operator quits it, the terminal goes away, or
SIGINT, SIGTERM or SIGHUP arrives. Every viewer is then told why and disconnected, the server
stops, and the log lines held meanwhile (they would have drawn over the app) are printed."""

from __future__ import annotations

import asyncio
import io
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable

from smtui.core.errors import UserError
from smtui.core.text import visible
from smtui.tui.serve.bounds import say
from smtui.tui.serve.pty_session import RESET_TERMINAL
from smtui.tui.serve.stage import Console, Stage

MAX_HELD = 1000  # log lines kept while the app has the terminal (the latest)
ENDED = "the presenter ended the demo"
STOPPED = "the demo server is shutting down"


class HeldLog(io.TextIOBase):
    """sys.stdout and sys.stderr while the app has the terminal: lines are kept, then printed."""

    def __init__(self):
        self.lines: deque[str] = deque(maxlen=MAX_HELD)
        self.partial, self.dropped = "", 0

    def write(self, text: str) -> int:
        *done, self.partial = (self.partial + text).split("\n")
        self.dropped += max(len(self.lines) + len(done) - MAX_HELD, 0)
        self.lines.extend(done)
        return len(text)

    def __enter__(self) -> HeldLog:
        self.saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self
        return self

    def __exit__(self, *exc) -> None:
        sys.stdout, sys.stderr = self.saved
        if self.dropped:
            print(f"smtui serve: ({self.dropped} earlier log lines not kept)")
        for line in (*self.lines, self.partial):
            if line:
                print(line)


async def present(stage: Stage, server, open_: Callable[[], Awaitable], close: Callable[[], Awaitable],
                  banner: Callable[[], str]) -> int:
    """Listen (``open_``), print ``banner()`` (which returns how to join), present until the app
    ends, then end every viewer with ``server.goodbye`` and stop (``close``, whose result, a
    count of app process groups that had to be killed, is returned)."""
    left = 0
    await open_()
    stage.count.hint = banner()
    server.goodbye = ENDED
    loop = asyncio.get_running_loop()

    stopping: list[asyncio.Future] = []  # (held: a task nobody holds may vanish)

    def stop() -> None:
        server.goodbye = STOPPED
        stopping.append(asyncio.ensure_future(stage.stop()))

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in signals:
        loop.add_signal_handler(sig, stop)
    try:
        with HeldLog(), stage.console:
            try:
                try:
                    await stage.start()
                except OSError as exc:
                    raise UserError(f"the app could not start: {visible(exc)}") from None
                await stage.ended.wait()
            finally:
                if stage.stopped or stage.status:  # the app could not put the terminal back itself
                    stage.console.write(RESET_TERMINAL)
                left = await close()
                stage.close()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    return left or 0


def present_ssh(demo, banner: Callable, console: Console | None = None) -> Awaitable[int]:
    """Presenter mode over SSH: each viewer is a smtui.tui.serve.watch_ssh.WatchSession.
    ``console``: the operator's terminal (default: this process's standard input and output)."""
    from smtui.tui.serve.watch_ssh import WatchSession

    demo.stage, demo.session_class = Stage(demo.command, console or Console()), WatchSession
    return present(demo.stage, demo, demo.start, demo.shutdown, lambda: banner(demo))


def present_web(server, sock, url: str, console: Console | None = None) -> Awaitable[int]:
    """Presenter mode in browser tabs: each one is a smtui.tui.serve.watch_web.WatchTab."""
    from smtui.tui.serve.watch_web import WatchTab

    server.stage, server.tab_class = Stage(server.command_argv, console or Console()), WatchTab

    def banner() -> str:
        say(f"smtui serve: web on {url}, presenting: every tab watches the app in this terminal, read-only "
            f"(at most {server.max_sessions} at once)")
        say(f"viewers open: {url}   (q in the app ends the demo)")
        return url

    return present(server.stage, server, lambda: server.start(sock), server.stop, banner)
