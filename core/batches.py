"""The training batches: what a step's batch holds (``Plan``), how its random numbers are
drawn (``draws``), how the arrays are built from them (``build``), and a run's stream of
them, drawn a block of steps at a time (``BatchStream``).

A step's random numbers are its rows of D (``rng.integers``) and, when an objective
trains on noisy points, its noise eps (``rng.standard_normal``), x~ = x + sigma eps.
The stream's version, saved with an experiment, says how steps share the draws:

* version 1 (every experiment saved before the version was recorded): each step draws
  its rows, then its noise;
* version 2: the rows of ``block_steps`` steps in one draw, then their noise.

numpy fills an array in order, so one draw of k * size values holds the numbers of k
draws of size: version 1 is version 2 with blocks of one step. A block's arrays (the rows
as [x, 1], x~, ESM's and ESM-sigma's targets) are built once for the whole block and each
step's batch is views of its rows. Drawing and each array operation cost a few
microseconds per call whatever their size at this model's sizes: a quarter of a default
training step went to them (issue 19); a block pays them once per k steps. The batches
themselves are the same elementwise arithmetic on the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smtui.core import streams
from smtui.core.fused import with_ones
from smtui.core.names import NOISY
from smtui.core.neighbours import parzen_score_near
from smtui.core.parzen import parzen_score

VERSION = 2  # the stream new runs draw (saved with an experiment)
VERSIONS = (1, 2)
BLOCK_STEPS = 32  # steps per block (version 2), fewer for large batches:
BLOCK_ROWS = 1 << 13  # at most this many rows of D in a block (measured: 16 to 64 steps of 256 rows cost the same)


def block_steps(version: int, size: int) -> int:
    """Steps drawn at once by stream ``version`` for batches of ``size`` rows."""
    return 1 if version == 1 else max(1, min(BLOCK_STEPS, BLOCK_ROWS // size))


@dataclass(frozen=True, eq=False)
class Plan:
    """What each step's batch is: for each objective in ``names`` (one for a lone run, the
    comparison's set for a comparison), ``size`` rows drawn from ``data`` with replacement,
    in ``dtype``. ``table`` is ``fused.with_ones(data)``; ``data_score`` q's score at every
    training point (ESM's target, theta-free); ``near`` a smtui.core.neighbours index of data
    for ESM-sigma's target on large training sets."""

    names: tuple[str, ...]
    data: np.ndarray
    size: int
    sigma: float
    dtype: np.dtype
    table: np.ndarray | None = None
    data_score: np.ndarray | None = None
    analytic: object | None = None  # q, for ESM's target when data_score is not given
    near: object | None = None

    def __post_init__(self):
        if self.table is None:
            object.__setattr__(self, "table", with_ones(self.data))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))

    @property
    def noisy(self) -> bool:
        """Whether steps draw noise: some objective trains on x~."""
        return any(n in NOISY for n in self.names)

    def draws_like(self, other: Plan | None) -> bool:
        """Whether batches drawn for ``other`` are this plan's too (a block drawn for one
        serves the other): the same objectives, data, size, sigma and dtype."""
        return other is not None and (self.names, self.size, self.sigma, self.dtype) == (
            other.names, other.size, other.sigma, other.dtype) and all(
            getattr(self, k) is getattr(other, k) for k in ("data", "table", "data_score", "analytic", "near"))


