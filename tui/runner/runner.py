"""The UI's side of a background job: starts the one loop (``smtui.tui.runner.loop``) with a
job in its own process (or a thread, for tests), sends it typed commands, keeps only the
newest report for the UI to take (so nothing queues without bound), notes when the job
last said anything (a stalled job shows), and starts it again when it dies.

The callbacks run on the runner's reader thread: they should only post messages."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable

from smtui.tui.runner.loop import Job, serve
from smtui.tui.runner.protocol import BEAT, LOOP_COMMANDS, Command, Notice, Progress, Quit

RESTART_QUIET = 30.0  # seconds: a job that dies again this soon after a restart is not restarted by itself
MODES = ("process", "thread")


@contextlib.contextmanager
def _real_stdio():
    """Textual swaps sys.stderr for an object without a usable fileno(), which
    multiprocessing needs when it starts its helper processes; lend it the real one."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class Runner:
    """One background job, as the UI sees it.

    ``job`` is the Job class and ``setup`` what it is built from (both pickle: a process
    gets them by value). ``on_report()`` says a newer report waits (``take_latest``);
    ``on_notice(notice)`` passes a Notice on; ``on_stopped(reason)`` says the job ended
    without being asked to (``recover`` may start it again)."""

    def __init__(self, job: type[Job], setup, *, on_report: Callable[[], None],
                 on_notice: Callable[[Notice], None], on_stopped: Callable[[str], None], mode: str = "process"):
        if mode not in MODES:
            raise ValueError(f"runner mode must be 'process' or 'thread', got {mode!r}")
        self.job, self.setup, self.mode = job, setup, mode
        self._on_report, self._on_notice, self._on_stopped = on_report, on_notice, on_stopped
        self._lock = threading.Lock()
        self._latest: Progress | None = None
        self._last: Progress | None = None  # the last report received (reports may keep parts of it)
        self._pending = False
        self._closing = False
        self._worker = None
        self._conn = None
        self._reader: threading.Thread | None = None
        self.sent = 0  # seq of the last command sent
        self.heard: float | None = None  # when this job last said anything (a report, a notice, a beat)
        self.unstartable = ""  # why the job's setup cannot start, if it said so: not restarted by itself
        self.restarted_at = -math.inf  # when ``recover`` last started it again

    def start(self) -> None:
        with self._lock:
            self._latest, self._pending = None, False
        self._last, self.heard = None, None
        args = (self.job, self.setup, self.mode == "process", self.sent)
        name = f"smtui-{self.job.name.replace(' ', '-')}"
        if self.mode == "process":
            ctx = multiprocessing.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self._worker = ctx.Process(target=serve, args=(child, *args), name=name, daemon=True)
        else:
            self._conn, child = multiprocessing.Pipe()
            self._worker = threading.Thread(target=serve, args=(child, *args), name=name, daemon=True)
        with _real_stdio():
            self._worker.start()
        if self.mode == "process":
            child.close()
        conn, self._closing = self._conn, False  # (a new conn first: the old reader stays quiet)
        self._reader = threading.Thread(target=self._read, args=(conn,), name=f"{name}-reader", daemon=True)
        self._reader.start()

    def restart(self, setup=None) -> None:
        """A new job from ``setup`` (or the last one), after the old one died or was stopped;
        command numbers carry on, so no report looks older than it is."""
        self.close()
        if setup is not None:
            self.setup = setup
        self.unstartable = ""
        self.start()

    def recover(self, setup=None) -> bool:
        """After the job ended without being asked to: start it again from ``setup`` (or
        the last one), unless its setup cannot start or it was started again less than
        RESTART_QUIET seconds ago (then it would only die again). True if it did."""
        if self.unstartable or time.monotonic() - self.restarted_at <= RESTART_QUIET:
            return False
        self.restarted_at = time.monotonic()
        self.restart(setup)
        return True

    @property
    def pid(self) -> int | None:
        """The job's process id (None in thread mode or when not running)."""
        return getattr(self._worker, "pid", None) if self.mode == "process" else None

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def send(self, command: Command) -> None:
        """Send a command, numbered; nothing if the job is gone (the reader says so)."""
        if not isinstance(command, LOOP_COMMANDS + self.job.commands):
            raise TypeError(f"the {self.job.name} takes no {type(command).__name__} command")
        if self._conn is None or self._closing:
            return
        self._send_numbered(command)

    def _send_numbered(self, command: Command) -> None:
        self.sent += 1
        try:
            self._conn.send(dataclasses.replace(command, seq=self.sent))
        except (OSError, ValueError):
            pass  # the reader reports the job as stopped

    def silent_for(self) -> float:
        """Seconds since the job last said anything (it beats every BEAT_SECONDS); 0 until it
        first speaks (a job's process takes a second or more to start: that is not a stall)."""
        return 0.0 if self.heard is None else time.monotonic() - self.heard

    def take_latest(self) -> Progress | None:
        """The newest report (None if already taken); older ones were dropped."""
        with self._lock:
            report, self._latest, self._pending = self._latest, None, False
        return report

    def _read(self, conn) -> None:
        while True:
            try:
                item = conn.recv()
            except (EOFError, OSError, TypeError, ValueError):
                # TypeError / ValueError: close() shut the connection under a blocked recv().
                if not self._closing and conn is self._conn:
                    self._on_stopped(f"the {self.job.name} process ended unexpectedly" if self.mode == "process"
                                     else f"the {self.job.name} ended unexpectedly")
                return
            if conn is not self._conn:
                return  # a restarted job's predecessor: nothing it says is current
            self.heard = time.monotonic()
            if item == BEAT:
                continue
            if isinstance(item, Notice):
                if item.level == "unstartable":
                    self.unstartable = item.text
                self._on_notice(item)
                continue
            report = self._last = item.received(self._last)
            with self._lock:
                self._latest = report
                wake, self._pending = not self._pending, True
            if wake:
                self._on_report()

    def close(self, timeout: float = 2.0) -> None:
        """Ask the job to quit; end its process if it does not within ``timeout``."""
        if self._worker is None or self._conn is None:
            return
        already_closing, self._closing = self._closing, True  # before the Quit: the job may end at once
        if not already_closing:
            self._send_numbered(Quit())
        if self._worker.is_alive():
            self._worker.join(timeout)
        if self.mode == "process" and self._worker.is_alive():
            self._worker.terminate()
            self._worker.join(timeout)
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(0.5)  # it ends on the job's EOF; don't close the pipe under it
        self._conn.close()
        self._worker = None
