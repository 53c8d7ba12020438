"""Experiments: round trip, exact resume, refusal of bad files, atomic saves."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment import ExperimentExists, load_config, load_experiment, save_experiment
from smtui.core.trainer import Trainer

SMALL = dict(n_train=64, batch=32, hidden=8, eval_every=7)


def _trained(steps=20, **changes) -> Trainer:
    t = Trainer(Config(**{**SMALL, **changes}))
    t.train(steps)
    return t


def _same_params(a: Trainer, b: Trainer) -> bool:
    return all(np.array_equal(a.params[k], b.params[k]) for k in ("W", "b", "c"))


@pytest.mark.parametrize("optimizer,objective,dtype", [
    ("adam", "dsm", "float64"),
    ("momentum", "dsm", "float64"),
    ("momentum", "esm-sigma", "float64"),
    ("sgd", "ism", "float64"),
    ("adam", "dae", "float32"),
])
def test_resume_is_bitwise_the_same_run(tmp_path, optimizer, objective, dtype):
    """k steps after a reload give the same parameters as never having stopped."""
    a = _trained(optimizer=optimizer, objective=objective, dtype=dtype)
    save_experiment(a, tmp_path / "e.toml")
    b = load_experiment(tmp_path / "e.toml")
    assert _same_params(a, b) and b.step == a.step == 20
    a.train(23)
    b.train(23)
    assert _same_params(a, b)
    assert a.params["W"].dtype == b.params["W"].dtype == np.dtype(dtype)
    assert np.array_equal(a.losses.array(), b.losses.array())
    assert np.array_equal(a.identity.array(), b.identity.array(), equal_nan=True)
    assert [e["step"] for e in a.evaluations] == [e["step"] for e in b.evaluations]


def test_round_trip_keeps_everything(tmp_path):
    a = _trained()
    a.configure(lr=0.02)
    a.train(5)
    a.evaluate()
    path = save_experiment(a, tmp_path / "e.toml")
    b = load_experiment(path)
    assert b.config == a.config and b.step == a.step and b.marks == a.marks
    assert b.train_seconds == a.train_seconds and b.last_loss == a.last_loss
    assert b.status == "ok" and b.message == ""
    for key in a.opt_state["m"]:
        assert np.array_equal(a.opt_state["m"][key], b.opt_state["m"][key])
    assert int(b.opt_state["t"]) == int(a.opt_state["t"])
    assert b.batches.state() == a.batches.state() and b.batches.version == a.batches.version
    assert len(b.evaluations) == len(a.evaluations)
    for ea, eb in zip(a.evaluations, b.evaluations):
        assert ea.keys() == eb.keys()
        for k in ea:
            assert ea[k] == eb[k] or (ea[k] is None and eb[k] is None)
    b.evaluate()  # already evaluated at this step: no duplicate row
    assert len(b.evaluations) == len(a.evaluations)
    assert load_config(path) == a.config


def test_data_path_is_stored_relative_to_the_experiment(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "runs").mkdir()
    np.savetxt(tmp_path / "data" / "pts.csv", np.random.default_rng(0).normal(size=(30, 2)), delimiter=",")
    monkeypatch.chdir(tmp_path)
    a = Trainer(Config(data_path="data/pts.csv", **SMALL))
    a.train(3)
    save_experiment(a, "runs/e.toml")
    assert 'data_path = "../data/pts.csv"' in (tmp_path / "runs" / "e.toml").read_text()
    monkeypatch.chdir(tmp_path / "runs")  # loads from anywhere
    b = load_experiment(tmp_path / "runs" / "e.toml")
    assert np.array_equal(a.data, b.data)
    np.savetxt(tmp_path / "data" / "pts.csv", np.zeros((30, 2)), delimiter=",")
    with pytest.raises(UserError, match="differs from when it was saved"):
        load_experiment(tmp_path / "runs" / "e.toml")
    assert load_config(tmp_path / "runs" / "e.toml").data_path.endswith("pts.csv")


def test_refuses_to_overwrite_unless_asked(tmp_path):
    a = _trained(3)
    save_experiment(a, tmp_path / "e.toml")
    with pytest.raises(ExperimentExists, match="already exists"):
        save_experiment(a, tmp_path / "e.toml")
    a.train(2)
    save_experiment(a, tmp_path / "e.toml", overwrite=True)
    assert load_experiment(tmp_path / "e.toml").step == 5


def _edit_toml(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("old,new,match", [
    ("sigma = 0.3\n", "", "missing field setup.sigma"),
    ("sigma = 0.3\n", "sigma = 0.3\nsigmaa = 1.0\n", "unknown field setup.sigmaa"),
    ("sigma = 0.3\n", 'sigma = "big"\n', "setup.sigma must be a number"),
    ("sigma = 0.3\n", "sigma = -1.0\n", "sigma must be a finite number > 0"),
    ("hidden = 8\n", "hidden = 8.5\n", "setup.hidden must be a whole number"),
    ('objective = "dsm"\n', 'objective = "magic"\n', "unknown objective 'magic'"),
    ("version = 3\n", "version = 4\n", "version 4 is not supported"),
    ("version = 3\n", "version = true\n", "version True is not supported"),
    ("version = 3\n", "version = 3\ncolour = 3\n", "unknown field colour"),
    ("batch_stream = 2\n", "batch_stream = 3\n", "run.batch_stream must be one of 1, 2"),
    ("batch_stream = 2\n", "", "missing field run.batch_stream"),
    ('save_id = "', 'save_id = "../', "save_id must be 12 hexadecimal digits"),
    ('state_sha256 = "', 'state_sha256 = 1 # "', "run.state_sha256 must be 64 hexadecimal digits"),
    ('format = "smtui-experiment"\n', "", "missing field format"),
    ("step = 3\n", "", "missing field run.step"),
    ("step = 3\n", "step = 3\nextra = 1\n", "unknown field run.extra"),
    ("step = 3\n", "step = 4\n", "does not belong"),
    ("[setup]", "[setup\n", "not valid TOML"),
])
def test_bad_toml_fields_are_refused_by_name(tmp_path, old, new, match):
    save_experiment(_trained(3), tmp_path / "e.toml")
    _edit_toml(tmp_path / "e.toml", old, new)
    with pytest.raises(UserError, match=match) as info:
        load_experiment(tmp_path / "e.toml")
    assert "\n" not in str(info.value)


def test_setup_only_file_loads_as_config_not_experiment(tmp_path):
    p = tmp_path / "setup.toml"
    p.write_text('format = "smtui-experiment"\nversion = 1\n[setup]\n' + "".join(
        f"{k} = {v!r}\n".replace("'", '"') for k, v in Config().to_dict().items() if k != "data_path")
        + 'data_path = ""\n')
    assert load_config(p) == Config()
    with pytest.raises(UserError, match="setup only"):
        load_experiment(p)


@pytest.mark.parametrize("changes,match", [
    (dict(W=None), "missing array 'W'"),
    (dict(extra=np.zeros(3)), "unknown array 'extra'"),
    (dict(W=np.zeros((3, 2))), "array 'W' has shape"),
    (dict(b=np.full(8, np.nan)), "array 'b' has non-finite values"),
    (dict(**{"opt.m.c": np.array([np.inf, 0.0])}), "'opt.m.c' has non-finite"),
    (dict(rng=np.zeros(3, dtype=np.uint64)), "array 'rng' must have shape"),
    (dict(W=np.array([object()] * 16, dtype=object).reshape(8, 2)), "holds object values, not plain numbers"),
])
def test_bad_npz_is_refused(tmp_path, changes, match, rewrite_npz):
    save_experiment(_trained(3), tmp_path / "e.toml")
    rewrite_npz(tmp_path / "e.toml", **changes)
    with pytest.raises(UserError, match=match):
        load_experiment(tmp_path / "e.toml")


def test_garbage_and_missing_state_files_are_refused(tmp_path, named_files, rewrite_history):
    save_experiment(_trained(3), tmp_path / "e.toml")
    npz = named_files(tmp_path / "e.toml")[0]
    npz.write_bytes(b"not a zip at all")
    with pytest.raises(UserError, match="checksum differs"):
        load_experiment(tmp_path / "e.toml")
    rewrite_history(tmp_path / "e.toml", named_files(tmp_path / "e.toml")[1].read_text())  # re-tie both
    with pytest.raises(UserError, match=r"is not an \.npz file \(not a zip archive\)"):
        load_experiment(tmp_path / "e.toml")
    npz.unlink()
    with pytest.raises(UserError, match="is missing"):
        load_experiment(tmp_path / "e.toml")
    save_experiment(_trained(20), tmp_path / "f.toml")
    header = named_files(tmp_path / "f.toml")[1].read_text().splitlines()[0]
    rewrite_history(tmp_path / "f.toml", f"{header}\n1{',abc' * header.count(',')}\n")
    with pytest.raises(UserError, match="is not a number"):
        load_experiment(tmp_path / "f.toml")


def test_a_failed_write_of_a_new_experiment_leaves_nothing(tmp_path, monkeypatch):
    real = os.fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserError, match="cannot save"):
        save_experiment(_trained(2), tmp_path / "e.toml")
    monkeypatch.setattr(os, "fsync", real)
    assert list(tmp_path.iterdir()) == []


def test_experiment_path_must_be_toml(tmp_path):
    with pytest.raises(UserError, match="must end in .toml"):
        save_experiment(_trained(1), tmp_path / "e.json")


def test_npz_needs_no_pickle(tmp_path, named_files):
    save_experiment(_trained(2), tmp_path / "e.toml")
    with np.load(named_files(tmp_path / "e.toml")[0], allow_pickle=False) as z:
        for k in z.files:
            assert z[k].dtype != object


# --- the command line --------------------------------------------------------------

CLI_SMALL = ["--n-train", "64", "--hidden", "8", "--batch", "32", "--eval-every", "10"]


def _main(capsys, *argv):
    from smtui.tui.cli.main import main

    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("optimizer,objective", [("adam", "dsm"), ("momentum", "esm-sigma")])
def test_cli_resume_equals_one_long_run(tmp_path, capsys, optimizer, objective):
    setup = [*CLI_SMALL, "--optimizer", optimizer, "--objective", objective]
    e, p_resumed, p_straight = tmp_path / "e.toml", tmp_path / "a.npz", tmp_path / "b.npz"
    assert _main(capsys, "run", "--steps", "20", *setup, "--save", str(e)) == (0, "")
    code, err = _main(capsys, "run", "--load", str(e), "--steps", "15", "--save-params", str(p_resumed))
    assert code == 0, err
    assert _main(capsys, "run", "--steps", "35", *setup, "--save-params", str(p_straight))[0] == 0
    with np.load(p_resumed) as a, np.load(p_straight) as b:
        for k in ("W", "b", "c"):
            assert np.array_equal(a[k], b[k]), k


def test_cli_load_config_and_save_rules(tmp_path, capsys):
    e = str(tmp_path / "e.toml")
    assert _main(capsys, "run", "--steps", "3", *CLI_SMALL, "--save", e)[0] == 0
    code, err = _main(capsys, "run", "--steps", "1", *CLI_SMALL, "--save", e)
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    code, err = _main(capsys, "run", "--load", e, "--hidden", "4")
    assert code == 2 and "--hidden cannot change when resuming" in err
    assert _main(capsys, "run", "--load", e, "--steps", "0", *CLI_SMALL) == (0, "")  # same values: fine
    code, err = _main(capsys, "run", "--load", e, "--config", e)
    assert code == 2 and "not allowed with" in err
    code, err = _main(capsys, "run", "--force", "--steps", "1", *CLI_SMALL)
    assert code == 2 and "--force only applies to --save" in err
    # The loaded experiment is an input: never replaced, --force or not.
    code, err = _main(capsys, "run", "--load", e, "--steps", "2", "--save", e, "--force")
    assert code == 2 and "never replaces an input" in err
    # Resume with a new learning rate into another file, then over it explicitly: the change is marked.
    e2 = str(tmp_path / "e2.toml")
    assert _main(capsys, "run", "--load", e, "--steps", "1", "--save", e2)[0] == 0
    assert _main(capsys, "run", "--load", e, "--steps", "2", "--lr", "0.05", "--save", e2, "--force")[0] == 0
    e = e2
    t = load_experiment(e)
    assert t.step == 5 and t.config.lr == 0.05 and t.marks == [(3, "lr=0.05")]
    # --config takes the setup only; flags override it.
    out = tmp_path / "r.json"
    assert _main(capsys, "run", "--config", e, "--steps", "2", "--seed", "4", "--json", str(out))[0] == 0
    import json

    res = json.loads(out.read_text())
    assert res["steps"] == 2 and res["config"]["seed"] == 4 and res["config"]["lr"] == 0.05


def test_app_mode_gets_the_experiment_path_and_its_config(tmp_path, capsys, monkeypatch):
    import sys
    import types

    e = tmp_path / "e.toml"
    save_experiment(_trained(4), e)
    seen = {}
    fake = types.ModuleType("smtui.tui.app")
    fake.run_app = lambda config, experiment=None, files=True, **_: seen.update(config=config, experiment=experiment,
                                                                        files=files) or 0
    monkeypatch.setitem(sys.modules, "smtui.tui.app", fake)
    assert _main(capsys, "--load", str(e), "--sigma", "0.5")[0] == 0
    assert seen["experiment"] == str(e) and seen["config"].sigma == 0.5  # the trainer process loads it
    assert _main(capsys, "--config", str(e), "--hidden", "3")[0] == 0
    assert seen["experiment"] is None and seen["config"].hidden == 3 and seen["config"].n_train == SMALL["n_train"]
    assert seen["files"] is True
    assert _main(capsys, "--config", str(e), "--no-files")[0] == 0 and seen["files"] is False  # a demo session
    code, err = _main(capsys, "--load", str(tmp_path / "missing.toml"))
    assert code == 2 and "does not exist" in err


def test_suggested_names_say_what_and_never_collide(tmp_path):
    from smtui.core.experiment import suggest_experiment_path

    cfg = Config(**SMALL)
    first = suggest_experiment_path(cfg, tmp_path)
    assert first.name == "ring8-dsm-sigma0.3.toml"
    save_experiment(Trainer(cfg), first)
    assert suggest_experiment_path(cfg, tmp_path).name == "ring8-dsm-sigma0.3-2.toml"
    (tmp_path / "ring8-dsm-sigma0.3-2.csv").write_text("")  # a stray companion also counts as taken
    assert suggest_experiment_path(cfg, tmp_path).name == "ring8-dsm-sigma0.3-3.toml"


SAVED_BEFORE_FLAT_OPTIMISERS = Path(__file__).parent / "data" / "saved_0cdbb80"


@pytest.mark.parametrize("case", ["adam_dsm", "momentum_esm", "sgd_ism", "adam_dae"])
def test_experiments_saved_by_an_earlier_version_continue_bit_for_bit(tmp_path, case):
    """Experiments saved by smtui at 0cdbb80 (optimiser state then kept per parameter; made by
    the make.py beside them) load and take the same 25 steps that version took without stopping."""
    for f in SAVED_BEFORE_FLAT_OPTIMISERS.glob(f"{case}.*"):
        shutil.copy(f, tmp_path / f.name)
    t = load_experiment(tmp_path / f"{case}.toml")
    assert t.step == 20
    t.train(25)
    with np.load(SAVED_BEFORE_FLAT_OPTIMISERS / "continued.npz") as want:
        for k, v in t.params.items():
            np.testing.assert_array_equal(v, want[f"{case}.{k}"])
            assert v.dtype == want[f"{case}.{k}"].dtype
        opt = {f"{case}.opt.{k}.{kk}": vv for k, v in t.opt_state.items() if isinstance(v, dict)
               for kk, vv in v.items()}
        opt.update({f"{case}.opt.{k}": v for k, v in t.opt_state.items() if not isinstance(v, dict)})
        assert set(opt) == {k for k in want.files if k.startswith(f"{case}.opt.")}
        for k, v in opt.items():
            np.testing.assert_array_equal(v, want[k])


def test_an_earlier_versions_experiment_keeps_its_batch_stream_when_saved_again(tmp_path):
    """A format-2 experiment draws its batches step by step (stream version 1) for good:
    saved again (format 3, batch_stream = 1) and loaded, it goes on as it would have."""
    for f in SAVED_BEFORE_FLAT_OPTIMISERS.glob("adam_dsm.*"):
        shutil.copy(f, tmp_path / f.name)
    a = load_experiment(tmp_path / "adam_dsm.toml")
    assert a.batches.version == 1
    a.train(7)
    save_experiment(a, tmp_path / "again.toml")
    assert "batch_stream = 1\n" in (tmp_path / "again.toml").read_text()
    b = load_experiment(tmp_path / "again.toml")
    a.train(18)
    b.train(18)
    assert _same_params(a, b) and b.batches.version == 1
    with np.load(SAVED_BEFORE_FLAT_OPTIMISERS / "continued.npz") as want:  # 20 + 7 + 18 = 45 steps as 0cdbb80 took
        np.testing.assert_array_equal(b.params["W"], want["adam_dsm.W"])
    b.reinitialise()
    assert b.batches.version == 1


@pytest.mark.parametrize("change", [{"lr": 0.02}, {"batch": 20}, {"sigma": 0.5}])
def test_resume_after_a_change_mid_block_is_bitwise_the_same_run(tmp_path, change):
    """A change of setup mid-block keeps the block (lr) or drops its rest (batch, sigma);
    saved just after, the reload draws as the run that never stopped does."""
    a = _trained(5)
    a.configure(**change)
    save_experiment(a, tmp_path / "e.toml")
    b = load_experiment(tmp_path / "e.toml")
    assert b.batches.state() == a.batches.state()
    a.train(40)
    b.train(40)
    assert _same_params(a, b)


def test_a_block_step_past_the_block_is_refused(tmp_path, rewrite_npz):
    save_experiment(_trained(3), tmp_path / "e.toml")
    rewrite_npz(tmp_path / "e.toml", block_step=np.asarray(32, dtype=np.int64))
    with pytest.raises(UserError, match="'block_step' must be from 0 to 31"):
        load_experiment(tmp_path / "e.toml")
    rewrite_npz(tmp_path / "e.toml", block_step=None)
    with pytest.raises(UserError, match="missing array 'block_step'"):
        load_experiment(tmp_path / "e.toml")
