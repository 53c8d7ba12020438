"""The noise ladder headless (core/ladder_run.py): its setup's refusals, training through the
one run step, and the issue's target for the learned ladder at its default training."""

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.ladder_run import DEFAULT_STEPS, LadderRun, LadderSetup
from smtui.core.verdicts import AGREE

FAST = LadderSetup(Config(distribution="ring8w", n_train=128, hidden=16), steps=50, steps_per_level=5, particles=200)


@pytest.mark.parametrize("changes,words", [
    ({"levels": 0}, "levels"), ({"sampler": "euler"}, "unknown sampler"), ({"particles": 1}, "particles"),
    ({"steps": -1}, "steps"), ({"steps_per_level": 0}, "steps per level"), ({"sigma_min": "tiny"}, "sigma min"),
    ({"sigma_max": 0.01}, "larger than"), ({"eps": 0.0}, "eps"),
    ({"exact_score": True, "config": Config(distribution="moons")}, "analytic"),
])
def test_bad_setups_are_refused_in_one_line(changes, words):
    with pytest.raises(UserError, match=words) as info:
        LadderRun(FAST.with_changes(**changes) if "config" not in changes else LadderSetup(**{
            **FAST.__dict__, **changes}))
    assert "\n" not in str(info.value)


def test_training_in_chunks_is_the_same_run_and_starts_as_the_papers_model():
    one, two = LadderRun(FAST), LadderRun(FAST)
    assert one.train(30) == 30
    two.train(10)
    two.train(20)
    np.testing.assert_array_equal(one.run.theta, two.run.theta)
    assert one.step == 30 and one.status == "ok" and one.run.loss > 0
    one.reinitialise()
    p = one.params
    assert one.step == 0 and not p["B"].any() and not p["C"].any()


def test_a_diverging_run_stops_and_keeps_its_last_finite_parameters():
    run = LadderRun(FAST.with_changes(config=FAST.config.with_changes(lr=1e200, optimizer="sgd")))
    done = run.train(20)
    assert run.status == "diverged" and done < 20 and "diverged at step" in run.message
    assert np.isfinite(run.run.theta).all()


def test_the_learned_ladder_at_default_training_beats_one_sigma_and_the_identity_holds_at_every_rung():
    """The issue's target, one seed (three in benchmarks/ladder.py): weight TV <= 0.2 and at most
    half the one-sigma MALA baseline's (the paper's model trained by DSM at sigma_min with the
    same steps, from the same start and budget); the paper's identity agrees at each rung."""
    setup = LadderSetup(Config(distribution="ring8w", seed=0))
    assert setup.steps == DEFAULT_STEPS
    run = LadderRun(setup)
    assert run.train(setup.steps) == setup.steps
    walk = run.walk()
    metrics = run.measure(walk.run())
    one = run.baseline()
    assert one.train(10**9) == setup.steps and one.step == setup.steps  # the ladder's steps, no more
    base = one.sample()
    assert metrics["weight_tv"] <= 0.2 and metrics["weight_tv"] <= 0.5 * base["metrics"]["weight_tv"], (
        metrics["weight_tv"], base["metrics"]["weight_tv"])
    levels = run.per_level(walk)
    assert [row["identity"]["verdict"] for row in levels] == [AGREE] * 10
    mmd = [row["mmd2_to_q_sigma"] for row in levels]
    assert mmd[-1] > 10 * abs(mmd[0])  # where the model breaks down: the small sigmas
