"""`smtui sweep` and core/sweep.py: sigma lists and ranges, one run per (sigma, seed) in
worker processes with results that do not depend on --jobs, the gradient variance against
a direct estimate, the JSON and CSV contracts, and one-line refusals before any training."""

import contextlib
import errno
import json
import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest
from autograd import grad

from smtui.core import distributions
from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.model import score
from smtui.core.sweep import gradient_noise, parse_sigmas, run_sweep, summarise, sweep_configs
from smtui.core.trainer import Trainer
from smtui.tui.cli.main import main

SMALL = Config(n_train=48, hidden=8, batch=32)
SMALL_FLAGS = ["--n-train", "48", "--hidden", "8", "--batch", "32"]


def test_sigma_lists_and_log_ranges():
    assert parse_sigmas("0.1,0.3,1") == [0.1, 0.3, 1.0]
    r = parse_sigmas("0.01:10:4")
    assert r[0] == 0.01 and r[-1] == 10.0 and len(r) == 4
    np.testing.assert_allclose(np.diff(np.log10(r)), 1.0, rtol=1e-12)
    assert parse_sigmas(" 2:2:1 ") == [2.0]


@pytest.mark.parametrize("text,words", [("abc", "not a number"), ("0.1,,1", "not a number"), ("1:2", "START:STOP"),
                                        ("0.1:1:0", "COUNT"), ("0.1:1:x", "COUNT"), ("0,1", "> 0"),
                                        ("1e9", "from 1e-08"), ("nan", "finite"), ("0.1,0.1", "twice"),
                                        ("0.1:1:65", "COUNT"), ("1:2:1", "START = STOP")])
def test_bad_sigma_text_is_one_clear_error(text, words):
    with pytest.raises(UserError, match=words):
        parse_sigmas(text)


def test_results_identical_for_one_and_two_worker_processes():
    configs = sweep_configs(SMALL, [0.2, 0.7], 2)
    one, two = run_sweep(configs, 40, jobs=1), run_sweep(configs, 40, jobs=2)
    assert [(r["sigma"], r["seed"]) for r in one] == [(0.2, 0), (0.2, 1), (0.7, 0), (0.7, 1)]
    drop = lambda rs: [{k: v for k, v in r.items() if k not in ("wall_seconds", "cpu_seconds")} for r in rs]  # noqa: E731
    assert drop(one) == drop(two)
    assert len({r["esm_sigma"] for r in one}) == 4  # the seeds really differ


def test_gradient_noise_matches_a_direct_estimate():
    """Gradients of the objective's definition (autograd, not the fused primitive) on
    batches drawn independently here: the same trace of covariance within sampling error."""
    t = Trainer(SMALL.with_changes(sigma=0.3))
    t.train(50, evaluate=False)
    noise = gradient_noise(t, min_batches=400, max_batches=400)
    var, mean_sq = noise["grad_variance"], noise["grad_mean_sq"]
    assert noise["probe_batches"] == 400
    rng = np.random.default_rng(11)
    sigma, data = 0.3, t.data
    p = {k: np.array(v, dtype=float) for k, v in t.params.items()}

    def dsm(params, x, xt):  # written out: 1/2 ||psi(xt) - (x - xt)/sigma^2||^2, batch mean
        r = score(params, xt, sigma) - (x - xt) / sigma**2
        return 0.5 * (r * r).sum() / len(x)

    gs = []
    for _ in range(400):
        x = data[rng.integers(0, len(data), 32)]
        xt = x + sigma * rng.standard_normal(x.shape)
        g = grad(dsm)(p, x, xt)
        gs.append(np.concatenate([g["W"].ravel(), g["b"], g["c"]]))
    gs = np.array(gs)
    direct = np.sum(gs.var(axis=0, ddof=1))
    assert var == pytest.approx(direct, rel=0.2)  # two estimates from 400 batches each
    # the squared mean gradient without ||mean||^2's bias of V / K
    assert mean_sq == pytest.approx(np.sum(gs.mean(0) ** 2) - direct / 400, rel=0.3, abs=5 * direct / 400)