def draws(rng: np.random.Generator, plan: Plan, steps: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """The random numbers of ``steps`` steps: their rows of D, then their noise (None when
    no objective is noisy), in that order from ``rng``."""
    idx = rng.integers(0, plan.data.shape[0], steps * plan.size)
    eps = rng.standard_normal((steps * plan.size, plan.data.shape[1])) if plan.noisy else None
    return idx, eps


def build(plan: Plan, idx: np.ndarray, eps: np.ndarray | None) -> dict:
    """name -> that objective's batch over the rows ``idx`` (noise ``eps``, used up: it
    becomes x~ in place). Batches are dicts: the definitions (core/objectives.py) read
    "x" (and "xt"), the fused gradient (core/fused.py) "x1" / "xt1", the same points with a
    column of ones (views of one array); ESM and ESM-sigma carry "target"."""
    d, dtype = plan.data.shape[1], plan.dtype
    x1 = plan.table.take(idx, axis=0)  # the rows [x, 1] of D, float64
    clean = x1.astype(dtype, copy=False)
    if eps is not None:
        xt = eps  # x~ = x + sigma eps, in float64 whatever the dtype
        xt *= plan.sigma
        xt += x1[:, :d]
        xt1 = with_ones(xt, dtype)
    out = {}
    for name in plan.names:
        if name == "esm":
            target = (plan.data_score.take(idx, axis=0) if plan.data_score is not None
                      else plan.analytic.score(x1[:, :d]))
            out[name] = {"x": clean[:, :d], "x1": clean, "target": np.asarray(target, dtype=dtype)}
        elif name in ("ism", "ism-reg"):
            out[name] = {"x": clean[:, :d], "x1": clean}
        elif name == "esm-sigma":
            if "parzen" not in out:  # the Parzen score at x~, in the training dtype
                out["parzen"] = (parzen_score_near(xt, plan.near).astype(dtype, copy=False) if plan.near is not None
                                 else parzen_score(xt1[:, :d], plan.data.astype(dtype, copy=False), plan.sigma))
            out[name] = {"x": xt1[:, :d], "x1": xt1, "target": out["parzen"]}
        elif name == "ism-sigma":
            out[name] = {"x": xt1[:, :d], "x1": xt1}
        else:  # dsm, dae: the clean x and x~
            out[name] = {"x": clean[:, :d], "xt": xt1[:, :d], "xt1": xt1}
    out.pop("parzen", None)
    return out


def draw(plan: Plan, rng: np.random.Generator) -> dict:
    """name -> its batch for one step drawn from ``rng`` (probe and gradient-noise batches:
    a stream's draws one step at a time, as version 1 draws them)."""
    return build(plan, *draws(rng, plan))


class BatchStream:
    """A run's training batches from its seed's BATCHES stream (core/streams.py), in
    ``version``'s blocks, for the plan ``use`` last set. ``next()`` gives a step's batches;
    ``state`` and ``restore`` save and put back the place in the stream exactly."""

    def __init__(self, seed: int, version: int = VERSION):
        if version not in VERSIONS:
            raise ValueError(f"batch stream version {version} is not one of {VERSIONS}")
        self.version = version
        self.rng = streams.stream(seed, streams.BATCHES)
        self.plan: Plan | None = None
        self._block: dict | None = None
        self._start: dict | None = None  # the generator's state before the block was drawn
        self._steps = self._taken = 0

    def use(self, plan: Plan) -> None:
        """Draw for ``plan`` from now on. A block under way is kept if it serves this plan
        too, else dropped (its rows unused: the stream stays where it is)."""
        if not plan.draws_like(self.plan):
            self._block = None
        self.plan = plan

    def next(self) -> dict:
        """name -> its batch for the next step (views into the block's arrays)."""
        if self._block is None or self._taken == self._steps:
            self._draw()
        size = self.plan.size
        lo = self._taken * size
        self._taken += 1
        hi = lo + size
        return {name: {k: v[lo:hi] for k, v in batch.items()} for name, batch in self._block.items()}

    def _draw(self) -> None:
        self._start = self.rng.bit_generator.state
        self._steps = block_steps(self.version, self.plan.size)
        self._block = build(self.plan, *draws(self.rng, self.plan, self._steps))
        self._taken = 0

    def state(self) -> tuple[dict, int]:
        """(the generator's state, steps taken from the block it starts): the state before
        the block under way and how many of its steps were used, or the state now and 0."""
        if self._block is None or self._taken == self._steps:
            return self.rng.bit_generator.state, 0
        return self._start, self._taken

    def restore(self, state: dict, taken: int) -> None:
        """Put back a ``state()``, drawing that block again for the plan in use."""
        self.rng.bit_generator.state = state
        self._block = None
        if taken:
            if not 0 < taken < block_steps(self.version, self.plan.size):
                raise ValueError(f"{taken} steps taken from a block of {block_steps(self.version, self.plan.size)}")
            self._draw()
            self._taken = taken
