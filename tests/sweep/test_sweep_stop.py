"""A sweep stops when asked and leaves nothing behind (issue 18): ctrl+c, SIGTERM and the
parent's SIGKILL leave no worker process 2 s later; a second ctrl+c is never a traceback; a
killed worker is one line; the runs that finished are kept and said to be partial; escape
on the app's sweep screen ends the workers; one sweep at a time per app."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from smtui.core.config import Config
from smtui.core.sweep import SweepFailed, SweepStopped, run_sweep, sweep_configs
from smtui.tui.cli.main import main

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads processes from /proc (Linux)")

SMALL = ["--n-train", "48", "--hidden", "8", "--batch", "32"]
ENDLESS = ["sweep", *SMALL, "--sigma", "0.3,1,3", "--seeds", "2", "--steps", "10000000", "--jobs", "2"]
GONE_WITHIN = 2.0  # seconds: the bound for the workers once the sweep's process has stopped


@pytest.fixture
def start_sweep(tmp_path, processes):
    """start_sweep(argv=ENDLESS): start ``smtui ARGV`` in its own session (in tmp_path) and wait
    (bounded) until two workers train; the process and every descendant it has then
    (forkserver and tracker included)."""

    def start_sweep(argv=ENDLESS):
        proc = subprocess.Popen([sys.executable, "-m", "smtui", *argv], cwd=tmp_path, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        if not processes.wait_until(lambda: len(processes.sweep_workers(proc.pid)) >= 2 or proc.poll() is not None,
                                    120):
            proc.kill()
            pytest.fail("the sweep's workers never started")
        assert proc.poll() is None, proc.communicate()
        return proc, processes.descendants(proc.pid)

    return start_sweep


@pytest.fixture
def ended(processes):
    """ended(proc, family): the exit status and stderr of ``proc``, once it and every process of
    ``family`` ended (whatever is left is killed)."""

    def ended(proc, family):
        try:
            _, err = proc.communicate(timeout=60)
            ok = processes.wait_until(lambda: not processes.alive(family), GONE_WITHIN)
            left = [] if ok else processes.alive(family)
            assert not left, f"still running {GONE_WITHIN} s after the sweep ended: {left}"
            return proc.returncode, err.decode(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            processes.kill_all(family)

    return ended


@pytest.mark.parametrize("signum,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_sigterm_ends_the_workers_in_one_line(tmp_path, signum, code, word, ended, start_sweep):
    proc, family = start_sweep([*ENDLESS, "--csv", "r.csv"])
    assert len(family) >= 3  # the workers, and the forkserver that started them
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # as a terminal sends ctrl+c: to the whole process group
    else:
        os.kill(proc.pid, signum)  # as a service manager or kill(1) sends it: to the process
    status, err = ended(proc, family)
    assert status == code and "Traceback" not in err, err
    assert err.strip() == f"smtui: {word} after 0 of 6 runs; nothing written"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_on_a_local_dask_cluster_cancels_and_ends_its_workers(tmp_path, ended, start_sweep):
    pytest.importorskip("distributed", reason="dask and distributed are not installed (pip install 'smtui[dask]')")
    proc, family = start_sweep([*ENDLESS[:-2], "--scheduler", "local", "--jobs", "2"])
    os.killpg(proc.pid, signal.SIGINT)
    status, err = ended(proc, family)
    assert status == 130 and err.strip() == "smtui: interrupted after 0 of 6 runs; nothing written", err


@pytest.mark.parametrize("gap", [0.0, 0.05])
def test_a_second_ctrl_c_is_never_a_traceback(tmp_path, gap, ended, start_sweep):
    proc, family = start_sweep()
    os.killpg(proc.pid, signal.SIGINT)
    threading.Event().wait(gap)
    os.killpg(proc.pid, signal.SIGINT)
    status, err = ended(proc, family)
    # 130, or dead by SIGINT if the second came as the interpreter finished (a shell shows 130 for both)
    assert status in (130, -signal.SIGINT) and "Traceback" not in err and "Error" not in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("smtui: interrupted"), err


def test_the_parents_sigkill_leaves_no_worker(tmp_path, ended, start_sweep):
    proc, family = start_sweep()
    os.kill(proc.pid, signal.SIGKILL)
    ended(proc, family)


def test_a_killed_worker_is_one_line_and_ends_the_others(tmp_path, ended, start_sweep, processes):
    proc, family = start_sweep()
    os.kill(next(iter(processes.sweep_workers(proc.pid))), signal.SIGKILL)
    status, err = ended(proc, family)
    assert status == 1 and "Traceback" not in err and "BrokenProcessPool" not in err, err
    assert err.strip() == ("smtui: error: a worker process ended unexpectedly (killed, or out of memory?) after 0 "
                           "of 6 runs; nothing written")


# --- the runs that finished are kept, marked partial ---------------------------------------


CONFIG = Config(n_train=48, hidden=8, batch=32)


def test_a_stopped_sweep_keeps_the_runs_that_finished_in_either_kind_of_pool():
    configs = sweep_configs(CONFIG, [0.3, 1.0, 3.0], 1)
    for in_process in (True, False):
        stop = threading.Event()
        with pytest.raises(SweepStopped) as info:
            run_sweep(configs, 10, 1, progress=lambda done, total, r, stop=stop: stop.set(), stop=stop,
                      in_process=in_process)
        assert info.value.done == 1 and info.value.total == 3
        (kept,) = info.value.results  # whole: the same figures as that run alone
        assert _same_figures([kept], run_sweep([_config_of(kept, configs)], 10, 1))


def _config_of(result, configs):
    return next(c for c in configs if (c.sigma, c.seed) == (result["sigma"], result["seed"]))


def _same_figures(a, b):
    drop = lambda rs: [{k: v for k, v in r.items() if k not in ("wall_seconds", "cpu_seconds")} for r in rs]  # noqa: E731
    return drop(a) == drop(b)


def test_ctrl_c_writes_the_finished_runs_marked_partial(tmp_path, capsys, monkeypatch):
    import smtui.core.sweep

    real = smtui.core.sweep.run_one
    calls = []

    def then_ctrl_c(config, steps, stop=None):
        result = real(config, steps, stop)
        calls.append(config)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # handled at once: the sweep's handler sets its stop
        return result

    monkeypatch.setattr(smtui.core.sweep, "run_one", then_ctrl_c)
    j, c = tmp_path / "s.json", tmp_path / "s.csv"
    code = main(["sweep", *SMALL, "--sigma", "0.3,1", "--seeds", "2", "--steps", "5", "--jobs", "1",
                 "--json", str(j), "--csv", str(c)])
    out, err = capsys.readouterr()
    assert code == 130
    assert err.strip() == f"smtui: interrupted after 2 of 4 runs; the 2 finished written to '{j}' and '{c}' (partial)"
    res = json.loads(j.read_text())
    assert res["partial"] is True and res["planned_runs"] == 4 and len(res["runs"]) == 2
    assert [(r["sigma"], r["seed"]) for r in res["runs"]] == [(0.3, 0), (0.3, 1)]
    assert len(c.read_text().splitlines()) == 3
    assert "partial" in out  # the table says so too


def test_a_lost_worker_keeps_the_finished_runs(monkeypatch):
    """A worker that dies mid-sweep: SweepFailed with the runs done before it."""
    import smtui.core.sweep

    configs = sweep_configs(CONFIG, [0.3, 1.0, 3.0], 1)
    monkeypatch.setattr(smtui.core.sweep, "run_fields", _dies_on_the_last)
    with pytest.raises(SweepFailed) as info:
        run_sweep(configs, 5, 2, in_process=False)
    assert "worker process ended unexpectedly" in str(info.value) and info.value.total == 3
    assert {r["sigma"] for r in info.value.results} <= {0.3, 1.0}


def _dies_on_the_last(fields, steps):
    if fields["sigma"] == 3.0:
        os.kill(os.getpid(), signal.SIGKILL)
    from smtui.core.sweep import run_one

    return run_one(Config(**fields), steps)


# --- the app's sweep screen ---------------------------------------------------------------


def _host(screen=None):
    from textual.app import App

    class Host(App):
        notes: list = []
        sweep_jobs = None

        def on_mount(self) -> None:
            if screen is not None:
                self.push_screen(screen)

        def notify(self, message, **kw):
            self.notes.append(message)

    return Host()


async def test_escape_ends_the_workers_keeps_what_finished_and_a_second_escape_closes(processes, pilot_until):
    from smtui.tui.screens.sweep import SweepScreen, sigma_plan, sweeping

    screen = SweepScreen(sigma_plan(CONFIG, [0.3, 1.0, 3.0], 2, 10_000_000), jobs=2)
    app = _host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await pilot_until(pilot, lambda: len(processes.sweep_workers(os.getpid())) >= 2), "no workers started"
        workers = processes.sweep_workers(os.getpid())
        assert sweeping(app)
        try:
            await pilot.press("escape")
            assert await pilot_until(pilot, lambda: not screen.running, 30)
            assert processes.wait_until(lambda: not processes.alive(workers), GONE_WITHIN), processes.alive(workers)
        finally:
            processes.kill_all(workers)
        assert app.screen is screen and not sweeping(app)  # still shown: what finished, marked partial
        assert "stopped: 0 of 6 runs finished (partial)" in str(screen.query_one("#sweep-status").render())
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is not screen


async def test_quitting_the_app_ends_a_sweep_under_way(processes, pilot_until):
    from smtui.tui.screens.sweep import SweepScreen, sigma_plan

    screen = SweepScreen(sigma_plan(CONFIG, [0.3, 1.0], 1, 10_000_000), jobs=2)
    app = _host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await pilot_until(pilot, lambda: len(processes.sweep_workers(os.getpid())) >= 2), "no workers started"
        workers = processes.sweep_workers(os.getpid())
        app.exit()
    try:
        assert processes.wait_until(lambda: not processes.alive(workers), GONE_WITHIN), processes.alive(workers)
    finally:
        processes.kill_all(workers)


async def test_one_sweep_at_a_time_and_the_apps_cap_on_its_workers(monkeypatch, pilot_until):
    from types import SimpleNamespace

    import smtui.tui.screens.sweep
    from smtui.tui.screens.modals import ValuePrompt
    from smtui.tui.screens.sweep import SweepScreen, ask_sweep

    monkeypatch.setattr(smtui.tui.screens.sweep, "STEPS", 10_000_000)  # still running when asked again

    app = _host()
    app.sweep_jobs = 1  # as `smtui serve` gives its sessions
    async with app.run_test(size=(100, 30)) as pilot:
        main = SimpleNamespace(config=CONFIG.with_changes(sigma=0.5), notify=app.notify, app=app)
        ask_sweep(main)
        await pilot.pause(0.1)
        assert isinstance(app.screen, ValuePrompt)
        app.screen.dismiss("0.3,1")
        assert await pilot_until(pilot, lambda: isinstance(app.screen, SweepScreen), 10)
        screen = app.screen
        assert screen.jobs == 1 and "in 1 worker process…" in str(screen.query_one("#sweep-status").render())
        ask_sweep(main)  # a second, while the first runs: refused in one line
        await pilot.pause(0.1)
        assert app.screen is screen and len(app.notes) == 1 and "a sweep is running" in app.notes[0]
        await pilot.press("escape")
        assert await pilot_until(pilot, lambda: not screen.running, 30)


def test_a_served_session_gets_one_sweep_worker_unless_the_operator_allows_more():
    from smtui.tui.serve.command import build_serve_parser, session_argv

    argv = session_argv(build_serve_parser().parse_args(["--ssh"]))
    assert argv[argv.index("--sweep-jobs") + 1] == "1"
    argv = session_argv(build_serve_parser().parse_args(["--web", "--sweep-jobs", "4"]))
    assert argv[argv.index("--sweep-jobs") + 1] == "4"


def test_ending_the_pool_leaves_none_of_its_threads_to_race_the_exit():
    """The pool's manager thread closes a wake-up pipe that the interpreter's exit handler
    writes to: a sweep that exits while it is still ending may print an EBADF traceback
    after its one line. end_pool returns once the pool's threads have ended."""
    import time

    from smtui.core.workers import end_pool, process_pool

    before = set(threading.enumerate())
    for _ in range(3):  # (the thread was still ending after about half the pools without the wait)
        pool = process_pool(2)
        futures = [pool.submit(time.sleep, 60) for _ in range(4)]
        futures[0].running() or time.sleep(0.5)
        end_pool(pool)
        left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
        assert left == [], left
