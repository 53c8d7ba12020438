"""The compare screen's trainer, run apart from the UI (a process, or a thread in tests),
and the bridge the screen talks to it through.

As ``smtui.tui.runner.bridge`` does for the main screen: commands go one way as (kind, args) tuples,
reports the other at most ``FRAMES_PER_SECOND`` times a second, and the UI keeps only
the newest. Evaluations (every run's figures and the probe gradients) are scheduled to
take at most ``EVAL_SHARE`` of the trainer's time while it trains.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from smtui.core.compare import CompareSnapshot, Comparison
from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.tui.runner.bridge import _real_stdio
from smtui.tui.runner.protocol import grid_shape
from smtui.tui.runner.trainer_loop import _silence

FRAMES_PER_SECOND = 10
EVAL_SHARE = 0.2
CHUNK_SECONDS = 0.03
EXACT_EVAL_EVERY = 5


@dataclass(frozen=True)
class CompareReport:
    snapshot: CompareSnapshot | None
    training: bool
    busy: str
    steps_per_second: float | None
    acked: int = 0


@dataclass(frozen=True)
class CompareNotice:
    level: str  # "refused", "note", "error"
    text: str


class _Loop:
    def __init__(self, conn, config: Config, objectives, exact: bool, match_lr: bool):
        self.conn = conn
        self.send_report("building the evaluation set")
        self.comparison = Comparison(config, objectives, exact=exact, match_lr=match_lr)
        self.comparison.evaluate()
        self.training, self.panel, self.chunk = False, None, 1
        self.eval_step, self.eval_cost, self.eval_end = self.comparison.step, 0.0, 0.0
        self.rate, self.window = None, (0, 0.0)
        self.acked, self.last_send, self.dirty = 0, 0.0, True

    def run(self) -> None:
        while True:
            timeout = 0.0 if self.training else 0.05
            while self.conn.poll(timeout):
                kind, args, seq = self.conn.recv()
                self.acked = seq
                if kind == "quit":
                    return
                self._guarded(self.handle, kind, args)
                timeout = 0.0
            if self.training:
                self._guarded(self.train_chunk)
            self._guarded(self.maybe_evaluate)
            if self.dirty or self.training:
                now = time.perf_counter()
                if now - self.last_send >= 1 / FRAMES_PER_SECOND:
                    self.send_report("")

    def _guarded(self, fn, *args) -> None:
        try:
            fn(*args)
        except UserError as exc:
            self.say("refused", str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.training = False
            self.say("error", f"compare error: {type(exc).__name__}: {exc} "
                              f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno}); training paused")
            self.dirty = True

    def handle(self, kind: str, args: dict) -> None:
        c = self.comparison
        self.dirty = True
        if kind == "train":
            self.training, self.window = True, (0, 0.0)
        elif kind == "pause":
            self.training = False
        elif kind == "step":
            self.training = False
            c.train(1, evaluate=False)
        elif kind == "reinit":
            c.reinitialise()
            self.eval_step = None
        elif kind == "configure":
            if "sigma" in args:
                self.send_report("rebuilding the evaluation set for the new sigma")
            c.configure(**args)
            self.eval_step = None
        elif kind == "exact":
            c.exact = bool(args["on"])
            if c.exact:
                self.send_report("building the exact batch")
                c.exact_batches()
            self.chunk, self.window, self.rate = 1, (0, 0.0), None
        elif kind == "grid":
            self.panel = tuple(args["size"])

    def train_chunk(self) -> None:
        c = self.comparison
        t0 = time.perf_counter()
        done = c.train(self.chunk, evaluate=False)
        spent = time.perf_counter() - t0
        if spent > 0:
            self.chunk = max(1, min(2048, int(self.chunk * min(2.0, max(0.5, CHUNK_SECONDS / spent)))))
        n, s = self.window[0] + done, self.window[1] + spent
        if s >= 1.0 or (self.rate is None and s >= 0.3):
            self.rate, n, s = n / s, 0, 0.0
        self.window = (n, s)
        if not any(r.status == "ok" for r in c.runs.values()):
            self.training = False

    def maybe_evaluate(self) -> None:
        c = self.comparison
        if self.eval_step == c.step:
            return
        now = time.perf_counter()
        if self.training:
            # exact steps cost about what an evaluation does: evaluate every few of them
            every = min(c.config.eval_every, EXACT_EVAL_EVERY) if c.exact else c.config.eval_every
            spaced = self.eval_step is None or c.step - self.eval_step >= every
            rested = now - self.eval_end >= self.eval_cost * (1 - EVAL_SHARE) / EVAL_SHARE
            if not (spaced and rested):
                return
        else:
            self.send_report("evaluating every run")
        t0 = time.perf_counter()
        c.evaluate()
        self.eval_end = time.perf_counter()
        self.eval_cost, self.eval_step, self.dirty = self.eval_end - t0, c.step, True

    def send_report(self, busy: str) -> None:
        c = getattr(self, "comparison", None)
        snap = None
        if c is not None:
            shape = grid_shape(*self.panel, c.dim) if self.panel else None
            snap = c.snapshot(field_shape=shape)
        self.conn.send(CompareReport(snap, getattr(self, "training", False), busy, getattr(self, "rate", None),
                                     getattr(self, "acked", 0)))
        # A busy report is followed by one when the work is done.
        self.last_send, self.dirty = time.perf_counter(), bool(busy)

    def say(self, level: str, text: str) -> None:
        self.conn.send(CompareNotice(level, text))


def serve(conn, config: Config, objectives, exact: bool, match_lr: bool, quiet: bool) -> None:
    """The compare trainer's entry point (a process target, or a thread's)."""
    if quiet:
        _silence()
    try:
        _Loop(conn, config, objectives, exact, match_lr).run()
    except (EOFError, OSError, BrokenPipeError):
        pass  # the UI went away
    except UserError as exc:
        _send(conn, CompareNotice("refused", str(exc)))
    except Exception as exc:  # noqa: BLE001 - the screen shows it
        _send(conn, CompareNotice("error", f"compare trainer stopped: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _send(conn, item) -> None:
    try:
        conn.send(item)
    except OSError:
        pass


class CompareBridge:
    """The UI side: sends commands, keeps only the newest report. Callbacks run on the
    reader thread and should only post messages."""

    def __init__(self, config: Config, objectives, exact: bool, match_lr: bool, on_report: Callable[[], None],
                 on_notice: Callable[[CompareNotice], None], on_stopped: Callable[[], None], mode: str = "process"):
        self.args = (config, tuple(objectives), exact, match_lr)
        self.mode = mode
        self._on_report, self._on_notice, self._on_stopped = on_report, on_notice, on_stopped
        self._lock = threading.Lock()
        self._latest: CompareReport | None = None
        self._closing = False
        self._worker = self._conn = None
        self.sent = 0

    def start(self) -> None:
        if self.mode == "process":
            ctx = multiprocessing.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self._worker = ctx.Process(target=serve, args=(child, *self.args, True), name="smtui-compare",
                                       daemon=True)
        else:
            self._conn, child = multiprocessing.Pipe()
            self._worker = threading.Thread(target=serve, args=(child, *self.args, False), name="smtui-compare",
                                            daemon=True)
        with _real_stdio():
            self._worker.start()
        if self.mode == "process":
            child.close()
        self._reader = threading.Thread(target=self._read, name="smtui-compare-reader", daemon=True)
        self._reader.start()

    def send(self, kind: str, **args) -> None:
        if self._conn is None or self._closing:
            return
        self.sent += 1
        try:
            self._conn.send((kind, args, self.sent))
        except (OSError, ValueError):
            pass

    def take_latest(self) -> CompareReport | None:
        with self._lock:
            report, self._latest = self._latest, None
        return report

    def _read(self) -> None:
        conn = self._conn
        while True:
            try:
                item = conn.recv()
            except (EOFError, OSError, TypeError, ValueError):
                if not self._closing:
                    self._on_stopped()
                return
            if isinstance(item, CompareNotice):
                self._on_notice(item)
                continue
            with self._lock:
                wake, self._latest = self._latest is None, item
            if wake:
                self._on_report()

    def close(self, timeout: float = 2.0) -> None:
        if self._worker is None:
            return
        self.send("quit")
        self._closing = True
        self._worker.join(timeout)
        if self.mode == "process" and self._worker.is_alive():
            self._worker.terminate()
            self._worker.join(timeout)
        self._reader.join(0.5)
        self._conn.close()
        self._worker = None