def test_the_sigma_free_noise_figures_and_their_errors_match_their_spread_over_30_probe_streams():
    """At fixed parameters, 30 independent probe streams (the stream is the step's): the
    variance, Var grad DSM / Var grad ESM_qsigma and the noise-to-signal ratio each scatter by
    their reported standard error (spread / median SE within 0.7-1.4: a 30-sample spread is
    known to ~13%); the ratio is at least 1 (DSM's gradient is ESM_qsigma's plus noise of
    mean zero, docs/math.md) and DSM's variance is known to 10% or said to rest on the cap."""
    t = Trainer(SMALL.with_changes(sigma=0.5))
    t.train(30, evaluate=False)
    runs = []
    for k in range(30):
        t.step = 1000 + k
        runs.append(gradient_noise(t))
    for key in ("grad_variance", "variance_ratio", "noise_to_signal"):
        values = np.array([r[key] for r in runs])
        assert 0.7 <= values.std(ddof=1) / np.median([r[key + "_se"] for r in runs]) <= 1.4, key
    assert np.mean([r["variance_ratio"] for r in runs]) > 1.0
    assert all(r["grad_variance_se"] <= 0.1 * r["grad_variance"] or r["probe_batches"] == 512 for r in runs)


def test_summary_is_mean_and_spread_over_seeds():
    results = [{"sigma": 0.5, "seed": s, "status": "ok", "esm": None, "esm_sigma": v, "dsm": v, "grad_variance": v,
                "grad_mean_sq": v, "c2_minus_c3": -v, "wall_seconds": 1.0, "cpu_seconds": 1.0}
               for s, v in enumerate([1.0, 2.0, 4.0])]
    (row,) = summarise(results)
    assert row["runs"] == 3 and row["diverged"] == 0 and row["esm"] is None and row["best_esm"] is False
    assert row["esm_sigma"] == pytest.approx(7 / 3)
    assert row["esm_sigma_spread"] == pytest.approx(np.std([1, 2, 4], ddof=1))


def test_the_best_sigma_by_esm_q_is_marked():
    results = [{"sigma": s, "seed": k, "status": "ok", "esm": e + k} for s, e in ((0.1, 3.0), (0.3, 1.0), (1.0, 2.0))
               for k in range(2)]
    assert [r["best_esm"] for r in summarise(results)] == [False, True, False]


