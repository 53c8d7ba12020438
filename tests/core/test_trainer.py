"""The trainer: it learns, it stops cleanly on divergence, and commands keep what makes sense."""

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.trainer import IDENTITY_COLUMNS, SCALE_COLUMNS, Trainer


def test_training_dsm_on_ring8_brings_the_model_score_to_the_true_score():
    t = Trainer(Config(distribution="ring8", objective="dsm", n_train=256, eval_every=10**6, seed=1))
    before = t.evaluate()["esm"]
    t.train(1500)
    after = t.evaluate()
    assert t.status == "ok" and t.step == 1500
    assert after["esm"] < before / 8, (before, after["esm"])
    assert after["esm_sigma"] < t.evaluations[0]["esm_sigma"] / 8
    # While the losses fall, ESM - DSM stays at its theory value.
    assert after["esm_minus_dsm"] == pytest.approx(t.evaluations[0]["esm_minus_dsm"], rel=1e-9)


def test_the_objectives_fall_together_on_one_scale_a_constant_apart(tmp_path):
    """The snapshot's scale history (what the one-scale plot draws): at every evaluation
    ESM_qsigma, DSM + (C2 - C3) and DAE/(2 sigma^4) + (C2 - C3) with DSM and DAE as training
    defines them, ISM_qsigma + C2 meet within the measured errors while the objectives fall;
    DAE's row is DSM's to rounding (identity 5); ESM_q beside them; a saved experiment
    loads with the same history."""
    from smtui.core.experiment import load_experiment, save_experiment
    from smtui.core.trainer import SCALE_COLUMNS

    t = Trainer(Config(n_train=128, eval_every=200))
    t.evaluate()
    t.train(1000)
    h = t.snapshot(figures=False).scale_history
    col = {c: h[:, i] for i, c in enumerate(SCALE_COLUMNS)}
    assert col["step"].tolist() == [0, 200, 400, 600, 800, 1000] and col["esm-sigma"][-1] < col["esm-sigma"][0] / 2
    for figs, row in zip(t.evaluations, h):
        err = 3 * figs["esm_minus_dsm_measured_err"]
        assert row[SCALE_COLUMNS.index("dsm")] == pytest.approx(figs["esm_sigma"], abs=err)
        ism_err = 3 * figs["ism_minus_dsm_tol"]
        assert row[SCALE_COLUMNS.index("ism-sigma")] == pytest.approx(figs["esm_sigma"], abs=ism_err)
        assert row[SCALE_COLUMNS.index("esm")] == figs["esm"] and row[-1] == figs["esm_minus_dsm_theory"]
    assert col["dae"] == pytest.approx(col["dsm"], rel=1e-12)
    b = load_experiment(save_experiment(t, tmp_path / "e.toml"))
    np.testing.assert_array_equal(b.snapshot(figures=False).scale_history, h)


@pytest.mark.parametrize("objective", ["ism", "ism-reg", "esm-sigma", "ism-sigma", "dae", "esm"])
def test_every_objective_lowers_its_distance_to_the_smoothed_score(objective):
    lr = 0.3 if objective == "dae" else 0.01
    t = Trainer(Config(distribution="gaussian", objective=objective, n_train=128, eval_every=10**6, lr=lr))
    before = t.evaluate()["esm_sigma"]
    t.train(300)
    assert t.status == "ok"
    assert t.evaluate()["esm_sigma"] < before / 3


def test_divergence_stops_and_keeps_last_finite_parameters():
    t = Trainer(Config(objective="dsm", sigma=0.05, lr=1e6, optimizer="sgd", n_train=64, eval_every=10**6))
    done = t.train(50)
    assert t.status == "diverged"
    assert done < 50 and t.step == done
    assert f"at step {done + 1}" in t.message and "smaller learning rate" in t.message
    assert all(np.all(np.isfinite(v)) for v in t.params.values())
    assert isinstance(t.evaluate()["dsm"], float)  # evaluating blown-up parameters does not raise


