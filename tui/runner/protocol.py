"""What travels between the app and the trainer: commands one way, reports and notices
the other. Plain frozen dataclasses that pickle across processes; no Textual here,
because the trainer process imports this module."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from smtui.core.trainer import Snapshot

# save / export_csv take {"path", "overwrite", "inputs"} (inputs: (what, path) pairs of files the app
# reads, never written over); load takes {"path"}: files are written and
# read by the trainer, between steps, so what is saved is one moment's state.
COMMANDS = ("train", "pause", "step", "configure", "reinit", "langevin", "grid", "save", "load", "export_csv",
            "quit")


@dataclass(frozen=True)
class Command:
    """One request to the trainer: ``kind`` is one of COMMANDS, ``args`` its keywords."""

    kind: str
    args: dict = field(default_factory=dict)
    seq: int = 0  # numbered by the bridge, so reports can say which commands they reflect

    def __post_init__(self):
        if self.kind not in COMMANDS:
            raise ValueError(f"unknown trainer command {self.kind!r}")


@dataclass(frozen=True)
class Report:
    """A snapshot plus what only the trainer loop knows (wall-clock rate, busy state)."""

    snapshot: Snapshot
    training: bool
    busy: str  # what the trainer is doing that the user waits for ("" when idle)
    steps_per_second: float | None  # wall-clock training rate, evaluation time included
    elapsed: float  # wall seconds spent training so far
    samples_step: int | None  # step at which the Langevin samples were drawn
    acked: int = 0  # seq of the last command handled before this report
    saved_step: int = 0  # the step last saved or loaded (0 for a fresh run): later steps are not in a file
    field_kept: bool = False  # no field computed for this report: the last one sent still holds


@dataclass(frozen=True)
class Notice:
    """A one-line outcome of a command: 'refused' (the user's input), 'note', 'done' (a
    file written or read: ``path`` says which), or 'error' (an exception in the trainer: a
    bug to report, shown rather than swallowed)."""

    level: str
    text: str
    path: str = ""


BEAT = "beat"  # the trainer's "alive" between reports (a plain string: cheap to pickle)


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
    changes = {name: _frozen(getattr(snap, name)) for name in ("losses", "identity_history", "points", "samples")}
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
