"""The Parzen density q_sigma: score against finite differences, posterior moments against
direct sums, and stability far from the origin."""

import numpy as np
import pytest

from smtui.core.parzen import parzen_log_density, parzen_score, posterior_stats


def direct_log_density(xt, centres, sigma):
    d = centres.shape[1]
    d2 = ((xt[:, None, :] - centres[None]) ** 2).sum(-1)
    dens = np.exp(-d2 / (2 * sigma**2)).mean(1) / (2 * np.pi * sigma**2) ** (d / 2)
    return np.log(dens)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_log_density_and_score(rng, d):
    centres, xt, sigma, h = rng.normal(size=(40, d)), rng.normal(size=(6, d)), 0.6, 1e-6
    expected = direct_log_density(xt, centres, sigma)
    np.testing.assert_allclose(parzen_log_density(xt, centres, sigma), expected, rtol=1e-10)
    fd = np.stack([(parzen_log_density(xt + h * e, centres, sigma) - parzen_log_density(xt - h * e, centres, sigma))
                   / (2 * h) for e in np.eye(d)], 1)
    np.testing.assert_allclose(parzen_score(xt, centres, sigma), fd, rtol=1e-5, atol=1e-6)


def test_posterior_moments_against_direct_sums(rng):
    centres, xt, sigma = rng.normal(size=(30, 2)), rng.normal(size=(5, 2)), 0.5
    st = posterior_stats(xt, centres, sigma)
    d2 = ((xt[:, None, :] - centres[None]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * sigma**2))
    w /= w.sum(1, keepdims=True)
    np.testing.assert_allclose(st.mean, w @ centres, rtol=1e-12)
    np.testing.assert_allclose(st.second_moment, w @ (centres**2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(st.target_energy, 0.5 * (w * d2).sum(1) / sigma**4, rtol=1e-10)
    np.testing.assert_allclose(st.score, (w @ centres - xt) / sigma**2, rtol=1e-10)


def test_small_sigma_and_far_points_stay_finite(rng):
    """log-sum-exp: points many sigmas from every centre do not underflow to nan."""
    centres = rng.normal(size=(20, 2))
    xt = np.array([[50.0, -50.0], [0.0, 0.0]])
    st = posterior_stats(xt, centres, 1e-3)
    assert np.all(np.isfinite(st.score)) and np.all(np.isfinite(st.log_density))
    # Far away, the score points at the nearest centre.
    nearest = centres[np.argmin(((centres - xt[0]) ** 2).sum(1))]
    direction = st.score[0] / np.linalg.norm(st.score[0])
    np.testing.assert_allclose(direction, (nearest - xt[0]) / np.linalg.norm(nearest - xt[0]), atol=1e-9)


def test_huge_coordinates_do_not_cancel(rng):
    centres = 1e8 + rng.normal(size=(10, 2))
    xt = centres[:3] + 0.1
    np.testing.assert_allclose(parzen_score(xt, centres, 0.5), parzen_score(xt - 1e8, centres - 1e8, 0.5), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_logit_floor_leaves_the_target_as_it_was(dtype, monkeypatch):
    """Logits far below their row's largest are raised to a floor before exp (-700 in
    float64, -87 in float32: exp is far slower where its result is subnormal). On ring8 at
    a small sigma, where most weights fall under it, the target is the same bits as without
    the floor, and close to the float64 one."""
    from smtui.core import distributions, parzen

    data = distributions.sample("ring8", 2000, 3)
    xt = data[:256] + 0.05 * np.random.default_rng(4).standard_normal((256, 2))
    sigma = 0.05 if dtype == np.float32 else 0.005
    q, c = xt.astype(dtype), data.astype(dtype)
    origin, table, _ = parzen._logit_table(c, sigma, dtype)
    logits = (q - origin.astype(dtype)) @ table[:-1] + table[-1]
    floor = parzen._LOGIT_FLOOR[np.dtype(dtype)]
    assert np.mean(logits < logits.max(axis=1, keepdims=True) + floor) > 0.3  # the floor is reached often
    floored = parzen_score(q, c, sigma)
    monkeypatch.setattr(parzen, "_LOGIT_FLOOR", {})
    np.testing.assert_array_equal(floored, parzen_score(q, c, sigma))
    assert floored.dtype == dtype
    want = parzen_score(xt, data, sigma)
    np.testing.assert_allclose(floored, want, rtol=0, atol=(1e-4 if dtype == np.float32 else 1e-9) * np.abs(want).max())
