"""One training run's setup, its step and the one divergence rule, shared by the trainer
(core/trainer.py) and the comparison (core/compare.py), so that the two cannot drift apart.

* Setup: ``load_data`` (the training set, q's analytic form when there is one, and what
  batches are drawn from), ``drawn_points``, ``initial_theta`` and ``batch_stream``, each
  on its own stream of core/streams.py; ``Run`` holds the optimiser's state
  (core/optim.py) beside theta.
* Step: ``Run.step`` takes one optimiser step on a gradient (``objective_gradient``: the
  one fast path, core/fused.py) and keeps it only if ``divergence`` finds nothing wrong;
  otherwise the run is marked diverged and keeps its last parameters.

Parameters and optimiser state live as flat vectors (theta = fused.pack(params)): one
array for the gradient and the optimiser per step, updated into buffers the run reuses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smtui.core import distributions, streams
from smtui.core.batches import VERSION as STREAM_VERSION
from smtui.core.batches import BatchStream
from smtui.core.config import Config
from smtui.core.data import load_points
from smtui.core.fused import pack, with_ones
from smtui.core.model import init_params
from smtui.core.objectives import OBJECTIVES
from smtui.core.optim import OPTIMIZERS

# --- setup ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RunData:
    """The training set D and what every batch drawn from it needs."""

    data: np.ndarray  # (n, d) training points
    analytic: distributions.GaussianMixture | None  # q itself, for a named analytic distribution
    table: np.ndarray  # [x, 1] rows (fused.with_ones(data)): the layout batches are drawn in
    data_score: np.ndarray | None  # grad log q at every training point (theta-free: computed once)

    @property
    def dim(self) -> int:
        return self.data.shape[1]


def load_data(config: Config, points: np.ndarray | None = None) -> RunData:
    """D for ``config``: the named distribution's sample (stream DATA), or the user's
    points (``points`` if given, else read from ``config.data_path``)."""
    if config.data_path is not None:
        data = np.asarray(points if points is not None else load_points(config.data_path), dtype=float)
        analytic = None
    else:
        data = distributions.sample(config.distribution, config.n_train, config.seed)
        analytic = distributions.analytic(config.distribution)
    score = analytic.score(data) if analytic is not None else None
    return RunData(data, analytic, with_ones(data), score)


def drawn_points(data: np.ndarray, seed: int, count: int) -> np.ndarray:
    """The training points a screen draws: ``count`` of them in the seed's shuffled order
    (so a smaller count is a prefix of a larger one), read-only."""
    rng = streams.stream(seed, streams.DRAWN_POINTS)
    points = np.array(data[rng.permutation(len(data))[:count]], dtype=float)
    points.flags.writeable = False
    return points


def initial_theta(config: Config, dim: int) -> np.ndarray:
    """The seed's initial parameters (model.init_params on stream INIT), flat."""
    params = init_params(streams.stream(config.seed, streams.INIT), dim, config.hidden, dtype=np.dtype(config.dtype))
    return pack(params)


def batch_stream(seed: int, version: int | None = None) -> BatchStream:
    """The training batches' stream (core/batches.py), in ``version``'s blocks (default:
    the current version)."""
    return BatchStream(seed, version or STREAM_VERSION)


def objective_gradient(objective: str, sigma: float, lam: float):
    """(theta, batch) -> (loss, gradient) in the flat theta, from the one fast path
    (core/fused.py; objective.loss, the definition, is what the tests check it against)."""
    value_and_grad = OBJECTIVES[objective].value_and_grad

    def loss_and_gradient(theta, batch):
        return value_and_grad(theta, batch, sigma, lam)

    return loss_and_gradient


# --- the step and the divergence rule ---------------------------------------------------------


