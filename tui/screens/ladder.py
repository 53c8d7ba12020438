"""The ladder screen (L, or "Ladder…" in the palette): from one sigma to a ladder. One
noise-conditional model trained over a ladder of sigmas and sampled by walking down it, in a
job of its own (``smtui.tui.runner.ladder_job``) on the one runner; beside it, for analytic
data, the same walks on the exact smoothed score, and one small and one large sigma with the
same budget (``smtui.tui.render.ladder`` draws it all).

Its state lives in reactive attributes whose watchers redraw; the UI thread only places
rows built by the Drawing mixin's worker. At 80x24 the clouds and the bars are two pages (b)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Static

from smtui.core.config import Config
from smtui.core.distributions import NAMES
from smtui.core.errors import UserError
from smtui.core.ladder import MATCHED
from smtui.core.ladder_run import LadderSetup
from smtui.core.samplers import SAMPLERS
from smtui.tui.render import ladder as lr
from smtui.tui.runner.ladder_job import LadderJob, LadderReport, NextRung, Resample, ShowRung
from smtui.tui.runner.loop import Job
from smtui.tui.runner.protocol import Configure, Pause, Progress, Train
from smtui.tui.screens.drawing import Drawing
from smtui.tui.screens.hosting import JobHost
from smtui.tui.screens.keys import LADDER_KEYS, SIGMA_FACTOR, step_on_ladder
from smtui.tui.screens.messages import ReportArrived
from smtui.tui.screens.panel import PlotPanel

PANELS = ("lad-learned", "lad-exact", "lad-bars", "lad-field", "lad-strip")
TITLES = {"lad-learned": "learned score: the clouds as annealing walks down the ladder",
          "lad-exact": "exact smoothed score of q: the sampler alone", "lad-bars": "mode weights (┃ q's)",
          "lad-strip": "metrics"}


def ladder_setup(config: Config, **changes) -> LadderSetup:
    """The ladder for the main screen's setup (its data, hidden size, learning rate, ...)."""
    return LadderSetup(config.with_changes(objective="dsm"), **changes).validated()


