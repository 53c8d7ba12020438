"""Saves under faults (issue 9, causes 11-13): a save killed or failing at any write or
rename leaves an experiment that loads as the old or the new one; leftovers go at the
next save or load; two saves racing for one new name: exactly one wins; the state and
history files are tied to the TOML's save, and a foreign one is refused."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment import ExperimentExists, load_experiment, save_experiment
from smtui.core.trainer import Trainer

SMALL = dict(n_train=64, batch=32, hidden=8, eval_every=2)


def _trained(steps: int) -> Trainer:
    t = Trainer(Config(**SMALL))
    t.train(steps)
    return t


class Killed(BaseException):
    """Stands for SIGKILL: raised at the k-th file operation, after which nothing is tidied."""


OPS = ("open", "fsync", "replace", "link", "chmod", "unlink")


def _faulty_os(monkeypatch, k: int, kill: bool):
    """Make the k-th file operation of os fail (ENOSPC) or 'kill' the save; returns the
    list of operations seen. After a kill, unlink does nothing (a dead process tidies nothing)."""
    seen, real = [], {name: getattr(os, name) for name in OPS}
    state = {"dead": False}

    def wrap(name):
        def op(*args, **kwargs):
            if state["dead"] and name == "unlink":
                return None
            seen.append(name)
            if len(seen) == k:
                if kill:
                    state["dead"] = True
                    raise Killed()
                raise OSError(28, "No space left on device")
            return real[name](*args, **kwargs)
        return op

    for name in OPS:
        monkeypatch.setattr(os, name, wrap(name))
    return seen


def _files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("kill", [True, False], ids=["killed", "disk-full"])
@pytest.mark.parametrize("first", [True, False], ids=["first-save", "over-a-save"])
def test_a_save_stopped_at_any_operation_loads_as_old_or_new(tmp_path, monkeypatch, kill, first, named_files):
    old, new = _trained(2), _trained(5)
    clean = tmp_path / "clean"
    clean.mkdir()
    if not first:
        save_experiment(old, clean / "e.toml")
    ops = _faulty_os(monkeypatch, 0, kill)
    save_experiment(new, clean / "e.toml", overwrite=True)
    monkeypatch.undo()
    assert {"open", "fsync", "replace"} <= set(ops)
    for k in range(1, len(ops) + 1):
        d = tmp_path / f"k{k}"
        d.mkdir()
        path = d / "e.toml"
        if not first:
            save_experiment(old, path)
        seen = _faulty_os(monkeypatch, k, kill)
        try:
            save_experiment(new, path, overwrite=True)
            finished = True
        except (Killed, UserError) as exc:
            finished = False
            assert isinstance(exc, Killed) or "No space left on device" in str(exc)
        monkeypatch.undo()
        if first and not path.exists():
            assert not finished  # nothing committed: the name is still free
        else:
            assert load_experiment(path).step in ((5,) if first else (2, 5)), (k, seen)
        if not kill and not finished:
            assert len(_files(d)) == (0 if first else 3), (k, _files(d))  # nothing half-done stays
            if not first:
                assert load_experiment(path).step == 2  # a refused write changes nothing
        # The next save (or a load) removes whatever a killed save left.
        save_experiment(_trained(1), path, overwrite=True)
        assert _files(d) == sorted(["e.toml", *(p.name for p in named_files(path))]), k
        assert load_experiment(path).step == 1


def test_leftovers_go_on_load_too(tmp_path):
    path = tmp_path / "e.toml"
    save_experiment(_trained(2), path)
    kept = _files(tmp_path)
    for junk in ("e.0123456789ab.npz", "e.0123456789ab.csv", ".e.toml.89abcdef.tmp", ".e.npz.x1y2z3w4.old"):
        (tmp_path / junk).write_bytes(b"junk")
    (tmp_path / "e.npz").write_bytes(b"not ours: a version-2 save names its files by id")
    (tmp_path / "e.other.csv").write_text("a user's file\n")
    assert load_experiment(path).step == 2
    assert _files(tmp_path) == sorted([*kept, "e.npz", "e.other.csv"])


SIGKILL_SAVER = """
import sys, time
from pathlib import Path
from smtui.core.config import Config
from smtui.core.experiment import save_experiment
from smtui.core.trainer import Trainer
t = Trainer(Config(n_train=64, batch=32, hidden=8, eval_every=2))
path = Path(sys.argv[1])
print("ready", flush=True)
while True:
    t.train(1)
    save_experiment(t, path, overwrite=True)
