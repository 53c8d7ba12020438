"""ESM-sigma's neighbour-search target (core/neighbours.py) against the exact Parzen
score (core/parzen.py): within the stated bound TOLERANCE / sigma everywhere."""

import numpy as np
import pytest

from smtui.core import distributions
from smtui.core.config import Config
from smtui.core.neighbours import TOLERANCE, build_index, parzen_score_near, radius_for
from smtui.core.objectives import draw_batch
from smtui.core.parzen import parzen_score


@pytest.mark.parametrize("d,sigma", [(1, 0.002), (2, 0.02), (2, 0.005), (3, 0.05)])
def test_target_matches_the_exact_parzen_score_within_the_bound(d, sigma):
    rng = np.random.default_rng(d)
    data = rng.normal(size=(30_000, d)) * np.array([1.0, 0.3, 2.0][:d])
    index = build_index(data, sigma)
    assert index is not None and index.radius == radius_for(len(data), sigma)
    # training-like queries (x + sigma eps), some 6 sigma out, and some far from every point
    xt = data[rng.integers(0, len(data), 300)] + sigma * rng.normal(size=(300, d))
    xt[:20] += 6 * sigma
    xt[20:25] = 50.0
    got = parzen_score_near(xt, index)
    want = parzen_score(xt, data, sigma)
    assert np.abs(got - want).max() <= TOLERANCE / sigma


def _oracle(xt, centres, sigma):
    """The Parzen score in extended precision from the differences themselves."""
    xt, centres = np.asarray(xt, np.longdouble), np.asarray(centres, np.longdouble)
    diff = centres[None, :, :] - xt[:, None, :]
    logits = -np.sum(diff * diff, axis=2) / (2 * np.longdouble(sigma) ** 2)
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (np.einsum("mn,mnd->md", w, diff) / w.sum(axis=1)[:, None] / np.longdouble(sigma) ** 2).astype(float)


@pytest.mark.parametrize("sigma", [0.001, 0.003])
def test_target_is_within_the_bound_of_an_extended_precision_oracle_at_small_sigma(sigma):
    """At small sigma the exact float64 path's centred products round at ~1e-9 / sigma;
    the neighbour path works from differences and stays within the bound of the truth."""
    rng = np.random.default_rng(4)
    data = distributions.sample("ring8", 20_000, 2)
    index = build_index(data, sigma)
    xt = data[rng.integers(0, len(data), 40)] + sigma * rng.normal(size=(40, 2))
    truth = _oracle(xt, data, sigma)
    assert np.abs(parzen_score_near(xt, index) - truth).max() <= TOLERANCE / sigma


def test_used_only_where_it_pays():
    rng = np.random.default_rng(0)
    assert build_index(rng.normal(size=(1000, 4)), 0.01) is None  # d > 3: no grid
    assert build_index(rng.normal(size=(1000, 2)), 3.0) is None  # radius covers the data
    data = rng.normal(size=(5000, 2))
    index = build_index(data, 0.1)  # a grid, but the neighbours are most pairs: exact runs
    xt = data[:64] + 0.1
    np.testing.assert_array_equal(parzen_score_near(xt, index), parzen_score(xt, data, 0.1))


def test_trainer_uses_it_for_large_training_sets_with_the_same_batches():
    """draw_batch with the index gives the same points and the target within the bound."""
    data = distributions.sample("checkerboard", 25_000, 3)
    sigma = 0.01
    index = build_index(data, sigma)
    a = draw_batch("esm-sigma", data, 128, sigma, np.random.default_rng(5), near=index)
    b = draw_batch("esm-sigma", data, 128, sigma, np.random.default_rng(5))
    np.testing.assert_array_equal(a["x"], b["x"])
    assert np.abs(a["target"] - b["target"]).max() <= TOLERANCE / sigma
    from smtui.core.trainer import NEAR_MIN_N, Trainer

    cfg = Config(objective="esm-sigma", distribution="checkerboard", n_train=NEAR_MIN_N, sigma=sigma, batch=64,
                 hidden=8, eval_every=10**9)
    t = Trainer(cfg)
    assert t.train(3) == 3 and t._near is not None and t._near[1] is not None
