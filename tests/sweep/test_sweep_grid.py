"""Sweeps as experiments (issue 20): a grid over any setup flag, every value checked before
the first run; the same figures whoever runs them (this process, two worker processes, a
local Dask cluster); a results file that resumes to the same results as an uninterrupted
sweep, and that --show plots again without training."""

import json
import os
import signal

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.grid import Axis, grid_configs, parse_axis
from smtui.tui.cli.main import main

SMALL = ["--n-train", "40", "--hidden", "6", "--batch", "16"]
TIMES = ("wall_seconds", "cpu_seconds")


def _figures(runs):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in runs]


def _sweep(capsys, *args):
    try:
        code = main(["sweep", *args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# --- the grid -------------------------------------------------------------------------------


def test_axes_take_lists_and_log_ranges_sorted_and_names_in_order():
    assert parse_axis("hidden=64,16,256").values == (16, 64, 256)
    assert parse_axis("hidden=16:256:5").values == (16, 32, 64, 128, 256)
    assert parse_axis("n_train=100:10000:3") == Axis("n-train", "n_train", (100, 1000, 10000))
    lr = parse_axis("lr=0.001:0.1:3").values
    assert lr[0] == 0.001 and lr[-1] == 0.1 and lr[1] == pytest.approx(0.01, rel=1e-12)
    assert parse_axis("objective=esm-sigma,dsm").values == ("esm-sigma", "dsm")
    assert parse_axis(" lambda = 0,0.1 ").field == "lam"


@pytest.mark.parametrize("spec,words", [
    ("sigma", "NAME=VALUES"), ("colour=red", "not a setup flag"), ("seed=1,2", "--seeds"),
    ("hidden=16,x", "not a whole number"), ("hidden=16.5", "not a whole number"), ("hidden=5000", "hidden size"),
    ("hidden=1:3:8", "repeat"), ("objective=dsm,nope", "unknown objective"), ("objective=dsm,", "empty value"),
    ("sigma=0.1,0.1", "twice"), ("lambda=0:1:3", "in log"), ("lr=-1", "learning rate"), ("dtype=float16", "dtype"),
    ("sigma=0.1:1:65", "COUNT"), ("batch=0", "batch size"), ("distribution=ring8,mars", "unknown distribution"),
])
def test_a_bad_grid_value_is_one_line_naming_the_flag(spec, words):
    with pytest.raises(UserError, match=words) as info:
        parse_axis(spec)
    assert "\n" not in str(info.value)


def test_cells_in_order_seeds_innermost_and_a_bad_cell_named():
    axes = [parse_axis("objective=dsm,esm"), parse_axis("hidden=8,16")]
    configs = grid_configs(Config(seed=5), axes, 2)
    assert [(c.objective, c.hidden, c.seed) for c in configs[:5]] == [
        ("dsm", 8, 5), ("dsm", 8, 6), ("dsm", 16, 5), ("dsm", 16, 6), ("esm", 8, 5)]
    with pytest.raises(UserError, match="cell objective=esm distribution=moons: objective 'esm' needs"):
        grid_configs(Config(), [parse_axis("objective=dsm,esm"), parse_axis("distribution=ring8,moons")], 1)


@pytest.mark.parametrize("args,words", [
    (["--grid", "hidden=8,16", "--grid", "objective=dsm,wrong"], "unknown objective"),
    (["--grid", "objective=esm", "--distribution", "moons"], "objective 'esm' needs an analytic score"),
    (["--grid", "objective=dsm,esm", "--grid", "distribution=ring8,moons"], "cell objective=esm distribution=moons"),
    (["--grid", "hidden=8,128", "--grid", "batch=300000"], "cell hidden=128 batch=300000: batch x hidden"),
    (["--grid", "hidden=8", "--hidden", "16"], "--hidden both set it"),
    (["--grid", "sigma=0.1", "--sigma", "0.2"], "given twice"),
    (["--grid", "data=/no/such.csv"], "does not exist"),
    (["--steps", "5"], "give the grid"),
    (["--sigma", "0.1", "--resume"], "--out file 'r.jsonl' does not exist"),
    (["--sigma", "0.1", "--scheduler", "tcp://127.0.0.1:1", "--jobs", "2"], "--jobs counts"),
    (["--sigma", "0.1", "--scheduler", "http://x"], "tcp://HOST:PORT"),
])
def test_every_grid_value_is_checked_before_the_first_run(tmp_path, capsys, monkeypatch, args, words):
    import smtui.core.sweep

    monkeypatch.setattr(smtui.core.sweep, "run_one", lambda *a, **k: pytest.fail("trained before checking"))
    monkeypatch.chdir(tmp_path)
    code, out, err = _sweep(capsys, "--n-train", "40", "--steps", "5", "--out", "r.jsonl", *args)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert os.listdir(tmp_path) == []


# --- the same figures whoever runs them ---------------------------------------------------------


GRID = [*SMALL, "--grid", "sigma=0.3,1", "--grid", "objective=dsm,esm-sigma", "--seeds", "2", "--steps", "15"]


def test_a_two_flag_grid_gives_the_same_figures_here_on_two_workers_and_on_a_local_dask_cluster(tmp_path, capsys):
    where = {"1": ["--jobs", "1"], "2": ["--jobs", "2"]}
    try:
        import distributed  # noqa: F401

        where["dask"] = ["--scheduler", "local", "--jobs", "2"]
    except ImportError:
        pass
    runs = {}
    for key, args in where.items():
        code, _, err = _sweep(capsys, *GRID, *args, "--json", str(tmp_path / f"{key}.json"))
        assert code == 0, err
        report = json.loads((tmp_path / f"{key}.json").read_text())
        runs[key] = report["runs"]
        assert len(runs[key]) == 8 and report["grid"] == {"sigma": [0.3, 1.0], "objective": ["dsm", "esm-sigma"]}
    assert [(r["sigma"], r["objective"], r["seed"]) for r in runs["1"]][:3] == [
        (0.3, "dsm", 0), (0.3, "dsm", 1), (0.3, "esm-sigma", 0)]
    assert len({r["esm_sigma"] for r in runs["1"]}) == 8  # the cells and seeds really differ
    for key in runs:
        assert _figures(runs[key]) == _figures(runs["1"]), key
    if "dask" not in runs:
        pytest.skip("dask and distributed are not installed (pip install 'smtui[dask]'): "
                    "compared --jobs 1 with --jobs 2 only")


def test_the_summary_groups_by_the_grids_axes(tmp_path, capsys):
    code, out, _ = _sweep(capsys, *GRID, "--jobs", "1", "--json", str(tmp_path / "r.json"), "--csv",
                          str(tmp_path / "r.csv"))
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    cells = [(row["sigma"], row["objective"]) for row in report["summary"]]
    assert cells == [(0.3, "dsm"), (0.3, "esm-sigma"), (1.0, "dsm"), (1.0, "esm-sigma")]
    for row in report["summary"]:
        runs = [r for r in report["runs"] if (r["sigma"], r["objective"]) == (row["sigma"], row["objective"])]
        assert row["runs"] == 2 and row["esm"] == pytest.approx(np.mean([r["esm"] for r in runs]))
    assert (tmp_path / "r.csv").read_text().splitlines()[0].startswith("sigma,objective,seed,status,steps,")
    assert "sigma × objective sweep" in out
    assert "against log10 sigma · objective=dsm" in out and "· objective=esm-sigma" in out  # a plot per objective


# --- resumable ---------------------------------------------------------------------------------


def _interrupt_after(monkeypatch, n):
    """ctrl+c (a real SIGINT to this process) once ``n`` runs have finished."""
    import smtui.core.sweep

    real, calls = smtui.core.sweep.run_one, []

    def counted(config, steps, stop=None):
        result = real(config, steps, stop)
        calls.append(config)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(smtui.core.sweep, "run_one", counted)
    return calls


def test_a_resumed_sweep_equals_an_uninterrupted_one(tmp_path, capsys, monkeypatch):
    whole, part = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    assert _sweep(capsys, *GRID, "--jobs", "1", "--out", str(whole), "--json", str(tmp_path / "whole.json"))[0] == 0
    _interrupt_after(monkeypatch, 3)
    code, _, err = _sweep(capsys, *GRID, "--jobs", "1", "--out", str(part))
    assert code == 130 and "after 3 of 8 runs" in err and "--resume continues it" in err, err
    assert len(part.read_text().splitlines()) == 1 + 3
    monkeypatch.undo()
    calls = _interrupt_after(monkeypatch, 99)  # counts the runs done on resuming
    code, _, err = _sweep(capsys, "--out", str(part), "--resume", "--jobs", "2", "--json", str(tmp_path / "part.json"))
    assert code == 0, err
    assert len(calls) == 0  # in worker processes: none here
    read = lambda p: [json.loads(line) for line in p.read_text().splitlines()]  # noqa: E731
    assert read(part)[0] == read(whole)[0]  # the same plan
    done = lambda p: sorted(_figures([r["run"] for r in read(p)[1:]]), key=json.dumps)  # noqa: E731
    assert done(part) == done(whole)
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("whole", "part"))
    assert _figures(a["runs"]) == _figures(b["runs"]) and not b["partial"]
    drop = lambda rows: [{k: v for k, v in r.items() if not k.startswith(TIMES)} for r in rows]  # noqa: E731
    assert drop(a["summary"]) == drop(b["summary"])


def test_a_line_cut_by_a_crash_is_done_again(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    args = [*SMALL, "--sigma", "0.3,1", "--seeds", "1", "--steps", "5", "--jobs", "1", "--out", str(out)]
    assert _sweep(capsys, *args)[0] == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:2]) + lines[2][:40])  # the last run's line half written
    code, _, err = _sweep(capsys, "--out", str(out), "--resume", "--jobs", "1", "--json", str(tmp_path / "r.json"))
    assert code == 0, err
    assert [json.loads(x) for x in out.read_text().splitlines()[1:]] != []
    assert len(json.loads((tmp_path / "r.json").read_text())["runs"]) == 2


