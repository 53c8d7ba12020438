"""The step-by-step trainer an app or a script drives.

It owns one experiment's state (data, parameters, optimiser state, batch stream: the run
setup of core/run.py, shared with the comparison) and hands out immutable ``Snapshot``s;
commands (``configure``, ``reinitialise``) change it. Each step is core/run.py's
``Run.step``, with its one divergence rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from smtui.core import batches, streams
from smtui.core.compare_batches import shift
from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.evaluation import EvalSet, build_eval_set, evaluate
from smtui.core.field import bounds_for, data_score, lift, make_grid, model_field, plane, project
from smtui.core.fused import pack, unpack
from smtui.core.history import DecimatingHistory, DecimatingRows
from smtui.core.neighbours import build_index
from smtui.core.run import Run, batch_stream, drawn_points, initial_theta, load_data, objective_gradient
from smtui.core.runtime import tune_process
from smtui.core.sampling import mala

DRAW_POINTS = 400  # training points sent for drawing
MAX_EVALUATIONS = 4096  # evaluation rows kept (decimated evenly beyond that)
SAMPLING_SECONDS = 2.0  # time budget of one draw of model samples
SAMPLING_REFERENCE = 128  # data points the sampler's jump proposal is built on (its cost: 2 x chains x these per jump)
MAX_MARKS = 256  # setup-change marks kept (the latest)
NEAR_MIN_N = 20_000  # ESM-sigma's target from neighbours only from this many training points
# The ESM - DSM line's figures, with ESM - DSM measured (DSM as training defines it) and its error;
# a saved history needs the first seven (the measured ones came later: an older save's are nan).
IDENTITY_COLUMNS = ("step", "esm_minus_dsm", "esm_minus_dsm_theory", "esm_minus_dsm_pairs",
                    "esm_minus_dsm_pairs_se", "esm_sigma", "dsm", "esm_minus_dsm_measured",
                    "esm_minus_dsm_measured_err")
HISTORY_REQUIRED = IDENTITY_COLUMNS[:7]
# The objectives on one scale at each evaluation (docs/math.md, "One scale for all objectives"):
# ESM_qsigma, DSM + C2 - C3, ISM_qsigma + C2, DAE/(2 sigma^4) + C2 - C3 (DSM and DAE as training
# defines them, never through the posterior), ESM_q (analytic q only, else nan), and C2 - C3.
SCALE_OBJECTIVES = ("esm-sigma", "dsm", "ism-sigma", "dae", "esm")
SCALE_COLUMNS = ("step", *SCALE_OBJECTIVES, "c2_minus_c3")


def _frozen(a) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class FieldSnapshot:
    """Fields on a grid for drawing; 1-D data gives one axis and (G, 1) arrays. For d > 2
    the grid lies on a plane (``plane`` names it): points are origin + u @ basis, and the
    fields are the in-plane components of the d-dimensional scores there."""

    axes: tuple[np.ndarray, ...]
    model: np.ndarray  # model score psi at the grid points, (G, min(d, 2))
    data: np.ndarray  # data score at the grid points, (G, min(d, 2))
    log_density: np.ndarray  # log exp(-E) normalised on the grid, (G,)
    plane: str = ""  # which plane, for d > 2 ("" otherwise)
    origin: np.ndarray | None = None  # (d,) the plane's origin, for d > 2
    basis: np.ndarray | None = None  # (2, d) its orthonormal axes, for d > 2

    def project(self, x: np.ndarray) -> np.ndarray:
        """Points of the data's space as plane coordinates (unchanged for d <= 2)."""
        return x if self.basis is None else (x - self.origin) @ self.basis.T


@dataclass(frozen=True)
class Snapshot:
    """Everything a renderer needs, copied and read-only: safe to hand to another thread."""

    step: int
    status: str  # "ok" or "diverged"
    message: str
    config: Config
    dim: int
    loss: float | None
    losses: np.ndarray  # (k, 2): step, training loss (decimated)
    marks: tuple[tuple[int, str], ...]  # (step, what changed)
    figures: MappingProxyType | None
    figures_step: int | None
    identity_history: np.ndarray  # (k, len(IDENTITY_COLUMNS))
    scale_history: np.ndarray  # (k, len(SCALE_COLUMNS)): the objectives on one scale over steps
    train_seconds: float
    steps_per_second: float | None
    points: np.ndarray  # training points to draw
    field: FieldSnapshot | None = None
    samples: np.ndarray | None = None