class Run:
    """One run's flat parameters, optimiser and state ("ok" or "diverged", with a message),
    advanced by ``step``."""

    def __init__(self, theta: np.ndarray, optimizer: str, lr: float, name: str = ""):
        self.name, self.lr = name, lr
        self.status, self.message = "ok", ""
        self.loss: float | None = None  # the latest kept step's training loss
        self.theta = theta
        self.use_optimizer(optimizer)

    @property
    def theta(self) -> np.ndarray:
        """The live parameters: a later step may write into this buffer, so copy to keep."""
        return self._theta

    @theta.setter
    def theta(self, value: np.ndarray) -> None:
        self._theta, self._spare = value, None

    @property
    def opt(self) -> dict:
        return self._opt

    @opt.setter
    def opt(self, value: dict) -> None:
        self._opt, self._spare = value, None

    def use_optimizer(self, optimizer: str) -> None:
        """Switch to ``optimizer`` with a fresh state (parameters kept)."""
        self.optimizer, self._update = optimizer, OPTIMIZERS[optimizer].update_into
        self.opt = OPTIMIZERS[optimizer].init(self._theta)

    def step(self, loss_and_gradient, batch, at: int) -> bool:
        """One optimiser step on ``loss_and_gradient(theta, batch) -> (loss, gradient)``
        (``objective_gradient``'s form), the ``at``-th of the run: True if kept; False if
        refused by ``divergence``, the run then marked diverged with its parameters and
        optimiser state as they were.

        The update writes into a spare set of buffers (theta, optimiser state, scratch);
        the sets swap when a step is kept. Call it under ``np.errstate(over="ignore",
        invalid="ignore")``: a diverging step overflows on its way to inf or nan, and that
        is reported by the status, not warned about."""
        loss, grad = loss_and_gradient(self._theta, batch)
        theta = self._theta
        if grad.dtype != theta.dtype:  # (the fused primitives give theta's dtype already)
            grad = grad.astype(theta.dtype)
        spare = self._spare
        if spare is None:
            spare = (np.empty_like(theta), {k: np.empty_like(v) for k, v in self._opt.items()}, np.empty_like(theta))
        new_theta, new_opt, scratch = spare
        self._update(theta, grad, self._opt, self.lr, new_theta, new_opt, scratch)
        problem = divergence(loss, grad, new_theta)
        if problem:
            self._spare = spare
            self.status, self.message = "diverged", diverged_message(problem, at)
            return False
        self._spare = (theta, self._opt, scratch)
        self._theta, self._opt = new_theta, new_opt
        self.loss = float(loss)
        return True


THETA_NORM2_MAX = 1e100  # |theta| <= 1e50 keeps every figure finite for sigma >= 1e-8


def divergence(loss, grad: np.ndarray, theta: np.ndarray) -> str:
    """Why the step must not be kept ("" if it may): the one divergence rule.

    Checks the loss and the updated theta only: a non-finite gradient always makes the
    update non-finite (Adam's m is a convex combination of past, finite gradients, so an
    inf or nan gradient gives m = inf or nan and inf/inf or nan steps; SGD and momentum
    pass it straight on), so the gradient is looked at only to say which went first.
    theta . theta is finite only if every entry is (squares are >= 0, so no inf can
    cancel); when it is not (an entry non-finite, or the sum overflowing), the entries are
    looked at one by one. A theta past THETA_NORM2_MAX is refused too, though finite:
    every figure of the parameters kept must stay a float64 (scores squared and divided
    by sigma^4 >= 1e-32; docs/math.md)."""
    if not math.isfinite(loss):
        return "the loss became non-finite"
    norm2 = theta @ theta
    if math.isfinite(norm2) and norm2 <= THETA_NORM2_MAX:
        return ""
    if not np.isfinite(grad).all():
        return "a gradient became non-finite"
    if not np.isfinite(theta).all():
        return "a parameter became non-finite"
    return "the parameters grew past 1e50 in size (their figures would overflow)"


def diverged_message(problem: str, at: int) -> str:
    """What a diverged run says: which step, why, what was kept and what to try."""
    return (f"diverged at step {at}: {problem}; kept the last finite parameters (step {at - 1}). "
            "Try a smaller learning rate or a larger sigma.")
