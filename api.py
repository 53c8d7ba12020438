"""smtui from a script or a notebook: build a setup, train, evaluate, compare objectives and
sweep a grid, getting plain data back (dicts of numbers and numpy arrays). A thin front end
over the engine (smtui.core): the same runs, figures and checks as the command line, so a
figure computed here is the one `smtui run`, `compare` or `sweep` prints. Documented, with
an example, in docs/api.md.

    from smtui import api
    cfg = api.setup(distribution="ring8", objective="dsm", sigma=0.3, hidden=32)
    run = api.train(cfg, steps=500)
    run["figures"]["esm"], run["params"]["W"].shape

A bad value raises ``smtui.core.errors.UserError`` (a ValueError) with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from smtui.core.config import Config
from smtui.core.errors import UserError

__all__ = ["UserError", "compare", "evaluate", "load_sweep", "points", "score", "setup", "sweep", "train"]


def setup(config: Config | None = None, **settings) -> Config:
    """A validated setup: ``config`` (default: the defaults) with any Config field changed:
    distribution, data_path, objective, sigma, lr, optimizer, batch, hidden, n_train, lam,
    seed, dtype, eval_every."""
    return (config or Config()).with_changes(**settings)


def train(config: Config | None = None, steps: int = 2000, evaluate_every: int | None = None, **settings) -> dict:
    """Train one run for ``steps`` steps (fewer if it diverges) and measure it at the end.
    Returns {"config": the setup as a dict, "status": "ok" or "diverged", "message", "steps",
    "params": {"W", "b", "c"} (arrays), "data": the training points, "losses": (k, 2) array
    of (step, loss), "figures": every figure at the final parameters (ESM_q, ESM_qsigma, DSM,
    C2, C3, ...), "evaluations": the figures every ``evaluate_every`` steps (if given)}."""
    from smtui.core.trainer import Trainer

    cfg = setup(config, **settings)
    _steps(steps)
    trainer = Trainer(cfg)
    evaluations = []
    while trainer.step < steps and trainer.status == "ok":
        chunk = min(evaluate_every or steps, steps - trainer.step)
        if trainer.train(chunk, evaluate=False) < chunk:
            break
        if evaluate_every:
            evaluations.append(dict(trainer.evaluate()))
    with np.errstate(over="ignore", invalid="ignore"):
        figures = dict(trainer.evaluate())
    losses = np.array(trainer.losses.array(), dtype=float)
    return {"config": cfg.to_dict(), "status": trainer.status, "message": trainer.message, "steps": trainer.step,
            "params": trainer.params, "data": np.array(trainer.data), "losses": losses, "figures": figures,
            "evaluations": evaluations}


def evaluate(config: Config, params: Mapping[str, np.ndarray]) -> dict:
    """Every figure (core/evaluation.py) for ``params`` on ``config``'s data and evaluation
    set: what `smtui run` reports at the end of a run."""
    from smtui.core.trainer import Trainer

    trainer = Trainer(setup(config))
    trainer.params = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    with np.errstate(over="ignore", invalid="ignore"):
        return dict(trainer.evaluate())


def score(params: Mapping[str, np.ndarray], x, sigma: float) -> np.ndarray:
    """The model's score psi(x) = -dE/dx (docs/math.md) at the rows of ``x``, shape (n, d)."""
    from smtui.core.model import score as model_score

    return np.asarray(model_score({k: np.asarray(v, dtype=float) for k, v in params.items()},
                                  np.asarray(x, dtype=float), sigma))


