"""The noise ladder's model (core/ladder.py) and its one fast path (core/fused.ladder_denoising):
the hat embedding, the ladder's choices, the conditional score against autograd on the energy,
DSM over the ladder against sigma^2 times the paper's DSM at each row's rung, and the fast
value and gradient against autograd differentiating the definition."""

import numpy as np
import pytest
from autograd import value_and_grad
from autograd.test_util import check_grads

from smtui.core import fused
from smtui.core import ladder as L
from smtui.core.errors import UserError
from smtui.core.model import init_params, reconstruction, score
from smtui.core.objectives import dsm_loss


def _model(d=2, h=7, K=5, seed=1, w_scale=1.0):
    rng = np.random.default_rng(seed)
    p = L.init_conditional(init_params(rng, d, h), K)
    p["W"] = p["W"] * w_scale
    p["B"], p["C"] = rng.normal(size=(K, h)), rng.normal(size=(K, d))
    return p


def _batch(p, rows=23, seed=2, ladder=None, dtype=float):
    d, K = p["W"].shape[1], p["B"].shape[0]
    rng = np.random.default_rng(seed)
    ladder = ladder or L.geometric(3.0, 0.05, K)
    table = fused.with_ones(rng.normal(size=(40, d)) * 2.0)
    return L.draw_ladder_batch(table, rows, ladder, rng, dtype), ladder


# --- the ladder and its embedding ------------------------------------------------------------


def test_the_hat_embedding_is_one_hot_at_the_rungs_linear_in_log_sigma_between_and_clamped():
    ladder = L.geometric(3.0, 0.05, 6)
    np.testing.assert_array_equal(ladder.embedding(ladder.sigmas), np.eye(6))
    lo, hi = ladder.sigmas[2], ladder.sigmas[3]
    for t in (0.1, 0.5, 0.8):
        s = np.exp((1 - t) * np.log(lo) + t * np.log(hi))  # a share t of the way in log sigma
        e = ladder.embedding(s)[0]
        np.testing.assert_allclose(e[[2, 3]], [1 - t, t], rtol=1e-12)
        assert e.sum() == pytest.approx(1.0) and np.count_nonzero(e) == 2
    np.testing.assert_array_equal(ladder.embedding([100.0, 1e-3]), np.eye(6)[[0, 5]])
    assert np.array_equal(L.geometric(1.0, 0.05, 1).embedding([0.3, 7.0]), np.ones((2, 1)))


def test_geometric_ladder_and_its_refusals():
    ladder = L.geometric(3.0, 0.05, 10)
    ratios = ladder.sigmas[:-1] / ladder.sigmas[1:]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)
    assert ladder.sigmas[0] == pytest.approx(3.0) and ladder.sigmas[-1] == pytest.approx(0.05)
    for args, words in (((0.05, 3.0, 10), "larger than"), ((3.0, 0.05, 0), "levels"), ((3.0, 0.0, 4), "sigma min"),
                        ((float("nan"), 0.05, 4), "sigma max"), ((3.0, 0.05, 65), "levels")):
        with pytest.raises(UserError, match=words):
            L.geometric(*args)


def test_sigma_max_is_the_data_diameter_and_matched_sigma_min_the_nearest_neighbour_scale():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(300, 2)) * np.array([3.0, 1.0]) + 1e3  # far from 0: no cancellation
    d2 = np.sum((data[:, None] - data[None]) ** 2, axis=2)
    assert L.data_diameter(data) == pytest.approx(np.sqrt(d2.max()), rel=1e-9)
    np.fill_diagonal(d2, np.inf)
    assert L.nearest_neighbour_scale(data) == pytest.approx(np.sqrt(np.median(d2.min(axis=1))), rel=1e-6)
    ladder = L.choose_ladder(data, 4, sigma_min=L.MATCHED)
    assert ladder.sigmas[0] == pytest.approx(np.sqrt(d2[np.isfinite(d2)].max()), rel=1e-2)
    assert ladder.sigmas[-1] == pytest.approx(L.nearest_neighbour_scale(data), rel=1e-2)
    assert L.choose_ladder(data, 3, sigma_max=2.0, sigma_min=0.1).sigmas.tolist() == pytest.approx([2.0, 0.447214,
                                                                                                   0.1], rel=1e-5)


# --- the model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 5])
def test_conditional_score_is_minus_the_energy_gradient(d):
    p = _model(d=d)
    rng = np.random.default_rng(4)
    ladder = L.geometric(3.0, 0.05, 5)
    sigma = np.exp(rng.uniform(np.log(0.03), np.log(5.0), 30))  # on, between and beyond the rungs
    x = rng.normal(size=(30, d)) * 2.0
    e = ladder.embedding(sigma)
    np.testing.assert_allclose(L.conditional_score(p, x, sigma, e), L.conditional_score_autograd(p, x, sigma, e),
                               rtol=1e-11, atol=1e-12)


def test_at_any_sigma_the_model_is_the_papers_with_the_biases_there():
    p, ladder = _model(), L.geometric(3.0, 0.05, 5)
    x = np.random.default_rng(5).normal(size=(20, 2))
    for sigma in (*ladder.sigmas, 0.7, 0.2):
        plain = L.at_sigma(p, ladder, sigma)
        e = ladder.embedding(np.full(20, sigma))
        np.testing.assert_allclose(score(plain, x, sigma), L.conditional_score(p, x, np.full(20, sigma), e),
                                   rtol=1e-12, atol=1e-12)
        # the denoising step x + sigma^2 psi is the autoencoder's reconstruction there
        np.testing.assert_allclose(x + sigma**2 * score(plain, x, sigma), reconstruction(plain, x), atol=1e-12)


