"""The fields drawn by the app (core/field.py, Trainer.field), against independent routes:
for d > 2, a plane through the data (principal axes by an eigendecomposition written
here) and the in-plane part of the full d-dimensional scores, written out in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.field import (
    MAX_GRID_LINE,
    MAX_GRID_POINTS,
    lift,
    make_grid,
    model_field,
    model_log_density,
    model_score,
    plane,
    plane_count,
    project,
)
from smtui.core.trainer import Trainer
from smtui.tui.render import report as render


def correlated(rng, n=300, d=5):
    scales = np.array([3.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.05][:d])
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return 4.0 + (rng.normal(size=(n, d)) * scales) @ rot.T


def psi_closed_form(params, x, sigma):
    s = 1.0 / (1.0 + np.exp(-(x @ params["W"].T + params["b"])))
    return (s @ params["W"] + params["c"] - x) / sigma**2


def parzen_score_plain(x, data, sigma):
    out = np.zeros_like(x)
    for i, q in enumerate(x):
        logits = -np.sum((q - data) ** 2, axis=1) / (2 * sigma**2)
        w = np.exp(logits - logits.max())
        w /= w.sum()
        out[i] = w @ (data - q) / sigma**2
    return out


def test_planes_are_principal_axes_then_coordinates_through_the_mean():
    data = correlated(np.random.default_rng(0))
    d = data.shape[1]
    assert plane_count(d) == 20 and plane_count(2) == 0
    names = [plane(data, k).name for k in range(plane_count(d))]
    assert names[:5] == ["PC1-PC2", "PC1-PC3", "PC1-PC4", "PC1-PC5", "PC2-PC3"]
    assert names[10:12] == ["x1-x2", "x1-x3"] and names[-1] == "x4-x5"
    assert plane(data, plane_count(d)).name == "PC1-PC2"  # cycles
    vals, vecs = np.linalg.eigh(np.cov(data.T))
    top = vecs[:, np.argsort(vals)[::-1]]
    for k, (i, j) in enumerate([(0, 1), (0, 2), (1, 2)][:2]):
        p = plane(data, k)
        assert p.origin == pytest.approx(data.mean(axis=0))
        assert p.basis @ p.basis.T == pytest.approx(np.eye(2), abs=1e-12)
        # the same axes up to sign as the covariance's eigenvectors
        assert np.abs(p.basis @ top[:, [i, j]]) == pytest.approx(np.eye(2), abs=1e-8)
    p = plane(data, 10)
    assert p.basis == pytest.approx(np.eye(d)[[0, 1]])
    u = np.random.default_rng(1).normal(size=(7, 2))
    assert project(lift(u, p), p) == pytest.approx(u)


@pytest.mark.parametrize("k", [0, 3, 12])
def test_a_planes_fields_are_the_projections_of_the_full_scores(tmp_path, k):
    rng = np.random.default_rng(3)
    data = correlated(rng, n=200)
    t = Trainer(Config(data_path=str(tmp_path / "pts.npy"), sigma=0.5, hidden=16, seed=2), points=data)
    params = {"W": rng.normal(size=(16, 5)), "b": rng.normal(size=16), "c": rng.normal(size=5)}
    t.params = params
    f = t.field((9, 7), plane_index=k)
    p = plane(data, k)
    assert f.plane == p.name and f.basis == pytest.approx(p.basis)
    xs, ys = f.axes
    assert (len(xs), len(ys)) == (9, 7) and f.model.shape == (63, 2)
    uu, vv = np.meshgrid(xs, ys)
    x = p.origin + uu.ravel()[:, None] * p.basis[0] + vv.ravel()[:, None] * p.basis[1]
    assert f.model == pytest.approx(psi_closed_form(params, x, 0.5) @ p.basis.T, rel=1e-9, abs=1e-9)
    assert f.data == pytest.approx(parzen_score_plain(x, data, 0.5) @ p.basis.T, rel=1e-7, abs=1e-9)
    assert np.exp(f.log_density).sum() == pytest.approx(1.0)
    # the grid covers the projected training points
    proj = f.project(data)
    assert xs[0] < np.percentile(proj[:, 0], 1) and xs[-1] > np.percentile(proj[:, 0], 99)


def test_5d_data_draws_on_a_plane_with_the_identities_by_monte_carlo(tmp_path, report_for):
    rng = np.random.default_rng(5)
    path = tmp_path / "pts5d.npy"
    np.save(path, correlated(rng, n=600))
    r = report_for(Config(data_path=str(path), n_train=600, seed=0), steps=5, size=(70, 22))
    assert r.snapshot.field.plane == "PC1-PC2"
    for view in range(len(render.VIEWS)):
        text, problem = render.safely(render.field_panel, 70, 22, r, view, 70, 22)
        assert problem == "" and "PC1-PC2 plane" in text.plain, view
    figs = r.snapshot.figures
    assert figs["evaluation"] != "quadrature"
    rows = render.identity_rows(r.snapshot)
    assert all(v.error is not None and v.error > 0 for v in rows if v.label in ("pairs", "ISM-DSM", "ESM-DSM"))
    verdicts = {v.label: v.verdict for v in rows}
    assert "disagree" not in verdicts.values() and verdicts["ISM-DSM"] == verdicts["DSM"] == "agree", rows


@pytest.mark.parametrize("asked", [(3000, 2000), (10**9, 4), (4, 10**9), (230, 140), (5, 1)])
def test_a_grid_is_capped_whatever_asks_for_it(asked):
    grid = make_grid(np.array([[-1.0, 1.0], [-2.0, 2.0]]), asked)
    nx, ny = (len(a) for a in grid.axes)
    assert 2 <= nx and 2 <= ny and nx * ny <= MAX_GRID_POINTS and grid.points.shape == (nx * ny, 2)
    if asked[0] * asked[1] <= MAX_GRID_POINTS:
        assert (nx, ny) == (asked[0], max(asked[1], 2))  # a grid within the cap is as asked
    elif min(asked) > 100:
        assert nx / ny == pytest.approx(asked[0] / asked[1], rel=0.02)  # the panel's shape kept
        assert nx * ny > MAX_GRID_POINTS * 0.98
    line = make_grid(np.array([[-1.0, 1.0]]), (asked[0],))
    assert len(line.axes[0]) == min(max(asked[0], 2), MAX_GRID_LINE)


def test_a_large_grids_model_fields_are_the_closed_form_chunk_by_chunk():
    rng = np.random.default_rng(11)
    h = 2048  # the largest hidden size: a chunk holds 128 rows
    params = {"W": rng.normal(size=(h, 2)) / 40, "b": rng.normal(size=h), "c": rng.normal(size=2)}
    x = rng.normal(size=(1000, 2))
    assert model_score(params, x, 0.7) == pytest.approx(psi_closed_form(params, x, 0.7), rel=1e-9, abs=1e-9)
    pre = x @ params["W"].T + params["b"]
    neg_e = (x @ params["c"] - 0.5 * np.sum(x * x, axis=1) + np.sum(np.logaddexp(0, pre), axis=1)) / 0.49
    expected = neg_e - np.log(np.sum(np.exp(neg_e - neg_e.max()))) - neg_e.max()
    assert model_log_density(params, x, 0.7) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_the_model_field_where_the_sigmoid_saturates():
    """Pre-activations past +-3000 (exp(-a) would overflow float64): the one-pass field (exp(-|a|),
    never overflowing) gives the closed forms' tanh sigmoid and logaddexp softplus, finite."""
    rng = np.random.default_rng(5)
    params = {"W": rng.normal(size=(16, 2)) * 1000, "b": rng.normal(size=16) * 100, "c": rng.normal(size=2)}
    x = rng.normal(size=(300, 2)) * 2
    pre = x @ params["W"].T + params["b"]
    assert pre.min() < -3000 and pre.max() > 3000
    psi, log_p = model_field(params, x, 0.7)
    assert np.isfinite(psi).all() and np.isfinite(log_p).all()
    assert psi == pytest.approx(psi_closed_form(params, x, 0.7), rel=1e-12, abs=1e-9)
    neg_e = (x @ params["c"] - 0.5 * np.sum(x * x, axis=1) + np.sum(np.logaddexp(0, pre), axis=1)) / 0.49
    expected = neg_e - np.log(np.sum(np.exp(neg_e - neg_e.max()))) - neg_e.max()
    assert log_p == pytest.approx(expected, rel=1e-12, abs=1e-9)
