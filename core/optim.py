"""Optimisers as pure functions: init(params) -> state; update(params, grads, state, lr)
-> (params, state). Parameters and state are dicts of plain arrays.

Each also has an ``*_into`` form for the trainer's hot loop: the same update, bit for
bit, on flat vectors (theta, and a state of flat vectors such as {"m", "v", "t"}),
written into buffers the caller owns (``new_theta``, ``new_state``, ``scratch``; none
of them an input) so a step allocates nothing and the inputs stay as they were (the
trainer keeps them if the step turns out non-finite)."""

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


def sgd_update_into(theta, grad, state, lr, new_theta, new_state, scratch):
    np.multiply(grad, lr, out=scratch)
    np.subtract(theta, scratch, out=new_theta)


def momentum_update_into(theta, grad, state, lr, new_theta, new_state, scratch):
    v = new_state["v"]
    np.multiply(state["v"], MOMENTUM, out=v)
    v += grad  # MOMENTUM * v + g: the same sum as momentum_update's (IEEE addition commutes)
    np.multiply(v, lr, out=scratch)
    np.subtract(theta, scratch, out=new_theta)


def adam_update_into(theta, grad, state, lr, new_theta, new_state, scratch):
    t = int(state["t"]) + 1
    scale = float(lr * np.sqrt(1 - ADAM_B2**t) / (1 - ADAM_B1**t))
    m, v = new_state["m"], new_state["v"]
    np.multiply(grad, 1 - ADAM_B1, out=m)
    np.multiply(state["m"], ADAM_B1, out=scratch)
    m += scratch
    np.multiply(grad, grad, out=v)
    v *= 1 - ADAM_B2
    np.multiply(state["v"], ADAM_B2, out=scratch)
    v += scratch
    np.sqrt(v, out=new_theta)  # new_theta holds the step until the last line
    new_theta += ADAM_EPS
    np.multiply(m, scale, out=scratch)
    np.divide(scratch, new_theta, out=new_theta)
    np.subtract(theta, new_theta, out=new_theta)
    new_state["t"] = np.asarray(t, dtype=np.int64)


UPDATES_INTO = {"sgd": sgd_update_into, "momentum": momentum_update_into, "adam": adam_update_into}

OPTIMIZERS = {
    "sgd": (sgd_init, sgd_update),
    "momentum": (momentum_init, momentum_update),
    "adam": (adam_init, adam_update),
}
