"""ESM - DSM with DSM measured as training defines it (core/evaluation.measured_identities):
a measurement of the paper's identity with its own error, which a wrong model fails, and
the pairs estimator's standard error against the spread over many seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smtui.core import distributions
from smtui.core.evaluation import (
    PAIRS,
    _noisy,
    build_eval_set,
    denoising_target,
    evaluate,
    measured_identities,
    monte_carlo_fallback,
    pairs_estimate,
)
from smtui.core.model import init_params, score, score_and_divergence
from smtui.core.parzen import posterior_stats
from smtui.core.verdicts import AGREE, DISAGREE, identity_verdicts

SIGMAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)


def made_data():
    """A set made here: a tight cluster, a uniform spread and a wide blob (close neighbours
    and lone points, the quadrature's hard cases)."""
    rng = np.random.default_rng(9)
    return np.concatenate([rng.normal(0.0, 0.05, (40, 2)), rng.uniform(-3, 3, (60, 2)), rng.normal(2.0, 0.5, (20, 2))])


DATA = {"ring8": lambda: distributions.sample("ring8", 128, 0), "made": made_data}


@pytest.fixture(scope="module")
def thetas(random_params):
    """thetas(d, sigma): the initial parameters and a generic one (weights of order one, c off
    zero), seeded by d and sigma."""

    def thetas(d, sigma):
        rng = np.random.default_rng(int(sigma * 1000) + d)
        return [init_params(rng, d, 16), random_params(rng, d, 16)]

    return thetas


@pytest.mark.parametrize("name", DATA)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_measured_esm_minus_dsm_meets_c2_minus_c3_within_its_reported_error(name, sigma, thetas):
    """On ring8 and on the set made here, sigma 0.01 to 100, at two thetas: ESM_qsigma -
    DSM_measured against C2 - C3 and ISM_qsigma - DSM_measured against -d/(2 sigma^2), each
    within 3 of its reported error (quadrature, or Monte Carlo where the model is too sharp
    for it); and no identity disagrees."""
    ev = build_eval_set(DATA[name](), sigma, 0)
    for p in thetas(2, sigma):
        f = evaluate(p, ev)
        err = math.hypot(f["esm_minus_dsm_measured_err"], f["esm_minus_dsm_theory_se"] or 0.0)
        assert abs(f["esm_minus_dsm_measured"] - f["esm_minus_dsm_theory"]) <= 3 * err, (f["evaluation"], f)
        assert abs(f["ism_minus_dsm_measured"] - f["ism_minus_dsm_theory"]) <= 3 * f["ism_minus_dsm_measured_err"]
        verdicts = {v.key: v.verdict for v in identity_verdicts(f, sigma)}
        assert DISAGREE not in verdicts.values(), verdicts


def test_the_measured_error_is_not_the_identity_itself(thetas):
    """The rao-blackwellised ESM - DSM is C2 - C3 at every theta (the same posterior arithmetic);
    the measured one moves with theta by its integration error, which its error covers, and
    its DSM is training's: on the same nodes it differs from the rao-blackwellised DSM."""
    ev = build_eval_set(DATA["made"](), 0.1, 0)
    figs = [evaluate(p, ev) for p in thetas(2, 0.1)]
    assert figs[0]["esm_minus_dsm"] == pytest.approx(figs[1]["esm_minus_dsm"], rel=1e-12)
    assert figs[0]["esm_minus_dsm_measured"] != figs[1]["esm_minus_dsm_measured"]
    assert figs[0]["dsm_measured"] != figs[0]["dsm"]
    assert figs[0]["dsm_measured"] == pytest.approx(figs[0]["dsm"], rel=1e-4)


def _verdict(f, changes, sigma, key="esm_minus_dsm"):
    return {v.key: v for v in identity_verdicts({**f, **changes}, sigma)}[key]


@pytest.mark.parametrize("sigma", [0.3, 3.0])
@pytest.mark.parametrize("monte_carlo", [False, True])
def test_a_wrong_model_or_target_makes_the_measured_identity_disagree(sigma, monte_carlo):
    """A score that peeks at the clean point (psi + 0.3 t: not a function of xt alone), a DSM
    target of the wrong sign, and one with sigma where sigma^2 belongs (visible at sigma != 1)
    each turn ESM - DSM from agree to disagree, on the quadrature and on a Monte Carlo set;
    the right ones agree."""
    data = DATA["ring8"]()
    ev = build_eval_set(data, sigma, 0)
    ev = monte_carlo_fallback(ev) if monte_carlo else ev
    p = init_params(np.random.default_rng(1), 2, 16)
    f = evaluate(p, ev, fallback=False)
    psi, div = score_and_divergence(p, ev.xt, sigma)
    t = denoising_target(ev)
    assert _verdict(f, measured_identities(psi, div, ev), sigma).verdict == AGREE
    for wrong_psi, wrong_t in ((psi + 0.3 * t, None), (psi, -t), (psi, t * sigma)):
        changed = measured_identities(wrong_psi, div, ev, target=wrong_t)
        v = _verdict(f, changed, sigma)
        assert v.verdict == DISAGREE, v
    # the wrong sign fails identity 4 too (ISM - DSM against -d/(2 sigma^2))
    assert _verdict(f, measured_identities(psi, div, ev, target=-t), sigma, "ism_minus_dsm").verdict == DISAGREE


def test_the_pairs_standard_error_matches_the_spread_over_50_seeds_at_each_of_three_sigmas():
    """The pairs estimator evaluate() reports (pairs_estimate: one clean point per xt, drawn as
    the evaluation set draws them), over 50 independent draws at each of sigma = 0.1, 0.3 and
    1 with data and theta fixed: the deviations from each sigma's mean, in units of the median
    reported standard error, have a spread between 0.8 and 1.25 (the issue measured 1.59 for
    the figure printed before; 300 draws per sigma gave 0.93-1.02), and each sigma's draws
    scatter around its C2 - C3."""
    data = distributions.sample("ring8", 64, 0)
    p = init_params(np.random.default_rng(2), 2, 16)
    scaled = []
    for sigma in (0.1, 0.3, 1.0):
        est = []
        for seed in range(50):
            x, xt, strata, _ = _noisy(data, PAIRS, sigma, np.random.default_rng([seed, 7]))
            parzen = posterior_stats(xt, data, sigma).score
            est.append(pairs_estimate(score(p, xt, sigma), x, xt, parzen, strata, sigma))
        values = np.array([e["esm_minus_dsm_pairs"] for e in est])
        se = np.median([e["esm_minus_dsm_pairs_se"] for e in est])
        scaled.append((values - values.mean()) / se)
        assert abs(values.mean() - build_eval_set(data, sigma, 0).c2_minus_c3) < 4 * se / math.sqrt(50), sigma
    spread = np.sqrt(sum(np.sum(z * z) for z in scaled) / (sum(len(z) for z in scaled) - len(scaled)))
    assert 0.8 <= spread <= 1.25, spread
