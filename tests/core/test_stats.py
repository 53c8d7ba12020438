"""core/stats.py: gradient variances, cosines and parameter gaps, against figures worked
out by hand and against numpy's covariance."""

import numpy as np
import pytest

from smtui.core.stats import (
    TARGET_RELATIVE_SE,
    gradient_variance,
    gradient_variance_se,
    mean_cosine,
    mean_gradient_norm2,
    noise_to_signal,
    probe,
    relative_gap,
    signal_norm2,
    variance_ratio,
)


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


def _brute_jackknife(stat, g):
    loo = np.array([stat(np.delete(g, i, axis=0)) for i in range(len(g))])
    return np.sqrt((len(g) - 1) / len(g) * np.sum((loo - loo.mean()) ** 2))


def test_standard_errors_are_the_jackknifes_written_out(rng):
    """The closed forms (leave-one-out variances and mean norms from the deviations) against
    the jackknife recomputed batch by batch."""
    g = rng.normal(size=(30, 5)) * np.arange(1, 6) + 0.8
    h = g + rng.normal(size=g.shape) * 0.7  # correlated with g, as DSM's gradient is with ESM_qsigma's
    assert gradient_variance_se(g) == pytest.approx(_brute_jackknife(gradient_variance, g), rel=1e-10)
    ratio, se = variance_ratio(h, g)
    assert ratio == pytest.approx(gradient_variance(h) / gradient_variance(g), rel=1e-12)
    both = np.concatenate([h, g], axis=1)
    assert se == pytest.approx(_brute_jackknife(lambda b: gradient_variance(b[:, :5]) / gradient_variance(b[:, 5:]),
                                                both), rel=1e-10)
    value, err = noise_to_signal(g)
    assert signal_norm2(g) == pytest.approx(np.sum(g.mean(0) ** 2) - gradient_variance(g) / 30, rel=1e-12)
    assert value == pytest.approx(gradient_variance(g) / signal_norm2(g), rel=1e-12)
    assert err == pytest.approx(_brute_jackknife(lambda b: gradient_variance(b) / signal_norm2(b), g), rel=1e-10)


def test_the_squared_mean_is_unbiased_and_an_unresolved_mean_gives_none(rng):
    """||mean||^2 is high by V/K on average; signal_norm2 is not (2,000 sets of 8 batches of
    gradients with mean (1, 0) and covariance 4 I). A mean within its noise of 0: no ratio."""
    sets = rng.normal(size=(2000, 8, 2)) * 2.0 + np.array([1.0, 0.0])
    plain = np.mean([mean_gradient_norm2(s) for s in sets])
    unbiased = np.mean([signal_norm2(s) for s in sets])
    assert plain == pytest.approx(1.0 + 8.0 / 8, abs=0.1) and unbiased == pytest.approx(1.0, abs=0.1)
    centred = rng.normal(size=(20, 3))
    centred -= centred.mean(axis=0)
    assert noise_to_signal(centred) == (None, None)


def test_probe_draws_until_the_variance_is_known_to_ten_percent(rng):
    """Normal gradients: relative SE ~ sqrt(2 / K) with a 3-dimensional trace a bit less, so
    about 100-200 batches; a cap stops it earlier; nothing drawn beyond what is needed."""
    calls = []

    def draw():
        calls.append(1)
        return {"a": rng.normal(size=3), "b": rng.normal(size=3) * 2}

    g = probe(draw)
    k = len(g["a"])
    assert len(calls) == k == len(g["b"]) and 64 <= k <= 320 and k % 32 == 0
    assert all(gradient_variance_se(v) / gradient_variance(v) <= TARGET_RELATIVE_SE for v in g.values())
    assert len(probe(draw, min_batches=6, max_batches=6)["a"]) == 6
    assert len(probe(lambda: {"a": np.zeros(2)})["a"]) == 32  # no spread: nothing to gain from more
