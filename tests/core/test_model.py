"""The energy model: autograd definitions against the closed forms of docs/math.md, and
numerical stability. (The one hand-written gradient, core/fused.py, is tested against
autograd in test_primitives.py.)"""

import numpy as np
import pytest
from autograd import jacobian

from smtui.core.model import (
    divergence,
    energy,
    init_params,
    jacobian_diagonal,
    jacobian_diagonal_autograd,
    reconstruction,
    score,
    score_autograd,
    sigmoid,
    softplus,
)


def closed_form_score(p, x, sigma):
    s = 1 / (1 + np.exp(-(x @ p["W"].T + p["b"])))
    return (s @ p["W"] + p["c"] - x) / sigma**2


def closed_form_divergence(p, x, sigma):
    s = 1 / (1 + np.exp(-(x @ p["W"].T + p["b"])))
    return ((s * (1 - s)) @ np.sum(p["W"] ** 2, axis=1) - x.shape[1]) / sigma**2


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("sigma", [0.1, 0.7])
def test_autograd_score_matches_closed_form(rng, d, sigma, random_params):
    p = random_params(rng, d, 7)
    x = rng.normal(size=(11, d))
    np.testing.assert_allclose(score_autograd(p, x, sigma), closed_form_score(p, x, sigma), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(score(p, x, sigma), closed_form_score(p, x, sigma), rtol=1e-12, atol=1e-10)


def test_score_is_minus_energy_gradient_by_finite_differences(rng, random_params):
    p, x, sigma, h = random_params(rng, 2, 5), rng.normal(size=(4, 2)), 0.4, 1e-6
    fd = np.stack([(energy(p, x - h * e, sigma) - energy(p, x + h * e, sigma)) / (2 * h) for e in np.eye(2)], 1)
    np.testing.assert_allclose(score(p, x, sigma), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("d", [1, 3])
def test_divergence_closed_form_against_full_autograd_jacobian(rng, d, random_params):
    p, x, sigma = random_params(rng, d, 6), rng.normal(size=(5, d)), 0.3
    for i in range(x.shape[0]):
        J = jacobian(lambda z: score_autograd(p, z[None, :], sigma)[0])(x[i])
        assert np.trace(J) == pytest.approx(closed_form_divergence(p, x[i : i + 1], sigma)[0], rel=1e-10)
        np.testing.assert_allclose(jacobian_diagonal(p, x[i : i + 1], sigma)[0], np.diag(J), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(divergence(p, x, sigma), closed_form_divergence(p, x, sigma), rtol=1e-10)
    np.testing.assert_allclose(jacobian_diagonal(p, x, sigma), jacobian_diagonal_autograd(p, x, sigma), rtol=1e-10)


def test_reconstruction_is_sigma_squared_score_plus_x(rng, random_params):
    p, x, sigma = random_params(rng, 2, 4), rng.normal(size=(6, 2)), 0.25
    np.testing.assert_allclose(reconstruction(p, x), sigma**2 * score(p, x, sigma) + x, rtol=1e-12, atol=1e-12)


def test_softplus_and_sigmoid_are_stable_at_extremes():
    a = np.array([-1e4, -800.0, -30.0, 0.0, 30.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sp, sg = softplus(a), sigmoid(a)
    assert np.all(np.isfinite(sp)) and np.all(np.isfinite(sg))
    np.testing.assert_allclose(sp[-1], 1e4)
    assert sp[0] == pytest.approx(0.0, abs=1e-300)
    np.testing.assert_allclose(sg[[0, 3, -1]], [0.0, 0.5, 1.0])
    assert np.all(np.isfinite(energy({"W": np.ones((3, 2)) * 1e3, "b": np.zeros(3), "c": np.zeros(2)},
                                     np.full((2, 2), 1e3), 0.1)))


def test_init_is_a_bump_at_the_origin(rng):
    p = init_params(rng, 2, 64)
    np.testing.assert_allclose(score(p, np.zeros((1, 2)), 0.3), 0.0, atol=1e-12)
    assert p["W"].shape == (64, 2) and p["b"].shape == (64,) and p["c"].shape == (2,)
    assert init_params(rng, 2, 8, dtype=np.float32)["W"].dtype == np.float32