@pytest.mark.parametrize("change,words", [
    (["--steps", "6"], "holds another sweep"), (["--sigma", "0.3,2"], "holds another sweep"),
    (["--hidden", "7"], "holds another sweep"), (["--seeds", "1"], "give the grid too"),
])
def test_resume_refuses_another_sweeps_file(tmp_path, capsys, change, words):
    out = tmp_path / "r.jsonl"
    assert _sweep(capsys, *SMALL, "--sigma", "0.3,1", "--seeds", "1", "--steps", "5", "--jobs", "1",
                  "--out", str(out))[0] == 0
    flags = [*SMALL, "--sigma", "0.3,1", "--seeds", "1", "--steps", "5"]
    if change[0] in flags:
        i = flags.index(change[0])
        flags[i + 1] = change[1]
        if change[0] == "--seeds":
            flags = change
    else:
        flags += change
    code, _, err = _sweep(capsys, *flags, "--out", str(out), "--resume")
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_out_is_never_replaced_without_force_and_resume_checks_versions(tmp_path, capsys, monkeypatch):
    import smtui.core.sweep

    out = tmp_path / "r.jsonl"
    args = [*SMALL, "--sigma", "0.3", "--seeds", "1", "--steps", "5", "--jobs", "1", "--out", str(out)]
    assert _sweep(capsys, *args)[0] == 0
    before = out.read_text()
    monkeypatch.setattr(smtui.core.sweep, "run_one", lambda *a, **k: pytest.fail("trained before checking"))
    code, _, err = _sweep(capsys, *args)
    assert code == 2 and "already exists" in err and "--resume" in err and out.read_text() == before
    head, *rest = before.splitlines(keepends=True)
    plan = json.loads(head)
    plan["versions"]["numpy"] = "0.0"
    out.write_text(json.dumps(plan) + "\n" + "".join(rest))
    code, _, err = _sweep(capsys, "--out", str(out), "--resume")
    assert code == 2 and "other versions (numpy 0.0 there" in err, err
    code, _, err = _sweep(capsys, "--show", str(tmp_path / "nothing.jsonl"))
    assert code == 2 and "does not exist" in err


