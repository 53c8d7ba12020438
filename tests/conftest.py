"""Fixtures every folder of tests shares: seeded generators, generic parameters, the panels'
report built by a real trainer, experiment files to tamper with, a test's processes read from
/proc, and Pilot's short wait for an idle process (autouse). Each folder's own conftest.py holds
what only its tests use (app/: the fake trainer jobs and the waits on the app's screens;
serve/: keys, the demo servers and their clients; cli/: a command on a terminal). Test modules
import nothing from each other: a helper two modules share is a fixture."""

import hashlib
import os
import re
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from textual import _wait

from smtui.core.config import Config
from smtui.core.experiment import state_files
from smtui.core.trainer import Trainer
from smtui.tui.runner.protocol import Report, grid_shape, pack, unpack

# Every property test draws the same examples on every run (no database, no fresh seed): a
# failure seen once is seen again.
settings.register_profile("smtui", derandomize=True, database=None, deadline=None)
settings.load_profile("smtui")

ROOT = Path(__file__).resolve().parents[1]


def pytest_xdist_auto_num_workers(config):
    """-n auto (pyproject's addopts): one worker more than the cores this process may use. The
    suite waits on processes, timers and a terminal as much as it computes; a third worker on
    two cores fills those waits (measured on this 2-core machine, back to back: -n 2 141 s,
    -n 3 122 s, -n 4 139 s with one test failing)."""
    return len(os.sched_getaffinity(0)) + 1

IDLE_WAIT = 0.02  # seconds Pilot waits at most for the process to go idle (Textual's own: 1 s)


async def _idle_wait(min_sleep: float = _wait.SLEEP_GRANULARITY, max_sleep: float = 1) -> None:
    await _wait.wait_for_idle(min_sleep, min(max_sleep, IDLE_WAIT))


@pytest.fixture(autouse=True)
def brief_idle_waits(monkeypatch):
    """Pilot waits after every key press (twice) and pause() until the process's CPU time stops
    moving, up to 1 s; with a trainer thread in the process it never stops, so each key cost up
    to 2 s of a test's time, a guess at how long the app needs. Capped here at IDLE_WAIT: a test
    that needs the app to have done something waits on that condition (wait_for, settled)."""
    monkeypatch.setattr("textual.app.wait_for_idle", _idle_wait)
    monkeypatch.setattr("textual.pilot.wait_for_idle", _idle_wait)


async def _pilot_until(pilot, predicate, seconds: float = 120.0) -> bool:
    for _ in range(int(seconds / 0.05)):  # bounded
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


@pytest.fixture(scope="session")
def pilot_until():
    """await pilot_until(pilot, predicate, seconds=120): pause the app's Pilot until
    ``predicate()`` holds (bounded); its last value."""
    return _pilot_until


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root (the benchmarks, the README)."""
    return ROOT


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def _random_params(rng, d, h, scale=1.0):
    """A generic theta (not the init): weights of order one, random biases and c."""
    return {
        "W": scale * rng.normal(0.0, 1.0, (h, d)),
        "b": rng.normal(0.0, 1.0, h),
        "c": rng.normal(0.0, 0.5, d),
    }


@pytest.fixture(scope="session")
def random_params():
    """random_params(rng, d, h, scale=1.0): a generic theta (not the init), drawn from ``rng``."""
    return _random_params


# --- the panels' report ----------------------------------------------------------------------


def _report_for(config: Config, steps=20, samples=True, size=(70, 22)) -> Report:
    t = Trainer(config)
    t.evaluate()
    t.train(steps, evaluate=False)
    t.evaluate()
    snap = t.snapshot(field_shape=grid_shape(*size, t.dim), figures=False,
                      samples=t.langevin_samples(50, 20) if samples else None)
    return unpack(pack(Report(snapshot=snap, samples_step=t.step if samples else None)))


@pytest.fixture(scope="session")
def report_for():
    """report_for(config, steps=20, samples=True, size=(70, 22)): the report a real trainer sends
    after ``steps`` steps, with its field for a panel of ``size`` and Langevin samples, through
    the pipe's packing."""
    return _report_for


# --- experiment files: find the state and history a TOML names, and tamper with them ---------


def _named_files(toml):
    """(npz, csv) the TOML's save names."""
    doc = tomllib.loads(toml.read_text())
    return state_files(toml, doc["run"]["save_id"], doc["version"])


def _retie(toml):
    """Rewrite the TOML's checksums to match its files as they are now."""
    npz, csv = _named_files(toml)
    text = toml.read_text()
    for key, p in (("state_sha256", npz), ("history_sha256", csv)):
        text = re.sub(rf'{key} = "[0-9a-f]*"', f'{key} = "{hashlib.sha256(p.read_bytes()).hexdigest()}"', text)
    toml.write_text(text)


def _rewrite_npz(toml, tie=True, **changes):
    """Change, add or (value None) remove arrays of the saved state."""
    npz = _named_files(toml)[0]
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    with open(npz, "wb") as fh:
        np.savez(fh, **arrays)  # pickles an object array, if a test gives one
    if tie:
        _retie(toml)


