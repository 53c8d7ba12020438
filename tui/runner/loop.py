"""The one loop every background job runs in, apart from the UI: it takes commands and
sends reports. A job (``Job``: the main screen's trainer, the compare screen's runs, ...)
says what to build from its setup, how to advance a chunk of steps, what to evaluate and
report and how to take its commands; this loop says when.

While training it advances in chunks aimed at the job's ``chunk_seconds``, so commands
are looked at often but cheaply. Evaluations are scheduled to take at most the job's
``eval_share`` of the time (and come no more often than its ``eval_every`` steps).
Reports go out at most ``frames_per_second`` times a second, and at once when slow work
starts (a busy report). The steps/s is a sliding mean over ``RATE_WINDOW`` seconds of
wall clock, commands, evaluations and reports included: what the user gets. A heartbeat
thread says "alive" every ``BEAT_SECONDS``, even inside a long step, so the UI can tell a
stalled job from a busy one. An exception in a command or a chunk becomes a notice and
pauses training, never a crash.

``serve`` runs it in its own process (spawned: safe beside the UI's threads) so that the
UI has a core to itself, or in a thread (tests); ``smtui.tui.runner.runner`` is the UI's side.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import traceback
from collections import deque

from smtui.core.errors import UserError
from smtui.tui.runner.protocol import BEAT, LOOP_COMMANDS, Command, Notice, Pause, Progress, Quit, Step, Train

RATE_WINDOW = 10.0  # seconds of training over which the shown steps/s is averaged (a sliding window)
BEAT_SECONDS = 0.25  # a job says "alive" this often, even in the middle of a long step
FROZEN_SHARE = 0.05  # a chunk that got less CPU than this share of its wall time (over a second) was frozen


class Job:
    """What one kind of background run does; the loop decides when.

    A subclass sets the class attributes and overrides what it needs of the methods below.
    It is built in the job's process from a picklable ``setup``; ``ctx`` is the loop, through
    which the job speaks and touches the schedule (the loop's methods under "for jobs").

    A step is whatever unit the job advances in: a training step (``TrainerJob``, every run
    of ``CompareJob`` at once), a sampler step or a rung of a noise ladder; a job that
    never evaluates leaves ``eval_every`` None. Commands of its own are frozen dataclasses
    subclassing ``protocol.Command`` (defined beside the job), listed in ``commands``; a
    report is a frozen ``protocol.Progress`` subclass (its ``packed``/``received`` say how
    it crosses the pipe and what it keeps from the previous one). ``advance`` may block
    (waiting on a source outside, say): the heartbeat goes on meanwhile."""

    name = "job"  # in what the user reads: "the {name} cannot start: ...", "{name} error: ..."
    commands: tuple[type[Command], ...] = ()  # the commands it takes besides the loop's own (LOOP_COMMANDS)
    frames_per_second = 15
    chunk_seconds = 0.02  # training between looks at the command pipe
    first_chunk = 1  # steps in the first chunk (then aimed at chunk_seconds)
    max_chunk = 4096
    eval_share = 0.05  # most of the wall time that evaluations may take while training

    def __init__(self, setup, ctx: Loop) -> None:
        """Build the state from ``setup``; a UserError means this setup cannot start."""
        self.ctx = ctx

    @property
    def step(self) -> int:
        """Steps done so far (evaluations are spaced in these)."""
        raise NotImplementedError

    def advance(self, steps: int) -> int:
        """Do up to ``steps`` steps; returns how many were done."""
        raise NotImplementedError

    def can_go_on(self) -> bool:
        """False stops training (the run diverged, say)."""
        return True

    @property
    def eval_every(self) -> int | None:
        """While training, evaluate at most every this many steps; None: never evaluate."""
        return None

    def evaluating(self) -> str:
        """What the user waits for while a paused job evaluates."""
        return "evaluating"

    def evaluate(self) -> float | None:
        """Compute the expensive figures for this step; returns the seconds to charge to
        the evaluation budget (None: the whole call), so one-off builds can be left out."""
        return None

    def handle(self, command: Command) -> None:
        """Act on a command; the loop's own (Train, Pause, Step) come here too, after the loop acted."""

    def report(self, changed: bool) -> Progress:
        """The report to send now, a Progress subclass; the loop fills in the Progress fields.
        ``changed``: a command or new figures since the last report (costly parts kept
        between reports should be sent fresh)."""
        raise NotImplementedError


class RateWindow:
    """Steps per second over the last ``span`` seconds of work, sliding."""

    def __init__(self, span: float = RATE_WINDOW):
        self.span = span
        self.clear()

    def clear(self) -> None:
        self.rate: float | None = None
        self._parts: deque[tuple[int, float]] = deque()
        self._sums = (0, 0.0)

    def add(self, steps: int, seconds: float) -> None:
        self._parts.append((steps, seconds))
        n, s = self._sums[0] + steps, self._sums[1] + seconds
        while len(self._parts) > 1 and s - self._parts[0][1] >= self.span:
            old_n, old_s = self._parts.popleft()
            n, s = n - old_n, s - old_s
        self._sums = (n, s)
        if s >= min(1.0, self.span):  # a first figure after a second, then the window's mean
            self.rate = n / s


class Loop:
    """Runs one job; everything it says goes through ``conn``."""

    def __init__(self, conn, job: type[Job], setup, acked: int = 0, freezes: Freezes | None = None):
        self.conn = conn
        self.freezes = freezes  # what the heartbeat saw of the process being frozen (None: nothing)
        self.job: Job | None = None  # None while the job is being built
        self.training = False
        self.acked = acked  # a restarted loop carries on the runner's command numbers
        self.chunk = job.first_chunk
        self.eval_step: int | None = None  # the step last evaluated (None: the figures are stale)
        self.eval_cost = self.eval_end = 0.0
        self.elapsed = 0.0  # seconds of training, as the rate counts them
        self.window = RateWindow()
        self.done = 0  # steps trained in this turn of the loop
        self.clock: tuple[float, float] | None = None  # (wall, cpu) when this turn's training began
        self.last_send = 0.0
        self.dirty = True  # something to report besides training progress
        self._later: dict = {}  # work the job asked for after the pending commands (ordered, once each)
        self.job = job(setup, self)

    def run(self) -> None:
        job = self.job
        while True:
            # While training, every second of the loop counts (commands, evaluations and
            # reports too): the steps/s shown is what the user gets, wall clock.
            self.done = 0
            self.clock = (time.perf_counter(), time.thread_time()) if self.training else None
            timeout = 0.0 if self.training else 0.05
            while self.conn.poll(timeout):
                if not self._guarded(self.handle, self.conn.recv()):
                    return
                timeout = 0.0
            if not self.training:
                self._stop_clock()  # paused: the report about to go out shows the time saved
            later, self._later = list(self._later), {}
            for fn in later:
                self._guarded(fn)
                self.dirty = True
            if self.training:
                self._guarded(self.train_chunk)
                if not self.training:
                    self._stop_clock()  # it stopped (diverged)
            if job.eval_every is not None:
                self._guarded(self.maybe_evaluate)
            self.maybe_send()
            self._stop_clock()

    def _stop_clock(self) -> None:
        """Add this turn's training time (and steps) to the clock, once."""
        if self.clock is not None:
            t0, c0 = self.clock
            t1 = time.perf_counter()
            frozen = 0.0
            if self.freezes is not None:
                self.freezes.look()  # (the loop may run on before the heartbeat wakes after a stop)
                frozen = self.freezes.within(t0, t1)
            seconds = working_seconds(t1 - t0 - frozen, time.thread_time() - c0)
            self.elapsed += seconds
            self.window.add(self.done, seconds)
            self.clock, self.done = None, 0

    def _guarded(self, fn, *args) -> bool:
        """Run fn; an exception becomes a notice (and pauses training), never a crash."""
        try:
            return fn(*args) is not False
        except UserError as exc:
            self.say("refused", str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the user, with where it happened
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.training = False
            self.say("error", f"{self.job.name} error: {type(exc).__name__}: {exc} "
                              f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno}); training paused")
        self.dirty = True
        return True

    def handle(self, command: Command) -> bool:
        """The loop's part of a command, then the job's; False to end the loop. The command is
        acknowledged once handled (or refused): a report sent meanwhile (busy, by a slow
        handler) shows the state before it, and a screen takes the state of a report that
        acknowledges its last command as what it asked for."""
        self.dirty = True
        try:
            if isinstance(command, Quit):
                return False
            if not isinstance(command, LOOP_COMMANDS + self.job.commands):
                raise TypeError(f"the {self.job.name} takes no {type(command).__name__} command")
            if isinstance(command, Train):
                self.training = True
            elif isinstance(command, (Pause, Step)):
                self.training = False
            if isinstance(command, Step):
                self.job.advance(1)
            self.job.handle(command)
            return True
        finally:
            self.acked = command.seq

    def train_chunk(self) -> None:
        job = self.job
        t0, c0 = time.perf_counter(), time.thread_time()
        done = job.advance(self.chunk)
        spent = working_seconds(time.perf_counter() - t0, time.thread_time() - c0)
        if spent > 0:  # aim the next chunk at the job's chunk_seconds
            factor = min(2.0, max(0.5, job.chunk_seconds / spent))
            self.chunk = max(1, min(job.max_chunk, int(self.chunk * factor)))
        self.done += done
        if not job.can_go_on():
            self.training, self.dirty = False, True

    def maybe_evaluate(self) -> None:
        job = self.job
        if self.eval_step == job.step:
            return
        if self.training:
            # Keep evaluations to the job's share of the time: after one that cost c seconds,
            # train for c * (1 - share) / share before the next; and never more often than
            # every eval_every steps.
            share = job.eval_share
            spaced = self.eval_step is None or job.step - self.eval_step >= job.eval_every
            rested = time.perf_counter() - self.eval_end >= self.eval_cost * (1 - share) / share
            if not (spaced and rested):
                return
        else:
            self.busy(job.evaluating())
        t0 = time.perf_counter()
        charged = job.evaluate()
        self.eval_end = time.perf_counter()
        self.eval_cost = self.eval_end - t0 if charged is None else charged
        self.eval_step, self.dirty = job.step, True

    def maybe_send(self) -> None:
        if (self.training or self.dirty) and time.perf_counter() - self.last_send >= 1 / self.job.frames_per_second:
            self.send("")

    def send(self, busy: str) -> None:
        progress = {"training": self.training, "busy": busy, "steps_per_second": self.window.rate,
                    "elapsed": self.elapsed, "acked": self.acked}
        if self.job is None:  # still being built: what it is doing, nothing more
            report = Progress(**progress)
        else:
            report = dataclasses.replace(self.job.report(self.dirty), **progress)
        self.conn.send(report.packed())
        self.last_send = time.perf_counter()
        self.dirty = bool(busy)  # a busy report is followed by one when the work is done

    # --- for jobs --------------------------------------------------------------------------

    def say(self, level: str, text: str, path: str = "") -> None:
        """A one-line notice to the UI (levels: protocol.Notice)."""
        self.conn.send(Notice(level, text, path))

    def busy(self, what: str) -> None:
        """Tell the UI now that slow work starts (a report with ``busy`` set)."""
        self.send(what)

    def stale(self) -> None:
        """The figures no longer match the state: evaluate again (paused: at once)."""
        self.eval_step, self.dirty = None, True

    def pause(self) -> None:
        self.training = False

    def later(self, fn) -> None:
        """Run ``fn()`` after the commands now waiting, once however often asked (a burst
        of requests does the work once, for the latest state)."""
        self._later[fn] = None

    def set_clock(self, elapsed: float) -> None:
        """The training clock now reads ``elapsed`` (a resumed run's clock carries on)."""
        self.elapsed, self.clock, self.done = elapsed, None, 0

    def new_pace(self) -> None:
        """Steps cost differently from now on: the rate and the chunk size start again."""
        self.window.clear()
        self.chunk = self.job.first_chunk if self.job is not None else 1


def working_seconds(wall: float, cpu: float) -> float:
    """Seconds of ``wall`` that count as training time: all of it, unless the job was
    frozen (a stopped process gets no CPU at all; a merely busy machine still gives it a
    share), when only the CPU time counts. So a stall never jumps the clock or the rate."""
    return cpu if wall > 1.0 and cpu < FROZEN_SHARE * wall else wall


class Freezes:
    """Spans of wall time in which the process was frozen (stopped, or given no CPU at all), as
    the heartbeat saw them: a wake-up over a second late with under FROZEN_SHARE of the gap in
    CPU time. A turn of the loop takes them off its wall time: its own CPU share cannot tell a
    stop from a busy machine when the turn also worked (an evaluation's CPU beside a 4 s stop
    jumped the clock by the 4 s)."""

    def __init__(self) -> None:
        self.spans: deque[tuple[float, float]] = deque(maxlen=64)
        self._t, self._cpu = time.perf_counter(), time.process_time()
        self._lock = threading.Lock()  # the heartbeat and the loop both look

    def look(self) -> None:
        """A wake-up of the heartbeat, or the end of a turn of the loop (whichever comes first
        after a stop): was the process frozen since the last look?"""
        with self._lock:
            t, cpu = time.perf_counter(), time.process_time()
            gap = t - self._t
            if gap > 1.0 and cpu - self._cpu < FROZEN_SHARE * gap:
                self.spans.append((min(self._t + BEAT_SECONDS, t), t))  # the heartbeat would have woken by then
            self._t, self._cpu = t, cpu

    def within(self, t0: float, t1: float) -> float:
        """Seconds of [t0, t1] seen frozen."""
        with self._lock:
            spans = list(self.spans)
        return sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in spans)


