"""The one loop and the one runner, without a UI: typed commands, the sliding rate, the
frozen clock, the field kept between reports, a burst of requests done once, the
heartbeat inside a long step, busy reports before a job exists, guarded errors, and the
runner's restarts (command numbers carry on; an unstartable setup and a job that dies
again at once are not restarted)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.tui.render.status import STALL_AFTER
from smtui.tui.runner import runner as runner_module
from smtui.tui.runner.compare_job import CompareJob, CompareSetup
from smtui.tui.runner.loop import RATE_WINDOW, Freezes, Job, Loop, RateWindow, working_seconds
from smtui.tui.runner.protocol import (
    CompareReport,
    Configure,
    Exact,
    Grid,
    Langevin,
    Notice,
    Pause,
    Progress,
    Quit,
    Save,
    Step,
    Train,
)
from smtui.tui.runner.runner import Runner
from smtui.tui.runner.trainer_job import TrainerJob, TrainerSetup

SMALL = Config(n_train=64, seed=0)


class Pipe:
    """The job's end of a pipe, scripted: each item is received in turn; None means
    "nothing waiting" once (the loop goes on to its work). What the loop sends is kept."""

    def __init__(self, *script):
        self.script, self.items = deque(script), []

    def poll(self, timeout):
        if self.script and self.script[0] is None:
            self.script.popleft()
            return False
        return bool(self.script)

    def recv(self):
        return self.script.popleft()

    def send(self, item):
        self.items.append(item)

    def notices(self, level=None) -> list[str]:
        return [n.text for n in self.items if isinstance(n, Notice) and level in (None, n.level)]


@dataclass(frozen=True, kw_only=True)
class Counted(Progress):
    step: int


class Counter(Job):
    """A job that counts: each step sleeps ``pause`` seconds; 'blocked' waits for ``release``."""

    name = "counter"
    commands = (Langevin, Configure)
    frames_per_second = 1e6  # (every turn of the loop reports: the tests read each)
    pause = 0.0

    def __init__(self, setup, ctx):
        super().__init__(setup, ctx)
        self.n, self.draws, self.fail_at = 0, [], setup.get("fail_at")
        self.release = setup.get("release")

    @property
    def step(self):
        return self.n

    def advance(self, steps):
        if self.release is not None:
            self.release.wait(30)
            self.release = None
        if self.fail_at is not None and self.n + steps >= self.fail_at:
            raise RuntimeError("simulated failure")
        time.sleep(self.pause)
        self.n += steps
        return steps

    def handle(self, command):
        if isinstance(command, Langevin):
            self.ctx.later(self.draw)
        elif isinstance(command, Configure):
            raise UserError("refused, as a bad value would be")

    def draw(self):
        self.draws.append(self.n)

    def report(self, changed):
        return Counted(step=self.n)


def run_loop(job, setup, *script) -> tuple[Loop, Pipe]:
    pipe = Pipe(*script, Quit())
    loop = Loop(pipe, job, setup)
    loop.run()
    return loop, pipe


# --- the loop ----------------------------------------------------------------------------------


def test_steps_per_second_is_a_steady_sliding_mean():
    window, rates, clock = RateWindow(), [], 0.0
    for i in range(3000):  # 20 ms chunks of 20 steps, and a 0.4 s evaluation every 65 chunks
        window.add(20, 0.02)
        clock += 0.02
        if i % 65 == 64:
            window.add(0, 0.4)
            clock += 0.4
        if clock > RATE_WINDOW + 1:
            rates.append(window.rate)
    mean = 20 * 3000 / clock
    assert max(rates) / min(rates) < 1.06 and abs(rates[-1] / mean - 1) < 0.04
    window.clear()
    assert window.rate is None


def test_a_frozen_stretch_counts_only_its_cpu_time():
    assert working_seconds(0.03, 0.0) == 0.03  # a short chunk: wall time, whatever the CPU
    assert working_seconds(2.0, 0.6) == 2.0  # a loaded machine still gives a share: wall time
    assert working_seconds(10.0, 0.02) == 0.02  # a stopped process gets none: only the work counts


def test_a_freeze_the_heartbeat_saw_is_off_the_clock_whatever_else_the_turn_did():
    """A turn of 4.5 s that used 0.5 s of CPU (an evaluation, say) and was stopped for 4 s of
    it: its CPU share alone said a busy machine, and the clock jumped by the stop."""
    freezes = Freezes()
    loop = Loop(Pipe(), Counter, {}, freezes=freezes)
    t = time.perf_counter()
    loop.clock = (t - 4.5, time.thread_time() - 0.5)
    freezes.spans.append((t - 4.2, t - 0.2))  # as the heartbeat saw it, waking 4 s late
    loop._stop_clock()
    assert loop.elapsed == pytest.approx(0.5, abs=0.05)
    assert freezes.within(t - 5, t - 4.2) == 0 and freezes.within(t - 1, t) == pytest.approx(0.8)


def test_step_and_a_burst_of_requests_done_once_for_the_latest_state():
    loop, pipe = run_loop(Counter, {}, Step(seq=1), *[Langevin(seq=2 + i) for i in range(6)], None,
                          Step(seq=8), Langevin(seq=9), None)
    assert loop.job.draws == [1, 2]  # one draw per burst, after the commands before it
    reports = [r for r in pipe.items if isinstance(r, Counted)]
    assert reports[-1].step == 2 and reports[-1].acked == 9 and not reports[-1].training


def test_training_reports_the_rate_and_the_clock_and_pause_stops_it():
    Counter.pause = 0.001
    try:
        loop, pipe = run_loop(Counter, {}, Train(seq=1), *[None] * 400, Pause(seq=2), None)
    finally:
        Counter.pause = 0.0
    reports = [r for r in pipe.items if isinstance(r, Counted)]
    assert reports[-1].acked == 2 and not reports[-1].training and reports[-1].step == loop.job.n > 400
    assert any(r.training for r in reports) and loop.elapsed > 0.4
    assert loop.chunk > 1  # chunks grow towards the job's chunk_seconds


def test_errors_are_notices_and_the_loop_goes_on():
    loop, pipe = run_loop(Counter, {"fail_at": 3}, Train(seq=1), None, None, Configure({"sigma": 1}, seq=2), None,
                          Step(seq=3), None)
    assert any("counter error: RuntimeError: simulated failure" in t and "training paused" in t
               for t in pipe.notices("error"))
    assert pipe.notices("refused") == ["refused, as a bad value would be"]
    last = [r for r in pipe.items if isinstance(r, Counted)][-1]
    assert not loop.training and last.acked == 3 and last.step == 2


def test_a_command_the_job_does_not_take_is_refused_on_both_sides():
    loop, pipe = run_loop(Counter, {}, Save("x.toml", seq=1), None)
    assert any("takes no Save command" in t for t in pipe.notices("error"))
    r = Runner(TrainerJob, TrainerSetup(SMALL), on_report=lambda: None, on_notice=lambda n: None,
               on_stopped=lambda why: None, mode="thread")
    with pytest.raises(TypeError, match="takes no Exact"):
        r.send(Exact(True))
    with pytest.raises(TypeError, match="takes no Save"):
        Runner(CompareJob, None, on_report=lambda: None, on_notice=lambda n: None, on_stopped=lambda why: None,
               mode="thread").send(Save("x.toml"))


def test_while_training_the_field_is_recomputed_on_a_clock_or_after_a_command():
    pipe = Pipe()
    loop = Loop(pipe, TrainerJob, TrainerSetup(SMALL))
    loop.handle(Grid((60, 20), seq=1))
    loop.training = True
    loop.send("")
    loop.send("")  # within FIELD_SECONDS of the last and nothing changed: the field is kept, not recomputed
    first, kept = pipe.items
    assert first.snapshot.field is not None and not first.field_kept
    assert kept.snapshot.field is None and kept.field_kept
    shown = first.received(None)
    assert kept.received(shown).snapshot.field is shown.snapshot.field  # the runner's side keeps the last one
    loop.handle(Grid((40, 12), seq=2))  # a command: the next report has a fresh field
    loop.send("")
    assert pipe.items[-1].snapshot.field is not None
    loop.training, loop.dirty = False, False  # paused: always a field
    loop.send("")
    assert pipe.items[-1].snapshot.field is not None


def test_the_compare_job_says_what_it_builds_before_it_can_report():
    pipe = Pipe()
    loop = Loop(pipe, CompareJob, CompareSetup(Config(distribution="ring8", n_train=96, hidden=16, seed=0),
                                               ("dsm", "dae")))
    first = pipe.items[0]
    assert type(first) is Progress and first.busy == "building the evaluation set"
    loop.handle(Grid((30, 12), seq=1))
    loop.maybe_evaluate()
    loop.send("")
    report = pipe.items[-1]
    assert isinstance(report, CompareReport) and report.acked == 1 and report.snapshot.fields is not None
    assert any(isinstance(r, Progress) and r.busy == "evaluating every run" for r in pipe.items)


# --- the runner --------------------------------------------------------------------------------


def wait(condition, what: str, timeout: float = 30.0) -> None:
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Heard:
    """A runner's callbacks, recorded."""

    def __init__(self):
        self.reports, self.notices, self.stopped = 0, [], []

    def runner(self, job, setup, mode="thread") -> Runner:
        return Runner(job, setup, mode=mode, on_report=self.report, on_notice=self.notices.append,
                      on_stopped=self.stopped.append)

    def report(self):
        self.reports += 1


