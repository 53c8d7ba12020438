"""core/run.py and core/streams.py: one run setup, one step and one divergence rule,
shared by the trainer and the comparison. Oracles: the trainer and the comparison built
side by side (they must agree to the bit), numpy's own generators for the streams, and
the optimiser's update written out for the step."""

import math

import numpy as np
import pytest

from smtui.core import run, streams
from smtui.core.compare import Comparison
from smtui.core.config import Config
from smtui.core.trainer import Trainer

SMALL = {"n_train": 96, "hidden": 16, "batch": 64, "eval_every": 10**6}
# The setup of issue 15: the comparison used to call both runs "ok" at values of 9.9e296.
ISSUE_15 = Config(distribution="moons", sigma=0.35, optimizer="sgd", lr=0.002, seed=5, eval_every=10**6)


def test_every_stream_has_a_tag_of_its_own():
    tags = {k: v for k, v in vars(streams).items() if k.isupper()}
    assert len(tags) >= 8 and len(set(tags.values())) == len(tags)
    a, b = streams.stream(7, streams.BATCHES), np.random.default_rng([7, 0xBA7C])
    assert a.bit_generator.state == b.bit_generator.state  # the tags saved experiments were drawn with


@pytest.mark.parametrize("setup", [dict(SMALL, seed=3), dict(SMALL, seed=3, distribution="moons", dtype="float32")])
def test_the_trainer_and_the_comparison_share_data_start_draw_points_and_first_batch(setup):
    cfg = Config(**setup)
    t = Trainer(cfg)
    c = Comparison(cfg, ["dsm", "dae"])
    np.testing.assert_array_equal(c.data, t.data)
    assert c.analytic is t.analytic or (c.analytic is None) == (t.analytic is None)
    for r in c.runs.values():
        np.testing.assert_array_equal(r.theta, t.run.theta)
        assert r.theta.dtype == t.run.theta.dtype == np.dtype(cfg.dtype)
        assert set(r.opt) == set(t.run.opt) == {"m", "v", "t"}
        assert not np.shares_memory(r.theta, t.run.theta)
    np.testing.assert_array_equal(c.points, t.draw_points[: len(c.points)])  # 300 of the trainer's 400
    assert c.batches.rng.bit_generator.state == t.batches.rng.bit_generator.state
    assert c.batches.version == t.batches.version
    first, lone = c.batches.next()["dsm"], t.batches.next()["dsm"]
    for k in ("x", "xt", "xt1"):
        np.testing.assert_array_equal(first[k], lone[k])
        assert first[k].dtype == lone[k].dtype == np.dtype(cfg.dtype)


def test_a_user_data_file_is_set_up_alike_too(rng):
    pts = rng.normal(size=(50, 3))
    cfg = Config(data_path="cloud.csv", **SMALL)
    t, c = Trainer(cfg, points=pts), Comparison(cfg, ["dsm", "esm-sigma"], points=pts)
    np.testing.assert_array_equal(t.data, c.data)
    np.testing.assert_array_equal(t.run.theta, c.runs["dsm"].theta)
    assert t.analytic is None and c.analytic is None and c.data_score is None


def test_the_issue_15_setup_diverges_at_the_same_step_with_the_same_parameters_in_both():
    t = Trainer(ISSUE_15)
    t.train(300)
    c = Comparison(ISSUE_15, ["dsm", "dae"])
    assert c.train(300) == 110 == t.step
    assert t.status == "diverged" and "diverged at step 111" in t.message
    for r in c.runs.values():
        assert r.status == "diverged" and r.message == t.message
        assert r.theta @ r.theta <= run.THETA_NORM2_MAX
    np.testing.assert_array_equal(c.runs["dsm"].theta, t.run.theta)  # one step: the same bits
    assert c.train(5) == 0 and c.step == 110  # nothing left to train


def test_a_refused_step_leaves_the_run_as_it_was_and_says_why():
    theta = np.array([1.0, -2.0, 3.0])
    r = run.Run(theta.copy(), "momentum", lr=0.5)
    assert r.step(lambda t, b: (float(t @ t), 2 * t), None, 1)  # v = g; theta - lr v = 0
    np.testing.assert_array_equal(r.theta, np.zeros(3))
    np.testing.assert_array_equal(r.opt["v"], 2 * theta)
    assert r.loss == 14.0 and r.status == "ok"
    kept, opt = r.theta.copy(), {k: v.copy() for k, v in r.opt.items()}
    assert not r.step(lambda t, b: (1.0, np.array([np.inf, 0.0, 0.0])), None, 2)
    np.testing.assert_array_equal(r.theta, kept)
    np.testing.assert_array_equal(r.opt["v"], opt["v"])
    assert r.status == "diverged" and r.message.startswith("diverged at step 2: a gradient became non-finite")
    assert "kept the last finite parameters (step 1)" in r.message


@pytest.mark.parametrize("loss, theta, why", [
    (float("nan"), [1.0], "the loss became non-finite"),
    (1.0, [np.inf], "a parameter became non-finite"),
    (1.0, [1e49, 1e49], ""),  # |theta|^2 = 2e98: still kept
    (1.0, [1e50, 1e50], "the parameters grew past 1e50"),  # finite, but its figures would overflow
    (1.0, [1e200], "the parameters grew past 1e50"),  # theta . theta overflows
])
def test_the_divergence_rule(loss, theta, why):
    theta = np.array(theta)
    got = run.divergence(loss, np.zeros_like(theta), theta)
    assert got.startswith(why) and (got == "") == (why == "")
    assert math.isfinite(run.THETA_NORM2_MAX)


def test_switching_the_optimiser_keeps_theta_and_starts_its_state_afresh():
    t = Trainer(Config(**SMALL))
    t.train(5)
    theta = t.run.theta.copy()
    assert t.configure(optimizer="momentum") == ["optimiser state reset"]
    np.testing.assert_array_equal(t.run.theta, theta)
    assert set(t.run.opt) == {"v"} and not t.run.opt["v"].any()
    t.train(3)
    assert t.status == "ok" and t.step == 8