def test_cli_json_and_csv_contracts(tmp_path, capsys):
    j, c = tmp_path / "s.json", tmp_path / "s.csv"
    code = main(["sweep", *SMALL_FLAGS, "--sigma", "0.3,1", "--seeds", "2", "--steps", "20", "--jobs", "1",
                 "--json", str(j), "--csv", str(c)])
    out = capsys.readouterr().out
    assert code == 0
    res = json.loads(j.read_text())
    assert res["grid"] == {"sigma": [0.3, 1.0]} and res["seeds"] == [0, 1] and res["steps"] == 20
    assert len(res["runs"]) == 4 and res["partial"] is False and res["planned_runs"] == 4
    assert res["config"]["n_train"] == 48 and "sigma" not in res["config"] and "seed" not in res["config"]
    assert all(r["n_train"] == 48 and r["objective"] == "dsm" for r in res["runs"])  # each run's whole setup
    for row in res["summary"]:
        runs = [r for r in res["runs"] if r["sigma"] == row["sigma"]]
        for key in ("esm", "esm_sigma", "grad_variance", "c2_minus_c3"):
            vals = [r[key] for r in runs]
            assert row[key] == pytest.approx(np.mean(vals))
            assert row[key + "_spread"] == pytest.approx(np.std(vals, ddof=1))
        assert all(r["steps"] == 20 and r["esm"] > 0 and r["c2_minus_c3"] < 0 for r in runs)
    lines = c.read_text().splitlines()
    assert lines[0].startswith("sigma,seed,status") and len(lines) == 5
    assert "sigma sweep" in out and "log10 Var ∇DSM / Var ∇ESM_qσ" in out  # the table and the plots
    # Sample-only data: no ESM_q, the plot shows ESM_qsigma instead.
    assert main(["sweep", *SMALL_FLAGS, "--distribution", "moons", "--sigma", "0.5", "--seeds", "1", "--steps", "5",
                 "--jobs", "1", "--json", "-"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["runs"][0]["esm"] is None and res["summary"][0]["esm"] is None


def _refused(capsys, *args):
    try:
        code = main(["sweep", *args])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("args,words", [
    (["--sigma", "abc"], "not a number"), (["--sigma", "0.1", "--jobs", "0"], "--jobs"),
    (["--sigma", "0.1", "--seeds", "0"], "seeds"), (["--sigma", "0.1", "--steps", "-1"], "--steps"),
    (["--steps", "10"], "--sigma"), (["--sigma", "0.1", "--seeds", "x"], "--seeds"),
    (["--sigma", "0.1", "--lr", "-1"], "learning rate"), (["--sigma", "0.1", "--objective", "nope"], "objective"),
    (["--sigma", "0.1", "--json", "/no/such/dir/out.json"], "does not exist"),
])
def test_bad_flags_are_one_line_and_exit_2(capsys, args, words):
    code, err = _refused(capsys, *args)
    assert code == 2 and words in err and err.count("\n") == 1 and "Traceback" not in err


def test_outputs_checked_before_any_run(tmp_path, capsys, monkeypatch):
    import smtui.core.sweep

    monkeypatch.setattr(smtui.core.sweep, "run_one", lambda *a: pytest.fail("trained before checking outputs"))
    data = tmp_path / "pts.npy"
    np.save(data, distributions.sample("moons", 40, 0))
    same = str(tmp_path / "x.out")
    for args, words in ((["--json", same, "--csv", same], "same file"), (["--csv", str(data)], "--data input"),
                        (["--json", str(tmp_path)], "directory")):
        code, err = _refused(capsys, "--data", str(data), "--sigma", "0.1", "--steps", "5", *args)
        assert code == 2 and words in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pts.npy"]


# --- outputs that cannot be written: one line each, exit 4, the others written -------------


SWEEP = [*SMALL_FLAGS, "--sigma", "0.3,1", "--seeds", "1", "--steps", "5", "--jobs", "1"]


def _swept(capsys, *args):
    try:
        code = main(["sweep", *SWEEP, *args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("full", ["--json", "--csv"])
def test_an_output_on_dev_full_is_one_line_exit_4_and_the_other_is_written(tmp_path, capsys, full):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    other = "--csv" if full == "--json" else "--json"
    good = tmp_path / "out"
    code, out, err = _swept(capsys, full, "/dev/full", other, str(good))
    assert code == 4 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"smtui: error: {full} '/dev/full' not written: No space left on device")
    text = good.read_text()
    assert (json.loads(text)["steps"] == 5) if other == "--json" else text.startswith("sigma,seed,status")
    assert "sigma sweep" in out  # the table is still shown


def test_a_fifo_with_no_reader_is_one_line_exit_4_and_the_other_is_written(tmp_path, capsys, monkeypatch):
    import smtui.core.outputs

    monkeypatch.setattr(smtui.core.outputs, "FIFO_WAIT", 0.05)
    os.mkfifo(tmp_path / "out.json")
    code, _, err = _swept(capsys, "--json", str(tmp_path / "out.json"), "--csv", str(tmp_path / "s.csv"))
    assert code == 4 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "--json" in err and "FIFO with no reader" in err
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 3
    assert stat.S_ISFIFO(os.lstat(tmp_path / "out.json").st_mode)


@pytest.mark.parametrize("full", ["--json", "--csv"])
def test_a_full_disk_is_one_line_exit_4_and_the_other_is_written(tmp_path, capsys, monkeypatch, full):
    real_replace = os.replace
    suffix = ".json" if full == "--json" else ".csv"

    def replace(src, dst):  # the rename of the finished temporary file meets a full disk
        if str(dst).endswith(suffix):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    j, c = tmp_path / "s.json", tmp_path / "s.csv"
    code, _, err = _swept(capsys, "--json", str(j), "--csv", str(c))
    monkeypatch.undo()
    assert code == 4 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"{full} " in err and "No space left on device" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv" if full == "--json" else "s.json"]  # no temp left


def test_a_really_full_disk_is_one_line_exit_4_and_the_other_is_written(tmp_path, capsys):
    """A tiny tmpfs, filled: the disk itself refuses (skipped where mounting is not allowed)."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], capture_output=True,
                      timeout=30).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        fd = os.open(disk / "fill", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"x" * 4096)
        os.close(fd)
        code, _, err = _swept(capsys, "--json", str(disk / "s.json"), "--csv", str(tmp_path / "s.csv"))
        assert code == 4 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "--json" in err and "No space left on device" in err
        assert os.listdir(disk) == ["fill"]  # no temporary file left on the full disk
        assert (tmp_path / "s.csv").read_text().startswith("sigma,seed,status")
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True, timeout=30)


def test_json_on_stdout_and_a_failed_csv(tmp_path, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    code, out, err = _swept(capsys, "--json", "-", "--csv", "/dev/full")
    assert code == 4 and len(err.strip().splitlines()) == 1 and "--csv" in err
    assert json.loads(out)["steps"] == 5


@pytest.mark.parametrize("args,words", [(["--json", ""], "--json: empty path"), (["--csv", ""], "--csv: empty path"),
                                        (["--csv", "-"], "only --json takes - for stdout")])
def test_an_empty_path_or_a_dash_for_csv_is_refused_before_the_first_run(tmp_path, capsys, monkeypatch, args, words):
    import smtui.core.sweep

    monkeypatch.setattr(smtui.core.sweep, "run_one", lambda *a: pytest.fail("ran before checking outputs"))
    monkeypatch.chdir(tmp_path)
    code, out, err = _swept(capsys, *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and out == ""
    assert os.listdir(tmp_path) == []


# --- the app's "Sweep sigma…" -----------------------------------------------------------


async def test_sweep_screen_runs_off_the_ui_thread_and_shows_the_result():
    from textual.app import App

    from smtui.tui.screens.sweep import SweepScreen, sigma_plan

    screen = SweepScreen(sigma_plan(SMALL, [0.3, 1.0], 1, 15), jobs=1)

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(screen)

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(300):  # bounded: at most ~30 s
            if screen.results is not None:
                break
            await pilot.pause(0.1)
        assert screen.results is not None and len(screen.results) == 2
        await pilot.pause(0.1)
        shown = str(screen.query_one("#sweep-status").render())
        assert "done: 2 runs" in shown
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is not screen


def test_sweep_can_be_stopped():
    import threading

    from smtui.core.sweep import SweepStopped

    stop = threading.Event()
    seen = []

    def progress(done, total, r):
        seen.append(done)
        stop.set()

    with pytest.raises(SweepStopped):
        run_sweep(sweep_configs(SMALL, [0.3, 1.0, 3.0], 1), 10, jobs=1, progress=progress, stop=stop)
    assert seen == [1]


async def test_palette_sweep_prompt_refuses_bad_sigmas_in_one_line():
    from textual.app import App

    from smtui.tui.screens.modals import ValuePrompt
    from smtui.tui.screens.sweep import SweepScreen, ask_sweep

    class Host(App):
        notes: list = []

        def notify(self, message, **kw):
            self.notes.append(message)

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        ask_sweep(SimpleNamespace(config=SMALL, notify=app.notify, app=app))  # what it reads of the main screen
        await pilot.pause(0.1)
        assert isinstance(app.screen, ValuePrompt)
        assert app.screen.current == "sigma=0.03:3:8"  # two decades around sigma = 0.3
        app.screen.dismiss("0.1,abc")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, SweepScreen)
        assert len(app.notes) == 1 and "not a number" in app.notes[0] and "\n" not in app.notes[0]


def test_the_table_says_when_a_gradient_variance_is_known_to_worse_than_10_percent():
    from rich.console import Console

    from smtui.tui.render.sweep import summary_table

    rows = [{"sigma": s, "seed": 0, "status": "ok", "esm": 1.0, "grad_variance": 1.0, "grad_variance_se": se}
            for s, se in ((0.1, 0.3), (1.0, 0.05))]
    console = Console(width=120, record=True)
    console.print(summary_table(summarise(rows), analytic=True))
    text = console.export_text()
    assert text.split("worse than 10% at sigma ")[1].split()[0] == "0.1"  # sigma 1 is known to 5%
