"""The one hand-written gradient (core/fused.py) against autograd differentiating the
definitions (core/objectives.py): every objective, float64 and float32, with and without
per-row weights, in one chunk and in several, and where the sigmoid saturates."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, value_and_grad
from autograd.test_util import check_grads

from smtui.core import distributions, fused
from smtui.core.fused import pack, unpack
from smtui.core.model import init_params
from smtui.core.objectives import OBJECTIVES, draw_batch

ANALYTIC_BY_DIM = {1: "bimodal", 2: "gaussian"}  # no analytic q at d = 5, so no ESM case there
SIGMA, LAM = 0.4, 0.3


def _case(name, d=2, rows=17, hidden=9, seed=7, weighted=False, w_scale=1.0):
    """(params, batch) in float64: a generic theta and a batch drawn as training draws it."""
    rng = np.random.default_rng(seed)
    q = distributions.analytic(ANALYTIC_BY_DIM[d]) if d in ANALYTIC_BY_DIM else None
    data = rng.normal(size=(60, d))
    params = init_params(rng, d, hidden)
    params["W"] = params["W"] * w_scale
    batch = draw_batch(name, data, rows, SIGMA, rng, q)
    if weighted:
        batch["weight"] = rng.random(rows) * 3.0 / rows  # any non-negative weights, not summing to 1
    return params, batch


def _definition(name, params, batch):
    """The definition's value and gradient (as flat theta) by autograd, in float64."""
    b64 = {k: np.asarray(v, dtype=float) for k, v in batch.items()}
    p64 = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    v, g = value_and_grad(lambda p: OBJECTIVES[name].loss(p, b64, SIGMA, LAM))(p64)
    return v, pack(g)


def _in_dtype(params, batch, dtype):
    """The case in ``dtype``, laid out as draw_batch lays it out (x / x1 views of one array)."""
    out = {}
    for k, v in batch.items():
        out[k] = np.asarray(v, dtype=dtype if k != "weight" else float)
    for k in ("x1", "xt1"):
        if k in out:
            out[k[:-1]] = out[k][:, :-1]
    return {k: v.astype(dtype) for k, v in params.items()}, out


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,d", [(n, d) for n in OBJECTIVES for d in (1, 2, 5)
                                    if d in ANALYTIC_BY_DIM or not OBJECTIVES[n].needs_analytic])
def test_value_and_gradient_match_the_autograd_definition(name, d, weighted):
    params, batch = _case(name, d, weighted=weighted)
    want_v, want_g = _definition(name, params, batch)
    got_v, got_g = OBJECTIVES[name].value_and_grad(pack(params), batch, SIGMA, LAM)
    np.testing.assert_allclose(got_v, want_v, rtol=1e-12)
    np.testing.assert_allclose(got_g, want_g, rtol=1e-10, atol=1e-12 * np.abs(want_g).max())


REGIMES = [(weighted, regime) for weighted in (False, True) for regime in ("one pass", "chunks", "saturated")
           if weighted or regime != "chunks"]  # only weighted batches go in chunks


