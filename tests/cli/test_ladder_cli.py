"""`smtui ladder` (tui/cli/ladder.py): the JSON and CSV contracts, the exact score, the user's
own data, the refusals, the one writer's rules and exit codes, and ctrl+c on a terminal."""

import json
import subprocess
import sys

import numpy as np
import pytest

from smtui.core.sample_metrics import MMD_WIDTH
from smtui.tui.cli.ladder import CSV_COLUMNS
from smtui.tui.cli.main import main

FAST = ["--n-train", "96", "--hidden", "12", "--batch", "64", "--steps", "150", "--steps-per-level", "4",
        "--particles", "120", "--levels", "4"]
METRICS = {"mmd2", "hist_tv", "spread", "mode_weights", "weight_tv", "off_mode", "target_weights", "mmd_width"}


def ladder(capsys, *args):
    try:
        code = main(["ladder", *args])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(capsys):
    code, out, err = ladder(capsys, *FAST, "--json", "-")
    assert code == 0, err
    r = json.loads(out)
    assert {"config", "sigmas", "samples", "metrics", "per_level", "baseline", "train_seconds",
            "sample_seconds", "wall_seconds", "status"} <= set(r)
    cfg = r["config"]
    assert cfg["distribution"] == "ring8w" and cfg["levels"] == 4 and cfg["sampler"] == "ald"
    assert cfg["mmd_width"] == MMD_WIDTH and "objective" not in cfg and "sigma" not in cfg
    sig = np.array(r["sigmas"])
    assert len(sig) == 4 and np.all(np.diff(sig) < 0) and sig[-1] == pytest.approx(0.05)
    assert np.array(r["samples"]).shape == (120, 2) and np.isfinite(r["samples"]).all()
    assert METRICS <= set(r["metrics"]) and len(r["metrics"]["mode_weights"]) == 8
    assert r["metrics"]["target_weights"] == pytest.approx([3 / 16, 1 / 16] * 4)
    assert [row["sigma"] for row in r["per_level"]] == pytest.approx(r["sigmas"])
    for row in r["per_level"]:
        assert row["identity"]["verdict"] in ("agree", "undecided", "disagree") and row["mmd2_to_q_sigma"] is not None
    b = r["baseline"]
    assert b["sigma"] == pytest.approx(0.05) and b["steps"] == 150 and "mala" in b["sampler"]
    assert np.array(b["samples"]).shape == (120, 2) and METRICS <= set(b["metrics"])
    assert r["train_seconds"] > 0 and b["train_seconds"] > 0 and b["sample_seconds"] > 0


def test_csv_one_row_per_rung_and_the_table_on_stdout(capsys, tmp_path):
    path = tmp_path / "rungs.csv"
    code, out, err = ladder(capsys, *FAST, "--csv", str(path))
    assert code == 0, err
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == list(CSV_COLUMNS) and len(lines) == 1 + 4
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]
    assert "mode-weight TV" in out and "one sigma" in out and f"width {MMD_WIDTH:g}" in out


@pytest.mark.parametrize("sampler", ["mala", "sde", "pc", "ode"])
def test_every_sampler_on_the_exact_score(capsys, sampler):
    code, out, err = ladder(capsys, "--exact-score", "--sampler", sampler, "--levels", "6", "--steps-per-level", "20",
                            "--particles", "400", "--json", "-")
    assert code == 0, err
    r = json.loads(out)
    assert r["steps"] == 0 and r["config"]["exact_score"] and all(row["identity"] is None for row in r["per_level"])
    assert r["metrics"]["weight_tv"] < r["baseline"]["metrics"]["weight_tv"]
    assert "exact" in r["baseline"]["sampler"]
    if sampler == "mala":
        assert all(0 < row["acceptance"] <= 1 for row in r["per_level"])


def test_the_users_own_data_has_no_mode_metrics(capsys, tmp_path):
    data = tmp_path / "pts.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(80, 2)), delimiter=",")
    code, out, err = ladder(capsys, *FAST, "--data", str(data), "--sigma-min", "matched", "--json", "-")
    assert code == 0, err
    r = json.loads(out)
    assert r["config"]["distribution"] is None and r["config"]["data_path"] == str(data)
    assert r["metrics"]["weight_tv"] is None and r["metrics"]["mmd2"] is not None
    assert r["config"]["sigma_min"] == "matched" and 0.01 < r["sigmas"][-1] < 0.5


@pytest.mark.parametrize("args,words", [
    (["--objective", "dsm"], "no objective"), (["--sigma", "0.3"], "--sigma-max"), (["--lambda", "1"], "ISMreg"),
    (["--sampler", "euler"], "unknown sampler"), (["--levels", "0"], "levels"), (["--sigma-min", "tiny"], "matched"),
    (["--sigma-max", "0.01"], "larger than"), (["--particles", "0"], "particles"), (["--steps", "-3"], "steps"),
    (["--exact-score", "--distribution", "moons"], "analytic"), (["--exact-score", "--steps", "5"], "nothing is"),
    (["--json", "/no/such/dir/x.json"], "does not exist"), (["--levels", "x"], "invalid int"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, words):
    code, out, err = ladder(capsys, *args)
    assert code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_outputs_are_checked_before_anything_runs(capsys, tmp_path):
    same = tmp_path / "x"
    code, _, err = ladder(capsys, *FAST, "--json", str(same), "--csv", str(same))
    assert code == 2 and "same file" in err and not same.exists()
    data = tmp_path / "pts.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(40, 2)), delimiter=",")
    before = data.read_bytes()
    code, _, err = ladder(capsys, *FAST, "--data", str(data), "--csv", str(data))
    assert code == 2 and "input" in err and data.read_bytes() == before


def test_a_failed_output_is_one_line_exit_4_and_the_other_is_written(capsys, tmp_path):
    good = tmp_path / "out.json"
    code, _, err = ladder(capsys, *FAST, "--json", str(good), "--csv", "/dev/full")
    assert code == 4 and "--csv" in err and err.count("\n") == 1
    assert json.loads(good.read_text())["config"]["levels"] == 4


def test_a_diverged_ladder_exits_3_and_still_reports(capsys):
    code, out, err = ladder(capsys, *FAST, "--optimizer", "sgd", "--lr", "1e200", "--json", "-")
    assert code == 3 and "diverged at step" in err and err.count("\n") == 1
    r = json.loads(out)
    assert r["status"] == "diverged" and "diverged at step" in r["message"] and r["steps"] < 150


def test_the_command_is_listed_and_runs_as_a_subprocess_without_a_terminal():
    proc = subprocess.run([sys.executable, "-m", "smtui", "ladder", *FAST, "--json", "-"], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert len(json.loads(proc.stdout)["per_level"]) == 4
    help_text = subprocess.run([sys.executable, "-m", "smtui", "--help"], capture_output=True, text=True, timeout=60)
    assert "ladder" in help_text.stdout


def test_ctrl_c_on_a_terminal_ends_in_one_line_with_nothing_written(tmp_path, interrupt_on_a_terminal, last_line):
    code, text = interrupt_on_a_terminal(tmp_path, ["ladder", "--steps", "1000000000", "--json", "r.json"],
                                          b"training the ladder", 0.5)
    assert code == 130 and "Traceback" not in text, text[-2000:]
    line = last_line(text)
    assert line.startswith("smtui: interrupted at training step ") and line.endswith("; nothing written"), line
    assert list(tmp_path.iterdir()) == []
