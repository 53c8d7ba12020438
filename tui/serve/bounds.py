"""What both servers bound the same way: a viewer's window size, the keys held for an app
that is behind, and a session's process group (ended as a whole; its CPU use tells whether
anything happens in it, for the idle timeout). Linux: process groups and /proc."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable

# The app's drivers in a served session (smtui.tui.serve.driver), chosen with TEXTUAL_DRIVER.
PTY_DRIVER, WEB_DRIVER = "smtui.tui.serve.driver:PtyDriver", "smtui.tui.serve.driver:WebDriver"
MAX_COLS, MAX_ROWS = 500, 200  # a viewer's window beyond this is drawn at this size (each cell costs CPU)
MAX_PENDING_KEYS = 64 << 10  # bytes of a viewer's input held for an app that is behind; beyond, dropped
# A session whose processes use less than this share of a core (averaged between two looks) is
# doing nothing: a paused app with a blinking cursor uses ~1%, a training one tens of percent.
BUSY_CPU = 0.05
_TICK = os.sysconf("SC_CLK_TCK")


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    return min(max(int(cols), 1), MAX_COLS), min(max(int(rows), 1), MAX_ROWS)


# ----- a session's process group: the app (its leader) and everything it started
def _members(pgid: int):
    """/proc/PID/stat's fields after the name, for each process in the group (zombies included)."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                yield fields


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (a zombie, dead but not yet reaped by its parent,
    does not count: it holds no memory and does nothing)."""
    return any(fields[0] != b"Z" for fields in _members(pgid))


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_cpu_seconds(pgid: int) -> float:
    """CPU time used by the group's processes and the children they have reaped."""
    return sum(int(v) for fields in _members(pgid) for v in fields[11:15]) / _TICK  # utime stime cutime cstime


async def end_group(pgid: int, exited: asyncio.Event, grace: float = 1.0) -> None:
    """End the group: SIGHUP and SIGTERM (as when a terminal goes away), then SIGKILL to whatever
    is left once the leader has ``exited`` or after ``grace`` seconds. Returns when none is left
    (or, should a process be stuck in the kernel, after another second)."""
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal_group(pgid, sig)
    try:
        await asyncio.wait_for(exited.wait(), grace)
    except TimeoutError:
        pass
    signal_group(pgid, signal.SIGKILL)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    while group_alive(pgid) and loop.time() < deadline:
        await asyncio.sleep(0.02)


# ----- keys held for an app that is behind
class KeyBound:
    """Keeps a viewer's input held for the app (not yet taken) to MAX_PENDING_KEYS bytes: input
    beyond is dropped whole (a client's chunk at a time, never half an escape sequence) and
    counted; ``on_first_drop()`` is called at the first drop, so that it is said once in the log."""

    def __init__(self, on_first_drop: Callable[[], None], cap: int = MAX_PENDING_KEYS):
        self.cap, self.dropped, self.on_first_drop = cap, 0, on_first_drop

    def fits(self, held: int, n: int) -> bool:
        """Whether ``n`` more bytes may be held beside the ``held`` ones (if not, they count as dropped)."""
        if held + n <= self.cap:
            return True
        if not self.dropped:
            self.on_first_drop()
        self.dropped += n
        return False


def say(line: str, err: bool = False) -> None:
    """One line of the server's log (stdout; stderr for warnings)."""
    print(line, file=sys.stderr if err else sys.stdout, flush=True)


def stamp() -> str:
    """The time a log line gives, in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()) + "Z"


def size_text(n: int) -> str:
    return f"{n} bytes" if n < 10 << 10 else f"{n >> 10} KiB" if n < 10 << 20 else f"{n >> 20} MiB"


# ----- the idle timeout
class IdleWatch:
    """Calls ``on_idle()`` once nothing has happened for ``timeout`` seconds: no key pressed
    (``key()``) and the session's process group under BUSY_CPU of a core (a run training, or
    anything computing, is something happening). Looks every quarter timeout (0.25 s to 5 s)."""

    def __init__(self, timeout: float, pgid: int, on_idle: Callable[[], None]):
        self.timeout, self.pgid, self.on_idle = timeout, pgid, on_idle
        self.period = min(max(timeout / 4, 0.25), 5.0)
        self.last_active = self.t = time.monotonic()
        self.cpu = group_cpu_seconds(pgid)
        self.timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.timer = asyncio.get_running_loop().call_later(self.period, self._look)

    def key(self) -> None:
        self.last_active = time.monotonic()

    def stop(self) -> None:
        if self.timer:
            self.timer.cancel()
            self.timer = None

    def _look(self) -> None:
        now, cpu = time.monotonic(), group_cpu_seconds(self.pgid)
        if cpu - self.cpu >= BUSY_CPU * (now - self.t):
            self.last_active = now
        self.t, self.cpu = now, cpu
        if now - self.last_active >= self.timeout:
            self.timer = None
            return self.on_idle()
        self.start()
