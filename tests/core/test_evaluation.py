"""The identities of docs/math.md, each checked against an independent route.

Routes: the engine's evaluation (Gauss-Hermite quadrature with rao-blackwellised DSM),
an independent joint (x, xt) quadrature written here, large Monte Carlo, and autograd
gradients of differently-derived objectives."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from numpy.polynomial.hermite import hermgauss

from smtui.core import distributions
from smtui.core.evaluation import build_eval_set, evaluate
from smtui.core.model import divergence, init_params, score
from smtui.core.parzen import parzen_score

N = 48  # training points: small keeps quadrature fast, the identities don't care
CASES = [("ring8", 0.25), ("ring8", 0.6), ("moons", 0.25), ("moons", 0.6), ("bimodal", 0.3)]


def data_for(name):
    return distributions.sample(name, N, 3)


@pytest.fixture(scope="module")
def thetas(random_params):
    """thetas(d): the initial parameters and a generic theta, both from seed 99."""

    def thetas(d):
        rng = np.random.default_rng(99)
        return [init_params(rng, d, 16), random_params(rng, d, 16)]

    return thetas


@pytest.fixture(scope="module")
def eval_sets():
    return {(n, s): build_eval_set(data_for(n), s, 0, distributions.analytic(n)) for n, s in CASES}


def scale_of(f):
    return max(abs(f["esm_sigma"]), abs(f["dsm"]), abs(f["ism_sigma"]), f["c3"], 1.0)


def joint_quadrature(data, sigma, k=24):
    """Independent route: nodes xt = x_t + sigma z around each clean x_t, paired with x_t."""
    d = data.shape[1]
    z, w = hermgauss(k)
    z, w = np.sqrt(2) * z, w / np.sqrt(np.pi)
    zs = np.stack(np.meshgrid(*([z] * d), indexing="ij"), -1).reshape(-1, d)
    ws = np.prod(np.stack(np.meshgrid(*([w] * d), indexing="ij"), -1).reshape(-1, d), axis=1)
    x = np.repeat(data, len(ws), axis=0)
    xt = x + sigma * np.tile(zs, (len(data), 1))
    return x, xt, np.tile(ws, len(data)) / len(data)


@pytest.mark.parametrize("name,sigma", CASES)
def test_identities_2_3_4_hold_under_quadrature(eval_sets, name, sigma, thetas):
    ev = eval_sets[(name, sigma)]
    d = ev.dim
    for p in thetas(d):
        f = evaluate(p, ev)
        tol = 1e-4 * scale_of(f)
        assert f["c3"] == d / (2 * sigma**2)
        assert f["esm_sigma"] - f["ism_sigma"] == pytest.approx(f["c2"], abs=tol)  # identity 2
        assert f["esm_minus_dsm"] == pytest.approx(f["c2"] - f["c3"], abs=tol)  # identity 3
        assert f["ism_minus_dsm"] == pytest.approx(-d / (2 * sigma**2), abs=tol)  # identity 4
        assert f["dsm"] == pytest.approx(f["dae"] / (2 * sigma**4), rel=1e-10)  # identity 5


@pytest.mark.parametrize("name,sigma", CASES)
def test_engine_figures_equal_an_independent_joint_quadrature(eval_sets, name, sigma, thetas):
    """DSM from (x, xt) pairs with no posterior trick, ESM with the Parzen score: same numbers."""
    data = data_for(name)
    x, xt, w = joint_quadrature(data, sigma)
    g = parzen_score(xt, data, sigma)
    for p in thetas(data.shape[1]):
        psi = score(p, xt, sigma)
        dsm = w @ (0.5 * np.sum((psi - (x - xt) / sigma**2) ** 2, axis=1))
        esm = w @ (0.5 * np.sum((psi - g) ** 2, axis=1))
        f = evaluate(p, eval_sets[(name, sigma)])
        tol = 1e-4 * scale_of(f)
        assert f["dsm"] == pytest.approx(dsm, abs=tol)
        assert f["esm_sigma"] == pytest.approx(esm, abs=tol)
        assert esm - dsm == pytest.approx(f["esm_minus_dsm_theory"], abs=tol)


@pytest.mark.parametrize("name,sigma", [("ring8", 0.25), ("moons", 0.6)])
def test_quadrature_against_monte_carlo(eval_sets, name, sigma, thetas):
    """Quadrature vs 200,000 fresh Monte Carlo pairs: agreement within 4 standard errors."""
    data = data_for(name)
    rng = np.random.default_rng(5)
    x = data[rng.integers(0, N, 200_000)]
    xt = x + sigma * rng.standard_normal(x.shape)
    p = thetas(2)[1]
    psi = score(p, xt, sigma)
    f = evaluate(p, eval_sets[(name, sigma)])
    for key, vals in (("dsm", 0.5 * np.sum((psi - (x - xt) / sigma**2) ** 2, 1)),
                      ("ism_sigma", 0.5 * np.sum(psi**2, 1) + divergence(p, xt, sigma))):
        se = vals.std() / np.sqrt(len(vals))
        assert abs(vals.mean() - f[key]) < 4 * se + 1e-9, key


def test_esm_minus_dsm_exact_estimator_is_theta_free(eval_sets, random_params, thetas):
    """Rao-blackwellised ESM - DSM is the same number at every theta (to float precision),
    while the pairs estimator moves with theta but stays within a few standard errors."""
    ev = eval_sets[("moons", 0.25)]
    figs = [evaluate(p, ev) for p in thetas(2) + [random_params(np.random.default_rng(1), 2, 16, 3.0)]]
    exact = [f["esm_minus_dsm"] for f in figs]
    assert np.ptp(exact) < 1e-9 * max(scale_of(f) for f in figs)
    pairs = [f["esm_minus_dsm_pairs"] for f in figs]
    assert np.ptp(pairs) > 1e-6  # it wobbles ...
    for f in figs:  # ... around the theory value
        assert abs(f["esm_minus_dsm_pairs"] - f["esm_minus_dsm_theory"]) < 5 * f["esm_minus_dsm_pairs_se"]


@pytest.mark.parametrize("name", ["ring8", "gaussian", "bimodal"])
def test_identity_1_hyvarinen_under_quadrature_and_monte_carlo(name, thetas):
    q = distributions.analytic(name)
    ev = build_eval_set(distributions.sample(name, N, 0), 0.5, 0, q)
    rng = np.random.default_rng(8)
    xs = q.sample(200_000, rng)
    sq = q.score(xs)
    for p in thetas(q.dim):
        f = evaluate(p, ev)
        assert f["esm"] - f["ism"] == pytest.approx(f["c1"], abs=1e-4 * max(abs(f["esm"]), 1.0))
        psi = score(p, xs, 0.5)
        esm_mc = 0.5 * np.sum((psi - sq) ** 2, 1)
        assert abs(esm_mc.mean() - f["esm"]) < 4 * esm_mc.std() / np.sqrt(len(xs))
    c1_mc = 0.5 * np.sum(sq**2, 1)
    assert abs(c1_mc.mean() - f["c1"]) < 4 * c1_mc.std() / np.sqrt(len(xs))


@pytest.mark.parametrize("name,sigma", [("ring8", 0.3), ("moons", 0.5)])
def test_identity_6_gradients_of_esm_dsm_and_ism_agree(name, sigma, thetas):
    """grad ESM_qsigma = grad DSM_qsigma = grad ISM_qsigma, by three different integrands."""
    data = data_for(name)
    x, xt, w = joint_quadrature(data, sigma, k=20)
    g = parzen_score(xt, data, sigma)
    esm = lambda p: anp.dot(w, 0.5 * anp.sum((score(p, xt, sigma) - g) ** 2, axis=1))
    dsm = lambda p: anp.dot(w, 0.5 * anp.sum((score(p, xt, sigma) - (x - xt) / sigma**2) ** 2, axis=1))
    ism = lambda p: anp.dot(w, 0.5 * anp.sum(score(p, xt, sigma) ** 2, axis=1) + divergence(p, xt, sigma))
    p = thetas(2)[1]
    ge, gd, gi = grad(esm)(p), grad(dsm)(p), grad(ism)(p)
    for k in ("W", "b", "c"):
        s = np.abs(ge[k]).max() + 1.0
        np.testing.assert_allclose(gd[k], ge[k], atol=1e-4 * s)
        np.testing.assert_allclose(gi[k], ge[k], atol=1e-4 * s)


def test_monte_carlo_evaluation_in_higher_dimension(random_params):
    """d = 4: Monte Carlo sets with standard errors; identities within a few SEs, exact ESM-DSM flat."""
    rng = np.random.default_rng(2)
    data = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4)) * 0.7
    ev = build_eval_set(data, 0.5, 0)
    assert ev.method == "monte-carlo"
    figs = []
    for p in (init_params(rng, 4, 16), random_params(rng, 4, 16)):
        f = evaluate(p, ev)
        figs.append(f)
        assert f["dsm_se"] > 0 and f["c2_se"] > 0
        assert abs(f["ism_minus_dsm"] + 4 / (2 * 0.25)) < 5 * f["ism_minus_dsm_se"] + 1e-9
        theory_se = np.hypot(f["esm_minus_dsm_se"], f["c2_se"])
        assert abs(f["esm_minus_dsm"] - f["esm_minus_dsm_theory"]) < 5 * theory_se
        assert f["esm"] is None and f["ism"] is None and f["c1"] is None
    assert figs[0]["esm_minus_dsm"] == pytest.approx(figs[1]["esm_minus_dsm"], rel=1e-9)


def test_evaluation_set_is_fixed(thetas):
    data = data_for("moons")
    a, b = build_eval_set(data, 0.3, 0), build_eval_set(data, 0.3, 0)
    np.testing.assert_array_equal(a.xt, b.xt)
    np.testing.assert_array_equal(a.pair_xt, b.pair_xt)
    p = thetas(2)[1]
    assert evaluate(p, a) == evaluate(p, b)