def test_a_results_file_that_cannot_grow_stops_the_sweep_in_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import smtui.core.sweep_file

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(smtui.core.sweep_file, "append_file", full)
    out = tmp_path / "r.jsonl"
    code, _, err = _sweep(capsys, *SMALL, "--sigma", "0.3,1,3", "--seeds", "1", "--steps", "5", "--jobs", "1",
                          "--out", str(out), "--csv", str(tmp_path / "r.csv"))
    assert code == 4 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "No space left on device; the sweep stopped after 1 of 3 runs" in err
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 2  # the run that finished, marked partial


# --- shown again --------------------------------------------------------------------------------


def test_show_plots_a_saved_sweep_again_without_training(tmp_path, capsys, monkeypatch):
    import smtui.core.sweep

    out, report = tmp_path / "r.jsonl", tmp_path / "r.json"
    code, first, _ = _sweep(capsys, *GRID, "--jobs", "1", "--out", str(out), "--json", str(report))
    assert code == 0
    monkeypatch.setattr(smtui.core.sweep, "run_one", lambda *a, **k: pytest.fail("trained again"))
    for shown in (out, report):
        code, again, err = _sweep(capsys, "--show", str(shown), "--csv", str(tmp_path / "again.csv"))
        assert code == 0 and err == ""
        assert again.replace(" ", "") == first.replace(" ", "")  # the same table and plots
        assert len((tmp_path / "again.csv").read_text().splitlines()) == 9
    code, _, err = _sweep(capsys, "--show", str(out), "--csv", str(out))
    assert code == 2 and "the sweep file shown" in err


