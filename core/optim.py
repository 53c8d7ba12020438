"""Optimisers, each written once, on flat parameter vectors (theta = smtui.core.fused.pack).

An optimiser is ``init(theta) -> state`` (a dict of flat vectors like theta, and scalars
such as Adam's count t) and ``update_into(theta, grad, state, lr, new_theta, new_state,
scratch)``, which writes the step into buffers the caller owns (none of them an input), so
a step allocates nothing and the inputs stay as they were: the trainer keeps them when the
step turns out non-finite. ``Optimizer.update`` is the same step returning fresh arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MOMENTUM = 0.9
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8


def sgd_init(theta: np.ndarray) -> dict:
    return {}


def sgd_update_into(theta, grad, state, lr, new_theta, new_state, scratch):
    """theta - lr g."""
    np.multiply(grad, lr, out=scratch)
    np.subtract(theta, scratch, out=new_theta)


def momentum_init(theta: np.ndarray) -> dict:
    return {"v": np.zeros_like(theta)}


def momentum_update_into(theta, grad, state, lr, new_theta, new_state, scratch):
    """v = MOMENTUM v + g; theta - lr v."""
    v = new_state["v"]
    np.multiply(state["v"], MOMENTUM, out=v)
    v += grad
    np.multiply(v, lr, out=scratch)
    np.subtract(theta, scratch, out=new_theta)


def adam_init(theta: np.ndarray) -> dict:
    return {"m": np.zeros_like(theta), "v": np.zeros_like(theta), "t": np.zeros((), dtype=np.int64)}


def adam_update_into(theta, grad, state, lr, new_theta, new_state, scratch):
    """Kingma & Ba's Adam with the bias corrections folded into one scale:
    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, theta - lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)."""
    t = int(state["t"]) + 1
    # A Python float (not a numpy float64) so float32 parameters stay float32; math.sqrt is
    # numpy's correctly rounded square root without a numpy scalar's overhead (the same bits).
    scale = float(lr) * math.sqrt(1 - ADAM_B2**t) / (1 - ADAM_B1**t)
    m, v = new_state["m"], new_state["v"]
    np.multiply(grad, 1 - ADAM_B1, out=m)
    np.multiply(state["m"], ADAM_B1, out=scratch)
    m += scratch
    np.multiply(grad, grad, out=v)
    v *= 1 - ADAM_B2
    np.multiply(state["v"], ADAM_B2, out=scratch)
    v += scratch
    np.sqrt(v, out=new_theta)  # new_theta holds the step's denominator until the last line
    new_theta += ADAM_EPS
    np.multiply(m, scale, out=scratch)
    np.divide(scratch, new_theta, out=new_theta)
    np.subtract(theta, new_theta, out=new_theta)
    new_state["t"] = np.asarray(t, dtype=np.int64)


@dataclass(frozen=True)
class Optimizer:
    init: Callable  # theta -> state
    update_into: Callable  # (theta, grad, state, lr, new_theta, new_state, scratch) -> None

    def update(self, theta: np.ndarray, grad: np.ndarray, state: dict, lr: float) -> tuple[np.ndarray, dict]:
        """(new theta, new state) as fresh arrays; the inputs are left as they were."""
        new_theta, scratch = np.empty_like(theta), np.empty_like(theta)
        new_state = {k: np.empty_like(v) for k, v in state.items()}
        self.update_into(theta, grad, state, lr, new_theta, new_state, scratch)
        return new_theta, new_state


OPTIMIZERS = {
    "sgd": Optimizer(sgd_init, sgd_update_into),
    "momentum": Optimizer(momentum_init, momentum_update_into),
    "adam": Optimizer(adam_init, adam_update_into),
}