class LadderScreen(JobHost, Drawing, Screen):
    """From one sigma to a ladder; escape returns to the main screen (its run untouched)."""

    JOB = "ladder"
    GRID_PANEL = "lad-field"  # the score field at the chosen rung
    REOPEN = "escape, then L to start it again"
    KEYS, ABOUT = LADDER_KEYS, lr.ABOUT

    CSS_PATH = Path(__file__).with_name("ladder.tcss")
    BINDINGS = LADDER_KEYS.bindings()

    setup: var[LadderSetup] = var(LadderSetup, init=False)  # as the screen knows it (sent to the job)
    report: var[Progress | None] = var(None, init=False, always_update=True)
    view = var(0, init=False)  # the score field's view (lr.FIELD_VIEWS)
    source = var("learned", init=False)  # whose bars and field: "learned" or "exact"
    field_rung = var(0, init=False)
    page = var(1, init=False)  # 80x24: 1 the clouds, 2 the bars and the field
    training = var(False, init=False, bindings=True)  # training or walking (the Drawing mixin paces frames then)
    stopped = var("", init=False)
    silent = var(0.0, init=False)
    compact = var(False, init=False, toggle_class="-compact")

    def __init__(self, setup: LadderSetup, mode: str = "process", job: type[Job] = LadderJob) -> None:
        super().__init__()
        self.set_reactive(LadderScreen.setup, setup.validated())
        self.set_reactive(LadderScreen.field_rung, setup.levels - 1)
        self._ladders: dict = {}
        self.runner = self._new_runner(job, setup, mode)

    @property
    def snapshot(self):
        return self.report.snapshot if isinstance(self.report, LadderReport) else None

    def panel_ids(self) -> tuple[str, ...]:
        return PANELS

    def compose(self) -> ComposeResult:
        with Vertical(id="lad-main"):
            yield PlotPanel(id="lad-learned", classes="panel")
            yield PlotPanel(id="lad-exact", classes="panel")
            with Horizontal(id="lad-lower"):
                yield PlotPanel(id="lad-bars", classes="panel")
                yield PlotPanel(id="lad-field", classes="panel")
            yield PlotPanel(id="lad-strip", classes="panel")
        yield Static(id="lad-status")
        yield Static(id="lad-keys")

    def on_mount(self) -> None:
        for wid, title in TITLES.items():
            self.query_one(f"#{wid}").border_title = title
        self.set_class(not self.setup.config.is_analytic, "-no-exact")
        self._titles()
        self._show_lines()
        self._start_job()
        self.action_toggle_running()  # train and walk at once: there is nothing to see before

    # --- watchers -------------------------------------------------------------------------------

    def watch_report(self) -> None:
        self.silent = 0.0
        self._titles()
        self._show_lines()
        self.draw()

    def watch_view(self) -> None:
        self._titles()
        self.draw()

    def watch_source(self) -> None:
        self._titles()
        self.draw()

    def watch_field_rung(self) -> None:
        self._send(ShowRung(self.field_rung))
        self._titles()

    def watch_page(self) -> None:
        self.set_class(self.page == 2, "-page2")
        self.call_after_refresh(self._sized)

    def watch_training(self) -> None:
        self._show_lines()

    def watch_stopped(self) -> None:
        self._show_lines()

    def watch_silent(self) -> None:
        self._show_lines()

    def watch_setup(self) -> None:
        self.set_class(not self.setup.config.is_analytic, "-no-exact")
        self.field_rung = min(self.field_rung, self.setup.levels - 1)
        self._titles()

    def _titles(self) -> None:
        if not self.is_attached:
            return
        snap = self.snapshot
        sigmas = snap.sigmas if snap is not None else None
        k = min(self.field_rung, len(sigmas) - 1) if sigmas else self.field_rung
        where = f"rung {k + 1} · σ {sigmas[k]:.3g}" if sigmas else f"rung {k + 1}"
        who = "exact score" if self.source == "exact" else "learned"
        try:
            self.query_one("#lad-field").border_title = f"score field at {where} ({who})"
            self.query_one("#lad-field").border_subtitle = f"v: {lr.FIELD_VIEWS[self.view]} · f/F: rung"
            self.query_one("#lad-bars").border_subtitle = f"{who} · x switches"
        except NoMatches:
            pass

    # --- the job's reports and words -------------------------------------------------------------

    def on_report_arrived(self, _: ReportArrived) -> None:
        report = self.runner.take_latest()
        if report is None or not self.is_attached:
            return
        if isinstance(report, LadderReport) and report.acked >= self.runner.sent:
            self.training = report.training
            self.setup = report.snapshot.setup
        self.report = report

    def _restart_setup(self) -> LadderSetup:
        return self.setup

    def _restarted(self) -> None:
        self._send(Train())

    def _show_lines(self) -> None:
        shorts = {"toggle_running": "pause" if self.training else "run"}
        try:
            self.query_one("#lad-status", Static).update(
                lr.status_text(self.report, self.stopped, self.silent, self.app.size.width - 2), layout=False)
            greyed = frozenset(() if self.compact else {"page"})
            self.query_one("#lad-keys", Static).update(LADDER_KEYS.footer(self.app.size.width, greyed, shorts),
                                                       layout=False)
        except NoMatches:
            pass

    def frame_request(self):
        snap = self.snapshot
        if snap is None:
            return None
        self._send_grid()
        return partial(lr.frame, snap, self.view, self.source, colour=not self.app.no_color)

    # --- keys (LADDER_KEYS) -------------------------------------------------------------------------

    def action_toggle_running(self) -> None:
        self.training = not self.training
        self._send(Train() if self.training else Pause())

    def action_next_rung(self) -> None:
        self.training = False
        self._send(NextRung())

    def action_resample(self) -> None:
        self._send(Resample())
        self.training = True
        self._send(Train())

    def _change(self, what: str, **changes) -> None:
        """Apply a setup change here first (refused in one line if it cannot apply), then in the job."""
        config = changes.pop("config", None)
        try:
            cfg = self.setup.config.with_changes(**config) if config else self.setup.config
            new = self.setup.with_changes(config=cfg, **changes)
        except UserError as exc:
            self.notify(str(exc), title="refused", severity="error")
            return
        self.setup = new
        self._send(Configure({**changes, **({"config": config} if config else {})}))
        self.training = True
        self._send(Train())
        self.notify(what)

    def action_levels(self, direction: int) -> None:
        self._change(f"{self.setup.levels + direction} rungs: training again", levels=self.setup.levels + direction)

    def _sigma_end(self, which: str, direction: int) -> None:
        snap = self.snapshot
        if snap is None:
            return
        now = snap.sigmas[0] if which == "sigma_max" else snap.sigmas[-1]
        value = step_on_ladder(self._ladders, which, now, SIGMA_FACTOR, direction)
        self._change(f"{'top' if which == 'sigma_max' else 'bottom'} rung σ {value:.3g}: training again",
                     **{which: value})

    def action_sigma_max(self, direction: int) -> None:
        self._sigma_end("sigma_max", direction)

    def action_sigma_min(self, direction: int) -> None:
        self._sigma_end("sigma_min", direction)

    def action_sampler(self) -> None:
        names = list(SAMPLERS)
        name = names[(names.index(self.setup.sampler) + 1) % len(names)]
        self._change(f"{name}: {SAMPLERS[name]}", sampler=name)

    def action_steps_per_level(self, direction: int) -> None:
        t = self.setup.steps_per_level * 2 if direction > 0 else max(1, self.setup.steps_per_level // 2)
        self._change(f"{t} steps a rung", steps_per_level=t)

    def action_field_rung(self, direction: int) -> None:
        self.field_rung = max(0, min(self.setup.levels - 1, self.field_rung + direction))

    def action_view(self) -> None:
        self.view = (self.view + 1) % len(lr.FIELD_VIEWS)

    def action_source(self) -> None:
        if not self.setup.config.is_analytic:
            self.notify("no exact score for this data: only the learned one", severity="warning")
            return
        self.source = "exact" if self.source == "learned" else "learned"

    def action_page(self) -> None:
        if self.compact:
            self.page = 2 if self.page == 1 else 1

    def action_distribution(self, direction: int) -> None:
        cfg = self.setup.config
        cur = None if cfg.data_path else cfg.distribution
        i = NAMES.index(cur) if cur in NAMES else (-1 if direction > 0 else 0)
        name = NAMES[(i + direction) % len(NAMES)]
        self._change(f"{name}: training again", config={"distribution": name, "data_path": None})

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "page" and not self.compact:
            return None
        return True


def open_ladder(main, setup: LadderSetup | None = None) -> None:
    """Push the ladder screen over the main screen, pausing its trainer (the two would share
    the cores); a setup that cannot be a ladder is refused in one line."""
    if isinstance(main.app.screen, LadderScreen):
        return
    try:
        screen = LadderScreen(setup or ladder_setup(main.config), mode=main.runner.mode,
                              job=main.ladder_job or LadderJob)
    except UserError as exc:
        main.notify(str(exc), title="refused", severity="error")
        return
    if main.training:
        main.action_toggle_training()
    main.app.push_screen(screen)


def parse_ladder(config: Config, text: str) -> LadderSetup:
    """The palette's "K sigma_max sigma_min sampler T" (sigma_max "auto": the data's diameter;
    sigma_min "matched": its nearest-neighbour scale) as a setup; a one-line UserError otherwise."""
    words = text.split()
    if not 1 <= len(words) <= 5:
        raise UserError(f"type up to five values: K sigma_max sigma_min sampler T, got {len(words)}")
    words += ["10", "auto", "0.05", "ald", "100"][len(words):]
    try:
        levels, steps = int(words[0]), int(words[4])
        sigma_max = None if words[1] == "auto" else float(words[1])
        sigma_min = MATCHED if words[2] == MATCHED else float(words[2])
    except ValueError:
        raise UserError("K and T are whole numbers, sigma_max a number or 'auto', sigma_min a number or "
                        f"'{MATCHED}'") from None
    return ladder_setup(config, levels=levels, sigma_max=sigma_max, sigma_min=sigma_min, sampler=words[3],
                        steps_per_level=steps)


def ask_ladder(main) -> None:
    """Palette: "Ladder…" asks for the ladder, then opens it."""
    from smtui.tui.screens.modals import ValuePrompt

    def apply(text: str | None) -> None:
        if text is None:
            return
        try:
            setup = parse_ladder(main.config, text)
        except UserError as exc:
            main.notify(str(exc), title="refused", severity="error")
            return
        open_ladder(main, setup)

    main.app.push_screen(ValuePrompt("ladder: K sigma_max sigma_min sampler T (sigma_max 'auto': the data's "
                                     "diameter; sigma_min 'matched': its nearest-neighbour scale)",
                                     "10 auto 0.05 ald 100"), apply)
