"""Distributions: analytic scores against finite differences, smoothing against Monte Carlo
convolution, shapes and determinism of the training set."""

import numpy as np
import pytest

from smtui.core import distributions as D
from smtui.core.errors import UserError


@pytest.mark.parametrize("name", list(D.ANALYTIC))
def test_analytic_score_matches_finite_differences(rng, name):
    q = D.analytic(name)
    x, h = q.sample(7, rng), 1e-6
    fd = np.stack([(q.log_density(x + h * e) - q.log_density(x - h * e)) / (2 * h) for e in np.eye(q.dim)], 1)
    np.testing.assert_allclose(q.score(x), fd, rtol=1e-6, atol=1e-7)


def test_smoothed_density_is_the_convolution(rng):
    """q_sigma(x) = E_eps q(x - sigma eps): Monte Carlo of the convolution vs the closed form."""
    q, sigma = D.analytic("ring8"), 0.3
    x = np.array([[2.0, 0.1], [1.0, 0.9], [1.3, 1.5]])
    eps = rng.standard_normal((200_000, 2))
    mc = [np.mean(np.exp(q.log_density(xi - sigma * eps))) for xi in x]
    np.testing.assert_allclose(np.exp(q.smoothed(sigma).log_density(x)), mc, rtol=2e-2)


def test_analytic_definitions_match_the_issue():
    ring = D.analytic("ring8")
    np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 2.0)
    np.testing.assert_allclose(np.sqrt(ring.covs[:, 0, 0]), 0.25)
    np.testing.assert_allclose(D.analytic("gaussian").covs[0], [[1, 0.8], [0.8, 1]])
    bi = D.analytic("bimodal")
    assert bi.dim == 1 and sorted(bi.means[:, 0]) == [-2, 2]


@pytest.mark.parametrize("name", D.NAMES)
def test_training_set_is_deterministic_and_in_range(name):
    a, b = D.sample(name, 300, 7), D.sample(name, 300, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, D.sample(name, 300, 8))
    assert np.all(np.abs(a) < 4.5)
    assert a.shape == (300, 1 if name == "bimodal" else 2)


def test_unknown_distribution_is_a_user_error():
    with pytest.raises(UserError, match="choose one of"):
        D.sample("nope", 10, 0)