@pytest.mark.parametrize("weighted,regime", REGIMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_every_objective_dtype_weighting_and_regime_against_the_definition(name, dtype, weighted, regime,
                                                                            monkeypatch):
    """float32 is held to the float64 definition at the same (float32) inputs. "chunks":
    7 rows a chunk, the last one partial. "saturated": pre-activations past +-710, where
    exp(-a) overflows to inf in the exp-form sigmoid (giving exactly 0; from |a| > 88 in
    float32, 709 in float64) and the tanh-form definition saturates."""
    if regime == "chunks":
        monkeypatch.setattr(fused, "CHUNK_ELEMENTS", 7 * 9)
    params, batch = _case(name, rows=52, weighted=weighted, w_scale=1000.0 if regime == "saturated" else 1.0)
    params, batch = _in_dtype(params, batch, dtype)
    with np.errstate(over="ignore"):  # as in training (autograd's tanh VJP overflows too)
        want_v, want_g = _definition(name, params, batch)
        got_v, got_g = OBJECTIVES[name].value_and_grad(pack(params), batch, SIGMA, LAM)
    if regime == "saturated":
        a = batch.get("xt", batch["x"]) @ params["W"].T.astype(float) + params["b"]
        assert a.min() < -710 and a.max() > 710  # exp(-a) overflows for some entries, in either float type
    assert got_g.dtype == dtype and np.asarray(got_v).dtype == dtype
    assert np.isfinite(got_v) and np.isfinite(got_g).all()
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got_v, want_v, rtol=tol)
    np.testing.assert_allclose(got_g, want_g, rtol=100 * tol, atol=tol * np.abs(want_g).max())


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_chunks_change_nothing_but_rounding_and_a_minibatch_is_one_pass(name, monkeypatch):
    params, batch = _case(name, rows=40, weighted=True)
    theta = pack(params)
    whole = OBJECTIVES[name].value_and_grad(theta, batch, SIGMA, LAM)
    unweighted = OBJECTIVES[name].value_and_grad(theta, {k: v for k, v in batch.items() if k != "weight"}, SIGMA, LAM)
    monkeypatch.setattr(fused, "CHUNK_ELEMENTS", 40 * 9)  # exactly one chunk
    same = OBJECTIVES[name].value_and_grad(theta, batch, SIGMA, LAM)
    assert same[0] == whole[0] and np.array_equal(same[1], whole[1])
    monkeypatch.setattr(fused, "CHUNK_ELEMENTS", 3 * 9)
    v, g = OBJECTIVES[name].value_and_grad(theta, batch, SIGMA, LAM)
    assert v != whole[0] or not np.array_equal(g, whole[1])  # 14 chunks: other roundings
    assert v == pytest.approx(whole[0], rel=1e-13)
    np.testing.assert_allclose(g, whole[1], rtol=1e-12, atol=1e-14 * np.abs(whole[1]).max())
    # Without weights, one pass whatever the chunk size: training's arithmetic, bit for bit.
    v, g = OBJECTIVES[name].value_and_grad(theta, {k: v for k, v in batch.items() if k != "weight"}, SIGMA, LAM)
    assert v == unweighted[0] and np.array_equal(g, unweighted[1])


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_equal_weights_of_one_over_n_give_the_mean(name):
    params, batch = _case(name, rows=23)
    theta = pack(params)
    v, g = OBJECTIVES[name].value_and_grad(theta, batch, SIGMA, LAM)
    wv, wg = OBJECTIVES[name].value_and_grad(theta, dict(batch, weight=np.full(23, 1 / 23)), SIGMA, LAM)
    assert wv == pytest.approx(v, rel=1e-13)
    np.testing.assert_allclose(wg, g, rtol=1e-12, atol=1e-14 * np.abs(g).max())


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_the_primitive_composes_with_autograd_like_the_definition(name):
    """``Objective.fast`` inside a larger autograd graph (an upstream gradient other than 1,
    theta used twice) gives what autograd gives through the definition; check_grads agrees."""
    params, batch = _case(name, rows=11)
    theta, obj = pack(params), OBJECTIVES[name]

    def through(loss):
        return lambda t: anp.sin(loss(t)) * 3.0 + 0.5 * anp.sum(t * t) * loss(t)

    got = grad(through(lambda t: obj.fast(t, batch, SIGMA, LAM)))(theta)
    want = grad(through(lambda t: obj.loss(unpack(t, 2), batch, SIGMA, LAM)))(theta)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    check_grads(lambda t: obj.fast(t, batch, SIGMA, LAM), modes=["rev"], order=1)(theta)


def test_pack_unpack_round_trip_and_views():
    p = init_params(np.random.default_rng(0), 3, 5)
    theta = pack(p)
    back = unpack(theta, 3)
    for k in p:
        np.testing.assert_array_equal(back[k], p[k])
        assert np.shares_memory(back[k], theta)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_evaluation_score_and_divergence_match_the_autograd_definitions(d, monkeypatch):
    """The no-autograd evaluation path (one sigmoid pass, chunked) against the definitions."""
    from smtui.core import model

    monkeypatch.setattr(model, "_EVAL_CHUNK_ELEMENTS", 7 * 64)  # several chunks, the last partial
    rng = np.random.default_rng(11)
    params = init_params(rng, d, 7)
    x = rng.normal(size=(300, d)) * 2.0
    for scale in (1.0, 1000.0):  # and where the sigmoid saturates: pre-activations past +-710
        p = dict(params, W=params["W"] * scale)
        if scale > 1:
            a = x @ p["W"].T + p["b"]
            assert a.min() < -710 and a.max() > 710
        with np.errstate(over="ignore"):  # (autograd's tanh VJP on the definitions' side)
            psi, div = model.score_and_divergence(p, x, 0.7)
            want_psi = model.score_autograd(p, x, 0.7)
            want_div = model.jacobian_diagonal_autograd(p, x, 0.7).sum(axis=1)
        np.testing.assert_allclose(psi, want_psi, rtol=1e-12, atol=1e-12 * np.abs(want_psi).max())
        np.testing.assert_allclose(div, want_div, rtol=1e-11, atol=1e-11 * np.abs(want_div).max())


def test_esm_sigma_parzen_target_is_computed_in_float32_when_asked():
    rng = np.random.default_rng(4)
    data = rng.normal(size=(200, 2)) * 2.0
    b64 = draw_batch("esm-sigma", data, 64, 0.1, np.random.default_rng(2))
    b32 = draw_batch("esm-sigma", data, 64, 0.1, np.random.default_rng(2), dtype=np.float32)
    assert b32["x"].dtype == np.float32 and b32["target"].dtype == np.float32
    np.testing.assert_array_equal(b32["x"], b64["x"].astype(np.float32))
    np.testing.assert_allclose(b32["target"], b64["target"], rtol=0, atol=1e-3 * np.abs(b64["target"]).max())
