"""Several objectives trained side by side: one start, one stream of batches (issue 12).

``Comparison`` owns the shared data, evaluation set and batch stream, and one run per
objective (core/run.py's ``Run``: flat parameters, optimiser state, learning rate), all
set up as a lone ``smtui run`` is (core/run.py): same data, same initial theta, same
batch stream. Each step draws (x, x~) once and steps every run on its objective's batch
of it (core/batches.py), or, in exact mode, on the expectation itself
(``smtui.core.compare_batches``), by
``Run.step``, whose divergence rule is the trainer's. Every ``eval_every`` steps each
run's objective is evaluated on the fixed evaluation set and shifted onto one scale, and
the runs are compared (core/stats.py): parameter gaps per pair, and from a few probe
batches (a stream of their own, so training's stream is untouched) each gradient's
variance over batches and each pair's cosine between per-batch gradients. Snapshots are
immutable copies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from smtui.core import streams
from smtui.core.batches import Plan, draw
from smtui.core.compare_batches import (
    SIGMA_GROUP,
    check_objectives,
    exact_batch,
    loss_scale,
    reg_term,
    scale_name,
    shift,
)
from smtui.core.config import Config
from smtui.core.evaluation import EvalSet, build_eval_set, evaluate
from smtui.core.field import bounds_for, data_score, make_grid, model_field
from smtui.core.fused import unpack
from smtui.core.run import Run, batch_stream, drawn_points, initial_theta, load_data, objective_gradient
from smtui.core.runtime import tune_process
from smtui.core.stats import (
    MAX_PROBES,
    MIN_PROBES,
    gradient_variance,
    gradient_variance_se,
    mean_cosine,
    probe,
    relative_gap,
    variance_ratio,
)

GRAD_PROBES = MIN_PROBES  # probe batches per evaluation at least (more until each variance's SE is 10%)
DRAW_POINTS = 300
RATIO = ("dsm", "esm-sigma")  # the gradient variance ratio's numerator and denominator
# Runs whose parameter gap (relative_gap) is at most this share one start (set_exact): exact steps
# from one start keep them within it (~1e-4 after 200 Adam steps), the first minibatch steps leave them
# further apart, and from within it their exact gradients' cosines are 1 to 1e-6.
TOGETHER = 1e-4


def matched_lrs(names, config: Config, match: bool) -> tuple[dict, str]:
    """Each run's learning rate, and what the match makes exact. DSM = DAE / (2 sigma^4) on
    every batch, so SGD (or momentum) with DAE's rate divided by 2 sigma^4 takes the same
    steps; Adam ignores a loss's scale (up to its eps), so it needs no change."""
    lrs = {n: config.lr for n in names}
    if "dae" not in names:
        return lrs, ""
    if config.optimizer == "adam":
        return lrs, ("adam: DSM and DAE agree closely (Adam ignores the loss's scale up to its eps), "
                     "not exactly")
    if not match:
        return lrs, f"{config.optimizer}, same lr: DAE steps 2σ⁴ = {2 * config.sigma**4:.3g} times DSM's"
    lrs["dae"] = config.lr * loss_scale("dae", config.sigma)
    return lrs, f"{config.optimizer}, DAE lr / 2σ⁴: DSM and DAE take the same steps (equal up to rounding)"


@dataclass(frozen=True)
class CompareSnapshot:
    """Everything the compare screen or a report needs, copied (fresh dicts, read-only
    arrays): safe to hand to another thread, and it pickles to another process."""

    step: int
    config: Config
    objectives: tuple[str, ...]
    exact: bool
    scale: str
    notes: tuple[str, ...]  # what the mode and the lr match make exact, in words
    lrs: dict
    status: dict  # name -> "ok" / "diverged" (core/run.py's rule, the trainer's)
    curves: dict  # name -> (k, 2) [step, value on the scale]
    gaps: dict  # "a|b" -> (k, 2) [step, max|theta_a - theta_b| / max|theta_a|]
    cosine: dict  # "a|b" -> latest mean cosine of per-batch gradients
    gradient_variance: dict  # name -> latest variance over batches (on the scale)
    dim: int
    points: np.ndarray
    fields: dict | None = None  # name -> (axes, model score (G, d), log density (G,))
    data_field: np.ndarray | None = None  # the data score on the same grid (G, d)
    train_seconds: float = 0.0
    messages: dict | None = None  # name -> what a diverged run says ("" while ok)
    gradient_variance_se: dict | None = None  # name -> its standard error (0 in exact mode)
    # Var grad DSM / Var grad ESM_qsigma at one run's parameters on the same batches: (ratio, its
    # standard error, the run whose theta), None for the clean objectives and in exact mode
    variance_ratio: tuple | None = None
    probe_batches: int = 0  # how many probe batches the latest statistics rest on


