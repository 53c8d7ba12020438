"""The trainer loop, run apart from the UI: it takes commands and sends reports.

``serve`` runs in its own process (spawned: safe beside the UI's threads) so that the UI
has a core to itself; tests may run it in a thread instead. Reports go out at most
``FRAMES_PER_SECOND`` times a second (the field in them every ``FIELD_SECONDS`` while
training). Evaluations are expensive (~0.1 s in 2-D), so while training they are
scheduled to take at most ``EVAL_SHARE`` of the trainer's time. A heartbeat thread says
"alive" every ``BEAT_SECONDS``, so the UI can tell a stalled trainer from a busy one.

A saved experiment is loaded here, from its path (a Trainer does not pickle), and saves
and exports are written here too, between steps, so each holds one moment's state.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment import load_experiment, save_experiment
from smtui.core.io import rows_to_csv
from smtui.core.outputs import Input, Request, check, data_input, write, write_each
from smtui.core.text import count
from smtui.core.trainer import Trainer
from smtui.tui.runner.protocol import BEAT, Command, Notice, Report, grid_shape, pack

FRAMES_PER_SECOND = 15
EVAL_SHARE = 0.05  # most of the trainer's wall time that evaluations may take while training
FIELD_SECONDS = 0.25  # while training, the field is recomputed this often (reports in between keep it)
CHUNK_SECONDS = 0.02  # training between looks at the command pipe
RATE_WINDOW = 10.0  # seconds of training over which the shown steps/s is averaged (a sliding window)
BEAT_SECONDS = 0.25  # the trainer process says "alive" this often, even in the middle of a long step
FROZEN_SHARE = 0.05  # a chunk that got less CPU than this share of its wall time (over a second) was frozen
LANGEVIN = {"n": 400, "steps": 2000}  # MALA, at most 2 s (Trainer.langevin_samples)


class _Loop:
    """The trainer side: owns the Trainer; everything it says goes through ``conn``."""

    def __init__(self, conn, config: Config, experiment: str | None = None, acked: int = 0):
        self.conn = conn
        self.trainer = self._start(config, experiment)
        self.training = False
        self.panel: tuple[int, int] | None = None  # the field panel's size in cells
        self.plane = 0  # which plane the field is drawn on, for d > 2 (smtui.core.field.plane)
        self.samples = None
        self.samples_step: int | None = None
        self.want_samples = False  # set by 'langevin'; drawn once after the pending commands
        self.chunk = 8
        self.eval_step: int | None = None
        self.eval_cost = 0.0
        self.eval_end = 0.0
        self.elapsed = self.trainer.train_seconds  # a resumed run's clock carries on
        self.saved_step = self.trainer.step if experiment else 0  # steps up to here are in a file (or none made)
        self.rate: float | None = None
        self.window: deque[tuple[int, float]] = deque()  # (steps, seconds) of recent work, RATE_WINDOW long
        self.window_sums = (0, 0.0)
        self.retrying = False  # space pressed while diverged: the next chunk says if it diverges again at once
        self.done = 0  # steps trained in this turn of the loop
        self.clock: tuple[float, float] | None = None  # (wall, cpu) when this turn's training began
        self.field_at = -1.0  # when the field was last computed for a report
        self.last_send = 0.0
        self.dirty = True
        self.acked = acked  # a restarted loop carries on the bridge's command numbers

    def _start(self, config: Config, experiment: str | None) -> Trainer:
        """The saved experiment with ``config``'s training settings, or a fresh Trainer."""
        if experiment is None:
            return Trainer(config)
        try:
            trainer = load_experiment(experiment)
            changes = {k: v for k, v in config.to_dict().items() if getattr(trainer.config, k) != v}
            if changes:
                trainer.configure(**changes)
            return trainer
        except UserError as exc:  # e.g. the file changed since the CLI checked it
            self.say("refused", f"{exc}; started afresh from the setup instead")
            return Trainer(config)

    def run(self) -> None:
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
            if self.want_samples:
                self._guarded(self.draw_samples)
            if self.training:
                self._guarded(self.train_chunk)
                if not self.training:
                    self._stop_clock()  # diverged
            self._guarded(self.maybe_evaluate)
            self.maybe_send()
            self._stop_clock()

    def _stop_clock(self) -> None:
        """Add this turn's training time (and steps) to the clock, once."""
        if self.clock is not None:
            t0, c0 = self.clock
            self._count(self.done, _working(time.perf_counter() - t0, time.thread_time() - c0))
            self.clock, self.done = None, 0

    def _guarded(self, fn, *args) -> bool:
        """Run fn; an exception becomes an 'error' notice and stops training, never a crash."""
        try:
            return fn(*args) is not False
        except UserError as exc:
            self.say("refused", str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the user, with where it happened
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.training = False
            self.say("error", f"trainer error: {type(exc).__name__}: {exc} "
                              f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno}); training paused")
        self.dirty = True
        return True

    # --- commands ---------------------------------------------------------------------

    def handle(self, cmd: Command) -> bool:
        t, kind, args = self.trainer, cmd.kind, cmd.args
        self.acked = cmd.seq
        if kind == "quit":
            return False
        if kind == "train":
            self.training, self.retrying = True, t.status == "diverged"
        elif kind == "pause":
            self.training = False
        elif kind == "step":
            self.training = False
            t.train(1, evaluate=False)
        elif kind == "configure":
            notes = t.configure(**args)
            self.samples = self.samples_step = self.eval_step = None
            if notes:
                self.say("note", "; ".join(notes))
        elif kind == "reinit":
            t.reinitialise()
            self.samples = self.samples_step = self.eval_step = None
        elif kind == "langevin":
            self.want_samples = True  # a burst of l presses draws once, for the latest model
        elif kind == "grid":
            self.panel = tuple(args["size"])
            self.plane = args.get("plane", self.plane)
        elif kind == "save":
            t.train_seconds = self.elapsed  # the clock the status line shows is the one saved
            path = save_experiment(t, args["path"], overwrite=args.get("overwrite", False),
                                   inputs=_inputs(args))
            self.saved_step = t.step
            self.say("done", f"experiment saved to {path} (step {t.step:,})", str(path))
        elif kind == "export_csv":
            self.say("done", f"metric history ({count(len(t.evaluations), 'row')}) written to "
                             f"{export_csv(t, args['path'], args.get('overwrite', False), _inputs(args))}",
                     args["path"])
        elif kind == "load":
            self.training, self.clock = False, None  # the loaded run's clock replaces this one
            self.trainer = load_experiment(args["path"])  # a UserError leaves the current run as it was
            self.samples = self.samples_step = self.eval_step = None
            self.elapsed, self.saved_step = self.trainer.train_seconds, self.trainer.step
            self.rate, self.window, self.window_sums = None, deque(), (0, 0.0)
            self.say("done", f"loaded {args['path']}: {self.trainer.config.source}, step {self.trainer.step:,}",
                     args["path"])
        self.dirty = True
        return True

    # --- work ---------------------------------------------------------------------------

    def train_chunk(self) -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        done = self.trainer.train(self.chunk, evaluate=False)
        spent = _working(time.perf_counter() - t0, time.thread_time() - c0)
        # Aim each chunk at CHUNK_SECONDS so commands are looked at often but cheaply.
        if spent > 0:
            self.chunk = max(1, min(4096, int(self.chunk * min(2.0, max(0.5, CHUNK_SECONDS / spent)))))
        self.done += done
        if self.trainer.status != "ok":
            self.training = False
            self.dirty = True
            if self.retrying:  # diverged again in the retry's first chunk
                when = "at once" if not done else f"after {done:,} step{'' if done == 1 else 's'}"
                self.say("refused", f"space retried from step {self.trainer.step - done:,} with the same setup and "
                                    f"it diverged again {when}: lower the lr ([), raise σ (+) or re-initialise (r) "
                                    "first")
        self.retrying = False

    def _count(self, steps: int, seconds: float) -> None:
        """Add work to the training clock and to the sliding window the steps/s comes from."""
        self.elapsed += seconds
        self.window.append((steps, seconds))
        n, s = self.window_sums[0] + steps, self.window_sums[1] + seconds
        while len(self.window) > 1 and s - self.window[0][1] >= RATE_WINDOW:
            old_n, old_s = self.window.popleft()
            n, s = n - old_n, s - old_s
        self.window_sums = (n, s)
        if s >= min(1.0, RATE_WINDOW):  # a first figure after a second, then the window's mean
            self.rate = n / s

    def maybe_evaluate(self) -> None:
        t = self.trainer
        if self.eval_step == t.step:
            return
        now = time.perf_counter()
        if self.training:
            # Keep evaluations to EVAL_SHARE of the time: after one that cost c seconds,
            # train for c * (1 - share) / share before the next; and never more often
            # than the setup's eval_every steps.
            spaced = self.eval_step is None or t.step - self.eval_step >= t.config.eval_every
            rested = now - self.eval_end >= self.eval_cost * (1 - EVAL_SHARE) / EVAL_SHARE
            if not (spaced and rested):
                return
        else:
            self.busy("evaluating every figure" if self.eval_step is not None or t.step
                      else "building the evaluation set")
        t.eval_set  # noqa: B018 - built once per data and sigma; not part of an evaluation's cost
        t1 = time.perf_counter()
        t.evaluate()
        self.eval_end = time.perf_counter()
        self.eval_cost = self.eval_end - t1
        self.eval_step = t.step
        self.dirty = True

    # --- reports ------------------------------------------------------------------------

    def draw_samples(self) -> None:
        """Samples from the current model (up to MALA's time budget), once per request burst."""
        self.want_samples = False
        self.busy("drawing Langevin samples")
        self.samples, self.samples_step = self.trainer.langevin_samples(**LANGEVIN), self.trainer.step
        self.dirty = True

    def busy(self, what: str) -> None:
        """Tell the UI now that a slow piece of work starts."""
        self.send(what)

    def maybe_send(self) -> None:
        now = time.perf_counter()
        if (self.training or self.dirty) and now - self.last_send >= 1 / FRAMES_PER_SECOND:
            self.send("")

    def send(self, busy: str) -> None:
        t = self.trainer
        # The field costs more than the rest of a report: while training, every FIELD_SECONDS
        # (the bridge keeps the last one for the reports in between); at once after a command.
        now = time.perf_counter()
        keep = self.training and not self.dirty and now - self.field_at < FIELD_SECONDS
        shape = grid_shape(*self.panel, t.dim) if self.panel and not keep else None
        if shape is not None:
            self.field_at = now
        try:
            snap = t.snapshot(field_shape=shape, figures=False, samples=self.samples, plane_index=self.plane)
        except Exception as exc:  # noqa: BLE001 - still report the rest, and say what failed
            snap = t.snapshot(figures=False, samples=self.samples)
            # (with every report: the status line keeps showing it; the app toasts it once)
            self.say("error", f"trainer error drawing the field: {type(exc).__name__}: {exc}")
        report = Report(snapshot=snap, training=self.training, busy=busy, steps_per_second=self.rate,
                        elapsed=self.elapsed, samples_step=self.samples_step, acked=self.acked,
                        saved_step=self.saved_step, field_kept=keep)
        self.conn.send(pack(report))
        self.last_send = time.perf_counter()
        self.dirty = False

    def say(self, level: str, text: str, path: str = "") -> None:
        self.conn.send(Notice(level, text, path))