def test_show_says_a_partial_file_is_partial(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.jsonl"
    _interrupt_after(monkeypatch, 2)
    assert _sweep(capsys, *GRID, "--jobs", "1", "--out", str(out))[0] == 130
    monkeypatch.undo()
    code, shown, _ = _sweep(capsys, "--show", str(out))
    assert code == 0 and "partial (2 of 8 runs finished)" in shown


# --- a running Dask cluster -----------------------------------------------------------------


def test_a_running_dask_cluster_gives_the_same_figures(tmp_path, capsys):
    distributed = pytest.importorskip("distributed", reason="dask and distributed are not installed "
                                      "(pip install 'smtui[dask]')")
    import logging

    args = ["--n-train", "40", "--batch", "16", "--grid", "sigma=0.3,1", "--grid", "hidden=4,6", "--seeds", "1",
            "--steps", "10"]
    assert _sweep(capsys, *args, "--jobs", "1", "--json", str(tmp_path / "here.json"))[0] == 0
    # Its HTTP server on a free port: on Dask's 8787, taken by another test's cluster at the same
    # time, it warned on stderr ("Port 8787 is already in use"), which the sweep's stderr holds.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR) as cluster:
        code, _, err = _sweep(capsys, *args, "--scheduler", cluster.scheduler_address, "--json",
                              str(tmp_path / "there.json"))
    assert code == 0 and err == "", err
    here, there = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("here", "there"))
    assert _figures(there["runs"]) == _figures(here["runs"]) and "2 worker threads" in there["where"]