class Comparison:
    """K runs, one start, one batch stream; advanced together by ``train``."""

    def __init__(self, config: Config, objectives, exact: bool = False, match_lr: bool = True,
                 probes: int = GRAD_PROBES, points: np.ndarray | None = None, max_probes: int = MAX_PROBES):
        tune_process()
        self.names = check_objectives(objectives)
        self.config = config.with_changes(objective=self.names[0])  # validates esm's analytic q too
        for n in self.names[1:]:
            self.config.with_changes(objective=n)
        self.exact, self.match_lr, self.probes, self.max_probes = exact, match_lr, probes, max(probes, max_probes)
        self.start_note = "exact mode from the runs' one shared start"  # how exact mode began (set_exact)
        cfg = self.config
        setup = load_data(cfg, points)  # the trainer's setup (core/run.py)
        self.data, self.analytic, self.dim = setup.data, setup.analytic, setup.dim
        self._table, self.data_score = setup.table, setup.data_score
        self.points = drawn_points(self.data, cfg.seed, DRAW_POINTS)
        self.train_seconds = 0.0
        self._setup_sigma()
        self.reinitialise()

    def _setup_sigma(self) -> None:
        """Everything that depends on sigma and the learning rate: eval set, exact batch, lrs."""
        self._eval_set: EvalSet | None = None
        self._exact = None
        self._target = None  # (grid shape and sigma, grid, the data score on it) for snapshots
        self.lrs, lr_note = matched_lrs(self.names, self.config, self.match_lr)
        self.notes = tuple(n for n in (lr_note,) if n)
        cfg = self.config
        self._grads = {n: objective_gradient(n, cfg.sigma, cfg.lam) for n in set(self.names) | set(RATIO)}
        # Exact mode's expectation is taken in float64 whatever the training dtype.
        self._weighted = {n: (lambda t, b, g=self._grads[n]: g(t.astype(float, copy=False), b)) for n in self.names}
        self._dtype = np.dtype(cfg.dtype)
        self._plan = Plan(self.names, self.data, cfg.batch, cfg.sigma, self._dtype, self._table, self.data_score)

    @property
    def eval_set(self) -> EvalSet:
        if self._eval_set is None:
            self._eval_set = build_eval_set(self.data, self.config.sigma, self.config.seed, self.analytic)
        return self._eval_set

    def exact_batches(self) -> tuple[dict, str]:
        if self._exact is None:
            self._exact = exact_batch(self.names, self.eval_set, self.data, self.data_score)
        return self._exact

    # --- commands ---------------------------------------------------------------------------

    def reinitialise(self) -> None:
        """Every run back to the one initial theta (the seed's, as ``smtui run``), history cleared."""
        cfg = self.config
        theta = initial_theta(cfg, self.dim)
        self.runs = {n: Run(theta.copy(), cfg.optimizer, self.lrs[n], name=n) for n in self.names}
        self.batches = batch_stream(cfg.seed)
        self.batches.use(self._plan)
        self.step = 0
        self.history: list[dict] = []  # one row per evaluation and run
        self.gap_history = {_pair(a, b): [] for a, b in combinations(self.names, 2)}
        self._latest: dict | None = None

    def together(self) -> bool:
        """Whether every run is where the others are: parameters within TOGETHER of each other
        (one start, or exact steps from one), before minibatch noise or a divergence moved
        them apart."""
        first, *others = self.runs.values()
        return all(r.status == first.status and relative_gap(r.theta, first.theta) <= TOGETHER for r in others)

    def set_exact(self, on: bool) -> str:
        """Exact mode on or off; what happened, in words. On the expectation every run's step
        is the same step (identity 6), so the runs stay together only from one start: runs
        that have drifted apart are first restarted from the one initial theta (step 0,
        curves and gaps afresh), and the words say so."""
        if on == self.exact:
            return ""
        self.exact = on
        if not on:
            return "minibatch: one shared batch per step, as in practice (the runs drift apart by their noise)"
        self.exact_batches()
        if self.together():
            self.start_note = "exact mode from the runs' one shared start"
            return "exact: every step on the expectation itself, from the runs' one shared start"
        drifted = max((g[-1][1] for g in self.gap_history.values() if g), default=None)
        self.reinitialise()
        apart = f" (parameter gap {drifted:.2g})" if drifted is not None else ""
        self.start_note = "exact mode restarted every run from the one initial θ: they had drifted apart"
        return ("exact: the runs had drifted apart" + apart + ", so every run restarted from the one initial θ "
                "at step 0; on the expectation they now stay together")

    def configure(self, **changes) -> None:
        """Change sigma or lr (the screen's +/-): parameters kept, constants re-evaluated.
        A new sigma is a new scale (ESM_qsigma of another q_sigma): the curves and gaps
        start again from this step rather than join two scales in one line."""
        old = self.config
        self.config = self.config.with_changes(**changes)
        if self.config.sigma != old.sigma:
            self.history = []
            self.gap_history = {k: [] for k in self.gap_history}
            self._latest = None
        self._setup_sigma()
        self.batches.use(self._plan)
        for run in self.runs.values():
            run.lr = self.lrs[run.name]
            if self.config.optimizer != run.optimizer:
                run.use_optimizer(self.config.optimizer)

    # --- training ---------------------------------------------------------------------------

    def train(self, steps: int, evaluate: bool = True) -> int:
        """Advance every run up to ``steps`` steps on shared batches; returns steps done.
        Evaluates every eval_every steps unless ``evaluate`` is False (the app schedules its
        own evaluations). A run that diverges (core/run.py's rule, the trainer's) stops
        there, keeping its last parameters; the others carry on, and training stops when
        none is left."""
        cfg = self.config
        done = 0
        # A diverging step overflows on its way to inf/nan: that is reported, not warned about.
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(steps):
                if not self.live:
                    break
                t0 = time.perf_counter()
                batches = self._step_batches()
                for run in self.runs.values():
                    if run.status == "ok":
                        run.step(*batches[run.name], self.step + 1)
                self.train_seconds += time.perf_counter() - t0
                if not self.live:
                    break  # no run kept this step: the step count stays at the last one kept
                self.step += 1
                done += 1
                if evaluate and self.step % cfg.eval_every == 0:
                    self.evaluate()
        return done

    @property
    def live(self) -> bool:
        """Whether any run is still training (not diverged)."""
        return any(run.status == "ok" for run in self.runs.values())

    def _step_batches(self) -> dict:
        """name -> ((theta, batch) -> (loss, gradient), this step's batch): one draw for all."""
        if self.exact:
            batches = self.exact_batches()[0]
            return {n: (self._weighted[n], batches[n]) for n in self.names}
        batches = self.batches.next()
        return {n: (self._grads[n], batches[n]) for n in self.names}

    # --- evaluation -------------------------------------------------------------------------

    def params(self, name: str) -> dict:
        return {k: np.array(v) for k, v in unpack(self.runs[name].theta, self.dim).items()}

    def evaluate(self) -> dict:
        """Every run's shifted objective, gradient variance, gaps and cosines at this step."""
        if self._latest is not None and self._latest["step"] == self.step:
            return self._latest
        ev, s = self.eval_set, self.config.sigma
        stats = self.gradient_stats()
        variance, variance_se, cosine = stats["variance"], stats["variance_se"], stats["cosine"]
        values = {}
        for n in self.names:
            p = self.params(n)
            figs = evaluate(p, ev)
            reg = reg_term(p, ev, s, self.config.lam) if n == "ism-reg" else None
            values[n] = (shift(n, figs, s, reg), figs["esm_sigma"])
        gaps = {}
        for a, b in combinations(self.names, 2):
            gaps[_pair(a, b)] = relative_gap(self.runs[a].theta, self.runs[b].theta)
            self.gap_history[_pair(a, b)].append((self.step, gaps[_pair(a, b)]))
        for n in self.names:
            row = {"step": self.step, "objective": n, "lr": self.runs[n].lr, "value": values[n][0],
                   "loss": self.runs[n].loss, "esm_sigma": values[n][1], "gradient_variance": variance[n],
                   "gradient_variance_se": variance_se[n], "status": self.runs[n].status}
            for m in self.names:
                if m != n:
                    key = _pair(*sorted((n, m), key=self.names.index))
                    row[f"gap_{m}"], row[f"cosine_{m}"] = gaps[key], cosine[key]
            self.history.append(row)
        self._latest = {"step": self.step, "values": {n: v[0] for n, v in values.items()}, "gaps": gaps,
                        "cosine": cosine, "gradient_variance": variance, "gradient_variance_se": variance_se,
                        "variance_ratio": stats["ratio"], "probe_batches": stats["batches"]}
        return self._latest

    def gradient_stats(self) -> dict:
        """The gradients' statistics over probe batches (core/stats.py; docs/math.md, "Gradient
        noise"): "variance" and "variance_se" (name -> the variance over batches of its
        objective's gradient on the scale, and its standard error), "cosine" ("a|b" -> mean
        cosine between a's and b's gradients on the same batch), "ratio" (Var grad DSM /
        Var grad ESM_qsigma at one run's parameters, its standard error and that run's name:
        the price of not knowing the score, free of sigma's scale) and "batches". Probe
        batches (a stream of their own) are drawn until every variance is known to 10%, or
        ``max_probes``. In exact mode the one batch is the expectation: variances 0, the
        cosines of the exact gradients, no ratio."""
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged run's parameters may be huge
            return self._gradient_stats()

    def _ratio_at(self) -> str | None:
        """Whose parameters the DSM / ESM_qsigma variance ratio is taken at: DSM's run, else
        the first of the q_sigma objectives (None for the clean ones)."""
        if "dsm" in self.names:
            return "dsm"
        return next((n for n in self.names if n in SIGMA_GROUP), None)

    def _gradient_stats(self) -> dict:
        cfg, names = self.config, self.names
        if self.exact:
            fns = self._step_batches()
            g = {n: np.array([fns[n][0](self.runs[n].theta, fns[n][1])[1] * loss_scale(n, cfg.sigma)])
                 for n in names}
            zero = {n: 0.0 for n in names}
            cosine = {_pair(a, b): mean_cosine(g[a], g[b]) for a, b in combinations(names, 2)}
            return {"variance": zero, "variance_se": dict(zero), "cosine": cosine, "ratio": None, "batches": 1}
        rng = streams.stream(cfg.seed, streams.PROBES, self.step)
        at = self._ratio_at()
        wanted = tuple(dict.fromkeys(names + (RATIO if at else ())))
        plan = Plan(wanted, self.data, cfg.batch, cfg.sigma, self._dtype, self._table, self.data_score)

        def probe_draw() -> dict:
            batches = draw(plan, rng)
            out = {n: self._grads[n](self.runs[n].theta, batches[n])[1] * loss_scale(n, cfg.sigma) for n in names}
            for n in RATIO if at else ():  # both at the one run's parameters, on this batch
                out["@" + n] = out[n] if n == at else self._grads[n](self.runs[at].theta, batches[n])[1]
            return out

        g = probe(probe_draw, self.probes, self.max_probes)
        variance = {n: gradient_variance(g[n]) for n in names}
        variance_se = {n: gradient_variance_se(g[n]) for n in names}
        cosine = {_pair(a, b): mean_cosine(g[a], g[b]) for a, b in combinations(names, 2)}
        ratio = (*variance_ratio(g["@dsm"], g["@esm-sigma"]), at) if at else None
        return {"variance": variance, "variance_se": variance_se, "cosine": cosine, "ratio": ratio,
                "batches": len(g[names[0]])}

    # --- views ------------------------------------------------------------------------------

    def curve(self, name: str) -> np.ndarray:
        rows = [(r["step"], r["value"]) for r in self.history if r["objective"] == name]
        return np.array(rows, dtype=float).reshape(-1, 2)

    def snapshot(self, field_shape: tuple[int, ...] | None = None) -> CompareSnapshot:
        latest = self._latest or {"cosine": {}, "gradient_variance": {}}
        fields = target = None
        if field_shape is not None and self.dim <= 2:
            s = self.config.sigma
            key = (tuple(field_shape[: self.dim]), s)
            if self._target is None or self._target[0] != key:  # the data's field: once per grid and sigma
                grid = make_grid(bounds_for(self.data, s), key[0])
                self._target = (key, grid, _ro(data_score(grid.points, self.data, s, self.analytic)))
            _, grid, target = self._target
            fields = {}
            for n in self.names:
                p = self.params(n)
                psi, log_density = model_field(p, grid.points, s)
                fields[n] = (tuple(grid.axes), _ro(psi), _ro(log_density))
        return CompareSnapshot(
            step=self.step, config=self.config, objectives=self.names, exact=self.exact,
            scale=scale_name(self.names, self.analytic is not None),
            notes=self.notes + ((self.start_note, self.exact_batches()[1]) if self.exact else ()),
            lrs={n: r.lr for n, r in self.runs.items()},
            status={n: r.status for n, r in self.runs.items()},
            curves={n: _ro(self.curve(n)) for n in self.names},
            gaps={k: _ro(np.array(v, dtype=float).reshape(-1, 2)) for k, v in self.gap_history.items()},
            cosine=dict(latest["cosine"]),
            gradient_variance=dict(latest["gradient_variance"]),
            gradient_variance_se=dict(latest.get("gradient_variance_se", {})),
            variance_ratio=latest.get("variance_ratio"), probe_batches=latest.get("probe_batches", 0),
            dim=self.dim, points=self.points, fields=fields, data_field=target, train_seconds=self.train_seconds,
            messages={n: r.message for n, r in self.runs.items()},
        )


def _pair(a: str, b: str) -> str:
    return f"{a}|{b}"


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.flags.writeable = False
    return a