"""


def test_sigkill_during_saves_leaves_a_loadable_experiment(tmp_path, named_files):
    """A real process saving in a loop, SIGKILLed at seeded random moments."""
    rng = np.random.default_rng(7)
    path = tmp_path / "e.toml"
    save_experiment(_trained(0), path)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", SIGKILL_SAVER, str(path)], stdout=subprocess.PIPE,
                                cwd=tmp_path)
        try:
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(float(rng.uniform(0.05, 0.4)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
        step = load_experiment(path).step
        assert step >= 0
    save_experiment(_trained(1), path, overwrite=True)
    assert _files(tmp_path) == sorted(["e.toml", *(p.name for p in named_files(path))])


def test_two_saves_racing_for_a_new_name_exactly_one_wins(tmp_path):
    a, b = _trained(2), _trained(3)
    for i in range(20):
        path = tmp_path / f"r{i}.toml"
        barrier, results = threading.Barrier(2), {}

        def save(t, tag, path=path, barrier=barrier, results=results):
            barrier.wait(timeout=10)
            try:
                save_experiment(t, path)
                results[tag] = "saved"
            except ExperimentExists:
                results[tag] = "refused"

        threads = [threading.Thread(target=save, args=(t, tag)) for t, tag in ((a, "a"), (b, "b"))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=30)
        assert sorted(results.values()) == ["refused", "saved"], results
        winner = 2 if results["a"] == "saved" else 3
        assert load_experiment(path).step == winner


def test_two_cli_saves_racing_for_a_new_name(tmp_path):
    cmd = [sys.executable, "-m", "smtui", "run", "--steps", "0", "--n-train", "64", "--hidden", "8",
           "--batch", "32", "--save", str(tmp_path / "x.toml")]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    # The loser is refused before training (2) or, if both passed that check, at the save (4).
    assert codes[0] == 0 and codes[1] in (2, 4), outs
    err = [o[1].decode() for p, o in zip(procs, outs) if p.returncode != 0][0]
    assert "already exists" in err and "Traceback" not in err
    assert load_experiment(tmp_path / "x.toml").step == 0


def test_a_foreign_history_or_state_is_refused(tmp_path, named_files):
    """Files of another save of the same name and setup are not this save's."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    save_experiment(_trained(4), one / "e.toml")
    save_experiment(_trained(6), two / "e.toml")
    for i in (0, 1):
        mine, theirs = named_files(one / "e.toml")[i], named_files(two / "e.toml")[i]
        backup = mine.read_bytes()
        shutil.copyfile(theirs, mine)
        with pytest.raises(UserError, match="checksum differs"):
            load_experiment(one / "e.toml")
        mine.write_bytes(backup)
    assert load_experiment(one / "e.toml").step == 4
    # A history cut short, emptied or a header only: not the saved file either.
    csv = named_files(one / "e.toml")[1]
    text = csv.read_text()
    for bad in ("", text.splitlines()[0] + "\n", text[: len(text) // 2]):
        csv.write_text(bad)
        with pytest.raises(UserError, match="checksum differs"):
            load_experiment(one / "e.toml")


def test_version_1_experiments_still_load(tmp_path, named_files, rewrite_npz):
    """The previous layout (NAME.npz and NAME.csv, no checksums) is read as before."""
    t = _trained(4)
    save_experiment(t, tmp_path / "e.toml")
    rewrite_npz(tmp_path / "e.toml", tie=False, block_step=None)
    npz, csv = named_files(tmp_path / "e.toml")
    os.replace(npz, tmp_path / "e.npz")
    os.replace(csv, tmp_path / "e.csv")
    text = (tmp_path / "e.toml").read_text().replace("version = 3", "version = 1")
    text = "\n".join(line for line in text.splitlines() if "_sha256" not in line and "batch_stream" not in line) + "\n"
    (tmp_path / "e.toml").write_text(text)
    b = load_experiment(tmp_path / "e.toml")
    assert b.step == 4 and np.array_equal(b.params["W"], t.params["W"])
    assert [e["step"] for e in b.evaluations] == [e["step"] for e in t.evaluations]
    # Saved again over it: version 3, and the version 1 files are the user's to keep.
    save_experiment(b, tmp_path / "e.toml", overwrite=True)
    assert "version = 3" in (tmp_path / "e.toml").read_text()
    assert load_experiment(tmp_path / "e.toml").step == 4


def test_a_symlinked_experiment_is_followed(tmp_path):
    (tmp_path / "real").mkdir()
    save_experiment(_trained(2), tmp_path / "real" / "e.toml")
    (tmp_path / "link.toml").symlink_to(tmp_path / "real" / "e.toml")
    save_experiment(_trained(3), tmp_path / "link.toml", overwrite=True)
    assert (tmp_path / "link.toml").is_symlink()
    assert load_experiment(tmp_path / "real" / "e.toml").step == 3
    assert load_experiment(tmp_path / "link.toml").step == 3
    assert _files(tmp_path) == ["link.toml", "real"]


@pytest.mark.parametrize("kind", ["fifo", "chardev", "dangling"])
def test_an_experiment_is_never_written_over_a_special_file(tmp_path, kind):
    p = tmp_path / "e.toml"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "chardev":
        try:
            os.mknod(p, 0o666 | 0o020000, os.makedev(1, 3))  # a null device node, in the tmp dir only
        except PermissionError:
            pytest.skip("mknod needs root")
    else:
        p.symlink_to(tmp_path / "nowhere" / "x.toml")
    before = os.lstat(p)
    with pytest.raises(UserError, match="not a regular file|leads nowhere") as info:
        save_experiment(_trained(1), p, overwrite=True)
    assert "\n" not in str(info.value)
    after = os.lstat(p)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert _files(tmp_path) == ["e.toml"]
