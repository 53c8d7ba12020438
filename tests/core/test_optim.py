"""Optimisers: each against its textbook expressions, bit for bit, in both float types; the
inputs left alone; and the property the trainer's finiteness check rests on (a non-finite
gradient always gives a non-finite update)."""

import numpy as np
import pytest

from smtui.core.optim import ADAM_B1, ADAM_B2, ADAM_EPS, MOMENTUM, OPTIMIZERS


def textbook(name, p, g, state, t, lr):
    """(new p, new state) by the plain expressions, state as a tuple of arrays."""
    if name == "sgd":
        return p - lr * g, ()
    if name == "momentum":
        v = MOMENTUM * state[0] + g
        return p - lr * v, (v,)
    m = ADAM_B1 * state[0] + (1 - ADAM_B1) * g
    v = ADAM_B2 * state[1] + (1 - ADAM_B2) * g**2
    scale = float(lr * np.sqrt(1 - ADAM_B2**t) / (1 - ADAM_B1**t))
    return p - scale * m / (np.sqrt(v) + ADAM_EPS), (m, v)


STATE_KEYS = {"sgd": (), "momentum": ("v",), "adam": ("m", "v")}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_update_is_bit_identical_to_the_textbook_keeps_dtype_and_leaves_inputs_alone(name, dtype):
    opt = OPTIMIZERS[name]
    rng = np.random.default_rng(0)
    theta = rng.normal(size=50).astype(dtype)
    state = opt.init(theta)
    want = (theta, tuple(np.zeros(50, dtype) for _ in STATE_KEYS[name]))
    for t in range(1, 30):
        g = (rng.normal(size=50) * 10.0 ** rng.uniform(-6, 6, 50)).astype(dtype)
        before = (theta.copy(), g.copy(), {k: np.copy(v) for k, v in state.items()})
        new, new_state = opt.update(theta, g, state, 1e-2)
        np.testing.assert_array_equal(theta, before[0])
        np.testing.assert_array_equal(g, before[1])
        for k, v in state.items():
            np.testing.assert_array_equal(v, before[2][k])
        want = textbook(name, *want[:1], g, want[1], t, 1e-2)
        np.testing.assert_array_equal(new, want[0])
        for k, v in zip(STATE_KEYS[name], want[1], strict=True):
            np.testing.assert_array_equal(new_state[k], v)
            assert new_state[k].dtype == dtype
        assert new.dtype == dtype
        if name == "adam":
            assert int(new_state["t"]) == t
        theta, state = new, new_state


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_gradient_makes_the_update_non_finite(name, bad):
    opt = OPTIMIZERS[name]
    rng = np.random.default_rng(1)
    theta = rng.normal(size=8)
    state = opt.init(theta)
    for _ in range(3):  # finite history first, as in training
        theta, state = opt.update(theta, rng.normal(size=8) * 1e3, state, 0.1)
    g = rng.normal(size=8)
    g[5] = bad
    with np.errstate(invalid="ignore", over="ignore"):  # as in Trainer.train
        new, _ = opt.update(theta, g, state, 0.1)
    assert not np.isfinite(new[5]) and np.isfinite(np.delete(new, 5)).all()
