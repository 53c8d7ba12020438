"""The one headless progress loop of `smtui run`, `smtui compare` and `smtui sweep`.

- Progress: a line on stderr while the work runs when stderr is a terminal (gone when it
  ends), nothing at all otherwise, so piped output and logs stay clean.
- ctrl+c, one way for every command: the first asks the work to stop at its next boundary
  (a chunk of steps, a finished run), so what it has is whole and the command can say what
  it kept; a second interrupts at once (KeyboardInterrupt)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator


class Stop:
    """Asked by the first ctrl+c (or SIGTERM, where taken); ``event`` for work that waits on
    a threading.Event, ``signal`` the signal that asked."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None

    @property
    def asked(self) -> bool:
        return self.event.is_set()


@contextlib.contextmanager
def stop_on_ctrl_c(term: bool = False) -> Iterator[Stop]:
    """While inside: the first ctrl+c sets the Stop, the next raises KeyboardInterrupt.
    ``term``: SIGTERM sets the Stop too (a second one ends the process as SIGTERM does)."""
    stop = Stop()

    def first(signum, frame):
        stop.signal = stop.signal or signum
        stop.event.set()
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)

    taken = (signal.SIGINT, signal.SIGTERM) if term else (signal.SIGINT,)
    try:
        previous = {sig: signal.signal(sig, first) for sig in taken}
    except ValueError:  # not the main thread: signals are not ours to handle
        yield stop
        return
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


Show = Callable[..., None]  # show(completed, note="")


@contextlib.contextmanager
def progress_line(label: str, total: int, completed: int = 0, note: str = "") -> Iterator[Show]:
    """``show(completed, note="")`` moves a transient progress line on stderr (label, bar,
    done/total, time left, note) when stderr is a terminal; a no-op otherwise."""
    if not sys.stderr.isatty() or completed >= total:
        yield lambda completed, note="": None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total, completed=completed, note=note)

        def show(completed: int, note: str = "") -> None:
            bar.update(task, completed=completed, note=note)

        yield show


def train_in_chunks(label: str, target: int, stop: Stop, *, position: Callable[[], int],
                    train: Callable[[int], object], going: Callable[[], bool], chunk: int,
                    note: Callable[[], str] | None = None) -> None:
    """``train(k)`` in chunks of at most ``chunk`` steps until ``position()`` reaches ``target``,
    ``going()`` turns false (the work diverged) or ctrl+c asks ``stop``; the progress line
    follows ``position()`` and ``note()``."""
    with progress_line(label, target, position(), note() if note else "") as show:
        while position() < target and going() and not stop.asked:
            train(min(chunk, target - position()))
            show(position(), note() if note else "")
