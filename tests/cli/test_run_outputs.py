"""`smtui run`'s outputs under faults (issue 9, causes 1, 7-10, 16, 17; issue 8 item 11):
a full disk fails one output in one line and the others (the experiment first) are still
written; empty paths, special files, outputs that are inputs and clashing outputs are
refused before the first step; a diverged run reports finite figures; --steps is bounded
and ctrl+c says what was saved; a table of the final figures is printed.

Devices and FIFOs are made in tmp dirs only (os.mknod, os.mkfifo), never real /dev nodes."""

import errno
import json
import os
import select
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from smtui.core.experiment import load_experiment
from smtui.core.trainer import Trainer
from smtui.tui.cli.main import main

FAST = ["--n-train", "48", "--hidden", "8", "--batch", "32", "--eval-every", "5"]


def run(capsys, *args):
    try:
        code = main(["run", *FAST, *args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def no_training(monkeypatch):
    """Make any training step fail the test: refusals must come before the first step."""
    def refuse(self, *a, **k):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(Trainer, "train", refuse)


def _device(path: Path, minor: int) -> None:
    """A character device node in the tmp dir (1, 3: like /dev/null; 1, 7: like /dev/full)."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except PermissionError:
        pytest.skip("mknod needs root")


# --- cause 1: a full disk ------------------------------------------------------------------


def test_a_full_disk_fails_each_output_in_one_line_and_the_save_still_runs(tmp_path, capsys, monkeypatch, named_files):
    real_replace = os.replace

    def full(src, dst):  # every atomic rename of --json/--csv/--save-params meets a full disk
        if not str(dst).endswith(".toml"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    j, c, p, e = (tmp_path / n for n in ("r.json", "h.csv", "p.npz", "X.toml"))
    code, out, err = run(capsys, "--steps", "7", "--json", str(j), "--csv", str(c), "--save-params", str(p),
                         "--save", str(e))
    monkeypatch.undo()
    assert code == 4
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all("No space left on device" in line for line in lines), err
    assert [line.split()[2] for line in lines] == ["--json", "--csv", "--save-params"]
    assert "Traceback" not in err
    assert load_experiment(e).step == 7  # the training is not lost
    assert sorted(q.name for q in tmp_path.iterdir()) == sorted(["X.toml", *(q.name for q in named_files(e))])


def test_a_full_disk_everywhere_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    code, _, err = run(capsys, "--steps", "3", "--json", str(tmp_path / "r.json"), "--save", str(tmp_path / "X.toml"))
    monkeypatch.undo()
    assert code == 4 and len(err.strip().splitlines()) == 2 and "Traceback" not in err
    assert "--save" in err and "--json" in err
    assert list(tmp_path.iterdir()) == []


def test_a_full_device_is_one_line_and_stays_a_device(tmp_path, capsys):
    full = tmp_path / "full"
    _device(full, 7)
    code, _, err = run(capsys, "--steps", "2", "--json", str(full), "--csv", str(tmp_path / "h.csv"))
    assert code == 4 and len(err.strip().splitlines()) == 1 and "--json" in err and "No space" in err
    assert stat.S_ISCHR(os.lstat(full).st_mode) and (tmp_path / "h.csv").exists()


# --- cause 7: empty paths ---------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--save", "--json", "--csv", "--save-params"])
def test_an_empty_output_path_is_refused_in_one_line(capsys, monkeypatch, flag):
    no_training(monkeypatch)
    code, out, err = run(capsys, "--steps", "5", flag, "")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "empty path" in err and flag in err


# --- cause 8: never a rename over a non-regular file -------------------------------------------


def test_devices_are_written_in_place_never_replaced(tmp_path, capsys):
    null = tmp_path / "null"
    _device(null, 3)
    code, _, err = run(capsys, "--steps", "2", "--save-params", str(null), "--json", str(null), "--csv", str(null))
    assert code == 0, err
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.listdir(tmp_path) == ["null"]


def test_a_fifo_is_written_to_its_reader_and_stays_a_fifo(tmp_path, capsys):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    got = []
    # The reader is there before the run opens the FIFO (a thread blocked in open() may not be
    # yet on a loaded machine, and a FIFO without a reader is refused); it reads until the writer
    # has been and gone (select waits for a first writer: a FIFO never written to is not at its end).
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def reader():
        chunks = []
        while True:
            select.select([rd], [], [])
            try:
                data = os.read(rd, 65536)
            except BlockingIOError:
                continue
            if not data:
                break
            chunks.append(data)
        os.close(rd)
        got.append(b"".join(chunks))

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    code, _, err = run(capsys, "--steps", "2", "--json", str(fifo))
    th.join(timeout=10)
    assert code == 0, err
    assert json.loads(got[0])["steps"] == 2 and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_fifo_without_a_reader_is_refused_not_waited_on(tmp_path, capsys):
    os.mkfifo(tmp_path / "out.json")
    code, _, err = run(capsys, "--steps", "2", "--json", str(tmp_path / "out.json"), "--csv", str(tmp_path / "h.csv"))
    assert code == 4 and "no reader" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "h.csv").exists() and stat.S_ISFIFO(os.lstat(tmp_path / "out.json").st_mode)


def test_symlinks_are_followed_to_a_regular_file_and_dangling_ones_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "target.json").write_text("old\n")
    (tmp_path / "link.json").symlink_to("target.json")
    code, _, err = run(capsys, "--steps", "2", "--json", str(tmp_path / "link.json"))
    assert code == 0, err
    assert (tmp_path / "link.json").is_symlink() and json.loads((tmp_path / "target.json").read_text())["steps"] == 2
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "nowhere" / "h.csv")
    no_training(monkeypatch)
    code, _, err = run(capsys, "--steps", "2", "--csv", str(tmp_path / "dangling.csv"))
    assert code == 2 and "symbolic link that leads nowhere" in err and len(err.strip().splitlines()) == 1


def test_save_refuses_a_special_file_before_training(tmp_path, capsys, monkeypatch):
    os.mkfifo(tmp_path / "e.toml")
    no_training(monkeypatch)
    code, _, err = run(capsys, "--steps", "2", "--save", str(tmp_path / "e.toml"), "--force")
    assert code == 2 and "FIFO" in err and "not a regular file" in err
    assert stat.S_ISFIFO(os.lstat(tmp_path / "e.toml").st_mode)


# --- cause 9: an output is never an input ------------------------------------------------------


@pytest.fixture
def pts(tmp_path):
    p = tmp_path / "pts.csv"
    np.savetxt(p, np.random.default_rng(0).normal(size=(40, 2)), delimiter=",")
    return p


def test_force_never_overwrites_the_data(tmp_path, capsys, pts):
    before = pts.read_bytes()
    code, _, err = run(capsys, "--data", str(pts), "--steps", "3", "--save", str(tmp_path / "pts.toml"), "--force")
    assert code == 0, err
    assert pts.read_bytes() == before
    assert load_experiment(tmp_path / "pts.toml").step == 3


def _same_inode_link(pts: Path) -> Path:
    link = pts.with_name("hard.csv")
    os.link(pts, link)
    return link


@pytest.mark.parametrize("output", ["same", "symlink", "hardlink", "dotdot"])
def test_an_output_naming_the_data_file_is_refused(tmp_path, capsys, monkeypatch, pts, output):
    target = {"same": lambda: pts, "symlink": lambda: (tmp_path / "l.csv").symlink_to(pts) or tmp_path / "l.csv",
              "hardlink": lambda: _same_inode_link(pts),
              "dotdot": lambda: tmp_path / "sub" / ".." / "pts.csv"}[output]()
    (tmp_path / "sub").mkdir(exist_ok=True)
    before = pts.read_bytes()
    no_training(monkeypatch)
    for extra in ([], ["--save", str(tmp_path / "x.toml"), "--force"]):
        code, _, err = run(capsys, "--data", str(pts), "--steps", "3", "--csv", str(target), *extra)
        assert code == 2 and "is the data file" in err and len(err.strip().splitlines()) == 1, err
    assert pts.read_bytes() == before


def test_the_loaded_experiment_and_its_files_are_never_outputs(tmp_path, capsys, monkeypatch, named_files):
    e = tmp_path / "E.toml"
    assert run(capsys, "--steps", "3", "--save", str(e))[0] == 0
    npz, csv = named_files(e)
    snapshot = {p: p.read_bytes() for p in (e, npz, csv)}
    no_training(monkeypatch)
    for flags in (["--save", str(e), "--force"], ["--json", str(e)], ["--csv", str(csv)],
                  ["--save-params", str(npz)]):
        for source in ("--load", "--config"):
            code, _, err = run(capsys, source, str(e), "--steps", "1", *flags)
            assert code == 2 and f"given with {source}" in err and "never replaces an input" in err, (flags, err)
    assert {p: p.read_bytes() for p in (e, npz, csv)} == snapshot


def test_the_data_named_by_a_loaded_experiment_is_an_input_too(tmp_path, capsys, monkeypatch, pts):
    e = tmp_path / "E.toml"
    assert run(capsys, "--data", str(pts), "--steps", "2", "--save", str(e))[0] == 0
    no_training(monkeypatch)
    code, _, err = run(capsys, "--load", str(e), "--steps", "1", "--csv", str(pts))
    assert code == 2 and "is the data file" in err


# --- cause 10: clashes found before the first step ------------------------------------------------


@pytest.mark.parametrize("a,b", [("--json", "--csv"), ("--json", "--save-params"), ("--csv", "--save-params"),
                                 ("--json", "--save")])
def test_clashing_outputs_are_refused_before_training(tmp_path, capsys, monkeypatch, a, b):
    path = str(tmp_path / "D.toml")
    (tmp_path / "D.toml").write_text("keep me\n")
    no_training(monkeypatch)
    force = ["--force"] if "--save" in (a, b) else []
    code, _, err = run(capsys, "--steps", "3", a, path, b, path, *force)
    assert code == 2 and "name the same file" in err and a in err and b in err, err
    assert (tmp_path / "D.toml").read_text() == "keep me\n"


def test_csv_beside_a_save_of_the_same_name_is_no_clash(tmp_path, capsys):
    """Version 2 names the history by the save id, so C.csv and C.toml are both written."""
    code, _, err = run(capsys, "--steps", "5", "--csv", str(tmp_path / "C.csv"), "--save", str(tmp_path / "C.toml"))
    assert code == 0, err
    assert load_experiment(tmp_path / "C.toml").step == 5 and (tmp_path / "C.csv").read_text().startswith("step,")


def test_an_existing_experiment_is_refused_before_training(tmp_path, capsys, monkeypatch):
    (tmp_path / "E.toml").write_text("")
    no_training(monkeypatch)
    code, _, err = run(capsys, "--steps", "3", "--save", str(tmp_path / "E.toml"))
    assert code == 2 and "already exists" in err and "--force" in err


# --- cause 16: a diverged run reports the kept parameters' figures ---------------------------------


@pytest.mark.parametrize("flags", [["--lr", "100", "--optimizer", "sgd"],
                                   ["--lr", "100", "--optimizer", "sgd", "--objective", "ism", "--dtype", "float32"],
                                   ["--lr", "1e3", "--optimizer", "momentum", "--distribution", "moons"]])
def test_a_diverged_run_reports_finite_figures_of_the_kept_parameters(capsys, flags):
    code, out, err = run(capsys, *flags, "--steps", "300", "--json", "-")
    res = json.loads(out)
    assert code == 3 and res["status"] == "diverged" and res["steps"] < 300
    code0, out0, _ = run(capsys, *flags, "--steps", "0", "--json", "-")
    healthy = json.loads(out0)["metrics"]
    # No figure is null that a healthy run of this setup reports (null there: standard errors
    # of a quadrature, analytic figures of sample-only data; the training loss only before
    # the first step). Kept parameters too sharp for the quadrature are evaluated by the
    # Monte Carlo fallback, which does report standard errors.
    assert {k for k, v in res["metrics"].items() if v is None} <= {k for k, v in healthy.items() if v is None} - {
        "loss"}
    assert all(np.isfinite(v) for v in res["metrics"].values() if isinstance(v, float))
    assert f"kept the last finite parameters (step {res['steps']})" in res["message"]


# --- cause 17: --steps bounded, ctrl+c says what was saved -------------------------------------------


@pytest.mark.parametrize("steps", ["1000000001", "1" + "0" * 30, "-1"])
def test_steps_are_bounded(capsys, monkeypatch, steps):
    no_training(monkeypatch)
    code, _, err = run(capsys, "--steps", steps)
    assert code == 2 and "steps must be a whole number from 0 to 1,000,000,000" in err


@pytest.fixture
def interrupt(tmp_path, processes):
    """interrupt(*flags): ``smtui run`` for ever with ``flags`` in tmp_path, sent SIGINT once it
    trains; its exit status and stderr."""

    def interrupt(*flags) -> tuple[int, str]:
        proc = subprocess.Popen([sys.executable, "-m", "smtui", "run", *FAST, "--steps", "1000000000", *flags],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # imports and setup done (~0.4 s of CPU time): training. CPU time, not wall time, so a
            # loaded machine cannot make the signal come before the training.
            assert processes.wait_until(lambda: processes.cpu_seconds(proc.pid) > 1.5 or proc.poll() is not None, 60)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        return proc.returncode, err.decode()

    return interrupt


def test_ctrl_c_saves_the_experiment_when_asked_and_says_so(tmp_path, interrupt):
    code, err = interrupt("--save", "x.toml", "--json", "r.json")
    assert code == 130 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "experiment saved to x.toml" in err and "no other output written" in err
    step = int(err.split("interrupted at step ")[1].split(";")[0].replace(",", ""))
    assert step > 0 and load_experiment(tmp_path / "x.toml").step == step
    assert not (tmp_path / "r.json").exists()


def test_ctrl_c_without_save_says_nothing_was_saved(tmp_path, interrupt):
    code, err = interrupt("--json", "r.json")
    assert code == 130 and "nothing was saved or written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# --- issue 8 item 11: the headless summary -------------------------------------------------------


def test_a_run_without_outputs_prints_a_table_of_the_final_figures(capsys, tmp_path):
    code, out, err = run(capsys, "--steps", "5")
    assert code == 0 and err == ""
    assert "step 5 (ok)" in out and "ESM - DSM" in out and "DSM" in out and "theory" in out
    assert "\x1b[" not in out  # plain text when stdout is not a terminal
    code, out, _ = run(capsys, "--steps", "5", "--json", "-")
    assert "ESM - DSM" not in out and json.loads(out)["steps"] == 5  # stdout is the JSON's
    code, out, _ = run(capsys, "--steps", "5", "--save", str(tmp_path / "e.toml"))
    assert code == 0 and "ESM - DSM" in out  # a save holds no figures to read: the table is shown
    code, out, _ = run(capsys, "--steps", "5", "--csv", str(tmp_path / "h.csv"))
    assert code == 0 and out == ""  # the figures went where they were asked for


def test_the_table_shows_on_a_terminal_too(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    env = {**os.environ, "NO_COLOR": "1"}
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # an 80x24 terminal
    proc = subprocess.Popen([sys.executable, "-m", "smtui", "run", *FAST, "--steps", "5"], env=env, cwd=tmp_path,
                            stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    try:
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        proc.wait(timeout=60)
        os.close(leader)
    text = b"".join(chunks).decode()
    assert proc.returncode == 0 and "ESM - DSM" in text and "step 5" in text


def test_the_json_of_a_data_run_names_no_distribution(capsys, pts):
    code, out, _ = run(capsys, "--data", str(pts), "--steps", "2", "--json", "-")
    cfg = json.loads(out)["config"]
    assert code == 0 and cfg["distribution"] is None and cfg["data_path"] == str(pts)


def test_the_app_never_exports_or_saves_over_its_data_file(tmp_path, pts):
    from smtui.core.config import Config
    from smtui.core.errors import UserError
    from smtui.core.experiment import save_experiment
    from smtui.tui.runner.trainer_job import export_csv

    before = pts.read_bytes()
    t = Trainer(Config(data_path=str(pts), n_train=40, hidden=4, batch=8))
    t.train(2)
    with pytest.raises(UserError, match="data file"):
        export_csv(t, str(pts), overwrite=True)
    pts_toml = tmp_path / "pts.toml"
    os.symlink(pts, pts_toml)  # a data file that a save would name
    with pytest.raises(UserError, match="data file"):
        save_experiment(t, pts_toml, overwrite=True)
    assert pts.read_bytes() == before


@pytest.mark.parametrize("flag", ["--csv", "--save-params", "--save"])
def test_a_dash_is_stdout_for_json_only(capsys, tmp_path, monkeypatch, flag):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "--steps", "0", flag, "-")
    assert code == 2 and "only --json takes - for stdout" in err and os.listdir(tmp_path) == []