def test_an_unreachable_scheduler_is_one_line_before_any_run(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed", reason="dask and distributed are not installed (pip install 'smtui[dask]')")
    import smtui.core.cluster

    monkeypatch.setattr(smtui.core.cluster, "CONNECT_SECONDS", 0.5)
    monkeypatch.chdir(tmp_path)
    code, _, err = _sweep(capsys, *SMALL, "--sigma", "0.3", "--steps", "5", "--scheduler", "tcp://127.0.0.1:9",
                          "--out", "r.jsonl")
    assert code == 2 and "no cluster to run on" in err and "dask scheduler" in err, err
    assert len(err.strip().splitlines()) == 1 and os.listdir(tmp_path) == []


def test_versions_differ_in_one_line():
    from smtui.core.versions import first_difference, versions

    mine = versions()
    assert first_difference(mine, dict(mine)) is None
    assert first_difference(mine, {**mine, "smtui engine": "0"}) == f"smtui engine 0 there, {mine['smtui engine']} here"
    assert first_difference(mine, None).startswith("python unknown there")


# --- the app's "Sweep…" ------------------------------------------------------------------------


def _app():
    from textual.app import App

    class Host(App):
        notes: list = []
        sweep_jobs = 1

        def notify(self, message, **kw):
            self.notes.append(message)

    return Host()


async def test_the_apps_sweep_takes_a_grid_shows_it_grouped_and_exports_what_the_cli_writes(tmp_path, capsys,
                                                                                           monkeypatch, pilot_until):
    import io
    from types import SimpleNamespace

    from rich.console import Console

    import smtui.tui.screens.sweep as sweep_screen
    from smtui.tui.screens.modals import ValuePrompt

    monkeypatch.setattr(sweep_screen, "STEPS", 15)
    monkeypatch.setattr(sweep_screen, "SEEDS", 2)
    monkeypatch.chdir(tmp_path)
    config = Config(n_train=40, hidden=6, batch=16)
    app = _app()
    async with app.run_test(size=(110, 40)) as pilot:
        main = SimpleNamespace(config=config, notify=app.notify, app=app, files=True, experiment=None)
        sweep_screen.ask_sweep(main)
        await pilot.pause(0.1)
        app.screen.dismiss("sigma=0.3,1 objective=dsm,esm-sigma")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, sweep_screen.SweepScreen), 10)
        screen = app.screen
        assert await pilot_until(pilot, lambda: screen.results is not None)
        await pilot.pause(0.1)
        assert "done: 8 runs" in str(screen.query_one("#sweep-status").render())
        console = Console(width=110, record=True, file=io.StringIO())
        console.print(screen.view)
        shown = console.export_text()
        assert "sigma × objective sweep" in shown and "objective=esm-sigma" in shown
        for name in ("app.json", "app.csv"):
            await pilot.press("e")
            await pilot.pause(0.1)
            assert isinstance(app.screen, ValuePrompt) and app.screen.current.endswith("sweep-sigma-objective.json")
            app.screen.dismiss(str(tmp_path / name))
            assert await pilot_until(pilot, lambda n=name: (tmp_path / n).exists(), 10)
    code, _, _ = _sweep(capsys, *GRID, "--jobs", "1", "--json", str(tmp_path / "cli.json"), "--csv",
                        str(tmp_path / "cli.csv"))
    assert code == 0
    exported, cli = (json.loads((tmp_path / n).read_text()) for n in ("app.json", "cli.json"))
    assert _figures(exported["runs"]) == _figures(cli["runs"]) and exported["grid"] == cli["grid"]
    assert len(exported["summary"]) == 4 and not exported["partial"]
    assert (tmp_path / "app.csv").read_text().splitlines()[0] == (tmp_path / "cli.csv").read_text().splitlines()[0]


async def test_the_apps_sweep_refuses_a_bad_grid_in_one_line_and_a_demo_session_has_no_export(pilot_until):
    from types import SimpleNamespace

    import smtui.tui.screens.sweep as sweep_screen
    from smtui.tui.screens.sweep import SweepScreen, sigma_plan

    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        main = SimpleNamespace(config=Config(), notify=app.notify, app=app, files=False, experiment=None)
        for text, words in (("hidden=8,x", "not a whole number"), ("objective=esm distribution=moons", "needs an"),
                            ("sigma", "not a number"), ("colour=red", "not a setup flag")):
            sweep_screen.ask_sweep(main)
            await pilot.pause(0.05)
            app.screen.dismiss(text)
            await pilot.pause(0.05)
            assert not isinstance(app.screen, SweepScreen) and words in app.notes[-1] and "\n" not in app.notes[-1]
        screen = SweepScreen(sigma_plan(Config(n_train=40, hidden=6, batch=16), [0.3], 1, 5), jobs=1, main=main)
        app.push_screen(screen)
        assert await pilot_until(pilot, lambda: screen.results is not None)
        assert screen.check_action("export", ()) is False
        assert "export" not in str(screen.query_one("#sweep").border_subtitle)
