"""What travels between a screen and its background job: typed commands one way, reports
and notices the other. Plain frozen dataclasses that pickle across processes; no Textual
here, because the job's process imports this module.

The loop (``smtui.tui.runner.loop``) understands ``Train``, ``Pause``, ``Step``, ``Quit``
itself and passes every command to its job too; each job class lists the others it takes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # (annotations only: a job's process imports just what it runs)
    from smtui.core.compare import CompareSnapshot
    from smtui.core.trainer import Snapshot

# --- commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One request to a job. ``seq`` is numbered by the runner, so that a report can say
    which commands it reflects (``Progress.acked``)."""

    seq: int = field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True)
class Train(Command):
    """Train (or run) continuously until paused."""


@dataclass(frozen=True)
class Pause(Command):
    """Stop training; the state stays as it is."""


@dataclass(frozen=True)
class Step(Command):
    """Pause, then advance exactly one step."""


@dataclass(frozen=True)
class Quit(Command):
    """End the loop (the runner sends it when it closes)."""


@dataclass(frozen=True)
class Grid(Command):
    """The size in cells of the panel a field is drawn in, and (d > 2) the plane it lies on."""

    size: tuple[int, int]
    plane: int | None = None  # None: keep the plane


@dataclass(frozen=True)
class Configure(Command):
    """Change settings of the setup (Config field names and values)."""

    changes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Reinit(Command):
    """Back to the initial parameters of the setup's seed."""


@dataclass(frozen=True)
class Langevin(Command):
    """Draw model samples (a burst of these draws once)."""


# Files are written and read by the job, between steps, so each holds one moment's state.
# ``inputs``: (what, path) pairs of the files the app reads, which a save or export never
# writes over (core/outputs.py); plain pairs, they cross a pipe.
@dataclass(frozen=True)
class Save(Command):
    path: str
    overwrite: bool = False
    inputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Load(Command):
    path: str


@dataclass(frozen=True)
class ExportCsv(Command):
    path: str
    overwrite: bool = False
    inputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Exact(Command):
    """The comparison's mode: the expectation itself each step (on) or one shared minibatch (off)."""

    on: bool


LOOP_COMMANDS = (Train, Pause, Step, Quit)  # every job takes these; the loop acts on them itself

# --- reports -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What the loop knows of any job: filled in by the loop on every report. Sent alone
    (with ``busy``) while a job is still being built."""

    training: bool = False
    busy: str = ""  # what the job is doing that the user waits for ("" when idle)
    steps_per_second: float | None = None  # wall-clock rate over the last RATE_WINDOW s, evaluations included
    elapsed: float = 0.0  # wall seconds spent training so far
    acked: int = 0  # seq of the last command handled before this report

    def packed(self) -> Progress:
        """A copy that pickles (to another process)."""
        return self

    def received(self, last: Progress | None) -> Progress:
        """This report as the screen should see it; ``last`` is the one received before."""
        return self


@dataclass(frozen=True, kw_only=True)
class Report(Progress):
    """The trainer job's report: a snapshot plus what only the trainer side knows."""

    snapshot: Snapshot
    samples_step: int | None = None  # step at which the Langevin samples were drawn
    saved_step: int = 0  # the step last saved or loaded (0 for a fresh run): later steps are not in a file
    field_kept: bool = False  # no field computed for this report: the last one sent still holds

    def packed(self) -> Report:
        return pack(self)

    def received(self, last: Progress | None) -> Report:
        report = unpack(self)
        if report.field_kept and isinstance(last, Report) and last.snapshot.field is not None:
            report = dataclasses.replace(report, snapshot=dataclasses.replace(report.snapshot,
                                                                              field=last.snapshot.field))
        return report


@dataclass(frozen=True, kw_only=True)
class CompareReport(Progress):
    """The comparison job's report."""

    snapshot: CompareSnapshot


@dataclass(frozen=True)
class Notice:
    """A one-line outcome: 'refused' (the user's input), 'note', 'done' (a file written or
    read: ``path`` says which), 'error' (an exception in the job: a bug to report, shown
    rather than swallowed), or 'unstartable' (the setup cannot start: a restart would not help)."""

    level: str
    text: str
    path: str = ""


BEAT = "beat"  # the job's "alive" between reports (a plain string: cheap to pickle)


def grid_shape(width: int, height: int, dim: int) -> tuple[int, ...]:
    """The field grid for a field panel of this many cells: about one point per plot cell
    (arrows use every third column and every other row); (nx,) for 1-D data."""
    cols, rows = max(width - 5, 8), max(height - 3, 4)
    return (cols,) if dim == 1 else (cols, rows)  # d > 2: a grid on a plane through the data


def pack(report: Report) -> Report:
    """A picklable copy: MappingProxyType does not pickle, so figures travel as a dict."""
    snap = report.snapshot
    if snap.figures is not None:
        snap = dataclasses.replace(snap, figures=dict(snap.figures))
    return dataclasses.replace(report, snapshot=snap)


def unpack(report: Report) -> Report:
    """Undo ``pack`` and make every array read-only again (unpickling makes them writable)."""
    snap = report.snapshot
    changes = {name: _frozen(getattr(snap, name))
               for name in ("losses", "identity_history", "scale_history", "points", "samples")}
    if snap.figures is not None:
        changes["figures"] = MappingProxyType(dict(snap.figures))
    if snap.field is not None:
        f = snap.field
        changes["field"] = dataclasses.replace(
            f, axes=tuple(_frozen(a) for a in f.axes),
            **{name: _frozen(getattr(f, name)) for name in ("model", "data", "log_density", "origin", "basis")})
    return dataclasses.replace(report, snapshot=dataclasses.replace(snap, **changes))


def _frozen(a):
    if a is None:
        return None
    a = np.asarray(a)
    a.flags.writeable = False
    return a
