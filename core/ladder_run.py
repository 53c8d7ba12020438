"""The noise ladder, headless (docs/math.md, "The noise ladder"): its setup, its training, its
walks down the ladder and their measures, shared by `smtui ladder` and the ladder screen's job,
so that the two cannot drift apart.

Training is core/run.py's: the data and the initial parameters of ``load_data`` and
``initial_theta`` (with B = C = 0, core/ladder.init_conditional), ``Run.step`` with its one
divergence rule, on the gradient of core/fused.py's ``ladder_denoising``. The one-sigma
baseline is a plain ``smtui run --objective dsm --sigma SIGMA_MIN`` of the same setup (same
data, start and batch stream) sampled by core/sampling.mala, from the ladder's start and with
its budget of steps. Every random stream is core/streams.py's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields, replace

import numpy as np

from smtui.core import streams
from smtui.core.batches import Plan
from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.evaluation import build_eval_set, evaluate
from smtui.core.field import data_score, make_grid, model_log_density, model_score
from smtui.core.fused import ladder_denoising, unpack
from smtui.core.ladder import (
    DEFAULT_LEVELS,
    DEFAULT_SIGMA_MIN,
    MATCHED,
    Ladder,
    at_sigma,
    choose_ladder,
    draw_ladder_batch,
    init_conditional,
    pack,
)
from smtui.core.ladder import unpack as unpack_conditional
from smtui.core.run import Run, batch_stream, drawn_points, initial_theta, load_data, objective_gradient
from smtui.core.runtime import tune_process
from smtui.core.sample_metrics import mmd2, sample_metrics
from smtui.core.samplers import BOX_PAD, SAMPLERS, ExactSource, ModelSource, Walk, start
from smtui.core.sampling import mala
from smtui.core.text import quoted
from smtui.core.trainer import FieldSnapshot
from smtui.core.verdicts import identity_verdicts

DEFAULT_STEPS = 10_000  # training steps: ~3 s on one core (benchmarks/ladder.py)
DEFAULT_STEPS_PER_LEVEL = 100
DEFAULT_PARTICLES = 2000
MAX_STEPS = 10**9
MAX_PARTICLES = 100_000
MAX_STEPS_PER_LEVEL = 100_000
PER_LEVEL_POINTS = 500  # each rung's MMD^2 to q_sigma on this many particles (~5 ms each)
IDENTITY_REFERENCE = 128  # each rung's identity on the Parzen density of this many training points
BASELINE_REFERENCE = 128  # the baseline MALA's jumps propose from q_sigma on this many (as the trainer's)
DRAW_POINTS = 400
IDENTITY_KEY = "esm_minus_dsm"  # the paper's identity, ESM - DSM = C2 - C3, DSM measured as training defines it


@dataclass(frozen=True)
class LadderSetup:
    """Everything a ladder run is built from: the usual setup (data, hidden size, learning
    rate, optimiser, batch, seed, dtype; its sigma and objective are not used) and the ladder's."""

    config: Config = Config(distribution="ring8w")
    levels: int = DEFAULT_LEVELS
    sigma_max: float | None = None  # None: the data's diameter
    sigma_min: float | str = DEFAULT_SIGMA_MIN  # or "matched": the data's nearest-neighbour scale
    steps: int = DEFAULT_STEPS
    sampler: str = "ald"
    steps_per_level: int = DEFAULT_STEPS_PER_LEVEL
    particles: int = DEFAULT_PARTICLES
    exact_score: bool = False  # sample with the exact smoothed score of the analytic q (no training)
    eps: float | None = None  # Langevin's eps; None: 0.1 sigma_K^2 (core/samplers.EPS_RATIO)

    def validated(self) -> LadderSetup:
        """Self if every field is allowed, else a one-line UserError naming the first that is not."""
        self.config.validated()
        for what, v, lo, hi in (("steps", self.steps, 0, MAX_STEPS), ("particles", self.particles, 2, MAX_PARTICLES),
                                ("steps per level", self.steps_per_level, 1, MAX_STEPS_PER_LEVEL)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise UserError(f"{what} must be a whole number from {lo} to {hi:,}, got {quoted(v)}")
        if self.sampler not in SAMPLERS:
            raise UserError(f"unknown sampler {quoted(self.sampler)}; choose one of: {', '.join(SAMPLERS)}")
        if self.sigma_min != MATCHED and not isinstance(self.sigma_min, (int, float)):
            raise UserError(f"sigma min must be a number or {MATCHED!r}, got {quoted(self.sigma_min)}")
        if self.eps is not None and not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps)
                                         and self.eps > 0):
            raise UserError(f"eps must be a finite number > 0, got {quoted(self.eps)}")
        if self.exact_score and not self.config.is_analytic:
            raise UserError(f"--exact-score needs an analytic distribution (one with an exact score), not "
                            f"{quoted(self.config.source)}; drop it to learn the score")
        if self.particles * self.config.hidden > 2**25:
            raise UserError(f"particles x hidden must be at most {2**25:,} (memory per step), got "
                            f"{self.particles} x {self.config.hidden}")
        return self

    def with_changes(self, **changes) -> LadderSetup:
        known = {f.name for f in fields(self)}
        for key in changes:
            if key not in known:
                raise UserError(f"unknown ladder setting {quoted(key)}; known: {', '.join(sorted(known))}")
        return replace(self, **changes).validated()

    def to_dict(self) -> dict:
        cfg = self.config.to_dict()
        for unused in ("objective", "sigma", "lam", "eval_every"):
            cfg.pop(unused)
        if self.config.data_path is not None:
            cfg["distribution"] = None
        return {**cfg, **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "config"}}