def test_a_long_step_still_beats_and_a_job_still_starting_is_not_stalled(monkeypatch):
    real, started = runner_module.serve, threading.Event()

    def slow_start(*args):  # a job process takes a while to import and load before it speaks
        started.wait(30)
        real(*args)

    monkeypatch.setattr(runner_module, "serve", slow_start)
    release, heard = threading.Event(), Heard()
    r = heard.runner(Counter, {"release": release})
    r.start()
    try:
        assert r.silent_for() == 0.0 and r.heard is None  # not heard from yet: starting, not stalled
        started.set()
        wait(lambda: heard.reports, "the first report")
        r.send(Step())  # blocks in its step until released
        beats = set()
        wait(lambda: beats.add(r.heard) or len(beats) > 3, "beats during the step")
        assert r.silent_for() < STALL_AFTER
        release.set()
        wait(lambda: (rep := r.take_latest()) is not None and rep.step == 1, "the step's report")
    finally:
        release.set()
        r.close()
    assert not r.running


def test_restarts_carry_the_command_numbers_on():
    heard = Heard()
    r = heard.runner(Counter, {})
    r.start()
    try:
        for _ in range(3):
            r.send(Step())
        wait(lambda: (rep := r.take_latest()) is not None and rep.acked == 3, "three steps")
        r.restart()  # (its Quit to the old job is numbered too)
        assert r.sent == 4
        wait(lambda: (rep := r.take_latest()) is not None and rep.acked == 4 and rep.step == 0, "the new job")
        r.send(Step())
        wait(lambda: (rep := r.take_latest()) is not None and rep.acked == 5 and rep.step == 1, "a step")
    finally:
        r.close()
    assert heard.stopped == []  # asked to stop: not "ended unexpectedly"


