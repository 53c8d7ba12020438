"""The worker processes of a sweep on this machine: a process pool whose workers never
outlive the process that started them, and are ended at once when it stops.

- A worker ignores the terminal's ctrl+c (it reaches the whole process group) from its
  first instruction: the sweep's process decides, and ends the workers itself
  (``end_pool``).
- A worker dies with its parent, whatever ends the parent (SIGKILL included), two ways:
  the kernel's parent-death signal (Linux prctl(PR_SET_PDEATHSIG); the parent is the
  forkserver, which exits when the sweep's process does) and a thread that waits on the
  sweep's process itself (a pidfd, else a poll of its pid) and ends the worker.
- Workers start from a forkserver (or spawn), never fork: the caller may have threads
  (the app's UI).

Nothing here imports numpy: the initializer runs before a worker loads the engine.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # from linux/prctl.h
PARENT_POLL = 0.25  # seconds between checks of the parent where no pidfd is available


def start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` worker processes that die with this process."""
    _helpers_started()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(start_method()),
                               initializer=worker_start, initargs=(os.getpid(),))


def _helpers_started() -> None:
    """Start multiprocessing's helper processes (once per process) as a sweep needs them:
    - the forkserver with ctrl+c ignored: a process started so keeps ignoring it, and so
      does every worker forked from it, from its first instruction (else a ctrl+c while a
      worker starts, before its initializer, is a KeyboardInterrupt that kills it). Held
      back (``ctrl_c_held``) would not do: the forkserver unblocks it. Only the main thread
      can do this; elsewhere (the app) no terminal sends ctrl+c as a signal.
    - the resource tracker with the real stderr: under the app, sys.stderr is Textual's
      capture, whose fileno() is -1, and the tracker would not start."""
    from multiprocessing import forkserver, resource_tracker

    with _real_stderr():
        if start_method() != "forkserver":
            resource_tracker.ensure_running()
            return
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            forkserver.ensure_running()
            return
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def ctrl_c_held():
    """While inside, this thread holds SIGINT back (blocked: a ctrl+c meanwhile is handled
    as it ends). A process started meanwhile inherits the block across exec, and so do the
    threads and processes it starts: the terminal's ctrl+c never reaches it; the sweep's
    process decides, and ends it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def resource_tracker_started() -> None:
    """multiprocessing's resource tracker, started now with the real stderr (under Textual
    sys.stderr's fileno() is -1 and it would not start); starting it later inside
    ``ctrl_c_held`` would unblock ctrl+c in that thread (its own doing)."""
    from multiprocessing import resource_tracker

    with _real_stderr():
        resource_tracker.ensure_running()


@contextlib.contextmanager
def _real_stderr():
    try:
        usable = sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable or sys.__stderr__ is None:
        yield
        return
    captured, sys.stderr = sys.stderr, sys.__stderr__
    try:
        yield
    finally:
        sys.stderr = captured


def end_pool(pool: ProcessPoolExecutor) -> None:
    """End the runs under way at once (SIGKILL: a worker deep in a numpy call is ended too)
    and cancel those not started, rather than wait for the longest of them. A ctrl+c
    meanwhile waits until every worker is ended (an interrupted ending would leave the pool
    waiting at exit for a run of hours)."""
    with _ctrl_c_deferred():
        workers = list((getattr(pool, "_processes", None) or {}).values())
        for process in workers:
            try:
                process.kill()
            except (OSError, ValueError, AttributeError):  # already gone, or closed
                pass
        manager = getattr(pool, "_executor_manager_thread", None)  # (shutdown forgets it)
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + 1.0
        for process in workers:  # reaped, so none is left a zombie
            try:
                process.join(max(0.0, deadline - time.monotonic()))
            except (OSError, ValueError, AssertionError):
                pass
        # The pool's manager thread closes its wake-up pipe as it ends; the interpreter's exit
        # handler writes to that pipe unlocked (Python 3.11), so an exit while the thread is
        # still ending can print an EBADF traceback: it is awaited here.
        if manager is not None and manager is not threading.current_thread():
            manager.join(max(0.5, deadline + 2.0 - time.monotonic()))


@contextlib.contextmanager
def _ctrl_c_deferred():
    """While inside, a ctrl+c is noted, then raised as KeyboardInterrupt at the end."""
    asked = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: asked.append(signum))
    except ValueError:  # not the main thread: no ctrl+c arrives here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if asked and callable(previous):
        previous(signal.SIGINT, None)  # what a ctrl+c would have done then (the sweep's stop, or an interrupt)


def worker_start(parent_pid: int) -> None:
    """Each worker's initializer: ignore ctrl+c, and die with ``parent_pid``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` ends (see the module's docstring)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    try:
        fd = os.pidfd_open(parent_pid)
    except ProcessLookupError:  # gone already
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3+: poll the pid
        fd = None
    threading.Thread(target=_watch, args=(parent_pid, fd), name="smtui-parent-watch", daemon=True).start()


def _watch(parent_pid: int, fd: int | None) -> None:
    if fd is not None:
        select.select([fd], [], [])  # readable once the process has ended
        os._exit(1)
    while _alive(parent_pid):
        time.sleep(PARENT_POLL)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
