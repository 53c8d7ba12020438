"""Every figure smtui reports, estimated honestly (docs/math.md, "Estimating them honestly").

All figures are evaluated on one FIXED evaluation set, rebuilt only when the data or
sigma change (common random numbers), never on a training batch:

* d <= 2: Gauss-Hermite quadrature of N(x_t, sigma^2 I) around each reference point
  x_t, so the expectation over q_sigma is deterministic and the identities hold to
  about 1e-4. The Parzen posteriors at the nodes depend only on data and sigma and are
  computed once (``PosteriorStats``).
* d > 2: a large fixed Monte Carlo set xt = x + sigma * eps, with standard errors.

Two DSM figures. ``dsm`` is rao-blackwellised: the expectation over the clean point given
xt is taken with the posterior weights, which uses the very identity the paper proves, so
``esm_minus_dsm`` is C2 - C3 by construction at every theta (a way to compute the constant,
no measurement of it). ``dsm_measured`` is DSM as training defines it: for each clean point
the expectation over the noise, each evaluation point's target -eps/sigma from its own
centre, never through the posterior; ``esm_minus_dsm_measured`` against C2 - C3 (and
``ism_minus_dsm_measured`` against -d/(2 sigma^2)) are then measurements that a wrong score
or target fails, with their errors (``measured_identities``). A separate fixed set of
(x, xt) pairs gives the "pairs" estimate training sees, with its standard error.

The theory value of ESM - DSM is C2 - C3 = -(1/(2 sigma^4)) E[tr Var(x | xt)], the spread of
the Parzen posterior (docs/math.md): never a difference of two numbers of size d/(2 sigma^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.polynomial.hermite import hermgauss

from smtui.core.distributions import GaussianMixture
from smtui.core.model import score, score_and_divergence
from smtui.core.parzen import PosteriorStats, posterior_stats
from smtui.core.streams import EVALUATION, stream

QUADRATURE_MAX_DIM = 2
# 16 nodes per dim with products below 1e-6 of the largest dropped: 132 nodes per centre
# in 2-D, against 292 for 20 nodes and a 1e-12 floor, with the same accuracy: every
# figure within 7e-5 of its scale of a 40-node rule, identities within 2e-5, at
# trained, initial and random thetas, sigma 0.05-1 (python -m benchmarks.quadrature).
NODES_PER_DIM = {1: 40, 2: 16}
NODE_WEIGHT_FLOOR = 1e-6  # product weights below this (relative) are dropped
MAX_REFERENCE_POINTS = 1024  # q_sigma for evaluation is built on at most this many points
MC_POINTS = 8192
MC_C2_POINTS = 32768
PAIRS = 8192
ISM_DATA_POINTS = 4096
# What the arithmetic resolves: each figure is a weighted sum of terms computed in float64,
# so its rounding error is a few hundred ulps of the terms' size at most (measured: ~10).
ROUNDING = 256 * np.finfo(float).eps
TAIL_LIMIT = 0.5  # above this tail share a sample standard error is not trusted: its tick says ?
# What the quadrature resolves, relative to the terms' size, for the identities that rest on
# integration by parts (ISM against DSM or ESM): see README, "How precise the figures are".
QUADRATURE_PRECISION = 1e-4
# The identities measured with DSM as training defines it (ESM - DSM against C2 - C3, ISM - DSM
# against -d/(2 sigma^2)) rest on the rule integrating psi . (t - grad log q_sigma) and div psi +
# psi . t to zero: their residuals were at most 3.1e-5 of the terms subtracted over 400 random
# thetas at sharpness <= SHARPNESS_LIMIT, sigma 1e-3-1e3, four data sets in 1-D and 2-D
# (python -m benchmarks.measured_identities). Their error is this share of the terms (and their
# verdicts' bound 3 times that).
MEASURED_PRECISION = QUADRATURE_PRECISION
# ... which holds while each hidden unit's sigmoid is smooth across a Parzen bump:
# sigma max_j ||W_j|| <= 3 kept every identity residual and every figure within 2.2e-5 of
# its scale at sigma 0.01-1000; at 10 they reach 1e-2 (python -m benchmarks.precision).
# Sharper parameters are evaluated by Monte Carlo, with standard errors.
SHARPNESS_LIMIT = 3.0


def gauss_hermite_nodes(d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal product rule in d dims: nodes z (K, d) and weights (K,), with
    negligible tail products pruned and the kept weights corrected so that the low
    moments stay exact: E[1] = 1, E[||z||^2] = d, E[||z||^4] = d(d + 2) (odd moments
    vanish by the rule's symmetry). Plain renormalisation would leave E[z^2] = 1 - 8.6e-6,
    an error of 8.6e-6 C3 in every figure that holds ||x - xt||^2 / sigma^4."""
    z, w = hermgauss(k)
    z, w = np.sqrt(2.0) * z, w / np.sqrt(np.pi)
    grids = np.meshgrid(*([z] * d), indexing="ij")
    wgrids = np.meshgrid(*([w] * d), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    weights = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
    keep = weights > NODE_WEIGHT_FLOOR * weights.max()
    nodes, weights = nodes[keep], weights[keep]
    # weights * (a + b r^2 + c r^4), with (a, b, c) solving the three moment conditions.
    r2 = np.sum(nodes * nodes, axis=1)
    basis = np.stack([np.ones_like(r2), r2, r2 * r2])
    gram = (basis * weights) @ basis.T
    coef = np.linalg.solve(gram, np.array([1.0, d, d * (d + 2.0)]))
    return nodes, weights * (coef @ basis)


@dataclass(frozen=True)
class AnalyticSet:
    """Quadrature of the analytic q (each mixture component by Gauss-Hermite): identity 1."""

    nodes: np.ndarray
    weights: np.ndarray
    score: np.ndarray  # grad log q at the nodes
    c1: float


@dataclass(frozen=True)
class EvalSet:
    """The fixed evaluation set for (data, sigma); everything theta-free is precomputed."""

    sigma: float
    dim: int
    method: str  # "quadrature" or "monte-carlo"
    reference: np.ndarray  # the points q_sigma is built on (all of D unless n is large)
    xt: np.ndarray  # (M, d) evaluation points under q_sigma
    noise: np.ndarray  # (M, d) each point's eps: xt = (its clean point) + sigma eps
    weight: np.ndarray  # (M,), sums to 1
    post: PosteriorStats  # Parzen score, posterior moments at xt
    c2: float
    c2_se: float | None
    c2_minus_c3: float  # -(1/(2 sigma^4)) E[tr Var(x | xt)]: no cancellation (docs/math.md)
    c2_minus_c3_se: float | None
    strata: np.ndarray | None  # Monte Carlo: the clean point behind each xt (stratified draws)
    pair_x: np.ndarray  # (P, d) clean points
    pair_xt: np.ndarray  # (P, d) their noisy versions
    pair_score: np.ndarray  # Parzen score at pair_xt
    pair_strata: np.ndarray  # the index of each pair's clean point
    data_points: np.ndarray  # points for ISM on D
    analytic: AnalyticSet | None
    seed: int = 0
    # The Monte Carlo set for parameters too sharp for the quadrature, built on first need.
    fallback: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def c3(self) -> float:
        return self.dim / (2.0 * self.sigma**2)


def _analytic_set(q: GaussianMixture) -> AnalyticSet:
    d = q.dim
    z, w = gauss_hermite_nodes(d, NODES_PER_DIM.get(d, 8))
    chol = np.linalg.cholesky(q.covs)
    nodes = np.concatenate([m + z @ L.T for m, L in zip(q.means, chol)])
    weights = np.concatenate([pk * w for pk in q.weights])
    s = q.score(nodes)
    return AnalyticSet(nodes, weights, s, float(weights @ (0.5 * np.sum(s * s, axis=1))))


def build_eval_set(data: np.ndarray, sigma: float, seed: int, analytic: GaussianMixture | None = None,
                   quadrature: bool | None = None) -> EvalSet:
    """Build the fixed evaluation set. Deterministic in (data, sigma, seed)."""
    rng = stream(seed, EVALUATION)
    n, d = data.shape
    reference = data if n <= MAX_REFERENCE_POINTS else data[rng.choice(n, MAX_REFERENCE_POINTS, replace=False)]
    use_quad = d <= QUADRATURE_MAX_DIM if quadrature is None else quadrature
    if use_quad:
        z, wz = gauss_hermite_nodes(d, NODES_PER_DIM.get(d, 8))
        xt = (reference[:, None, :] + sigma * z[None, :, :]).reshape(-1, d)
        noise = np.tile(z, (reference.shape[0], 1))
        weight = np.tile(wz, reference.shape[0]) / reference.shape[0]
        post = posterior_stats(xt, reference, sigma)
        c2, c2_se = float(weight @ (0.5 * np.sum(post.score**2, axis=1))), None
        gap, gap_se = -float(weight @ post.variance) / (2.0 * sigma**4), None
        strata = None
    else:
        _, xt, strata, noise = _noisy(reference, MC_POINTS, sigma, rng)
        weight = stratum_weights(strata)
        post = posterior_stats(xt, reference, sigma)
        _, big_xt, big_strata, _ = _noisy(reference, MC_C2_POINTS, sigma, rng)
        big = posterior_stats(big_xt, reference, sigma)
        vals = 0.5 * np.sum(big.score**2, axis=1)
        big_weight = stratum_weights(big_strata)
        c2, c2_se = float(big_weight @ vals), stratified_se(vals, big_strata)
        spread = -big.variance / (2.0 * sigma**4)
        gap, gap_se = float(big_weight @ spread), stratified_se(spread, big_strata)
    pair_x, pair_xt, pair_strata, _ = _noisy(reference, PAIRS, sigma, rng)
    pair_score = posterior_stats(pair_xt, reference, sigma).score
    data_points = data if n <= ISM_DATA_POINTS else data[rng.choice(n, ISM_DATA_POINTS, replace=False)]
    return EvalSet(
        sigma=float(sigma), dim=d, method="quadrature" if use_quad else "monte-carlo",
        reference=reference, xt=xt, noise=noise, weight=weight, post=post, c2=c2, c2_se=c2_se,
        c2_minus_c3=gap, c2_minus_c3_se=gap_se, strata=strata,
        pair_x=pair_x, pair_xt=pair_xt, pair_score=pair_score, pair_strata=pair_strata, data_points=data_points,
        analytic=_analytic_set(analytic) if analytic is not None else None, seed=seed,
    )


def _noisy(points, m, sigma, rng):
    """m pairs (x, x + sigma eps) with x cycling through the points in a shuffled order
    (each point m/n times: stratified), the index of each x, and eps."""
    idx = rng.permutation(np.resize(np.arange(points.shape[0]), m))
    x = points[idx]
    eps = rng.standard_normal(x.shape)
    return x, x + sigma * eps, idx, eps


def stratum_weights(strata: np.ndarray) -> np.ndarray:
    """Row weights 1 / (n k_j) for the k_j rows of each of the n clean points: the mean over
    points of each point's mean. When n does not divide the number of rows some points
    have one row more, and a plain mean would weight them more (a bias); this does not."""
    counts = np.bincount(strata)
    return 1.0 / (np.count_nonzero(counts) * counts[strata])


def stratified_se(values: np.ndarray, strata: np.ndarray) -> float:
    """Standard error of the stratified mean (``stratum_weights``) of ``values`` when the clean
    points are fixed counts k_j of each of n points x_j (as ``_noisy`` draws them) and only
    the noise is random: Var = sum_j Var(f | x_j) / (k_j n^2), with Var(f | x_j) estimated
    within each stratum (for equal k_j = m/n, sum_j k_j Var(f | x_j) / m^2).
    The textbook std/sqrt(m) would add the spread between strata, which stratifying removed
    (it overstated the errors 1.1-5x). Strata with a single value borrow the pooled variance."""
    m = len(values)
    counts = np.bincount(strata)
    sums = np.bincount(strata, weights=values)
    present = counts > 0
    means = np.zeros_like(sums)
    means[present] = sums[present] / counts[present]
    ss = np.bincount(strata, weights=(values - means[strata]) ** 2)
    many = counts >= 2
    if not many.any():
        return float(values.std(ddof=1) / np.sqrt(m)) if m > 1 else float("nan")
    within = np.zeros_like(ss)
    within[many] = ss[many] / (counts[many] - 1)
    pooled = ss[many].sum() / (counts[many] - 1).sum()
    within[present & ~many] = pooled
    return float(np.sqrt(np.sum(within[present] / counts[present])) / np.count_nonzero(present))


def tail_share(values: np.ndarray, top: float = 0.01) -> float:
    """The share of the squared deviations from the mean that the largest ``top`` fraction of
    them carry: about 0.09 for normal values; near 1 when a few rare values carry the spread
    (the pairs estimator at small sigma), and then a standard error from the sample is not
    to be trusted (TAIL_LIMIT)."""
    dev = np.sort((values - values.mean()) ** 2)
    total = dev.sum()
    k = max(1, int(round(top * len(dev))))
    return float(dev[-k:].sum() / total) if total > 0 else 0.0


def _mean_se(values: np.ndarray, weight: np.ndarray, strata: np.ndarray | None) -> tuple[float, float | None]:
    """The weighted mean, and its standard error for Monte Carlo (None for quadrature)."""
    mean = float(weight @ values)
    return mean, None if strata is None else stratified_se(values, strata)


def _half_sq(v):
    return 0.5 * np.sum(v * v, axis=1)


def sharpness(params, sigma: float) -> float:
    """sigma max_j ||W_j||: how sharp the sharpest hidden unit is across one Parzen bump."""
    W = np.asarray(params["W"], dtype=float)
    return float(sigma * np.sqrt(np.max(np.sum(W * W, axis=1)))) if W.size else 0.0


def monte_carlo_fallback(ev: EvalSet) -> EvalSet:
    """The Monte Carlo evaluation set on the same reference points (cached in ``ev``)."""
    if "mc" not in ev.fallback:
        mc = build_eval_set(ev.reference, ev.sigma, ev.seed, quadrature=False)
        ev.fallback["mc"] = replace(mc, analytic=ev.analytic, data_points=ev.data_points)
    return ev.fallback["mc"]


def evaluate(params, ev: EvalSet, fallback: bool = True) -> dict:
    """All figures for the parameters now, as a flat dict of floats (None where undefined).

    ``*_se`` entries are standard errors of Monte Carlo estimates (None for quadrature).
    Parameters too sharp for the quadrature (sigma max ||W_j|| > SHARPNESS_LIMIT) are
    evaluated on a Monte Carlo set instead, with standard errors ("evaluation" says which),
    unless ``fallback`` is False (to study the quadrature itself).
    Parameters that have blown up give inf/nan figures, without warnings."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        sharp = sharpness(params, ev.sigma)
        too_sharp = fallback and ev.method == "quadrature" and not sharp <= SHARPNESS_LIMIT
        use = monte_carlo_fallback(ev) if too_sharp else ev
        out = _evaluate(params, use)
        if use is not ev:  # the constants are theta-free and smooth: the quadrature's stay exact
            out["c2"], out["c2_se"] = ev.c2, None
            out["esm_minus_dsm_theory"], out["esm_minus_dsm_theory_se"] = ev.c2_minus_c3, None
        out["quadrature_sharpness"] = sharp if ev.method == "quadrature" else None
        return out


def denoising_target(ev: EvalSet) -> np.ndarray:
    """DSM's regression target at each evaluation point, from its own clean point:
    (x - xt)/sigma^2 = -eps/sigma (docs/math.md, "The objectives")."""
    return -ev.noise / ev.sigma


def measured_identities(psi: np.ndarray, div: np.ndarray, ev: EvalSet, target: np.ndarray | None = None) -> dict:
    """Identities 3 and 4 with DSM measured as training defines it (docs/math.md, "Which rows
    measure what"): for each clean point the expectation over the noise of 1/2 ||psi(xt) - t||^2,
    t = ``target`` (default ``denoising_target``), never through the Parzen posterior. So
    ESM_qsigma - DSM meets C2 - C3 only because psi . (t - grad log q_sigma) integrates to zero,
    and ISM_qsigma - DSM meets -d/(2 sigma^2) only because div psi + psi . t does (Stein's
    lemma under each Parzen bump): a score that is not a function of xt alone, or a wrong
    target, fails them. ``psi`` and ``div`` are the score and its divergence at ``ev.xt``.

    Each difference comes with ``_err``, its own error: the standard error for Monte Carlo,
    for quadrature what the rule resolves (MEASURED_PRECISION of the terms subtracted), plus
    rounding either way; and ``_cancel``, the size of the theta-dependent terms whose
    cancellation it asserts (what a verdict must resolve, smtui.core.verdicts)."""
    t = denoising_target(ev) if target is None else target
    g = ev.post.score
    w, strata = ev.weight, ev.strata
    half_psi2 = _half_sq(psi)
    psi_t = np.sum(psi * t, axis=1)
    half_t2 = _half_sq(t)
    esm_pts = _half_sq(psi - g)
    dsm_pts = _half_sq(psi - t)
    gap_pts = esm_pts - dsm_pts
    stein_pts = half_psi2 + div - dsm_pts  # ISM_qsigma - DSM per point: div psi + psi . t - 1/2 ||t||^2
    dsm_terms = float(w @ (half_psi2 + np.abs(psi_t) + half_t2))
    precision = MEASURED_PRECISION if strata is None else 0.0
    out = {}
    out["dsm_measured"], out["dsm_measured_se"] = _mean_se(dsm_pts, w, strata)
    # DAE as training defines it, ||r(xt) - x||^2 from each point's own clean point (r - x =
    # sigma^2 psi + sigma eps): DSM's 2 sigma^4 times, per point (identity 5), by other arithmetic.
    dae_pts = np.sum((ev.sigma**2 * psi + ev.sigma * ev.noise) ** 2, axis=1)
    out["dae_measured"], out["dae_measured_se"] = _mean_se(dae_pts, w, strata)
    for name, pts, terms, cancel in (
        ("esm_minus_dsm_measured", gap_pts, float(w @ esm_pts) + dsm_terms, np.abs(np.sum(psi * (t - g), axis=1))),
        ("ism_minus_dsm_measured", stein_pts, float(w @ (half_psi2 + np.abs(div))) + dsm_terms,
         np.abs(div) + np.abs(psi_t)),
    ):
        value, se = _mean_se(pts, w, strata)
        out[name] = value
        out[name + "_err"] = (se or 0.0) + (ROUNDING + precision) * terms
        out[name + "_cancel"] = float(w @ cancel)
    return out


def pairs_estimate(psi, x, xt, parzen, strata, sigma: float) -> dict:
    """ESM_qsigma - DSM on pairs (x, xt), one clean point per xt as training draws them, with
    psi and the Parzen score at xt: the stratified mean (each clean point weighs the same),
    its standard error (``stratified_se``, the estimator's own), the rounding tolerance, the
    tail share (``tail_share``) and the size of the terms that cancel, E|psi . (t - g)|."""
    esm_p, dsm_p = _half_sq(psi - parzen), _half_sq(psi - (x - xt) / sigma**2)
    diff = esm_p - dsm_p
    return {
        "esm_minus_dsm_pairs": float(stratum_weights(strata) @ diff),
        "esm_minus_dsm_pairs_se": stratified_se(diff, strata),
        "esm_minus_dsm_pairs_tol": ROUNDING * float(np.mean(esm_p + dsm_p)),
        "esm_minus_dsm_pairs_tail": tail_share(diff),
        "esm_minus_dsm_pairs_cancel": float(np.mean(np.abs(np.sum(psi * ((x - xt) / sigma**2 - parzen), axis=1)))),
    }


def _evaluate(params, ev: EvalSet) -> dict:
    s = ev.sigma
    p = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    psi, div = score_and_divergence(p, ev.xt, s)
    g = ev.post.score
    strata = ev.strata
    half_psi2 = _half_sq(psi)
    psi_dot_g = np.sum(psi * g, axis=1)
    esm_pts = _half_sq(psi - g)
    ism_pts = half_psi2 + div
    dsm_pts = half_psi2 - psi_dot_g + ev.post.target_energy
    r = s**2 * psi + ev.xt  # the autoencoder's reconstruction: psi = (r - xt) / sigma^2
    r_dot_mean = np.sum(r * ev.post.mean, axis=1)
    dae_pts = np.sum(r * r, axis=1) - 2.0 * r_dot_mean + ev.post.second_moment
    out = {"evaluation": ev.method, "eval_points": int(len(ev.weight)), "reference_points": int(len(ev.reference))}
    for name, pts in (("esm_sigma", esm_pts), ("ism_sigma", ism_pts), ("dsm", dsm_pts), ("dae", dae_pts)):
        out[name], out[name + "_se"] = _mean_se(pts, ev.weight, strata)
    out["c2"], out["c2_se"] = ev.c2, ev.c2_se
    out["c3"] = ev.c3
    out["esm_minus_dsm"], out["esm_minus_dsm_se"] = _mean_se(esm_pts - dsm_pts, ev.weight, strata)
    out["esm_minus_dsm_theory"], out["esm_minus_dsm_theory_se"] = ev.c2_minus_c3, ev.c2_minus_c3_se
    out["ism_minus_dsm"], out["ism_minus_dsm_se"] = _mean_se(ism_pts - dsm_pts, ev.weight, strata)
    out["ism_minus_dsm_theory"] = -ev.c3
    out.update(measured_identities(psi, div, ev))

    # What each identity's two sides can resolve (the tick rule, tui/render.agrees): the
    # size of the terms subtracted to get them, times float64's rounding; ISM's identities
    # rest on integration by parts, so the quadrature's precision applies to them too.
    dsm_terms = float(ev.weight @ (half_psi2 + np.abs(psi_dot_g) + ev.post.target_energy))
    esm_terms = float(ev.weight @ esm_pts)
    ism_terms = float(ev.weight @ (half_psi2 + np.abs(div)))
    dae_terms = float(ev.weight @ (np.sum(r * r, axis=1) + 2.0 * np.abs(r_dot_mean) + ev.post.second_moment))
    ism_resolution = QUADRATURE_PRECISION if strata is None else 0.0
    out["esm_minus_dsm_tol"] = ROUNDING * (esm_terms + dsm_terms)
    out["ism_minus_dsm_tol"] = (ROUNDING + ism_resolution) * (ism_terms + dsm_terms)
    out["dsm_dae_tol"] = ROUNDING * (dsm_terms + dae_terms / (2.0 * s**4))
    # Identity 2, ESM_qsigma - ISM_qsigma = C2: integration by parts under q_sigma.
    out["esm_minus_ism_sigma_se"] = _mean_se(esm_pts - ism_pts, ev.weight, strata)[1]
    out["esm_minus_ism_sigma_tol"] = (ROUNDING + ism_resolution) * (esm_terms + ism_terms)
    out["esm_minus_ism_sigma_cancel"] = float(ev.weight @ (np.abs(div) + np.abs(psi_dot_g)))

    # The pairs estimator: one clean x per xt, as training sees it; wobbles around theory.
    out.update(pairs_estimate(score(p, ev.pair_xt, s), ev.pair_x, ev.pair_xt, ev.pair_score, ev.pair_strata, s))

    dp = ev.data_points
    psi_d, div_d = score_and_divergence(p, dp, s)
    out["ism_data"] = float(np.mean(_half_sq(psi_d) + div_d))
    a = ev.analytic
    if a is not None:
        psi_q, div_q = score_and_divergence(p, a.nodes, s)
        esm_q, ism_q = _half_sq(psi_q - a.score), _half_sq(psi_q) + div_q
        out["esm"], out["ism"], out["c1"] = float(a.weights @ esm_q), float(a.weights @ ism_q), a.c1
        # Identity 1, ESM_q - ISM_q = C1: integration by parts under q, by the same kind of rule.
        terms = float(a.weights @ (esm_q + _half_sq(psi_q) + np.abs(div_q)))
        out["esm_minus_ism_tol"] = (ROUNDING + QUADRATURE_PRECISION) * terms
        out["esm_minus_ism_cancel"] = float(a.weights @ (np.abs(div_q) + np.abs(np.sum(psi_q * a.score, axis=1))))
    else:
        out["esm"] = out["ism"] = out["c1"] = out["esm_minus_ism_tol"] = out["esm_minus_ism_cancel"] = None
    return out