class Unstartable(Counter):
    def __init__(self, setup, ctx):
        raise UserError("data.csv: no such file")


def test_an_unstartable_setup_is_said_once_and_not_restarted_by_itself():
    heard = Heard()
    r = heard.runner(Unstartable, {})
    r.start()
    try:
        wait(lambda: heard.stopped, "the stop")
        assert [n.level for n in heard.notices] == ["unstartable"]
        assert r.unstartable == "the counter cannot start: data.csv: no such file"
        assert not r.recover()
    finally:
        r.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # (its death, on purpose)
def test_a_job_that_dies_is_recovered_once_then_left_stopped(mortal_job):
    heard, job = Heard(), mortal_job(Counter)
    r = heard.runner(job, {})
    r.start()
    try:
        wait(lambda: heard.reports, "the first report")
        r.send(job.Die())
        wait(lambda: heard.stopped, "the death")
        assert heard.stopped == ["the counter ended unexpectedly"]
        assert r.recover()
        wait(lambda: r.take_latest() is not None, "the restarted job's report")
        r.send(job.Die())
        wait(lambda: len(heard.stopped) == 2, "the second death")
        assert not r.recover()  # again at once: it would only die again
    finally:
        r.close()


def test_the_process_job_beats_and_ends_with_close():
    heard = Heard()
    r = heard.runner(TrainerJob, TrainerSetup(SMALL), mode="process")
    r.start()
    try:
        wait(lambda: heard.reports, "the trainer process's first report", timeout=60)
        assert r.pid is not None and r.running
        r.send(Step())
        wait(lambda: (rep := r.take_latest()) is not None and rep.snapshot.step == 1, "a step", timeout=60)
    finally:
        r.close()
    assert not r.running and heard.stopped == []
