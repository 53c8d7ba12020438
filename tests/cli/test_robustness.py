"""Extreme settings never crash `smtui run`: each trains (exit 0), diverges (exit 3 with
the JSON still written and the last finite parameters kept) or is refused in one line
(exit 2), and none takes more than a minute."""

import json
import time

import numpy as np
import pytest

from smtui.tui.cli.main import main

SMALL = ["--steps", "5", "--n-train", "64", "--hidden", "8", "--batch", "32", "--eval-every", "100"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(1)
    np.savetxt(d / "one.csv", [[0.5, -1.0]], delimiter=",")
    np.save(d / "many.npy", rng.normal(size=(100_000, 2)))
    np.savetxt(d / "dup.csv", np.tile([[0.5, -0.5]], (40, 1)), delimiter=",")
    np.savetxt(d / "half_dup.csv", np.vstack([np.tile([[1.0, 1.0]], (20, 1)), rng.normal(size=(20, 2))]),
               delimiter=",")
    np.savetxt(d / "far.csv", 1e8 + 1e6 * rng.normal(size=(40, 2)), delimiter=",")
    np.savetxt(d / "wide.csv", 1e8 * rng.normal(size=(40, 2)), delimiter=",")
    np.savetxt(d / "overflow.csv", 1e200 * rng.normal(size=(40, 2)), delimiter=",")
    np.savetxt(d / "line.csv", rng.normal(size=(50, 1)), delimiter=",")
    np.savetxt(d / "one_1d.csv", [[3.0]], delimiter=",")
    np.savetxt(d / "d5.csv", rng.normal(size=(60, 5)), delimiter=",")
    np.savetxt(d / "few.csv", rng.normal(size=(8, 2)), delimiter=",")
    return d


def _run(tmp_path, capsys, *args):
    out = tmp_path / "r.json"
    t0 = time.perf_counter()
    try:
        code = main(["run", *SMALL, *args, "--json", str(out)])
    except SystemExit as exc:
        code = exc.code
    elapsed = time.perf_counter() - t0
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    assert elapsed < 60, f"{args} took {elapsed:.0f} s"
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
        assert not out.exists()
        return code, None, err
    assert code in (0, 3), err
    result = json.loads(out.read_text())
    assert result["status"] == ("ok" if code == 0 else "diverged")
    if code == 3:
        assert "smaller learning rate" in result["message"] and "diverged" in err
    return code, result, err


TRAINS = [
    ["--sigma", "1e-4"],
    ["--sigma", "1e-4", "--objective", "ism"],
    ["--sigma", "1e-4", "--objective", "esm-sigma"],
    ["--sigma", "1e-4", "--dtype", "float32"],
    ["--sigma", "1e3"],
    ["--sigma", "1e3", "--objective", "ism-reg"],
    ["--sigma", "1e3", "--objective", "dae"],
    ["--sigma", "1e-8"],
    ["--sigma", "1e8"],
    ["--lr", "10"],
    ["--hidden", "1"],
    ["--hidden", "1", "--objective", "ism"],
    ["--n-train", "1"],
    ["--n-train", "1", "--objective", "esm-sigma"],
    ["--data", "{d}/one.csv"],
    ["--data", "{d}/one.csv", "--objective", "ism-sigma"],
    ["--data", "{d}/dup.csv"],
    ["--data", "{d}/dup.csv", "--objective", "esm-sigma"],
    ["--data", "{d}/half_dup.csv", "--sigma", "1e-4"],
    ["--data", "{d}/far.csv"],
    ["--data", "{d}/wide.csv", "--objective", "esm-sigma"],
    ["--data", "{d}/line.csv"],
    ["--data", "{d}/line.csv", "--objective", "ism-reg"],
    ["--data", "{d}/one_1d.csv", "--sigma", "1e-4"],
    ["--data", "{d}/d5.csv"],
    ["--data", "{d}/d5.csv", "--objective", "esm-sigma"],
    ["--data", "{d}/many.npy"],
    ["--n-train", "100000"],
    ["--data", "{d}/few.csv", "--hidden", "2048"],
]


@pytest.mark.parametrize("args", TRAINS, ids=lambda a: " ".join(a).replace("{d}/", ""))
def test_extreme_settings_train_or_diverge(tmp_path, capsys, data, args):
    code, result, err = _run(tmp_path, capsys, *[a.format(d=data) for a in args])
    assert code in (0, 3), err
    assert result["steps"] >= 0


def test_learning_rate_10_with_sgd_diverges_and_reports(tmp_path, capsys):
    code, result, _ = _run(tmp_path, capsys, "--lr", "10", "--optimizer", "sgd", "--steps", "60")
    assert code == 3 and result["steps"] < 60
    # Figures of the last finite parameters (overflowing ones are null, JSON has no inf).
    assert result["metrics"]["c3"] == pytest.approx(2 / (2 * 0.3**2))
    assert f"kept the last finite parameters (step {result['steps']})" in result["message"]


REFUSED = [
    (["--sigma", "1e-9"], "sigma must be from"),
    (["--sigma", "2e8"], "sigma must be from"),
    (["--sigma", "0"], "sigma"),
    (["--lr", "inf"], "learning rate"),
    (["--hidden", "2049"], "hidden"),
    (["--hidden", "2048", "--batch", "100000"], "batch x hidden"),
    (["--data", "{d}/overflow.csv"], "rescale the data"),
    (["--n-train", "0"], "training-set size"),
    (["--objective", "esm", "--data", "{d}/d5.csv"], "analytic"),
]


@pytest.mark.parametrize("args,match", REFUSED, ids=lambda a: " ".join(a) if isinstance(a, list) else a)
def test_impossible_settings_are_refused_in_one_line(tmp_path, capsys, data, args, match):
    code, _, err = _run(tmp_path, capsys, *[a.format(d=data) for a in args])
    assert code == 2 and match in err