class _Conn:
    """The job's end of the pipe, shared by the loop and the heartbeat thread."""

    def __init__(self, conn):
        self._conn, self._lock = conn, threading.Lock()
        self.poll, self.recv = conn.poll, conn.recv

    def send(self, item) -> None:
        with self._lock:
            self._conn.send(item)

    def close(self) -> None:
        with self._lock:  # never under a heartbeat being written
            self._conn.close()


def _beat(conn: _Conn, stop: threading.Event, freezes: Freezes) -> None:
    """Say "alive" every BEAT_SECONDS while the job runs, even inside a long step; the UI
    shows the job as stalled when these stop (a stopped or starved process)."""
    while not stop.wait(BEAT_SECONDS):
        freezes.look()
        try:
            conn.send(BEAT)
        except (OSError, ValueError):
            return


def serve(conn, job: type[Job], setup, quiet: bool = False, acked: int = 0) -> None:
    """A job's entry point (a process target, or a thread's): build it, run it until Quit
    or until the UI goes away.

    ``quiet`` (in a process) points stdout/stderr at /dev/null: the child inherits the
    terminal the UI draws on, and a stray warning there would scribble over the screen."""
    if quiet:
        _silence()
    conn, stop, freezes = _Conn(conn), threading.Event(), Freezes()
    threading.Thread(target=_beat, args=(conn, stop, freezes), name=f"smtui-{job.name.replace(' ', '-')}-beat",
                     daemon=True).start()
    try:
        try:
            loop = Loop(conn, job, setup, acked, freezes)
        except UserError as exc:  # the setup cannot start (its data file is refused, ...): a restart would not help
            _send(conn, Notice("unstartable", f"the {job.name} cannot start: {exc}"))
            return
        loop.run()
    except (EOFError, OSError):
        pass  # the UI went away
    except Exception as exc:  # noqa: BLE001 - the UI shows it as stopped
        _send(conn, Notice("error", f"{job.name} stopped: {type(exc).__name__}: {exc}"))
    finally:
        stop.set()
        conn.close()


def _send(conn, item) -> None:
    try:
        conn.send(item)
    except OSError:
        pass


def _silence() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
