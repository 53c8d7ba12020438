"""Optimisers: Adam against its textbook expressions, and the property the trainer's
finiteness check rests on (a non-finite gradient always gives a non-finite update)."""

import numpy as np
import pytest

from smtui.core.optim import ADAM_B1, ADAM_B2, ADAM_EPS, OPTIMIZERS


def textbook_adam(p, g, m, v, t, lr):
    m = ADAM_B1 * m + (1 - ADAM_B1) * g
    v = ADAM_B2 * v + (1 - ADAM_B2) * g**2
    scale = float(lr * np.sqrt(1 - ADAM_B2**t) / (1 - ADAM_B1**t))
    return p - scale * m / (np.sqrt(v) + ADAM_EPS), m, v


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_is_bit_identical_to_the_textbook_and_keeps_dtype(dtype):
    init, update = OPTIMIZERS["adam"]
    rng = np.random.default_rng(0)
    p = {"theta": rng.normal(size=50).astype(dtype)}
    state, want = init(p), (p["theta"], np.zeros(50, dtype), np.zeros(50, dtype))
    for t in range(1, 30):
        g = (rng.normal(size=50) * 10.0 ** rng.uniform(-6, 6, 50)).astype(dtype)
        p, state = update(p, {"theta": g}, state, 1e-2)
        want = textbook_adam(*want[:1], g, *want[1:], t, 1e-2)
        np.testing.assert_array_equal(p["theta"], want[0])
        np.testing.assert_array_equal(state["v"]["theta"], want[2])
        assert p["theta"].dtype == dtype and state["m"]["theta"].dtype == dtype


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_gradient_makes_the_update_non_finite(name, bad):
    init, update = OPTIMIZERS[name]
    rng = np.random.default_rng(1)
    p = {"theta": rng.normal(size=8)}
    state = init(p)
    for _ in range(3):  # finite history first, as in training
        p, state = update(p, {"theta": rng.normal(size=8) * 1e3}, state, 0.1)
    g = rng.normal(size=8)
    g[5] = bad
    with np.errstate(invalid="ignore", over="ignore"):  # as in Trainer.train
        new, _ = update(p, {"theta": g}, state, 0.1)
    assert not np.isfinite(new["theta"][5]) and np.isfinite(np.delete(new["theta"], 5)).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_in_place_updates_equal_the_pure_ones_bit_for_bit_and_leave_inputs_alone(name, dtype):
    from smtui.core.optim import UPDATES_INTO

    init, update = OPTIMIZERS[name]
    rng = np.random.default_rng(5)
    p = {"theta": rng.normal(size=40).astype(dtype)}
    state = init(p)
    flat = {k: (v["theta"] if isinstance(v, dict) else v) for k, v in state.items()}
    for _ in range(12):
        g = (rng.normal(size=40) * 10.0 ** rng.uniform(-4, 4, 40)).astype(dtype)
        before = (p["theta"].copy(), {k: np.copy(v) for k, v in flat.items()}, g.copy())
        new_theta, scratch = np.empty_like(p["theta"]), np.empty_like(p["theta"])
        new_flat = {k: np.empty_like(v) for k, v in flat.items()}
        UPDATES_INTO[name](p["theta"], g, flat, 1e-2, new_theta, new_flat, scratch)
        np.testing.assert_array_equal(p["theta"], before[0])  # inputs untouched
        np.testing.assert_array_equal(g, before[2])
        for k, v in flat.items():
            np.testing.assert_array_equal(v, before[1][k])
        p, state = update(p, {"theta": g}, state, 1e-2)
        np.testing.assert_array_equal(new_theta, p["theta"])
        assert new_theta.dtype == dtype
        for k, v in state.items():
            np.testing.assert_array_equal(new_flat[k], v["theta"] if isinstance(v, dict) else v)
        flat = new_flat
        p = {"theta": new_theta}
