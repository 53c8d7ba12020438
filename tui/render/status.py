"""The main screen's status line: step, smoothed steps/s, training time and the state with
what to do next, fitted to the terminal's width by dropping the least needed parts whole
(never cut mid-word; ``fit`` does the same for the compare screen's line)."""

from __future__ import annotations

from rich.text import Text

from smtui.core.text import visible
from smtui.tui.runner.protocol import Report

STALL_AFTER = 2.0  # seconds without word from a working trainer before it is shown as stalled


def clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def status_parts(report: Report | None, stopped: str = "", problem: str = "", silent: float = 0.0,
                 window: float = 0.0) -> list[tuple[str, str, int]]:
    """(text, style, rank) pieces in reading order; rank 0 is always kept, higher ranks are
    dropped first when the line is too narrow. ``silent``: seconds since the trainer last
    said anything while it should be working; ``window``: seconds the steps/s is averaged over."""
    parts: list[tuple[str, str, int]] = []
    if problem:
        parts.append((f"⚠ {visible(problem)} · ", "bold red", 0))
    if stopped:
        parts.append((f"✗ {visible(stopped)}", "bold red", 0))
        parts.append((" — ctrl+p, Restart the trainer (or q to quit)", "", 1))
        return parts
    if report is None:
        parts.append(("step 0 · starting the trainer…", "", 0))
        return parts
    snap = report.snapshot
    parts.append((f"step {snap.step:,}", "bold", 0))
    if report.training and report.steps_per_second:  # paused, a rate would be a stale one: none is shown
        parts.append((f" · {report.steps_per_second:,.0f} steps/s", "", 1))
        if window:
            parts.append((f" ({window:.0f} s mean)", "dim", 4))
    elif report.training:
        parts.append((" · — steps/s", "", 3))
    parts.append((f" · {clock(report.elapsed)}", "", 2))
    parts.append((" training time", "dim", 5))
    parts.append((" · ", "", 0))
    stalled = silent >= STALL_AFTER
    if stalled:
        parts.append((f"⚠ stalled: no word from the trainer for {silent:.0f} s", "bold red", 0))
        parts.append((" (process stopped or starved of CPU; q quits)", "", 3))
    elif snap.status == "diverged":
        parts.append((f"✗ diverged at step {snap.step + 1:,}", "bold red", 0))
        parts.append((" — try [ (lower the learning rate), + (raise σ) or r (re-init), then space", "", 1))
    elif report.training:
        parts.append(("▶ training", "bold green", 0))
        parts.append((" — space pauses", "", 3))
    else:
        parts.append(("❚❚ paused", "bold yellow", 0))
        parts.append((" — space trains", "", 1))
        parts.append((", n steps once", "", 3))
        if snap.step == 0:
            parts.append((", ? help", "", 4))
    if report.busy and not stalled:
        parts.append((f" · {report.busy}…", "italic", 2))
    return parts


def fit(parts: list[tuple[str, str, int]], width: int) -> Text:
    """The parts that fit in ``width`` cells, dropping the highest ranks first (the latest
    among equals); what must stay but does not fit ends in an ellipsis."""
    parts = list(parts)
    while sum(len(p[0]) for p in parts) > width:
        optional = [p for p in parts if p[2] > 0]
        if not optional:
            break
        parts.remove(max(reversed(optional), key=lambda p: p[2]))
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    for text, style, _ in parts:
        t.append(text, style=style)
    if len(t.plain) > width:
        t.truncate(max(width - 1, 0))
        t.append("…")
    return t


def status_text(report: Report | None, width: int = 200, stopped: str = "", problem: str = "",
                silent: float = 0.0, window: float = 0.0, watching: tuple[int, str] | None = None) -> Text:
    """The status line for a terminal ``width`` cells wide (the line's padding excluded);
    ``watching``: when presenting, how many viewers watch and how they join."""
    parts = status_parts(report, stopped, problem, silent, window)
    if watching is not None:
        n, hint = watching
        parts.append((f" · {n} watching", "bold cyan", 1))
        if hint:
            parts.append((f" ({hint})", "dim", 3))
    return fit(parts, width)