def _working(wall: float, cpu: float) -> float:
    """Seconds of ``wall`` that count as training time: all of it, unless the trainer was
    frozen (a stopped process gets no CPU at all; a merely busy machine still gives it a
    share), when only the CPU time counts. So a stall never jumps the clock or the rate."""
    return cpu if wall > 1.0 and cpu < FROZEN_SHARE * wall else wall


class _Conn:
    """The trainer's end of the pipe, shared by the loop and the heartbeat thread."""

    def __init__(self, conn):
        self._conn, self._lock = conn, threading.Lock()
        self.poll, self.recv, self.close = conn.poll, conn.recv, conn.close

    def send(self, item) -> None:
        with self._lock:
            self._conn.send(item)


def _inputs(args: dict) -> list[Input]:
    """The files the app reads, sent with a save or export as (what, path) pairs."""
    return [Input(what, Path(p)) for what, p in args.get("inputs", ())]


def _beat(conn: _Conn, stop: threading.Event) -> None:
    """Say "alive" every BEAT_SECONDS while the trainer runs, even inside a long step; the
    UI shows the trainer as stalled when these stop (a stopped or starved process)."""
    while not stop.wait(BEAT_SECONDS):
        try:
            conn.send(BEAT)
        except (OSError, ValueError):
            return


