"""The fused training primitives (core/fused.py) against autograd differentiating the
definitions (core/objectives.py), in float64 and float32."""

import numpy as np
import pytest
from autograd import value_and_grad

from smtui.core import distributions
from smtui.core.fused import pack, unpack
from smtui.core.model import init_params
from smtui.core.objectives import OBJECTIVES, draw_batch

ANALYTIC_BY_DIM = {1: "bimodal", 2: "gaussian"}  # no analytic q at d = 5, so no ESM case there


@pytest.mark.parametrize("name,d", [(n, d) for n in OBJECTIVES for d in (1, 2, 5)
                                    if d in ANALYTIC_BY_DIM or not OBJECTIVES[n].needs_analytic])
def test_fused_value_and_gradient_match_autograd_definition(name, d):
    rng = np.random.default_rng(7)
    q = distributions.analytic(ANALYTIC_BY_DIM[d]) if d in ANALYTIC_BY_DIM else None
    data = rng.normal(size=(60, d))
    params = init_params(rng, d, 9)
    batch = draw_batch(name, data, 17, 0.4, rng, q)
    obj = OBJECTIVES[name]
    want_v, want_g = value_and_grad(lambda p: obj.loss(p, batch, 0.4, 0.3))(params)
    got_v, got_g = value_and_grad(lambda t: obj.fast(t, batch, 0.4, 0.3))(pack(params))
    np.testing.assert_allclose(got_v, want_v, rtol=1e-12)
    for k, g in unpack(got_g, d).items():
        np.testing.assert_allclose(g, want_g[k], rtol=1e-10, atol=1e-12 * np.abs(want_g[k]).max())


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_float32_stays_float32_and_close(name):
    rng = np.random.default_rng(3)
    q = distributions.analytic("gaussian")
    data = rng.normal(size=(50, 2))
    p64 = init_params(rng, 2, 8)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    b64 = draw_batch(name, data, 16, 0.5, np.random.default_rng(1), q)
    b32 = draw_batch(name, data, 16, 0.5, np.random.default_rng(1), q, dtype=np.float32)
    obj = OBJECTIVES[name]
    v64, g64 = value_and_grad(lambda t: obj.fast(t, b64, 0.5, 0.1))(pack(p64))
    v32, g32 = value_and_grad(lambda t: obj.fast(t, b32, 0.5, 0.1))(pack(p32))
    assert g32.dtype == np.float32 and np.asarray(v32).dtype == np.float32
    np.testing.assert_allclose(v32, v64, rtol=1e-4)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * np.abs(g64).max())


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
    psi, div = model.score_and_divergence(params, x, 0.7)
    np.testing.assert_allclose(psi, model.score_autograd(params, x, 0.7), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(div, model.jacobian_diagonal_autograd(params, x, 0.7).sum(axis=1),
                               rtol=1e-11, atol=1e-11)


def test_esm_sigma_parzen_target_is_computed_in_float32_when_asked():
    rng = np.random.default_rng(4)
    data = rng.normal(size=(200, 2)) * 2.0
    b64 = draw_batch("esm-sigma", data, 64, 0.1, np.random.default_rng(2))
    b32 = draw_batch("esm-sigma", data, 64, 0.1, np.random.default_rng(2), dtype=np.float32)
    assert b32["x"].dtype == np.float32 and b32["target"].dtype == np.float32
    np.testing.assert_array_equal(b32["x"], b64["x"].astype(np.float32))
    np.testing.assert_allclose(b32["target"], b64["target"], rtol=0, atol=1e-3 * np.abs(b64["target"]).max())


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_fused_exp_sigmoid_matches_the_definition_where_it_saturates(name):
    """Pre-activations of +-1000: exp(-a) overflows to inf in the exp-form sigmoid (giving
    exactly 0) and the tanh-form definition saturates; values and gradients still agree."""
    rng = np.random.default_rng(9)
    q = distributions.analytic("gaussian")
    data = rng.normal(size=(40, 2))
    params = init_params(rng, 2, 6)
    params["W"] = params["W"] * 400.0  # |a| up to ~1000 on these points
    batch = draw_batch(name, data, 24, 0.7, rng, q)
    obj = OBJECTIVES[name]
    with np.errstate(over="ignore"):  # as in Trainer.train (autograd's tanh VJP overflows too)
        got_v, got_g = value_and_grad(lambda t: obj.fast(t, batch, 0.7, 0.2))(pack(params))
        want_v, want_g = value_and_grad(lambda p: obj.loss(p, batch, 0.7, 0.2))(params)
    a = np.abs(batch.get("xt", batch["x"]) @ params["W"].T + params["b"])
    assert a.max() > 745  # exp overflows for some entries
    assert np.isfinite(got_v) and np.isfinite(got_g).all()
    np.testing.assert_allclose(got_v, want_v, rtol=1e-12)
    for k, g in unpack(got_g, 2).items():
        np.testing.assert_allclose(g, want_g[k], rtol=1e-9, atol=1e-12 * np.abs(want_g[k]).max())
