"""core/stats.py: gradient variances, cosines and parameter gaps, against figures worked
out by hand and against numpy's covariance."""

import numpy as np
import pytest

from smtui.core.stats import gradient_variance, mean_cosine, mean_gradient_norm2, relative_gap


def test_helpers():
    assert relative_gap(np.array([2.0, -4.0]), np.array([2.0, -3.0])) == pytest.approx(0.25)
    g = np.array([[1.0, 0.0], [3.0, 0.0]])
    assert gradient_variance(g) == pytest.approx(2.0)
    assert mean_cosine(g, np.array([[0.0, 1.0], [1.0, 1.0]])) == pytest.approx(0.5 * np.sqrt(0.5))


def test_the_variance_is_the_trace_of_numpys_covariance_and_the_mean_norm_its_mean(rng):
    g = rng.normal(size=(40, 7)) * np.arange(1, 8) + 3.0
    assert gradient_variance(g) == pytest.approx(np.trace(np.cov(g, rowvar=False)), rel=1e-12)
    assert mean_gradient_norm2(g) == pytest.approx(np.sum(g.mean(axis=0) ** 2), rel=1e-12)
    assert gradient_variance(g[:1]) == 0.0  # one batch has no spread to measure


def test_edges_say_nan_rather_than_divide_by_zero():
    assert np.isnan(relative_gap(np.zeros(3), np.ones(3)))
    assert np.isnan(mean_cosine(np.zeros((2, 3)), np.ones((2, 3))))
    assert mean_cosine(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 0.0], [-2.0, 0.0]])) == -1.0