def points(distribution: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points of a built-in distribution, as a run with that seed draws its training set."""
    from smtui.core.distributions import sample

    setup(distribution=distribution, n_train=n, seed=seed)  # the checks the flags get
    return np.asarray(sample(distribution, n, seed))


def compare(config: Config | None = None, objectives: Iterable[str] = ("esm-sigma", "dsm"), steps: int = 1000,
            exact: bool = False, match_lr: bool = True, **settings) -> dict:
    """Train several objectives side by side from one start on one batch stream (as `smtui
    compare`). Returns {"objectives", "steps", "runs": {name: {"status", "lr", "value": its
    final value on the common scale, "params", "curve": (k, 2) array of (step, value),
    "gradient_variance", "gradient_variance_se"}}, "gaps" and "cosine" per pair "a|b",
    "variance_ratio"}."""
    from smtui.core.compare import Comparison

    _steps(steps)
    c = Comparison(setup(config, **settings), list(objectives), exact=exact, match_lr=match_lr)
    c.evaluate()
    with np.errstate(over="ignore", invalid="ignore"):
        c.train(steps, evaluate=False)
        latest = c.evaluate()
    runs = {name: {"status": run.status, "lr": run.lr, "value": latest["values"][name], "params": c.params(name),
                   "curve": np.asarray(c.curve(name), dtype=float),
                   "gradient_variance": latest["gradient_variance"][name],
                   "gradient_variance_se": latest["gradient_variance_se"][name]} for name, run in c.runs.items()}
    return {"objectives": list(c.names), "steps": c.step, "runs": runs, "gaps": dict(latest["gaps"]),
            "cosine": dict(latest["cosine"]), "variance_ratio": latest["variance_ratio"]}


def sweep(grid: Mapping[str, object], config: Config | None = None, seeds: int = 3, steps: int = 2000, jobs: int = 1,
          scheduler: str | None = None, out: str | None = None, resume: bool = False,
          progress: Callable[[int, int, dict], None] | None = None, **settings) -> dict:
    """One run per cell of ``grid`` and seed (as `smtui sweep`). ``grid`` maps setup flags to
    values: a list, or for numbers "START:STOP:COUNT" (evenly in log), e.g. {"sigma":
    "0.03:3:8", "objective": ["dsm", "esm-sigma"]}; every value is checked before the first
    run. ``jobs`` worker processes (1: this process), or the Dask cluster ``scheduler`` names
    ("local" or "tcp://HOST:PORT"). ``out`` names a results file each finished run is added
    to (``resume`` continues it). ``progress(done, total, run)`` is called as each run ends.
    Returns {"config", "grid", "seeds", "steps", "partial", "planned_runs", "runs": every run
    (its setup and figures), "summary": mean and spread per cell}."""
    from smtui.core.grid import check_axes, parse_axis
    from smtui.core.outputs import Request, check
    from smtui.core.sweep import run_key, run_sweep
    from smtui.core.sweep_file import Plan, append_run, check_resumable, drop_cut_line, read, report, start

    _steps(steps)
    base = setup(config, **settings)
    axes = [parse_axis(f"{name}={_values(values)}", base) for name, values in grid.items()]
    check_axes(axes, {})
    plan = Plan(base, tuple(axes), seeds, steps)
    configs = plan.configs()
    done: list[dict] = []
    output = None
    if out is not None:
        output = check(Request("out", out, replaces=resume, regular_only=True),
                       force_hint="pass resume=True to continue it, or choose another name")
        if resume:
            found = read(out, "results file")
            check_resumable(found, plan)
            done = list(found.runs)
            if found.dropped_cut_line:
                drop_cut_line(output)
        else:
            start(output, plan)
    finished = {run_key(r) for r in done}
    todo = [c for c in configs if run_key(c) not in finished]

    def each(n: int, total: int, run: dict) -> None:
        if output is not None:
            append_run(output, run)
        if progress is not None:
            progress(len(done) + n, len(configs), run)

    new = run_sweep(todo, steps, jobs, each, scheduler=scheduler)
    return report(plan, _in_grid_order(done + new, configs))


def load_sweep(path: str) -> dict:
    """A sweep read back from its results file (``out``) or a --json report: the same dict
    ``sweep`` returns, without training."""
    from smtui.core.sweep_file import read, report

    found = read(path)
    return report(found.plan, found.runs)


def _in_grid_order(runs: list[dict], configs: list[Config]) -> list[dict]:
    from smtui.core.sweep import in_order

    return in_order(runs, configs)


def _values(values) -> str:
    if isinstance(values, str):
        return values
    if isinstance(values, Iterable):
        return ",".join(str(v) for v in values)
    return str(values)


def _steps(steps) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise UserError(f"steps must be a whole number >= 0, got {steps!r}")
