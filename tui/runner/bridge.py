"""The UI's side of the trainer: starts the trainer loop (``smtui.tui.runner.trainer_loop``) in its own
process (or a thread, for tests), sends it commands, and keeps only the newest report for
the UI to take, so nothing queues without bound. It also notes when the trainer last
said anything, so the app can show a stalled trainer."""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable

from smtui.core.config import Config
from smtui.tui.runner.protocol import BEAT, Command, Notice, Report, unpack
from smtui.tui.runner.trainer_loop import RATE_WINDOW, serve

__all__ = ["RATE_WINDOW", "TrainerBridge"]


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

class TrainerBridge:
    """The UI side: sends commands, and keeps only the newest report for the UI to take.

    The callbacks run on the bridge's reader thread; they should only post messages."""

    def __init__(self, config: Config, on_report: Callable[[], None], on_notice: Callable[[Notice], None],
                 on_stopped: Callable[[str], None], mode: str = "process", experiment: str | None = None):
        if mode not in ("process", "thread"):
            raise ValueError(f"bridge mode must be 'process' or 'thread', got {mode!r}")
        # A resumed experiment travels as its path: the trainer side loads it (a Trainer holds
        # autograd closures that do not pickle).
        self.config, self.experiment, self.mode = config, experiment, mode
        self._on_report, self._on_notice, self._on_stopped = on_report, on_notice, on_stopped
        self._lock = threading.Lock()
        self._latest: Report | None = None
        self._field = None  # the last field sent: reports that keep it get it back here
        self._pending = False
        self._closing = False
        self._worker = None
        self._conn = None
        self.sent = 0  # seq of the last command sent
        self.heard: float | None = None  # when this trainer last said anything (a report, a notice, a beat)

    def start(self) -> None:
        with self._lock:
            self._latest, self._pending = None, False
        self._field, self.heard = None, None
        if self.mode == "process":
            ctx = multiprocessing.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self._worker = ctx.Process(target=serve, args=(child, self.config, self.experiment, True, self.sent),
                                       name="smtui-trainer", daemon=True)
        else:
            self._conn, child = multiprocessing.Pipe()
            self._worker = threading.Thread(target=serve, args=(child, self.config, self.experiment, False,
                                                                self.sent), name="smtui-trainer", daemon=True)
        with _real_stdio():
            self._worker.start()
        if self.mode == "process":
            child.close()
        conn, self._closing = self._conn, False  # (a new conn first: the old reader stays quiet)
        self._reader = threading.Thread(target=self._read, args=(conn,), name="smtui-bridge-reader", daemon=True)
        self._reader.start()

    def restart(self, config: Config, experiment: str | None = None) -> None:
        """A new trainer from ``config`` (or a saved experiment), after the old one died or
        was stopped; command numbers carry on, so no report looks older than it is."""
        self.close()
        self.config, self.experiment = config, experiment
        self.start()

    @property
    def pid(self) -> int | None:
        """The trainer process's id (None in thread mode or when not running)."""
        return getattr(self._worker, "pid", None) if self.mode == "process" else None

    def send(self, kind: str, **args) -> None:
        if self._conn is None or self._closing:
            return
        self.sent += 1
        try:
            self._conn.send(Command(kind, args, self.sent))
        except (OSError, ValueError):
            pass  # the reader reports the trainer as stopped

    def silent_for(self) -> float:
        """Seconds since the trainer last said anything (it beats every BEAT_SECONDS); 0 until
        it first speaks (a trainer process takes a second or more to start: that is not a stall)."""
        return 0.0 if self.heard is None else time.monotonic() - self.heard

    def take_latest(self) -> Report | None:
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
                    self._on_stopped("the trainer process ended unexpectedly")
                return
            if conn is not self._conn:
                return  # a restarted trainer's predecessor: nothing it says is current
            self.heard = time.monotonic()
            if item == BEAT:
                continue
            if isinstance(item, Notice):
                self._on_notice(item)
                continue
            report = unpack(item)
            if report.field_kept and self._field is not None:
                report = dataclasses.replace(report, snapshot=dataclasses.replace(report.snapshot, field=self._field))
            else:
                self._field = report.snapshot.field
            with self._lock:
                self._latest = report
                wake, self._pending = not self._pending, True
            if wake:
                self._on_report()

    def close(self, timeout: float = 2.0) -> None:
        if self._worker is None or self._conn is None:
            return
        self.send("quit")
        self._closing = True
        if self._worker.is_alive():
            self._worker.join(timeout)
        if self.mode == "process" and self._worker.is_alive():
            self._worker.terminate()
            self._worker.join(timeout)
        reader = getattr(self, "_reader", None)
        if reader is not None and reader is not threading.current_thread():
            reader.join(0.5)  # it ends on the trainer's EOF; don't close the pipe under it
        self._conn.close()
        self._worker = None