def test_dsm_over_the_ladder_is_sigma_squared_times_the_papers_dsm_at_each_rows_rung():
    p = _model()
    batch, ladder = _batch(p, rows=40)
    want = 0.0
    for k, sigma in enumerate(ladder.sigmas):
        rows = batch["rung"] == k
        if rows.any():
            one = {"x": batch["x"][rows], "xt": batch["xt"][rows]}
            want += sigma**2 * dsm_loss(L.at_sigma(p, ladder, sigma), one, sigma) * rows.sum()
    assert L.ladder_dsm_loss(p, batch) == pytest.approx(want / 40, rel=1e-12)


def test_pack_unpack_round_trip_and_views():
    p = _model(d=3, h=4, K=6)
    theta = L.pack(p)
    back = L.unpack(theta, 3, 6)
    for k in p:
        np.testing.assert_array_equal(back[k], p[k])
        assert np.shares_memory(back[k], theta)


def test_initial_model_starts_as_the_papers_at_every_sigma():
    plain = init_params(np.random.default_rng(0), 2, 8)
    p, ladder = L.init_conditional(plain, 4), L.geometric(2.0, 0.1, 4)
    for sigma in (*ladder.sigmas, 0.5):
        for k in plain:
            np.testing.assert_array_equal(L.at_sigma(p, ladder, sigma)[k], plain[k])


# --- the fast path against the definition ---------------------------------------------------------


def _definition(p, batch):
    b64 = {k: np.asarray(v, dtype=float) for k, v in batch.items() if k != "xe1"}
    v, g = value_and_grad(lambda q: L.ladder_dsm_loss(q, b64))({k: np.asarray(v, float) for k, v in p.items()})
    return v, L.pack(g)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_fast_value_and_gradient_match_the_autograd_definition(d, weighted):
    p = _model(d=d)
    batch, _ = _batch(p)
    w = np.random.default_rng(6).random(23) * 3 / 23 if weighted else None
    if weighted:
        batch["weight"] = w
    want_v, want_g = _definition(p, batch)
    got_v, got_g = fused.ladder_denoising(L.pack(p), batch["xe1"], batch["x"], batch["sigma"], w)
    np.testing.assert_allclose(got_v, want_v, rtol=1e-12)
    np.testing.assert_allclose(got_g, want_g, rtol=1e-10, atol=1e-12 * np.abs(want_g).max())


@pytest.mark.parametrize("regime", ["chunks", "saturated", "between rungs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_path_in_each_dtype_and_regime(dtype, regime, monkeypatch):
    """"chunks": weighted rows 7 a chunk; "saturated": pre-activations past +-710 (the
    exp-form sigmoid's overflow gives exactly 0); "between rungs": embeddings that are not
    one-hot (the SDE's and ODE's sigmas), as xe1 rows built by hand."""
    p = _model(w_scale=1000.0 if regime == "saturated" else 1.0)
    batch, ladder = _batch(p, rows=52)
    if regime == "chunks":
        monkeypatch.setattr(fused, "CHUNK_ELEMENTS", 7 * 7)
        batch["weight"] = np.random.default_rng(8).random(52) / 20
    if regime == "between rungs":
        sigma = np.exp(np.random.default_rng(9).uniform(np.log(0.05), np.log(3.0), 52))
        batch["sigma"], batch["e"] = sigma, ladder.embedding(sigma)
        batch["xe1"] = np.concatenate([batch["xt"], np.ones((52, 1)), batch["e"]], axis=1)
    p32 = {k: v.astype(dtype) for k, v in p.items()}
    b32 = {k: np.asarray(v, dtype) if k not in ("rung", "weight") else v for k, v in batch.items()}
    with np.errstate(over="ignore"):
        want_v, want_g = _definition(p32, b32)
        got_v, got_g = fused.ladder_denoising(L.pack(p32), b32["xe1"], b32["x"], b32["sigma"], batch.get("weight"))
    if regime == "saturated":
        a = b32["xt"].astype(float) @ p32["W"].T.astype(float) + p32["b"]
        assert a.min() < -710 and a.max() > 710
    assert got_g.dtype == dtype and np.isfinite(got_v) and np.isfinite(got_g).all()
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got_v, want_v, rtol=tol)
    np.testing.assert_allclose(got_g, want_g, rtol=100 * tol, atol=tol * np.abs(want_g).max())


def test_the_fast_path_as_an_autograd_primitive_passes_check_grads():
    p = _model(h=4, K=3)
    batch, _ = _batch(p, rows=9)
    f = lambda t: fused.differentiable(  # noqa: E731
        lambda t, b: fused.ladder_denoising(t, b["xe1"], b["x"], b["sigma"]), t, batch)
    check_grads(f, modes=["rev"], order=1)(L.pack(p))


def test_a_batch_draws_rungs_evenly_and_noise_at_the_rows_sigma():
    rng = np.random.default_rng(10)
    data = rng.normal(size=(50, 2))
    ladder = L.geometric(2.0, 0.1, 4)
    b = L.draw_ladder_batch(fused.with_ones(data), 40_000, ladder, rng)
    np.testing.assert_allclose(np.bincount(b["rung"]) / 40_000, 0.25, atol=0.01)
    np.testing.assert_array_equal(b["sigma"], ladder.sigmas[b["rung"]])
    np.testing.assert_array_equal(b["e"], np.eye(4)[b["rung"]])
    eps = (b["xt"] - b["x"]) / b["sigma"][:, None]
    assert abs(eps.mean()) < 0.02 and abs(eps.std() - 1.0) < 0.02
    assert np.all(np.isin(b["x"][:, 0], data[:, 0]))