def _rewrite_history(toml, text: str | bytes, tie=True):
    _named_files(toml)[1].write_bytes(text if isinstance(text, bytes) else text.encode())
    if tie:
        _retie(toml)


@pytest.fixture(scope="session")
def named_files():
    """named_files(toml): (npz, csv), the state and history files the experiment names."""
    return _named_files


@pytest.fixture(scope="session")
def retie():
    """retie(toml): rewrite the TOML's checksums to match its files as they are now (so a test
    reaches the checks behind the tie)."""
    return _retie


@pytest.fixture(scope="session")
def rewrite_npz():
    """rewrite_npz(toml, tie=True, **changes): change, add or (value None) remove arrays of the
    saved state, then retie unless ``tie`` is False."""
    return _rewrite_npz


@pytest.fixture(scope="session")
def rewrite_history():
    """rewrite_history(toml, text, tie=True): replace the saved history (text or bytes), then retie unless
    ``tie`` is False."""
    return _rewrite_history


# --- processes a test started, read from /proc (Linux) ---------------------------------------


class Processes:
    """Which processes a test started: descendants of a process, a sweep's worker processes
    among them, a process group's members, and whether a process has ended (a zombie counts as
    ended; a pid taken again by a new process too, told by its start time)."""

    PROC = Path("/proc")

    @classmethod
    def available(cls) -> bool:
        return (cls.PROC / "self" / "stat").exists()

    @classmethod
    def _stat(cls, pid: int) -> tuple[str, int, int, int] | None:
        """(state, ppid, process group, start time) of ``pid``, or None if it is gone."""
        try:
            text = (cls.PROC / str(pid) / "stat").read_text()
        except OSError:
            return None
        fields = text[text.rindex(")") + 2:].split()
        return fields[0], int(fields[1]), int(fields[2]), int(fields[19])

    @classmethod
    def _all(cls) -> dict[int, tuple[str, int, int, int]]:
        out = {}
        for entry in cls.PROC.iterdir():
            if entry.name.isdigit() and (st := cls._stat(int(entry.name))) is not None:
                out[int(entry.name)] = st
        return out

    @classmethod
    def state(cls, pid: int) -> str:
        """The process's state letter ("Z" a zombie), or "gone"."""
        st = cls._stat(pid)
        return "gone" if st is None else st[0]

    @classmethod
    def cpu_seconds(cls, pid: int) -> float:
        """The CPU time (user and system) ``pid`` has used so far; 0 if it is gone."""
        try:
            text = (cls.PROC / str(pid) / "stat").read_text()
        except OSError:
            return 0.0
        fields = text[text.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @classmethod
    def cmdline(cls, pid: int) -> str:
        try:
            return (cls.PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""

    @classmethod
    def group(cls, pgid: int) -> list[int]:
        """Live (non-zombie) processes in process group ``pgid``."""
        return [pid for pid, st in cls._all().items() if st[2] == pgid and st[0] != "Z"]

    @classmethod
    def children(cls, pid: int) -> list[int]:
        """Live (non-zombie) children of ``pid``."""
        return [child for child, st in cls._all().items() if st[1] == pid and st[0] != "Z"]

    @classmethod
    def descendants(cls, root: int) -> dict[int, int]:
        """Every living descendant of ``root``: pid -> its start time (to tell a reused pid)."""
        parents: dict[int, list[int]] = {}
        started: dict[int, int] = {}
        for pid, st in cls._all().items():
            if st[0] != "Z":
                parents.setdefault(st[1], []).append(pid)
                started[pid] = st[3]
        found, todo = {}, [root]
        while todo:
            for child in parents.get(todo.pop(), []):
                if child not in found:
                    found[child] = started[child]
                    todo.append(child)
        return found

    @classmethod
    def sweep_workers(cls, root: int) -> dict[int, int]:
        """The sweep worker processes among ``root``'s descendants: spawned ones, or children
        of a forkserver (not the forkserver itself, nor the resource tracker)."""
        out = {}
        for pid, start in cls.descendants(root).items():
            line = cls.cmdline(pid)
            st = cls._stat(pid)
            if "spawn_main" in line or ("forkserver" in line and st is not None and "forkserver" in cls.cmdline(st[1])):
                out[pid] = start
        return out

    @classmethod
    def alive(cls, processes: dict[int, int]) -> list[int]:
        """Those of ``processes`` (pid -> start time) still running."""
        out = []
        for pid, start in processes.items():
            st = cls._stat(pid)
            if st is not None and st[0] != "Z" and st[3] == start:
                out.append(pid)
        return out

    @staticmethod
    def wait_until(predicate, timeout: float, poll: float = 0.05) -> bool:
        """Poll ``predicate()`` until it is true or ``timeout`` seconds pass; its last value."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)

    @classmethod
    def kill_all(cls, processes: dict[int, int]) -> None:
        """SIGKILL whatever of ``processes`` is left (a test's cleanup)."""
        for pid in cls.alive(processes):
            try:
                os.kill(pid, 9)
            except OSError:
                pass


@pytest.fixture(scope="session")
def processes() -> type[Processes]:
    """Processes: a test's processes read from /proc (descendants, a sweep's workers, a process
    group, alive or ended), and bounded waits on them."""
    return Processes
