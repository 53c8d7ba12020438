"""The samplers down the ladder (core/samplers.py) on the exact smoothed score of ring8w, where
only the sampler can be wrong: the ladder recovers the 3:1 weights, one small sigma with the
same budget cannot; every sampler, stepping in chunks, and the sources against their oracles."""

import numpy as np
import pytest

from smtui.core import distributions as D
from smtui.core import ladder as L
from smtui.core import samplers as S
from smtui.core.model import init_params, score
from smtui.core.sample_metrics import mode_report
from smtui.core.sampling import neg_energy_and_score
from smtui.core.streams import DATA, stream

Q = D.analytic("ring8w")
DATA_POINTS = D.sample("ring8w", 512, 0)
LADDER = L.choose_ladder(DATA_POINTS)  # K = 10, sigma_max the diameter (4.86), sigma_min 0.05


def _walk(sampler, sigmas, seed=0, steps_per_level=100, particles=2000, denoise=True):
    rng = np.random.default_rng(seed)
    x0 = S.start(sampler, DATA_POINTS, float(sigmas[0]), particles, rng)
    return S.Walk(sampler, S.ExactSource(Q), sigmas, x0, rng, steps_per_level, denoise=denoise)


def test_ring8w_is_eight_modes_on_a_circle_weighted_three_to_one():
    assert Q.means.shape == (8, 2) and np.allclose(np.linalg.norm(Q.means, axis=1), 2.0)
    np.testing.assert_allclose(Q.weights, [3 / 16, 1 / 16] * 4)
    np.testing.assert_allclose(Q.covs, np.tile(0.15**2 * np.eye(2), (8, 1, 1)))
    counts = mode_report(Q.sample(40_000, stream(0, DATA)), Q)
    np.testing.assert_allclose(counts["mode_weights"], Q.weights, atol=0.01)


@pytest.mark.parametrize("name", ["ring8w", "gaussian", "bimodal"])
def test_the_closed_form_mixture_score_and_density_match_autograd(name):
    q = D.analytic(name).smoothed(0.3)
    x = np.random.default_rng(1).normal(size=(60, q.dim)) * 3.0
    s, logq = q.score_and_log_density(x)
    np.testing.assert_allclose(s, q.score(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(logq, q.log_density(x), rtol=1e-12, atol=1e-12)


def test_annealed_langevin_on_the_exact_score_gets_the_weights_one_sigma_does_not():
    """The issue's target: K = 10, T = 100, 2,000 particles from a uniform start. A ladder
    reaches weight TV <= 0.05 with <= 2% off-mode; sigma = 0.05 alone, the same 1,000 steps,
    leaves each mode the mass of its basin (TV >= 0.25): Langevin cannot cross between modes."""
    ladder = _walk("ald", LADDER.sigmas)
    m = mode_report(ladder.run(), Q)
    assert m["weight_tv"] <= 0.05 and m["off_mode"] <= 0.02, m
    one = _walk("ald", [0.05], steps_per_level=10 * 100, denoise=False)
    assert one.total == ladder.total - 1  # the same budget of Langevin steps
    m1 = mode_report(one.run(), Q)
    assert m1["weight_tv"] >= 0.25 and m1["off_mode"] <= 0.05, m1


@pytest.mark.parametrize("sampler", ["mala", "sde", "pc", "ode"])
def test_every_sampler_on_the_exact_score_gets_the_weights(sampler):
    walk = _walk(sampler, LADDER.sigmas, steps_per_level=30, particles=1500)
    m = mode_report(walk.run(), Q)
    assert m["weight_tv"] <= 0.1 and m["off_mode"] <= 0.05, m  # (one sigma: 0.33)
    assert len(walk.clouds) == LADDER.levels and walk.finished
    if sampler == "mala":
        assert len(walk.acceptance) == LADDER.levels and all(0.5 < a <= 1 for a in walk.acceptance)


def test_a_large_sigma_alone_gets_the_weights_but_blurs():
    m = mode_report(_walk("ald", [0.5], steps_per_level=300, denoise=False).run(), Q)
    assert m["weight_tv"] <= 0.08 and m["off_mode"] >= 0.5  # std 0.52 against modes of 0.15


@pytest.mark.parametrize("sampler", list(S.SAMPLERS))
def test_stepping_in_chunks_is_the_same_walk(sampler):
    whole = _walk(sampler, LADDER.sigmas[:4], steps_per_level=5, particles=50)
    x = whole.run().copy()
    parts = _walk(sampler, LADDER.sigmas[:4], steps_per_level=5, particles=50)
    seen = []
    while not parts.finished:
        parts.advance(3)
        seen.append(parts.level)
    np.testing.assert_array_equal(parts.x, x)
    assert seen == sorted(seen) and parts.done == parts.total == 4 * 5 + 1
    assert len(parts.clouds) == 4 and parts.advance(5) == 0
    one = _walk(sampler, [0.3], steps_per_level=4, particles=20, denoise=False)
    one.run()
    assert one.total == 4 and len(one.clouds) == 1 and np.array_equal(one.clouds[0], one.x)


def test_the_denoising_step_is_tweedies_mean_and_the_model_sources_are_the_papers_model():
    """The last step x + sigma_K^2 psi(x; sigma_K); the model source at any sigma is the paper's
    model with the biases there (score and -E), as MALA needs it."""
    rng = np.random.default_rng(3)
    p = L.init_conditional(init_params(rng, 2, 6), 4)
    p["B"], p["C"] = rng.normal(size=(4, 6)), rng.normal(size=(4, 2))
    ladder = L.geometric(2.0, 0.1, 4)
    src = S.ModelSource(p, ladder)
    x = rng.normal(size=(30, 2))
    for sigma in (0.1, 0.33, 2.0):
        plain = L.at_sigma(p, ladder, sigma)
        np.testing.assert_allclose(src.score(x, sigma), score(plain, x, sigma), rtol=1e-12, atol=1e-12)
        for got, want in zip(src.neg_energy_and_score(x, sigma), neg_energy_and_score(plain, x, sigma)):
            np.testing.assert_allclose(got, want, rtol=1e-12)
    walk = S.Walk("ald", src, ladder.sigmas, x, rng, steps_per_level=2)
    walk.advance(walk.total - 1)
    before = walk.x.copy()
    walk.advance(1)
    np.testing.assert_allclose(walk.x, before + 0.1**2 * src.score(before, 0.1), atol=1e-12)


def test_starts_uniform_over_the_box_or_from_the_prior():
    rng = np.random.default_rng(4)
    box = S.start("ald", DATA_POINTS, 4.0, 5000, rng)
    lo, hi = DATA_POINTS.min(axis=0), DATA_POINTS.max(axis=0)
    pad = S.BOX_PAD * (hi - lo)
    assert np.all(box >= lo - pad) and np.all(box <= hi + pad)
    assert np.allclose(box.min(axis=0), lo - pad, atol=0.05) and np.allclose(box.max(axis=0), hi + pad, atol=0.05)
    prior = S.start("ode", DATA_POINTS, 4.0, 20_000, rng)
    np.testing.assert_allclose(prior.mean(axis=0), DATA_POINTS.mean(axis=0), atol=0.1)
    np.testing.assert_allclose(prior.std(axis=0), 4.0, rtol=0.03)
