"""The one headless progress loop (tui/cli/progress.py) of run, compare and sweep: it trains
in chunks up to its target, stops when the work diverges or at the first ctrl+c, draws a
line on a terminal and nothing elsewhere; and each command ends a ctrl+c in one line, exit
130, nothing written (run's --save aside: test_run_outputs.py)."""

import io
import os
import signal
import sys
import time

import pytest

from smtui.tui.cli.progress import Stop, progress_line, stop_on_ctrl_c, train_in_chunks

SMALL = ["--n-train", "48", "--hidden", "8", "--batch", "32"]


class Counter:
    """A stand-in for a trainer: ``train(k)`` adds k steps and records k."""

    def __init__(self, start=0, diverge_at=None):
        self.step, self.chunks, self.diverge_at = start, [], diverge_at

    def train(self, k):
        self.chunks.append(k)
        self.step += k

    def going(self):
        return self.diverge_at is None or self.step < self.diverge_at


def test_chunks_reach_the_target_exactly_and_are_never_larger_than_asked():
    c = Counter(start=3)
    train_in_chunks("x", 250, Stop(), position=lambda: c.step, train=c.train, going=c.going, chunk=100)
    assert c.step == 250 and c.chunks == [100, 100, 47]


def test_the_loop_stops_when_the_work_diverges_or_is_asked_to_stop():
    c = Counter(diverge_at=150)
    train_in_chunks("x", 1000, Stop(), position=lambda: c.step, train=c.train, going=c.going, chunk=100)
    assert c.step == 200  # the chunk that diverged ends it
    stop, c = Stop(), Counter()

    def train(k):
        c.train(k)
        if c.step >= 30:
            stop.event.set()

    train_in_chunks("x", 1000, stop, position=lambda: c.step, train=train, going=c.going, chunk=10)
    assert c.step == 30 and stop.asked
    c = Counter(start=5)
    train_in_chunks("x", 5, Stop(), position=lambda: c.step, train=c.train, going=c.going, chunk=10)
    assert c.chunks == []  # nothing to do


def test_silent_when_stderr_is_not_a_terminal(capsys):
    c = Counter()
    train_in_chunks("training", 50, Stop(), position=lambda: c.step, train=c.train, going=c.going, chunk=7,
                    note=lambda: "loss 1")
    out, err = capsys.readouterr()
    assert c.step == 50 and out == "" and err == ""


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_a_line_on_a_terminal_with_label_count_and_note(monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.delenv("NO_COLOR", raising=False)
    with progress_line("sweep", 8, 0, "8 runs x 10 steps") as show:
        show(3, "done sigma=0.1 seed=0")
    text = term.getvalue()
    assert "sweep" in text and "3/8" in text and "done sigma=0.1 seed=0" in text


def test_the_first_ctrl_c_asks_the_second_interrupts_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with stop_on_ctrl_c() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs between bytecodes of this thread
            assert stop.asked and stop.event.is_set()
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # interrupted long before this ends
    assert signal.getsignal(signal.SIGINT) is before


def test_compare_on_a_terminal_shows_progress_and_ends_a_ctrl_c_in_one_line(
        tmp_path, interrupt_on_a_terminal, last_line):
    code, text = interrupt_on_a_terminal(
        tmp_path, ["compare", *SMALL, "--steps", "1000000000", "--json", "r.json"], b"comparing", 0.5)
    assert code == 130 and "Traceback" not in text, text[-2000:]
    line = last_line(text)
    assert line.startswith("smtui: interrupted at step ") and line.endswith("; nothing written"), line
    assert list(tmp_path.iterdir()) == []


def test_sweep_ends_a_ctrl_c_at_once_with_its_workers_in_one_line(
        tmp_path, interrupt_on_a_terminal, last_line, processes):
    code, text = interrupt_on_a_terminal(
        tmp_path, ["sweep", *SMALL, "--sigma", "0.3,1,3", "--seeds", "2", "--steps", "10000000", "--jobs", "2",
                   "--csv", "r.csv"], b"sweep", 0.5,
        until=lambda pid: len(processes.sweep_workers(pid)) >= 2)  # both workers training
    assert code == 130 and "Traceback" not in text and "KeyboardInterrupt" not in text, text[-2000:]
    assert last_line(text) == "smtui: interrupted after 0 of 6 runs; nothing written"
    assert list(tmp_path.iterdir()) == []