def test_evaluations_follow_eval_every_and_are_for_current_params():
    t = Trainer(Config(n_train=64, eval_every=20))
    t.train(60)
    assert [e["step"] for e in t.evaluations] == [20, 40, 60]
    assert t.evaluate() is t.evaluations[-1]  # cached for unchanged parameters
    assert t.identity.array().shape == (3, len(IDENTITY_COLUMNS))
    assert t.scale.array().shape == (3, len(SCALE_COLUMNS))


def test_same_seed_same_run_and_float32_is_honoured():
    runs = []
    for _ in range(2):
        t = Trainer(Config(n_train=64, eval_every=10**6, seed=4))
        t.train(25)
        runs.append(t.params)
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])
    t32 = Trainer(Config(n_train=64, eval_every=10**6, dtype="float32"))
    t32.train(5)
    assert all(v.dtype == np.float32 for v in t32.params.values())


def test_configure_keeps_parameters_when_they_still_apply():
    t = Trainer(Config(n_train=64, eval_every=10**6))
    t.train(10)
    W = t.params["W"].copy()
    t.configure(sigma=0.5, objective="ism", lr=0.001)
    np.testing.assert_array_equal(t.params["W"], W)
    assert t.config.sigma == 0.5 and t.eval_set.sigma == 0.5
    assert t.marks and t.marks[-1][0] == 10 and "sigma=0.5" in t.marks[-1][1]
    notes = t.configure(distribution="bimodal")  # 1-D: the 2-D parameters cannot apply
    assert "parameters re-initialised" in notes and t.params["W"].shape == (64, 1)
    t.configure(distribution="moons")
    with pytest.raises(UserError, match="analytic"):
        t.configure(objective="esm")
    assert t.config.objective == "ism"  # refused change left the setup unchanged
    t.configure(hidden=8)
    assert t.params["W"].shape == (8, 2)


def test_snapshot_is_read_only_and_complete():
    t = Trainer(Config(n_train=64, eval_every=10**6))
    t.train(3)
    s = t.snapshot(field_shape=(12, 9))
    assert s.step == 3 and s.figures["step"] == 3 and s.losses.shape == (3, 2)
    assert s.field.model.shape == (108, 2) and s.field.data.shape == (108, 2)
    assert np.exp(s.field.log_density).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        s.losses[0, 0] = 1.0
    with pytest.raises(TypeError):
        s.figures["dsm"] = 0.0
    samples = t.langevin_samples(50, steps=20)
    assert samples.shape == (50, 2) and np.all(np.isfinite(samples))


def test_histories_stay_bounded_on_long_runs(monkeypatch):
    """Evaluations are decimated evenly (they span the whole run), marks keep the latest."""
    import smtui.core.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "MAX_EVALUATIONS", 8)
    monkeypatch.setattr(trainer_module, "MAX_MARKS", 5)
    t = Trainer(Config(n_train=32, eval_every=1, hidden=4, batch=8))
    t.train(40)
    steps = [e["step"] for e in t.evaluations]
    assert len(steps) < 8 and steps[0] == 1 and steps[-1] >= 33
    assert len(set(np.diff(steps))) == 1  # evenly spaced
    for _ in range(9):
        t.reinitialise()
    assert len(t.marks) == 5
    t.evaluations = [{"step": i} for i in range(20)]  # a loaded history is bounded too
    assert len(t.evaluations) < 8


def test_decimating_history_spans_the_run_evenly():
    from smtui.core.history import DecimatingHistory

    h = DecimatingHistory(("step", "loss"), capacity=16)
    for i in range(1000):
        h.append((i, -i))
    a = h.array()
    assert len(a) < 16 and a[0, 0] == 0 and a[-1, 0] > 1000 - 1000 / 8
    assert len(set(np.diff(a[:, 0]))) == 1