class Trainer:
    """One experiment, advanced step by step."""

    def __init__(self, config: Config, points: np.ndarray | None = None):
        tune_process()  # allocator thresholds and one BLAS thread, once per process (core/runtime.py)
        self.config = config.validated()
        self._user_points = points
        self.marks: list[tuple[int, str]] = []
        self.step = 0
        self.train_seconds = 0.0
        self._rate = (0, 0.0)  # (steps, seconds) of the latest train() call, for steps/s
        self.losses = DecimatingHistory(("step", "loss"))
        self.identity = DecimatingHistory(IDENTITY_COLUMNS)
        self.scale = DecimatingHistory(SCALE_COLUMNS)
        self.evaluations = []  # bounded: see the property
        self.last_loss: float | None = None
        self._figures: tuple[int, dict] | None = None
        self._field_cache: dict = {}
        self._stream_version = batches.VERSION  # a run keeps its batch stream's version for life
        self._load_data()
        self._reset_params()

    # --- setup ------------------------------------------------------------------

    def _load_data(self) -> None:
        cfg = self.config
        setup = load_data(cfg, self._user_points)
        self.data, self.analytic, self.dim = setup.data, setup.analytic, setup.dim
        self._table = setup.table  # [x, 1] rows, the layout batches are drawn in
        self._data_score = setup.data_score  # ESM's target at every training point (theta-free)
        self._near = None  # (sigma, neighbour index or None) for ESM-sigma's target
        self._eval_set: EvalSet | None = None
        self._field_cache.clear()
        self._figures = None
        self.draw_points = drawn_points(self.data, cfg.seed, DRAW_POINTS)

    def _reset_params(self) -> None:
        cfg = self.config
        self.run = Run(initial_theta(cfg, self.dim), cfg.optimizer, cfg.lr)
        self.batches = batch_stream(cfg.seed, self._stream_version)
        self._figures = None
        self._compile()

    def _compile(self) -> None:
        cfg = self.config
        self._gradient = objective_gradient(cfg.objective, cfg.sigma, cfg.lam)
        self.run.lr = cfg.lr
        self.batches.use(batches.Plan((cfg.objective,), self.data, cfg.batch, cfg.sigma, cfg.dtype, self._table,
                                      self._data_score, self.analytic, self._near_index()))

    # Parameters and optimiser state live as flat vectors in ``self.run`` (core/run.py);
    # outside the trainer they read and write as dicts keyed like the model's parameters,
    # copied out.

    @property
    def params(self) -> dict:
        return _copied(unpack(self.run.theta, self.dim))

    @params.setter
    def params(self, value: dict) -> None:
        self.run.theta = pack(value)

    @property
    def opt_state(self) -> dict:
        return {k: _copied(unpack(v, self.dim)) if k in _FLAT_STATE else np.copy(v) for k, v in self.run.opt.items()}

    @opt_state.setter
    def opt_state(self, value: dict) -> None:
        self.run.opt = {k: pack(v) if k in _FLAT_STATE else np.copy(v) for k, v in value.items()}

    def resume_batches(self, version: int, state: dict, taken: int) -> None:
        """Continue the batch stream of a saved run: its version (1 for experiments saved
        before blocks), the generator's state and the steps taken from its block
        (BatchStream.state())."""
        self._stream_version = version
        self.batches = batch_stream(self.config.seed, version)
        self._compile()
        self.batches.restore(state, taken)

    @property
    def status(self) -> str:
        """"ok", or "diverged" when the latest step was refused (core/run.py's rule)."""
        return self.run.status

    @status.setter
    def status(self, value: str) -> None:
        self.run.status = value

    @property
    def message(self) -> str:
        return self.run.message

    @message.setter
    def message(self, value: str) -> None:
        self.run.message = value

    @property
    def eval_set(self) -> EvalSet:
        """The fixed evaluation set, built on first use after data or sigma change."""
        if self._eval_set is None:
            self._eval_set = build_eval_set(self.data, self.config.sigma, self.config.seed, self.analytic)
        return self._eval_set

    # --- commands ---------------------------------------------------------------

    def configure(self, **changes) -> list[str]:
        """Change settings mid-run, keeping whatever parameters still make sense.

        Returns short notes of what was reset; raises UserError (state unchanged) when
        a change cannot apply."""
        new = self.config.with_changes(**changes)
        old, notes = self.config, []
        if new == old:
            return notes
        self.config = new
        data_changed = (new.distribution, new.data_path, new.n_train, new.seed) != (
            old.distribution, old.data_path, old.n_train, old.seed)
        if new.data_path != old.data_path:
            self._user_points = None
        if data_changed:
            try:
                self._load_data()
            except UserError:
                self.config = old
                raise
        elif new.sigma != old.sigma:
            self._eval_set = None
            self._field_cache.clear()
        if data_changed and new.seed != old.seed or new.hidden != old.hidden or new.dtype != old.dtype \
                or self.params["c"].shape[0] != self.dim:
            self._reset_params()
            notes.append("parameters re-initialised")
        elif new.optimizer != old.optimizer:
            self.run.use_optimizer(new.optimizer)
            notes.append("optimiser state reset")
        self.status, self.message = "ok", ""
        self._figures = None
        self._compile()
        label = ", ".join(f"{k}={v}" for k, v in changes.items() if getattr(old, k) != v)
        self._mark(label)
        return notes

    def reinitialise(self) -> None:
        """Fresh parameters and optimiser state (same seed); the step count carries on."""
        self._reset_params()
        self._mark("re-initialised")

    def _mark(self, label: str) -> None:
        """Note a setup change at this step; only the latest MAX_MARKS are kept."""
        self.marks.append((self.step, label))
        del self.marks[:-MAX_MARKS]

    @property
    def evaluations(self) -> DecimatingRows:
        """Every evaluation's figures, decimated evenly once there are MAX_EVALUATIONS."""
        return self._evaluations

    @evaluations.setter
    def evaluations(self, rows) -> None:
        self._evaluations = DecimatingRows(rows, capacity=MAX_EVALUATIONS)

    # --- training ---------------------------------------------------------------

    def train(self, steps: int, evaluate: bool = True) -> int:
        """Advance up to ``steps`` steps (fewer if training diverges); returns steps done.

        Evaluates every figure every ``eval_every`` steps unless ``evaluate`` is False (the
        app schedules its own evaluations on a time budget); that time is not counted as
        training time."""
        cfg = self.config
        if self.status == "diverged":
            self.status, self.message = "ok", ""
        run, gradient, stream, name = self.run, self._gradient, self.batches, cfg.objective
        done, spent = 0, 0.0
        # A diverging step overflows on its way to inf/nan: that is reported, not warned about.
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(steps):
                t0 = time.perf_counter()
                kept = run.step(gradient, stream.next()[name], self.step + 1)
                spent += time.perf_counter() - t0
                if not kept:
                    break
                self.step += 1
                done += 1
                self.last_loss = run.loss
                self.losses.append((self.step, self.last_loss))
                if evaluate and self.step % cfg.eval_every == 0:
                    self.evaluate()
        self.train_seconds += spent
        if done:
            self._rate = (done, spent)
        return done

    def _near_index(self):
        """ESM-sigma's neighbour index (core/neighbours.py) for training sets of NEAR_MIN_N
        points and more, built once per (data, sigma); None where it would not pay."""
        cfg = self.config
        if cfg.objective != "esm-sigma" or len(self.data) < NEAR_MIN_N:
            return None
        if self._near is None or self._near[0] != cfg.sigma:
            self._near = (cfg.sigma, build_index(self.data, cfg.sigma))
        return self._near[1]

    @property
    def steps_per_second(self) -> float | None:
        n, s = self._rate
        return n / s if n and s > 0 else None

    # --- evaluation and drawing -------------------------------------------------

    def evaluate(self) -> dict:
        """Every figure for the current parameters (cached until the parameters change)."""
        if self._figures is not None and self._figures[0] == self.step:
            return self._figures[1]
        figs = evaluate(self.params, self.eval_set)
        figs = {"step": self.step, "loss": self.last_loss, **figs}
        self._figures = (self.step, figs)
        self.evaluations.append(figs)
        self.identity.append(identity_row(figs))
        self.scale.append(scale_row(figs, self.config.sigma))
        return figs

    def field(self, shape: tuple[int, ...], plane_index: int = 0) -> FieldSnapshot:
        """Model and data fields on a grid of ``shape`` ((nx,) for 1-D, (nx, ny) for 2-D and
        for d > 2, where the grid lies on the plane ``smtui.core.field.plane(data, plane_index)``)."""
        s = self.config.sigma
        flat = self.dim > 2
        key = (shape, s, plane_index if flat else 0)
        if key not in self._field_cache:
            pl = plane(self.data, plane_index) if flat else None
            where = project(self.data, pl) if flat else self.data
            grid = make_grid(bounds_for(where, s), shape[: min(self.dim, 2)])
            points = lift(grid.points, pl) if flat else grid.points
            target = data_score(points, self.data, s, self.analytic)
            self._field_cache = {key: (grid, points, pl, _frozen(target @ pl.basis.T if flat else target))}
        grid, points, pl, target = self._field_cache[key]
        p = {k: np.asarray(v, dtype=float) for k, v in self.params.items()}
        model, log_density = model_field(p, points, s)
        return FieldSnapshot(
            axes=tuple(_frozen(a) for a in grid.axes),
            model=_frozen(model @ pl.basis.T if flat else model),
            data=target,
            log_density=_frozen(log_density),
            plane=pl.name if flat else "",
            origin=_frozen(pl.origin) if flat else None,
            basis=_frozen(pl.basis) if flat else None,
        )

    def langevin_samples(self, n: int = 400, steps: int = 2000, budget_seconds: float | None = SAMPLING_SECONDS
                         ) -> np.ndarray:
        """Samples from the model by Metropolis-adjusted Langevin (exact for p = exp(-E)/Z;
        core/sampling.py), chains started uniformly over the data's range, jumps proposed
        from q_sigma on the data; at most ``steps`` steps or ``budget_seconds``."""
        rng = streams.stream(self.config.seed, streams.SAMPLES, self.step)
        b = bounds_for(self.data, self.config.sigma)
        x0 = rng.uniform(b[:, 0], b[:, 1], size=(n, self.dim))
        data = self.data
        reference = data if len(data) <= SAMPLING_REFERENCE else data[rng.choice(len(data), SAMPLING_REFERENCE,
                                                                                 replace=False)]
        p = {k: np.asarray(v, dtype=float) for k, v in self.params.items()}
        samples, _ = mala(p, self.config.sigma, x0, rng, steps=steps, reference=reference,
                          budget_seconds=budget_seconds)
        return _frozen(samples)

    def snapshot(self, field_shape: tuple[int, ...] | None = None, figures: bool = True,
                 samples: np.ndarray | None = None, plane_index: int = 0) -> Snapshot:
        figs = self.evaluate() if figures else (self._figures[1] if self._figures else None)
        return Snapshot(
            step=self.step,
            status=self.status,
            message=self.message,
            config=self.config,
            dim=self.dim,
            loss=self.last_loss,
            losses=self.losses.array(),
            marks=tuple(self.marks),
            figures=MappingProxyType(dict(figs)) if figs else None,
            figures_step=figs["step"] if figs else None,
            identity_history=self.identity.array(),
            scale_history=self.scale.array(),
            train_seconds=self.train_seconds,
            steps_per_second=self.steps_per_second,
            points=self.draw_points,
            field=self.field(field_shape, plane_index) if field_shape else None,
            samples=samples,
        )


def identity_row(figs: dict) -> tuple:
    """One evaluation's row of IDENTITY_COLUMNS (nan where a figure is missing)."""
    return tuple(np.nan if figs.get(c) is None else figs[c] for c in IDENTITY_COLUMNS)


def scale_row(figs: dict, sigma: float) -> tuple:
    """One evaluation's row of SCALE_COLUMNS (nan where a figure is missing)."""
    values = [shift(name, figs, sigma) if figs.get("esm_minus_dsm_theory") is not None else None
              for name in SCALE_OBJECTIVES]
    row = (figs["step"], *values, figs.get("esm_minus_dsm_theory"))
    return tuple(np.nan if v is None else float(v) for v in row)


def _copied(arrays: dict) -> dict:
    """C-ordered copies (unpack's W is a transposed view into the flat vector)."""
    return {k: np.array(v, order="C") for k, v in arrays.items()}


_FLAT_STATE = ("m", "v")  # optimiser state entries shaped like theta (the rest, Adam's t, are scalars);
# opt_state shows them per parameter, the layout experiments store them in
