"""The ladder screen's job: one noise ladder (``smtui.core.ladder_run``) run by the one loop
(``smtui.tui.runner.loop``): it trains, checks the paper's identity at every rung, then walks
down the ladder with the learned score and, for analytic data, the exact one, each beside
one small and one large sigma with the same budget; a step is a training step, then one
step of every walk at once (``new_pace`` between the two).

Reports carry every walk's particles now and the clouds it left at each rung. A cloud never
changes once left, so a report carries only those the previous report did not (``received``
puts them back together on the screen's side, report after report)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from smtui.core.ladder_run import LadderRun, LadderSetup
from smtui.core.sample_metrics import mmd2
from smtui.core.trainer import FieldSnapshot
from smtui.tui.runner.loop import Job, Loop
from smtui.tui.runner.protocol import Command, Configure, Grid, Progress, grid_shape

SOURCES = ("learned", "exact")
KINDS = ("ladder", "small", "large")  # the walk down the ladder, and one sigma at its bottom and middle rung
PER_LEVEL_POINTS = 500  # a rung's MMD^2 to q_sigma on this many particles
SHOWN_PARTICLES = 2000  # particles a report carries per walk (float32)
FIELD_SECONDS = 0.25  # while training, the field is recomputed this often


@dataclass(frozen=True)
class Resample(Command):
    """Walk down the ladder again with fresh noise (the same start), with the model as it is."""


@dataclass(frozen=True)
class NextRung(Command):
    """Pause, then walk on to the end of the current rung (once done: a fresh walk's first)."""


@dataclass(frozen=True)
class ShowRung(Command):
    """The rung whose score field the screen shows (0: the top)."""

    rung: int


@dataclass(frozen=True)
class WalkView:
    """One walk as the screen draws it: ``clouds`` are the particles as they left each rung
    (``clouds_from`` of them came in earlier reports), ``x`` the particles now."""

    source: str  # "learned" or "exact"
    kind: str  # KINDS
    sigmas: tuple[float, ...]
    level: int
    sigma: float
    done: int
    total: int
    x: np.ndarray
    clouds: tuple = ()
    clouds_from: int = 0
    metrics: dict | None = None  # once finished (core/ladder_run.LadderRun.measure)
    acceptance: tuple = ()


@dataclass(frozen=True)
class LadderSnapshot:
    setup: LadderSetup
    sigmas: tuple[float, ...]
    dim: int
    box: tuple[np.ndarray, np.ndarray]
    points: np.ndarray  # training points to draw
    phase: str  # "training", "checking", "sampling", "measuring", "done"
    round: int  # the walks' round: a new one starts afresh (s, or a changed setup)
    step: int
    loss: float | None
    status: str
    message: str
    train_seconds: float
    walks: dict = field(default_factory=dict)  # (source, kind) -> WalkView
    per_level: tuple = ()  # per rung: {"sigma", "mmd2", "exact_mmd2", "identity"} as known so far
    target_weights: tuple | None = None  # q's mode weights, when its modes are known
    field_rung: int = 0
    field: FieldSnapshot | None = None
    exact_field: FieldSnapshot | None = None
    ms_per_step: float | None = None  # one sampler step of one walk, measured


@dataclass(frozen=True, kw_only=True)
class LadderReport(Progress):
    snapshot: LadderSnapshot

    def received(self, last: Progress | None) -> LadderReport:
        """The clouds the previous reports carried put back in front of this one's."""
        before = last.snapshot if isinstance(last, LadderReport) else None
        walks = {}
        for key, w in self.snapshot.walks.items():
            old = before.walks.get(key) if before is not None and before.round == self.snapshot.round else None
            kept = tuple(old.clouds[: w.clouds_from]) if old is not None else ()
            kept += (None,) * (w.clouds_from - len(kept))  # (cannot happen: reports arrive in order)
            walks[key] = dataclasses.replace(w, clouds=kept + tuple(w.clouds), clouds_from=0)
        return dataclasses.replace(self, snapshot=dataclasses.replace(self.snapshot, walks=walks))


class LadderJob(Job):
    name = "ladder"
    commands = (Grid, Configure, Resample, NextRung, ShowRung)
    frames_per_second = 15
    chunk_seconds = 0.03
    first_chunk = 8
    max_chunk = 4096

    def __init__(self, setup: LadderSetup, ctx: Loop):
        super().__init__(setup, ctx)
        self.panel: tuple[int, int] | None = None
        self.field_rung = 0
        self._fields = (None, None)
        self._field_at = 0.0
        self.round = 0
        self._build(setup)

    def _build(self, setup: LadderSetup) -> None:
        self.ctx.busy("setting up the ladder")
        self.run = LadderRun(setup)
        self.field_rung = min(self.field_rung, self.run.ladder.levels - 1)
        self._fresh_model()

    def _fresh_model(self) -> None:
        """The model changed (trained from the start, or the setup): identities and walks go."""
        self.identities: list | None = None
        self._new_round()

    def _new_round(self) -> None:
        self.round += 1
        self.walks: dict = {}
        self.metrics: dict = {}
        self.level_mmd: dict = {}
        self._sent: dict = {}  # (source, kind) -> clouds already in a report this round
        self._walked = (0, 0.0)  # (walk steps, seconds) for the ms a step
        self._fields = (None, None)
        self.ctx.new_pace()

    # --- the loop's side ----------------------------------------------------------------------

    @property
    def trained(self) -> bool:
        return self.run.step >= self.run.setup.steps or self.run.status != "ok"

    @property
    def phase(self) -> str:
        if not self.trained:
            return "training"
        if self.identities is None:
            return "checking"
        if not self.walks or not all(w.finished for w in self.walks.values()):
            return "sampling"
        return "done" if len(self.metrics) == len(self.walks) else "measuring"

    @property
    def step(self) -> int:
        return self.run.step + sum(w.done for w in self.walks.values())

    def can_go_on(self) -> bool:
        return self.phase != "done"

    def advance(self, steps: int) -> int:
        phase = self.phase
        if phase == "training":
            done = self.run.train(min(steps, self.run.setup.steps - self.run.step))
            if self.trained:
                self.ctx.new_pace()
            return done
        if phase == "checking":
            self.ctx.busy("checking the paper's identity at every rung")
            self.identities = [self.run.identity(k) for k in range(self.run.ladder.levels)]
            self._fields = (None, None)
            return 1
        if phase == "sampling":
            return self._walk(steps)
        if phase == "measuring":
            self.ctx.busy("measuring the samples")
            for key, w in self.walks.items():
                self.metrics[key] = self.run.measure(w.x)
            return 1
        return 0

    def _start_walks(self) -> None:
        run, r = self.run, self.round
        small, large = float(run.sigmas[-1]), float(run.sigmas[run.ladder.levels // 2])
        sources = SOURCES if run.analytic is not None else SOURCES[:1]
        for i, source in enumerate(sources):
            exact = source == "exact"
            self.walks[(source, "ladder")] = run.walk(exact=exact, tag=8 * r + 3 * i)
            self.walks[(source, "small")] = run.walk(exact=exact, sigma=small, tag=8 * r + 3 * i + 1)
            self.walks[(source, "large")] = run.walk(exact=exact, sigma=large, tag=8 * r + 3 * i + 2)

    def _walk(self, steps: int) -> int:
        if not self.walks:
            self._start_walks()
        t0, done = time.perf_counter(), 0
        for w in self.walks.values():
            done = max(done, w.advance(steps))
        n, s = self._walked
        self._walked = (n + done * len(self.walks), s + time.perf_counter() - t0)
        self._measure_rungs()
        return done

    def _measure_rungs(self) -> None:
        """Each ladder walk's MMD^2 to q_sigma at the rungs it has left (cheap: 500 points)."""
        reference = self.run.reference()[0][:PER_LEVEL_POINTS]
        for source in SOURCES:
            w = self.walks.get((source, "ladder"))
            if w is None:
                continue
            for k in range(len(w.clouds)):
                if (source, k) not in self.level_mmd:
                    rng = np.random.default_rng([k, 17])  # the same q_sigma sample for both sources
                    noisy = reference + self.run.sigmas[k] * rng.standard_normal(reference.shape)
                    cloud = w.clouds[k][:PER_LEVEL_POINTS]
                    self.level_mmd[(source, k)] = mmd2(cloud, noisy) if np.isfinite(cloud).all() else None

    def handle(self, command: Command) -> None:
        ctx = self.ctx
        match command:
            case Grid(size=size):
                self.panel = tuple(size)
                self._fields = (None, None)
            case ShowRung(rung=rung):
                self.field_rung = max(0, min(int(rung), self.run.ladder.levels - 1))
                self._fields = (None, None)
            case Resample():
                if self.trained:
                    self._new_round()
            case NextRung():
                ctx.pause()
                if self.phase == "done":  # a fresh walk, rung by rung
                    self._new_round()
                if self.phase == "sampling":
                    if not self.walks:
                        self._start_walks()
                    w = self.walks[("learned", "ladder")]
                    left = len(w.clouds)
                    while not w.finished and len(w.clouds) == left:
                        self._walk(1)
                elif self.phase == "training":
                    ctx.say("note", "the ladder is still training: space lets it finish, then n walks rung by rung")
            case Configure(changes=changes):
                self._configure(dict(changes))

    def _configure(self, changes: dict) -> None:
        setup = self.run.setup
        config_changes = changes.pop("config", None) or {}
        new = setup.with_changes(config=setup.config.with_changes(**config_changes), **changes)
        model = ("config", "levels", "sigma_max", "sigma_min", "steps", "exact_score")
        if any(getattr(new, k) != getattr(setup, k) for k in model):
            self._build(new)
        else:
            self.run.setup = new
            self._new_round()

    # --- the report ----------------------------------------------------------------------------

    def _field(self) -> tuple:
        if self.phase == "training" and time.perf_counter() - self._field_at > FIELD_SECONDS:
            self._fields = (None, None)  # the model moves: its field follows a few times a second
        if self._fields[0] is None and self.panel is not None and self.run.dim <= 2:
            self._field_at = time.perf_counter()
            shape = grid_shape(*self.panel, self.run.dim)
            sigma = float(self.run.sigmas[self.field_rung])
            exact = self.run.field(sigma, shape, exact=True) if self.run.analytic is not None else None
            self._fields = (self.run.field(sigma, shape), exact)
        return self._fields

    def report(self, changed: bool) -> LadderReport:
        run = self.run
        walks = {}
        for key, w in self.walks.items():
            sent = self._sent.get(key, 0)
            walks[key] = WalkView(key[0], key[1], tuple(float(s) for s in w.sigmas), w.level, w.sigma, w.done,
                                  w.total, _shown(w.x), tuple(_shown(c) for c in w.clouds[sent:]), sent,
                                  self.metrics.get(key), tuple(w.acceptance))
            self._sent[key] = len(w.clouds)
        per_level = tuple({"sigma": float(s), "mmd2": self.level_mmd.get(("learned", k)),
                           "exact_mmd2": self.level_mmd.get(("exact", k)),
                           "identity": self.identities[k] if self.identities else None}
                          for k, s in enumerate(run.sigmas))
        target = run.target_weights()
        model, exact = self._field()
        n, s = self._walked
        return LadderReport(snapshot=LadderSnapshot(
            setup=run.setup, sigmas=tuple(float(s) for s in run.sigmas), dim=run.dim, box=run.box(),
            points=run.points, phase=self.phase, round=self.round, step=run.step, loss=run.run.loss,
            status=run.status, message=run.message, train_seconds=run.train_seconds, walks=walks,
            per_level=per_level, target_weights=target, field_rung=self.field_rung, field=model,
            exact_field=exact, ms_per_step=1e3 * s / n if n else None))


def _shown(x: np.ndarray) -> np.ndarray:
    """At most SHOWN_PARTICLES particles as float32, read-only (they cross a pipe)."""
    out = np.array(x[:SHOWN_PARTICLES], dtype=np.float32)
    out.flags.writeable = False
    return out
