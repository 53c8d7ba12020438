"""The sample metrics (core/sample_metrics.py) against brute force and against cases whose
answer is known: MMD^2 unbiased and kernel-width aware, histogram TV 0 and 1 at the extremes,
mode weights, their TV and the off-mode share by hand-placed points."""

import numpy as np
import pytest

from smtui.core import distributions as D
from smtui.core import sample_metrics as M


def _mmd2_brute(x, y, h):
    k = lambda a, b: np.exp(-np.sum((a[:, None] - b[None]) ** 2, axis=2) / (2 * h * h))  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


def test_mmd2_is_the_unbiased_estimator_in_blocks(monkeypatch):
    monkeypatch.setattr(M, "_ROWS", 7)  # several blocks, the last one partial
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)) + 1e4, rng.normal(size=(33, 2)) * 1.3 + 1e4  # far from 0
    for h in (0.2, 1.0):
        assert M.mmd2(x, y, h) == pytest.approx(_mmd2_brute(x - 1e4, y - 1e4, h), rel=1e-9, abs=1e-12)


def test_mmd2_is_zero_on_average_between_samples_of_one_distribution_and_not_otherwise():
    rng = np.random.default_rng(1)
    q = D.analytic("ring8w")
    same = [M.mmd2(q.sample(300, rng), q.sample(300, rng)) for _ in range(40)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(40)  # unbiased: no floor above 0
    blurred = [M.mmd2(q.smoothed(0.5).sample(300, rng), q.sample(300, rng)) for _ in range(10)]
    assert min(blurred) > max(same)


def test_histogram_tv_at_the_extremes_and_counting_what_lies_outside_the_box():
    rng = np.random.default_rng(2)
    ref = rng.uniform(-1, 1, size=(4000, 2))
    assert M.hist_tv(ref, ref) == 0.0
    assert M.hist_tv(ref + 100.0, ref) == 1.0  # everything outside the box: one bin, all of it
    assert M.hist_tv(ref[:, :1] + 100.0, ref[:, :1]) == 1.0  # 1-D
    half = np.concatenate([ref[:2000], ref[:2000] + 100.0])
    assert M.hist_tv(half, ref) == pytest.approx(0.5)
    high = rng.normal(size=(500, 5))
    assert M.hist_tv(high, high) == 0.0 and M.hist_tv(high * 10, high) > 0.5  # d > 2: on the first PC plane


def test_mode_weights_tv_and_off_mode_by_hand():
    q = D.analytic("ring8w")
    near = q.means + 0.15 * np.array([2.9, 0.0])  # 2.9 std from its mode: on it
    far = q.means[:2] * 0.5  # radius 1: 6.7 std from every mode
    x = np.concatenate([np.repeat(near[:1], 6, axis=0), near[1:2], far])
    r = M.mode_report(x, q)
    assert r["mode_weights"] == pytest.approx([6 / 7, 1 / 7, 0, 0, 0, 0, 0, 0])
    assert r["off_mode"] == pytest.approx(2 / 9)
    assert r["weight_tv"] == pytest.approx(0.5 * (abs(6 / 7 - 3 / 16) + abs(1 / 7 - 1 / 16) + 3 * 3 / 16 + 3 / 16))
    exact = M.mode_report(q.sample(50_000, np.random.default_rng(3)), q)
    assert exact["weight_tv"] < 0.01 and exact["off_mode"] == pytest.approx(np.exp(-4.5), abs=0.003)  # 2-D: e^-9/2


def test_spread_is_one_for_the_data_and_larger_for_blur_and_non_finite_samples_count_against():
    rng = np.random.default_rng(4)
    q = D.analytic("ring8w")
    ref, held = q.sample(2000, rng), q.sample(2000, rng)
    assert M.spread(q.sample(2000, rng), ref, held) == pytest.approx(1.0, abs=0.05)
    assert M.spread(q.smoothed(0.3).sample(2000, rng), ref, held) > 2.0
    x = q.sample(1000, rng)
    x[:100] = np.nan
    m = M.sample_metrics(x, ref, held, q)
    assert m["non_finite"] == pytest.approx(0.1) and m["off_mode"] >= 0.1
    assert all(np.isfinite(m[k]) for k in ("mmd2", "hist_tv", "spread", "weight_tv"))
    assert M.sample_metrics(x, ref, held)["weight_tv"] is None