def export_csv(trainer: Trainer, path: str, overwrite: bool = False, inputs: list[Input] = ()) -> str:
    """Write the metric history (every evaluation) as CSV by core/outputs.py's rules: never
    over the data file or one of ``inputs``, over an existing file only if ``overwrite``.
    Returns the path."""
    out = check(Request("metric history", path, replaces=False),
                [*data_input(trainer.config.data_path, "the data file being trained on"), *inputs],
                force=overwrite, force_hint="allow overwriting it")
    failures = write_each([out], lambda o: write(o, rows_to_csv(trainer.evaluations)))
    if failures:
        raise UserError(failures[0])
    return path


def serve(conn, config: Config, experiment: str | None = None, quiet: bool = False, acked: int = 0) -> None:
    """The trainer loop's entry point (a process target, or a thread's).

    ``quiet`` (in a process) points stdout/stderr at /dev/null: the child inherits the
    terminal the UI draws on, and a stray warning there would scribble over the screen."""
    if quiet:
        _silence()
    conn, stop = _Conn(conn), threading.Event()
    threading.Thread(target=_beat, args=(conn, stop), name="smtui-trainer-beat", daemon=True).start()
    try:
        _Loop(conn, config, experiment, acked).run()
    except (EOFError, OSError, BrokenPipeError):
        pass  # the UI went away
    except UserError as exc:  # the setup cannot start (its data file is refused, ...): a restart would not help
        try:
            conn.send(Notice("unstartable", f"the trainer cannot start: {exc}"))
        except OSError:
            pass
    except Exception as exc:  # noqa: BLE001 - the UI shows it as "trainer stopped"
        try:
            conn.send(Notice("error", f"trainer stopped: {type(exc).__name__}: {exc}"))
        except OSError:
            pass
    finally:
        stop.set()
        conn.close()


def _silence() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
