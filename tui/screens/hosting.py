"""A screen that hosts one background job beside the main screen's (the comparison, the
ladder), wired to the one runner (``smtui.tui.runner.runner``) once, here:

- the runner made with the screen, started as it mounts and closed (off the UI thread) as
  it goes;
- the size of the panel the job computes its fields for, sent when the layout settles, and
  the compact layout chosen below COMPACT_BELOW;
- the job's notices shown, and a job that ends without being asked started once again from
  the setup as it stands (the runner's ``recover``), else said to have stopped;
- a job silent for STALL_AFTER seconds shown as stalled.

The screen declares the reactive ``training``, ``stopped``, ``silent``, ``report`` and
``compact``, and says what differs: JOB (its name in notices), GRID_PANEL, RESTARTED,
REOPEN, KEYS and ABOUT (its help), ``_restart_setup`` and ``_restarted``. Its keys close,
help and q are here too, and ``_send``, which says how to start a stopped job again."""

from __future__ import annotations

import threading

from textual.css.query import NoMatches

from smtui.tui.render.status import STALL_AFTER
from smtui.tui.runner.protocol import Command, Grid
from smtui.tui.runner.runner import Runner
from smtui.tui.screens.main import COMPACT_BELOW
from smtui.tui.screens.messages import NoticeArrived, ReportArrived, TrainerStopped
from smtui.tui.screens.panel import PlotPanel

MIN_GRID = (8, 4)  # the smallest field grid asked of a job (columns, rows)


class JobHost:
    """A mixin for a Screen that hosts one job (see the module's note)."""

    JOB = "job"  # what notices and the status call it ("compare trainer", "ladder")
    GRID_PANEL = ""  # the id of the panel whose size the job's fields are computed for
    RESTARTED = "started it again with the same setup"  # said after a death's restart
    REOPEN = ""  # how to start a stopped job again
    KEYS = ABOUT = None  # the screen's key table (smtui.tui.screens.keys) and its help's text

    def _new_runner(self, job, setup, mode: str) -> Runner:
        """The screen's runner (made in its __init__), with what it tracks of its job."""
        self._grid_sent: tuple[int, int] | None = None  # the field size the job was last told
        return Runner(job, setup, mode=mode, on_report=lambda: self.post_message(ReportArrived()),
                      on_notice=lambda n: self.post_message(NoticeArrived(n)),
                      on_stopped=lambda why: self.post_message(TrainerStopped(why)))

    def _restart_setup(self):
        """The setup as it stands now: a job that died starts again from it."""
        raise NotImplementedError

    def _restarted(self) -> None:
        """After a job that died was started again (the ladder asks it to run on)."""

    def _start_job(self) -> None:
        """As the screen mounts: the job, and its stall watch."""
        self.set_interval(0.5, self._watch_runner)
        try:
            self.runner.start()
        except (OSError, ValueError) as exc:
            self.stopped = f"the {self.JOB} could not start ({exc})"
        self.call_after_refresh(self._sized)

    def on_unmount(self) -> None:
        name = f"smtui-{self.JOB.replace(' ', '-')}-close"
        threading.Thread(target=self.runner.close, name=name, daemon=True).start()

    # --- layout ---------------------------------------------------------------------------------

    def on_resize(self, _) -> None:
        self._show_lines()
        self.call_after_refresh(self._sized)

    def on_plot_panel_resized(self, _: PlotPanel.Resized) -> None:
        self.call_after_refresh(self._sized)

    def _sized(self) -> None:
        if not self.is_attached:
            return
        w, h = self.app.size
        compact = w < COMPACT_BELOW[0] or h < COMPACT_BELOW[1]
        if compact != self.compact:  # lay out first, then measure the panels
            self.compact = compact
            self.call_after_refresh(self._sized)
            return
        self._send_grid()
        self.set_timer(0.25, self._send_grid)  # once more, should the layout settle late
        self.draw()

    def _send_grid(self) -> None:
        """Tell the job the field panel's size, if it changed since last told."""
        if not self.is_attached:
            return
        try:  # a timer may fire as the screen closes, its widgets already gone
            f = self.query_one(f"#{self.GRID_PANEL}").content_size
        except NoMatches:
            return
        size = (max(f.width, MIN_GRID[0]), max(f.height, MIN_GRID[1]))
        if size != self._grid_sent and f.width > 0:
            self._grid_sent = size
            self.runner.send(Grid(size))

    # --- keys every such screen has --------------------------------------------------------------

    def _send(self, command: Command) -> None:
        """A command to the job, unless it has stopped (then how to start it again)."""
        if self.stopped:
            self.notify(f"the {self.JOB} has stopped: {self.REOPEN}", severity="error")
            return
        self.runner.send(command)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        from smtui.tui.screens.modals import HelpScreen

        if not isinstance(self.app.screen, HelpScreen):
            self.app.push_screen(HelpScreen(self.KEYS, self.ABOUT))

    def action_quit_asking(self) -> None:
        self.app.main.action_quit_asking()  # the main run's unsaved steps are what q asks about

    # --- the job's words --------------------------------------------------------------------------

    def on_notice_arrived(self, message: NoticeArrived) -> None:
        n = message.notice
        self.notify(n.text, title=self.JOB.split()[0], timeout=10,
                    severity="error" if n.level in ("error", "refused", "unstartable") else "information")
        if n.level == "error":
            self.training = False

    def on_trainer_stopped(self, message: TrainerStopped) -> None:
        """Start a job that died again (the runner does, once in RESTART_QUIET seconds) from
        the setup as it stands; else say it stopped."""
        self.training = False
        if self.is_attached and self.runner.recover(self._restart_setup()):
            self.stopped, self.report, self._grid_sent = "", None, None
            self.notify(f"{message.reason}; {self.RESTARTED}", title=self.JOB.split()[0], severity="error",
                        timeout=15)
            self.call_after_refresh(self._sized)  # the new job needs the panel's size
            self._restarted()
        else:
            self.stopped = self.runner.unstartable or f"{message.reason} again"

    def _watch_runner(self) -> None:
        """Twice a second: a job silent for STALL_AFTER seconds is shown as stalled."""
        silent = self.runner.silent_for() if not self.stopped else 0.0
        self.silent = silent if silent >= STALL_AFTER else 0.0
