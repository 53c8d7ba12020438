"""Optimisers as pure functions: init(params) -> state; update(params, grads, state, lr)
-> (params, state). Parameters and state are dicts of plain arrays."""

from __future__ import annotations

import numpy as np

MOMENTUM = 0.9
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8


def _zeros(params):
    return {k: np.zeros_like(v) for k, v in params.items()}


def sgd_init(params):
    return {}


def sgd_update(params, grads, state, lr):
    return {k: params[k] - lr * grads[k] for k in params}, state


def momentum_init(params):
    return {"v": _zeros(params)}


def momentum_update(params, grads, state, lr):
    v = {k: MOMENTUM * state["v"][k] + grads[k] for k in params}
    return {k: params[k] - lr * v[k] for k in params}, {"v": v}


def adam_init(params):
    return {"m": _zeros(params), "v": _zeros(params), "t": np.zeros((), dtype=np.int64)}


def adam_update(params, grads, state, lr):
    t = int(state["t"]) + 1
    # A Python float (not a numpy float64) so float32 parameters stay float32.
    scale = float(lr * np.sqrt(1 - ADAM_B2**t) / (1 - ADAM_B1**t))
    new, m, v = {}, {}, {}
    for k in params:
        # The textbook expressions, evaluated in the same order (bit-identical), with the
        # temporaries reused: in-place only on arrays allocated here, inputs untouched.
        g = grads[k]
        m[k] = mk = (1 - ADAM_B1) * g
        mk += ADAM_B1 * state["m"][k]
        v[k] = vk = g * g
        vk *= 1 - ADAM_B2
        vk += ADAM_B2 * state["v"][k]
        step = np.sqrt(vk)
        step += ADAM_EPS
        np.divide(scale * mk, step, out=step)
        new[k] = params[k] - step
    return new, {"m": m, "v": v, "t": np.asarray(t, dtype=np.int64)}


OPTIMIZERS = {
    "sgd": (sgd_init, sgd_update),
    "momentum": (momentum_init, momentum_update),
    "adam": (adam_init, adam_update),
}
