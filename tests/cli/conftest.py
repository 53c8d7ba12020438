"""The command line's tests: a command run on a pseudo-terminal and interrupted as a terminal
interrupts it, and the line it leaves."""

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest


def _interrupt_on_a_terminal(cwd, argv, marker: bytes, settle: float, until=None) -> tuple[int, str]:
    """Run ``smtui ARGV`` with stderr on a pseudo-terminal; once ``marker`` (its progress line)
    shows, ``until(pid)`` (if given) holds and ``settle`` seconds more have passed, ctrl+c as a
    terminal sends it (to the whole process group, workers too). The return code and
    everything written to the terminal."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "smtui", *argv], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=follower, start_new_session=True,
                            env={**os.environ, "NO_COLOR": "1"})
    os.close(follower)
    seen, signalled_at = b"", None
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    data = os.read(leader, 4096)
                except OSError:  # the terminal's other end closed: the process ended
                    break
                if not data:
                    break
                seen += data
            if signalled_at is None and marker in seen and (until is None or until(proc.pid)):
                signalled_at = time.monotonic() + settle
            if signalled_at is not None and time.monotonic() >= signalled_at and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                signalled_at = float("inf")
        proc.wait(timeout=60)  # without ending its workers, a sweep would run for hours
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(leader)
    return proc.returncode, seen.decode(errors="replace")


def _last_line(text: str) -> str:
    """The last line the terminal shows (the progress line's cursor moves taken out)."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "\n").strip().splitlines()[-1]


@pytest.fixture(scope="session")
def interrupt_on_a_terminal():
    """interrupt_on_a_terminal(cwd, argv, marker, settle, until=None): ``smtui ARGV`` run in
    ``cwd`` with stderr on a pseudo-terminal, ctrl+c sent ``settle`` seconds after ``marker``
    shows and ``until(pid)`` holds; its exit status and everything written to the terminal."""
    return _interrupt_on_a_terminal


@pytest.fixture(scope="session")
def last_line():
    """last_line(text): the last line a terminal shows of ``text``."""
    return _last_line
