"""Every random stream smtui draws from, each tag named once.

A stream is ``numpy.random.default_rng([seed, TAG, *more])``: the run's seed, the tag of
what it is for, and for streams drawn afresh at each step, that step. Streams never share
a tag, so drawing more from one (more probe batches, more samples) leaves every other
untouched. The tags and the order of the draws are part of what a saved experiment means:
changing either changes the data, the start or the batches of every run, and a saved
experiment would no longer replay bit for bit.
"""

from __future__ import annotations

import numpy as np

DATA = 0xD47A  # a named distribution's training set (core/distributions.py)
EVALUATION = 0xE7A1  # the fixed evaluation set (core/evaluation.py)
DRAWN_POINTS = 0xD8A3  # which training points the screens draw
INIT = 0x1417  # the initial parameters
BATCHES = 0xBA7C  # the training batches, drawn in order, one batch per step (saved with an experiment)
SAMPLES = 0x5A3F  # the model's Langevin samples, per step
PROBES = 0x9A0B  # a comparison's probe batches for its gradient statistics, per step
GRADIENT_NOISE = 0x6AD1  # a sweep run's fresh batches for its gradient variance, per step
LADDER_BATCHES = 0x1ADB  # the noise ladder's training batches (core/ladder_run.py): rungs, points, noise
LADDER_START = 0x1A57  # where a ladder's particles start (every sampler and the baseline start there)
LADDER_WALK = 0x1A3C  # a ladder sampler's noise, per walk (the learned, exact and one-sigma runs)
LADDER_REFERENCE = 0x1AEF  # the points from q the ladder's samples are measured against (fresh for analytic q)


def stream(seed: int, tag: int, *more: int) -> np.random.Generator:
    """The generator of stream ``tag`` for ``seed`` (and a step, for the per-step streams)."""
    return np.random.default_rng([seed, tag, *more])
