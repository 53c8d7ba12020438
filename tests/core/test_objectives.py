"""The objectives: gradients against finite differences, the DSM target's sign and scale,
and identity 5 (DSM = DAE / (2 sigma^4)) on every batch."""

import numpy as np
import pytest
from autograd import grad

from smtui.core import distributions
from smtui.core.objectives import OBJECTIVES, dae_loss, draw_batch, dsm_loss

SIGMA = 0.4


def batch_for(name, rng, d=2):
    data = distributions.sample("ring8" if d == 2 else "bimodal", 64, 1)
    return draw_batch(name, data, 16, SIGMA, rng, analytic=distributions.analytic("ring8" if d == 2 else "bimodal"))


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_gradient_matches_finite_differences(rng, name, random_params):
    p = random_params(rng, 2, 5)
    batch = batch_for(name, rng)
    f = lambda q: OBJECTIVES[name].loss(q, batch, SIGMA, 0.3)
    g = grad(f)(p)
    h = 1e-6
    for key in ("W", "b", "c"):
        for idx in list(np.ndindex(p[key].shape))[:6]:
            plus = {k: v.copy() for k, v in p.items()}
            minus = {k: v.copy() for k, v in p.items()}
            plus[key][idx] += h
            minus[key][idx] -= h
            fd = (f(plus) - f(minus)) / (2 * h)
            assert g[key][idx] == pytest.approx(fd, rel=1e-5, abs=1e-6), (key, idx)


@pytest.mark.parametrize("sigma", [0.05, 0.3, 2.0])
def test_dsm_equals_dae_over_two_sigma_to_the_fourth_on_every_batch(rng, sigma, random_params):
    """Identity 5 is algebra: exact on any batch, not only in expectation."""
    for d in (1, 2, 5):
        p = random_params(rng, d, 7)
        x = rng.normal(size=(33, d))
        xt = x + sigma * rng.normal(size=x.shape)
        batch = {"x": x, "xt": xt}
        assert dsm_loss(p, batch, sigma) == pytest.approx(dae_loss(p, batch, sigma) / (2 * sigma**4), rel=1e-11)


def test_dsm_target_points_from_noisy_back_to_clean(rng):
    """A model whose score is exactly (x - xt)/sigma^2 has zero DSM loss; the opposite sign does not."""
    x = rng.normal(size=(10, 2))
    xt = x + SIGMA * rng.normal(size=x.shape)
    # W = 0 makes psi = (c - xt)/sigma^2; with one point per batch, c = x makes it exact.
    for i in range(3):
        p = {"W": np.zeros((1, 2)), "b": np.zeros(1), "c": x[i].copy()}
        b = {"x": x[i : i + 1], "xt": xt[i : i + 1]}
        assert dsm_loss(p, b, SIGMA) == pytest.approx(0.0, abs=1e-20)
        p_wrong = {"W": np.zeros((1, 2)), "b": np.zeros(1), "c": 2 * xt[i] - x[i]}
        assert dsm_loss(p_wrong, b, SIGMA) > 0


def test_draw_batch_shapes_and_noise_scale(rng):
    data = distributions.sample("moons", 200, 0)
    b = draw_batch("dsm", data, 5000, 0.3, rng)
    assert b["x"].shape == b["xt"].shape == (5000, 2)
    assert np.std(b["xt"] - b["x"]) == pytest.approx(0.3, rel=0.03)
    ism = draw_batch("ism", data, 8, 0.3, rng)
    assert set(ism) == {"x", "x1"}  # x1 = [x, 1], the fused primitives' layout, sharing memory
    np.testing.assert_array_equal(ism["x1"], np.c_[ism["x"], np.ones(8)])
    assert np.shares_memory(ism["x"], ism["x1"])
    assert draw_batch("esm-sigma", data, 8, 0.3, rng)["target"].shape == (8, 2)
    assert draw_batch("dsm", data, 8, 0.3, rng, dtype=np.float32)["xt"].dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_stream_is_unchanged_by_the_ones_column_layout(dtype):
    """Saved experiments replay the batch stream: x = data[integers(n, size)] and
    xt = x + sigma * standard_normal, bit for bit (cast to the training dtype last)."""
    data = distributions.sample("moons", 300, 1)
    for name in ("dsm", "ism", "esm-sigma", "dae", "ism-sigma"):
        got = draw_batch(name, data, 64, 0.37, np.random.default_rng(8), dtype=dtype)
        rng = np.random.default_rng(8)
        x = data[rng.integers(0, 300, 64)]
        if name == "ism":
            np.testing.assert_array_equal(got["x"], x.astype(dtype))
            continue
        xt = (0.37 * rng.standard_normal(x.shape) + x).astype(dtype)
        np.testing.assert_array_equal(got["xt" if "xt" in got else "x"], xt)
        if name in ("dsm", "dae"):
            np.testing.assert_array_equal(got["x"], x.astype(dtype))


def test_weighted_definitions_are_the_objectives_with_equal_weights(rng, random_params):
    """Per-row weights (the comparison's exact mode): weights 1/n give the mean, and the
    weighted loss is sum_i w_i loss_i, each row's loss taken from a batch of that row alone."""
    p = random_params(rng, 2, 4)
    for name, obj in OBJECTIVES.items():
        batch = batch_for(name, rng)
        n = len(batch["x"])
        assert obj.loss(p, dict(batch, weight=np.full(n, 1 / n)), SIGMA, 0.2) == pytest.approx(
            obj.loss(p, batch, SIGMA, 0.2), rel=1e-12), name
        w = rng.random(n)
        rows = [obj.loss(p, {k: v[i : i + 1] for k, v in batch.items()}, SIGMA, 0.2) for i in range(n)]
        assert obj.loss(p, dict(batch, weight=w), SIGMA, 0.2) == pytest.approx(w @ np.array(rows), rel=1e-12), name
