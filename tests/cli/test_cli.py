"""`smtui run` and `smtui list`: JSON, CSV and .npz outputs, exit codes, and one clear line
(never a traceback) for each kind of bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from smtui.tui.cli.main import main

FAST = ["--n-train", "48", "--eval-every", "5"]


def run(capsys, *args):
    try:
        code = main(["run", *FAST, *args])
    except SystemExit as exc:  # argparse's own refusals exit through SystemExit
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_json_to_stdout_has_every_key_and_figure(capsys):
    code, out, err = run(capsys, "--steps", "12", "--json", "-")
    assert code == 0, err
    res = json.loads(out)
    assert set(res) >= {"config", "status", "steps", "wall_seconds", "train_steps_per_second", "metrics"}
    assert res["status"] == "ok" and res["steps"] == 12 and res["train_steps_per_second"] > 0
    assert res["config"]["distribution"] == "ring8" and res["config"]["n_train"] == 48
    m = res["metrics"]
    for key in ("esm_sigma", "ism_sigma", "dsm", "dae", "esm", "ism", "c2", "c3", "esm_minus_dsm",
                "esm_minus_dsm_pairs", "esm_minus_dsm_pairs_se", "esm_minus_dsm_theory", "ism_minus_dsm"):
        assert isinstance(m[key], float), key
    # The theory value is the posterior spread (no cancellation); C2 - C3 agrees to quadrature precision.
    assert m["esm_minus_dsm_theory"] == pytest.approx(m["c2"] - m["c3"], abs=1e-4 * m["c3"])
    assert m["c3"] == pytest.approx(2 / (2 * 0.3**2))


def test_sample_only_data_reports_null_for_analytic_figures(capsys):
    code, out, _ = run(capsys, "--distribution", "moons", "--steps", "3", "--json", "-")
    m = json.loads(out)["metrics"]
    assert code == 0 and m["esm"] is None and m["ism"] is None and isinstance(m["dsm"], float)


def test_steps_zero_evaluates_the_initial_parameters(capsys, tmp_path):
    from smtui.core.config import Config
    from smtui.core.trainer import Trainer

    code, out, _ = run(capsys, "--steps", "0", "--json", "-", "--seed", "3")
    expected = Trainer(Config(n_train=48, eval_every=5, seed=3)).evaluate()
    res = json.loads(out)
    assert code == 0 and res["steps"] == 0
    assert res["metrics"]["dsm"] == pytest.approx(expected["dsm"], rel=1e-12)


def test_csv_json_file_and_params(capsys, tmp_path):
    j, c, p = tmp_path / "r.json", tmp_path / "h.csv", tmp_path / "p.npz"
    code, out, _ = run(capsys, "--steps", "15", "--json", str(j), "--csv", str(c), "--save-params", str(p))
    assert code == 0 and out == ""
    assert json.loads(j.read_text())["steps"] == 15
    rows = c.read_text().strip().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 1 + 3  # evaluations at 5, 10, 15
    with np.load(p, allow_pickle=False) as z:
        assert set(z.files) == {"W", "b", "c", "sigma"} and z["W"].shape == (64, 2) and float(z["sigma"]) == 0.3


def test_user_data_file_trains(capsys, tmp_path):
    pts = np.random.default_rng(0).normal(size=(40, 2))
    f = tmp_path / "pts.csv"
    f.write_text("x,y\n" + "\n".join(f"{a},{b}" for a, b in pts))
    code, out, err = run(capsys, "--data", str(f), "--steps", "5", "--json", "-")
    assert code == 0, err
    res = json.loads(out)
    assert res["config"]["data_path"] == str(f) and res["metrics"]["reference_points"] == 40
    npy = tmp_path / "pts.npy"
    np.save(npy, pts[:, :1])
    code, out, err = run(capsys, "--data", str(npy), "--steps", "2", "--json", "-")
    assert code == 0, err
    assert json.loads(out)["metrics"]["c3"] == pytest.approx(1 / (2 * 0.3**2))


def test_divergence_exits_3_and_still_writes_json(capsys, tmp_path):
    j = tmp_path / "r.json"
    flags = ["--sigma", "0.05", "--lr", "1e6", "--optimizer", "sgd", "--steps", "50", "--json", str(j)]
    code, _, err = run(capsys, *flags)
    assert code == 3
    res = json.loads(j.read_text())
    assert res["status"] == "diverged" and res["steps"] < 50 and "step" in res["message"]
    assert "diverged" in err and "Traceback" not in err


def _bad_files(tmp_path):
    files = {
        "empty": "", "ragged": "1 2\n3\n", "nonnumeric": "1 2\n3 banana\n", "nonfinite": "1 2\nnan 3\n",
        "only-header": "x y\n",
    }
    out = {}
    for name, text in files.items():
        p = tmp_path / f"{name}.txt"
        p.write_text(text)
        out[name] = str(p)
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out["pickled"] = str(obj)
    out["missing"] = str(tmp_path / "nope.csv")
    out["directory"] = str(tmp_path)
    return out


BAD_FLAGS = [
    (["--sigma", "0"], "sigma"), (["--sigma", "-1"], "sigma"), (["--sigma", "nan"], "sigma"),
    (["--sigma", "abc"], "sigma"), (["--lr", "0"], "learning rate"), (["--lr", "-0.1"], "learning rate"),
    (["--lr", "inf"], "learning rate"),
    (["--batch", "0"], "batch size"), (["--hidden", "-3"], "hidden size"), (["--n-train", "0"], "training-set size"),
    (["--batch", "2.5"], "batch"), (["--lambda", "-1"], "lambda"), (["--steps", "-1"], "steps"),
    (["--distribution", "donut"], "donut"), (["--objective", "magic"], "magic"),
    (["--optimizer", "lbfgs"], "lbfgs"), (["--distribution", "moons", "--objective", "esm"], "analytic"),
    (["--json", "/nonexistent-dir/r.json"], "does not exist"), (["--csv", "/"], "directory"),
    (["--frobnicate"], "unrecognized"), (["--seed", "-1"], "seed"),
]


@pytest.mark.parametrize("flags,word", BAD_FLAGS)
def test_bad_flags_exit_2_with_one_line(capsys, flags, word):
    code, _, err = run(capsys, "--steps", "1", *flags)
    assert code == 2
    _assert_one_line(err, word)


def _assert_one_line(err, word):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert word in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("kind", ["empty", "ragged", "nonnumeric", "nonfinite", "only-header", "pickled",
                                  "missing", "directory"])
def test_bad_data_files_exit_2_with_one_line(capsys, tmp_path, kind):
    path = _bad_files(tmp_path)[kind]
    code, _, err = run(capsys, "--data", path, "--steps", "1")
    assert code == 2
    _assert_one_line(err, "data")


def test_objective_needing_analytic_score_on_user_data_is_refused(capsys, tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("1 2\n3 4\n")
    code, _, err = run(capsys, "--data", str(f), "--objective", "esm")
    assert code == 2
    _assert_one_line(err, "analytic")


def test_list_names_every_distribution_and_objective(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 10 + 7
    assert any("ring8" in line and "analytic" in line for line in out)
    assert any(line.split()[:2] == ["distribution", "ring8w"] for line in out)
    assert any(line.split()[:2] == ["objective", "ism-reg"] for line in out)


def test_real_entry_point_bad_input_has_no_traceback():
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-m", "smtui", "run", "--sigma", "-2"], capture_output=True, text=True,
                       env=env, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
