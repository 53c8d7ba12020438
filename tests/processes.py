"""Which processes a test started, read from /proc (Linux): descendants of a process, a
sweep's worker processes among them, and whether a process has ended (a zombie counts as
ended; a pid taken again by a new process too, told by its start time)."""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC = Path("/proc")


def available() -> bool:
    return (PROC / "self" / "stat").exists()


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of ``pid``, or None if it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root: int) -> dict[int, int]:
    """Every living descendant of ``root``: pid -> its start time (to tell a reused pid)."""
    parents: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[0] != "Z":
                parents.setdefault(st[1], []).append(int(entry.name))
                started[int(entry.name)] = st[2]
    found, todo = {}, [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found[child] = started[child]
                todo.append(child)
    return found


def sweep_workers(root: int) -> dict[int, int]:
    """The sweep worker processes among ``root``'s descendants: spawned ones, or children of
    a forkserver (not the forkserver itself, nor the resource tracker)."""
    found = descendants(root)
    out = {}
    for pid, start in found.items():
        line = cmdline(pid)
        st = _stat(pid)
        if "spawn_main" in line or ("forkserver" in line and st is not None and "forkserver" in cmdline(st[1])):
            out[pid] = start
    return out


def alive(processes: dict[int, int]) -> list[int]:
    """Those of ``processes`` (pid -> start time) still running."""
    out = []
    for pid, start in processes.items():
        st = _stat(pid)
        if st is not None and st[0] != "Z" and st[2] == start:
            out.append(pid)
    return out


def wait_until(predicate, timeout: float, poll: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def kill_all(processes: dict[int, int]) -> None:
    """SIGKILL whatever of ``processes`` is left (a test's cleanup)."""
    for pid in alive(processes):
        try:
            os.kill(pid, 9)
        except OSError:
            pass