def cosine_lr(lr: float, step: int, steps: int) -> float:
    """The learning rate at 0-based ``step`` of ``steps``: lr (1 + cos(pi step / steps)) / 2, from
    lr down to ~0. With a constant rate Adam's last steps jitter the parameters, and with them the
    modes' relative mass: the learned ladder's weight TV over six seeds was 0.19 on average and
    up to 0.33 at a constant 0.01, 0.10 and at most 0.13 with this (10,000 steps, ring8w)."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * min(step, steps) / max(steps, 1)))


def ladder_gradient():
    """(theta, batch) -> (loss, gradient): DSM over the ladder by the one fast path (core/fused.py)."""
    def loss_and_gradient(theta, batch):
        return ladder_denoising(theta, batch["xe1"], batch["x"], batch["sigma"])

    return loss_and_gradient


class LadderRun:
    """One noise-conditional model on one ladder: trained by ``train``, sampled by ``walk``,
    measured by ``measure`` and ``per_level``; ``baseline`` is the one-sigma run beside it."""

    def __init__(self, setup: LadderSetup, points: np.ndarray | None = None):
        tune_process()
        self.setup = setup.validated()
        cfg = self.setup.config
        run_data = load_data(cfg, points)
        self.data, self.analytic, self.dim, self._table = run_data.data, run_data.analytic, run_data.dim, run_data.table
        self.ladder: Ladder = choose_ladder(self.data, setup.levels, setup.sigma_max, setup.sigma_min)
        self.points = drawn_points(self.data, cfg.seed, DRAW_POINTS)
        self._identity_sets: dict = {}
        self._reference: tuple | None = None
        self._gradient = ladder_gradient()
        self.reinitialise()

    @property
    def sigmas(self) -> np.ndarray:
        return self.ladder.sigmas

    def reinitialise(self) -> None:
        """Back to the seed's initial parameters (B = C = 0) and the start of the batch stream."""
        cfg = self.setup.config
        plain = unpack(initial_theta(cfg, self.dim), self.dim)
        theta = pack(init_conditional({k: np.array(v) for k, v in plain.items()}, self.ladder.levels))
        self.run = Run(theta, cfg.optimizer, cfg.lr, name="ladder")
        self.batch_rng = streams.stream(cfg.seed, streams.LADDER_BATCHES)
        self.step, self.train_seconds = 0, 0.0

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def message(self) -> str:
        return self.run.message

    def train(self, steps: int) -> int:
        """Up to ``steps`` more training steps, none past the setup's (fewer if the run diverges),
        the learning rate falling along ``cosine_lr``; returns how many were kept."""
        cfg, done = self.setup.config, 0
        dtype = np.dtype(cfg.dtype)
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):
            while done < steps and self.step < self.setup.steps and self.run.status == "ok":
                batch = draw_ladder_batch(self._table, cfg.batch, self.ladder, self.batch_rng, dtype)
                self.run.lr = cosine_lr(cfg.lr, self.step, self.setup.steps)
                if not self.run.step(self._gradient, batch, self.step + 1):
                    break
                self.step += 1
                done += 1
        self.train_seconds += time.perf_counter() - t0
        return done

    @property
    def params(self) -> dict:
        """The parameters now, copied (W, b, c, B, C)."""
        return {k: np.array(v, dtype=float) for k, v in unpack_conditional(self.run.theta, self.dim,
                                                                            self.ladder.levels).items()}

    # --- sampling --------------------------------------------------------------------------

    def source(self, exact: bool | None = None):
        """What the samplers follow: the exact smoothed score of q, or the model now."""
        exact = self.setup.exact_score if exact is None else exact
        if exact:
            if self.analytic is None:
                raise UserError("the exact score needs an analytic distribution")
            return ExactSource(self.analytic)
        return ModelSource(self.params, self.ladder)

    def start(self, sampler: str | None = None) -> np.ndarray:
        """The particles' start, the same for every walk of this setup (stream LADDER_START)."""
        s = self.setup
        rng = streams.stream(s.config.seed, streams.LADDER_START, list(SAMPLERS).index(sampler or s.sampler))
        return start(sampler or s.sampler, self.data, float(self.sigmas[0]), s.particles, rng)

    def walk(self, exact: bool | None = None, sigma: float | None = None, tag: int = 0) -> Walk:
        """A walk down the ladder with the setup's sampler, or (``sigma``) the same budget of
        steps at that one sigma, without the denoising step: that sigma's density as it is
        (Langevin, or MALA for the "mala" sampler). ``tag`` keeps the walks' noise apart."""
        s = self.setup
        rng = streams.stream(s.config.seed, streams.LADDER_WALK, tag)
        if sigma is None:
            return Walk(s.sampler, self.source(exact), self.sigmas, self.start(), rng, s.steps_per_level, s.eps)
        one = "mala" if s.sampler == "mala" else "ald"
        budget = self.ladder.levels * s.steps_per_level
        return Walk(one, self.source(exact), [sigma], self.start(), rng, budget, s.eps, denoise=False)

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi): the data's range widened as the uniform start's box (core/samplers.py);
        the screen draws every cloud and field in it."""
        lo, hi = self.data.min(axis=0), self.data.max(axis=0)
        pad = BOX_PAD * np.maximum(hi - lo, 1e-9)
        return lo - pad, hi + pad

    def field(self, sigma: float, shape: tuple[int, ...], exact: bool = False) -> FieldSnapshot | None:
        """The score field at ``sigma`` on a grid of ``shape`` over the data (d <= 2; None
        otherwise): the model's score and density there, and the target, the exact smoothed
        score for an analytic q (Parzen's otherwise). ``exact`` draws the exact score as the model's."""
        if self.dim > 2:
            return None
        grid = make_grid(np.stack(self.box(), axis=1), shape[: self.dim])
        target = data_score(grid.points, self.data, sigma, self.analytic)
        if exact and self.analytic is not None:
            model, log_q = target, self.analytic.smoothed(sigma).log_density(grid.points)
            top = log_q.max()
            log_density = log_q - (top + np.log(np.sum(np.exp(log_q - top))))  # normalised on the grid
        else:
            plain = at_sigma(self.params, self.ladder, sigma)
            model, log_density = model_score(plain, grid.points, sigma), model_log_density(plain, grid.points, sigma)
        return FieldSnapshot(tuple(grid.axes), np.asarray(model), np.asarray(target), np.asarray(log_density))

    # --- measures --------------------------------------------------------------------------

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        """(reference, heldout): two independent samples of q (``particles`` each) for an
        analytic q; the training set's two halves otherwise."""
        if self._reference is None:
            if self.analytic is not None:
                rng = streams.stream(self.setup.config.seed, streams.LADDER_REFERENCE)
                n = self.setup.particles
                self._reference = (self.analytic.sample(n, rng), self.analytic.sample(n, rng))
            else:
                self._reference = (self.data[::2], self.data[1::2] if len(self.data) > 1 else self.data)
        return self._reference

    def target_weights(self) -> tuple | None:
        """q's mode weights when its modes are known (an analytic mixture of several), else None."""
        q = self.analytic
        return tuple(float(w) for w in q.weights) if q is not None and len(q.weights) > 1 else None

    def measure(self, x: np.ndarray) -> dict:
        """Every sample metric of x (core/sample_metrics.py), with the target's mode weights."""
        reference, heldout = self.reference()
        modes = self.target_weights() is not None
        out = sample_metrics(x, reference, heldout, self.analytic if modes else None)
        out["target_weights"] = list(self.target_weights()) if modes else None
        return out

    def identity(self, k: int) -> dict | None:
        """The paper's identity at rung k for the model there (core/evaluation.py, verdict by
        core/verdicts.py), on the Parzen density of IDENTITY_REFERENCE training points; None
        when sampling the exact score (there is no model)."""
        if self.setup.exact_score:
            return None
        sigma = float(self.sigmas[k])
        if sigma not in self._identity_sets:
            ref = drawn_points(self.data, self.setup.config.seed, IDENTITY_REFERENCE)
            self._identity_sets[sigma] = build_eval_set(ref, sigma, self.setup.config.seed)
        figures = evaluate(at_sigma(self.params, self.ladder, sigma), self._identity_sets[sigma])
        verdicts = identity_verdicts(figures, sigma, diverged=self.status == "diverged")
        return next(v for v in verdicts if v.key == IDENTITY_KEY).as_dict()

    def per_level(self, walk: Walk, identity: bool = True) -> list[dict]:
        """For each rung: sigma, the MMD^2 of the particles leaving it to q_sigma (on
        PER_LEVEL_POINTS), the identity there, and MALA's acceptance there."""
        reference = self.reference()[0][:PER_LEVEL_POINTS]
        rng = streams.stream(self.setup.config.seed, streams.LADDER_REFERENCE, 1)
        noise = rng.standard_normal(reference.shape)
        rows = []
        for k, sigma in enumerate(self.sigmas):
            cloud = walk.clouds[k][:PER_LEVEL_POINTS] if k < len(walk.clouds) else None
            finite = cloud is not None and np.isfinite(cloud).all()
            rows.append({"level": k + 1, "sigma": float(sigma),
                         "mmd2_to_q_sigma": mmd2(cloud, reference + sigma * noise) if finite else None,
                         "identity": self.identity(k) if identity else None,
                         "acceptance": walk.acceptance[k] if k < len(walk.acceptance) else None})
        return rows

    def baseline(self) -> Baseline:
        """The one-sigma run beside this ladder (``Baseline``)."""
        return Baseline(self)


class Baseline:
    """One sigma = sigma_min beside the ladder, from the same start and with the same budget of
    steps (K T, the denoising step aside). For a learned score: the paper's model trained by DSM
    at sigma_min as `smtui run --objective dsm --sigma SIGMA_MIN` trains it (same data, initial
    parameters and batch stream, as many steps as the ladder), but with the ladder's falling
    learning rate (``cosine_lr``), sampled by MALA
    (core/sampling.py: tuned steps, jumps from q_sigma on BASELINE_REFERENCE training points).
    For the exact score: MALA on q_sigma_min itself, nothing to train."""

    def __init__(self, ladder: LadderRun):
        self.ladder, s = ladder, ladder.setup
        self.sigma = float(ladder.sigmas[-1])
        self.budget = ladder.ladder.levels * s.steps_per_level
        self.step, self.train_seconds, self.run = 0, 0.0, None
        if not s.exact_score:
            self.config = s.config.with_changes(objective="dsm", sigma=self.sigma)
            self.run = Run(initial_theta(self.config, ladder.dim), self.config.optimizer, self.config.lr,
                           name="one sigma")
            self._gradient = objective_gradient("dsm", self.sigma, self.config.lam)
            self._batches = batch_stream(self.config.seed)  # drawn as the trainer draws them (core/batches.py)
            self._batches.use(Plan(("dsm",), ladder.data, self.config.batch, self.sigma, self.config.dtype,
                                   ladder._table))

    @property
    def target_steps(self) -> int:
        return 0 if self.run is None else self.ladder.setup.steps

    @property
    def status(self) -> str:
        return "ok" if self.run is None else self.run.status

    def train(self, steps: int) -> int:
        """Up to ``steps`` more training steps (none past the ladder's); returns how many were kept."""
        done = 0
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):
            while done < steps and self.step < self.target_steps and self.run.status == "ok":
                self.run.lr = cosine_lr(self.config.lr, self.step, self.target_steps)
                if not self.run.step(self._gradient, self._batches.next()["dsm"], self.step + 1):
                    break
                self.step += 1
                done += 1
        self.train_seconds += time.perf_counter() - t0
        return done

    def sample(self) -> dict:
        """Its samples and their metrics, with what it is and how long it took."""
        ladder, s = self.ladder, self.ladder.setup
        rng = streams.stream(s.config.seed, streams.LADDER_WALK, 1)
        t0 = time.perf_counter()
        if self.run is None:
            x = Walk("mala", ladder.source(), [self.sigma], ladder.start(), rng, self.budget, s.eps,
                     denoise=False).run()
            how = "mala on the exact q_sigma (fixed step, no jumps)"
        else:
            params = {k: np.array(v, dtype=float) for k, v in unpack(self.run.theta, ladder.dim).items()}
            data = ladder.data
            ref = data if len(data) <= BASELINE_REFERENCE else drawn_points(data, s.config.seed, BASELINE_REFERENCE)
            x, _ = mala(params, self.sigma, ladder.start(), rng, steps=self.budget, reference=ref)
            how = "mala (core/sampling.py: tuned steps, jumps from q_sigma)"
        out = {"sigma": self.sigma, "sampler": how, "status": self.status,
               "message": "" if self.run is None else self.run.message, "steps": self.step,
               "train_seconds": self.train_seconds, "sample_seconds": time.perf_counter() - t0, "samples": x}
        out["metrics"] = ladder.measure(x)
        return out
