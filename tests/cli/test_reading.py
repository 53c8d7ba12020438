"""Reading user files never hangs, never fills memory and says exactly what is wrong:
FIFOs, devices, huge and sparse files, symlink loops, empty paths, plain text named .npz,
.npy/.npz headers claiming huge shapes, and long or binary tokens quoted short.

Every device and FIFO here is made in a tmp dir (os.mkfifo, os.mknod), never a real
/dev node; each CLI call runs in a subprocess with a timeout, so a hang fails the test."""

import io
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.data import MAX_DATA_BYTES, load_points
from smtui.core.errors import UserError
from smtui.core.experiment import load_config, load_experiment, save_experiment
from smtui.core.reading import read_npz, read_text
from smtui.core.text import QUOTE_LIMIT, quoted, visible
from smtui.core.trainer import Trainer

SMALL = ["--n-train", "20", "--hidden", "4", "--batch", "8"]


def smtui(*args, cwd=None, timeout=60):
    """`python -m smtui.tui.cli.main ARGS` in a subprocess that must end within ``timeout`` seconds."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "smtui", *args], cwd=cwd, env=env, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def _one_line_refusal(r) -> str:
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def _zero_device(path: Path) -> Path:
    """A character device like /dev/zero (1, 5), made in a tmp dir; skip where not allowed."""
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


def _small_experiment(folder: Path, name: str = "e.toml", **changes) -> Path:
    t = Trainer(Config(n_train=24, hidden=4, batch=8, eval_every=2, **changes))
    t.train(3)
    return save_experiment(t, folder / name)


# --- cause 2: reading never hangs -------------------------------------------------------------


def test_data_fifo_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "fifo.csv")
    err = _one_line_refusal(smtui("run", "--data", "fifo.csv", "--steps", "0", cwd=tmp_path, timeout=30))
    assert "FIFO" in err and "not a regular file" in err


def test_app_refuses_a_fifo_data_file_before_starting(tmp_path):
    """The app's trainer would sit on "starting the trainer…": the CLI refuses it first."""
    os.mkfifo(tmp_path / "fifo.csv")
    err = _one_line_refusal(smtui("--data", "fifo.csv", cwd=tmp_path, timeout=30))
    assert "FIFO" in err


def test_toml_data_path_fifo_and_fifo_experiment_files_are_refused(tmp_path, named_files):
    os.mkfifo(tmp_path / "fifo.csv")
    np.savetxt(tmp_path / "pts.csv", np.random.default_rng(0).normal(size=(30, 2)), delimiter=",")
    exp = _small_experiment(tmp_path, data_path=str(tmp_path / "pts.csv"))
    (tmp_path / "c.toml").write_text(exp.read_text().replace('data_path = "pts.csv"', 'data_path = "fifo.csv"'))
    err = _one_line_refusal(smtui("run", "--config", "c.toml", "--steps", "0", cwd=tmp_path, timeout=30))
    assert "FIFO" in err
    for suffix in (".npz", ".csv", ".toml"):
        d = tmp_path / suffix[1:]
        d.mkdir()
        exp = _small_experiment(d)
        target = {".npz": named_files(exp)[0], ".csv": named_files(exp)[1], ".toml": exp}[suffix]
        target.unlink()
        os.mkfifo(target)
        err = _one_line_refusal(smtui("run", "--load", "e.toml", "--steps", "0", cwd=d, timeout=30))
        assert "FIFO" in err, suffix


def test_a_fifo_swapped_in_after_the_check_is_not_waited_on(tmp_path, monkeypatch):
    """open_regular checks the open descriptor too: a race cannot make it block."""
    os.mkfifo(tmp_path / "f.csv")
    import smtui.core.reading as reading

    monkeypatch.setattr(reading, "check_regular", lambda path, what: Path(path))
    with pytest.raises(UserError, match="FIFO"):
        read_text(tmp_path / "f.csv", "data file", 100)


# --- cause 3: no whole-file reads that fill memory ----------------------------------------------


def test_device_and_sparse_data_are_refused_from_type_and_size(tmp_path):
    _zero_device(tmp_path / "zero.csv")
    err = _one_line_refusal(smtui("run", "--data", "zero.csv", "--steps", "0", cwd=tmp_path, timeout=30))
    assert "character device" in err
    with open(tmp_path / "sparse.csv", "wb") as fh:  # 2 GB of nothing, taking no disk
        fh.truncate(2 * 2**30)
    err = _one_line_refusal(smtui("run", "--data", "sparse.csv", "--steps", "0", cwd=tmp_path, timeout=30))
    assert "2,048.0 MiB" in err and f"{MAX_DATA_BYTES // 2**20:.1f} MiB" in err and "memory" not in err


def test_binary_data_within_the_cap_is_called_binary_with_a_short_quote(tmp_path):
    with open(tmp_path / "sparse.csv", "wb") as fh:
        fh.truncate(5 * 2**20)
    with pytest.raises(UserError, match="binary, not CSV") as info:
        load_points(tmp_path / "sparse.csv")
    assert len(str(info.value)) < 200


def _npy_header_claiming(shape, dtype="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_npy_and_npz_headers_claiming_huge_shapes_are_refused_unread(tmp_path, named_files, retie):
    (tmp_path / "big.npy").write_bytes(_npy_header_claiming((10**9, 2)) + b"\0" * 64)
    with pytest.raises(UserError, match=r"claims shape \(1000000000, 2\)"):
        load_points(tmp_path / "big.npy")
    exp = _small_experiment(tmp_path)
    with zipfile.ZipFile(named_files(exp)[0], "a") as z:  # a member whose header claims 16 GB
        z.writestr("huge.npy", _npy_header_claiming((10**9, 2)) + b"\0" * 64)
    retie(exp)  # the checksum would refuse it first; this tests the header check behind it
    with pytest.raises(UserError, match=r"array 'huge' claims shape \(1000000000, 2\)"):
        load_experiment(exp)


def test_a_deflated_member_claiming_more_than_the_cap_is_refused_from_its_header(tmp_path):
    """A zip bomb: 1 GB of zeros deflates to ~1 MB; the header alone refuses it."""
    header = _npy_header_claiming((2**27,))  # 1 GiB of float64
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("W.npy", "w", force_zip64=True) as m:
            m.write(header)
            m.write(b"\0" * 2**20)  # the rest is never written: it would never be read anyway
    with pytest.raises(UserError, match="claims shape"):
        read_npz(tmp_path / "bomb.npz", "experiment state", 64 * 2**20)


# --- cause 4: quoted input is cut short -------------------------------------------------------


def test_a_huge_bad_token_is_quoted_short(tmp_path):
    (tmp_path / "tok.csv").write_text("1,2\n3," + "9x" * 5_000_000 + "\n")
    r = smtui("run", "--data", "tok.csv", "--steps", "0", cwd=tmp_path, timeout=60)
    err = _one_line_refusal(r)
    assert len(err) < 300 and "…" in err
    r = smtui("run", "--sigma", "x" * 100_000, "--steps", "0", cwd=tmp_path)
    assert len(_one_line_refusal(r)) < 300


def test_quoted_cuts_and_escapes():
    assert quoted("abc") == "'abc'"
    long = quoted("y" * 10_000)
    assert long.endswith("…") and len(long) == QUOTE_LIMIT + 3
    assert quoted("/a/" + "d" * 200 + "/file.csv", 20, tail=True).endswith("file.csv'")
    assert "\x1b" not in quoted("\x1b]0;pwned\x07") and "\\x1b" in quoted("\x1b]0;pwned\x07")
    assert visible("a\nb\x1b[31m\u202ec") == "a\\nb\\x1b[31m\\u202ec"
    assert visible("σ ψ – ok") == "σ ψ – ok"


# --- cause 6: wording ---------------------------------------------------------------------------


def test_plain_text_npz_is_not_called_pickled(tmp_path, named_files, retie):
    exp = _small_experiment(tmp_path)
    named_files(exp)[0].write_text("just some text\n")
    retie(exp)
    with pytest.raises(UserError) as info:
        load_experiment(exp)
    assert "not an .npz" in str(info.value) and "pickle" not in str(info.value)


def test_empty_path_and_symlink_loop_are_named_as_such(tmp_path):
    err = _one_line_refusal(smtui("run", "--data", "", "--steps", "0", cwd=tmp_path))
    assert "empty path" in err and "directory" not in err
    for flag in ("--load", "--config"):  # were silently ignored (a fresh default run)
        assert "empty path" in _one_line_refusal(smtui("run", flag, "", "--steps", "0", cwd=tmp_path))
    os.symlink("loop2.csv", tmp_path / "loop1.csv")
    os.symlink("loop1.csv", tmp_path / "loop2.csv")
    with pytest.raises(UserError, match="symlink loop"):
        load_points(tmp_path / "loop1.csv")
    os.symlink("loopb.toml", tmp_path / "loopa.toml")
    os.symlink("loopa.toml", tmp_path / "loopb.toml")
    with pytest.raises(UserError, match="symlink loop"):
        load_config(tmp_path / "loopa.toml")
    from smtui.core.outputs import target

    for refuse in (lambda: load_points("a\0b.csv"), lambda: load_experiment("a\0b.toml"),
                   lambda: target("a\0b.csv", "CSV")):
        with pytest.raises(UserError, match="NUL character"):
            refuse()
    os.symlink("nowhere.csv", tmp_path / "dangling.csv")
    with pytest.raises(UserError, match="broken symlink"):
        load_points(tmp_path / "dangling.csv")


def test_data_shape_is_capped_before_training(tmp_path):
    """d is bounded too: the evaluation holds ~10^5 points of d coordinates at once."""
    np.savetxt(tmp_path / "wide.csv", np.ones((2, 300)), delimiter=",")
    with pytest.raises(UserError, match="300 columns; smtui works with at most 256 dimensions"):
        load_points(tmp_path / "wide.csv")
    assert load_points(_write(tmp_path / "ok.csv", np.ones((3, 256)))).shape == (3, 256)


def _write(path: Path, a: np.ndarray) -> Path:
    np.savetxt(path, a, delimiter=",")
    return path


def test_a_damaged_npz_member_is_caught_by_its_crc_and_trailing_data_refused(tmp_path):
    a = np.arange(64, dtype=np.float64)
    np.savez(tmp_path / "ok.npz", W=a)
    assert np.array_equal(read_npz(tmp_path / "ok.npz", "state", 2**20)["W"], a)
    raw = bytearray((tmp_path / "ok.npz").read_bytes())
    at = raw.index(a[40:41].tobytes())  # a byte inside W's data (stored, not deflated)
    raw[at] ^= 0xFF
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    with pytest.raises(UserError, match="damaged"):
        read_npz(tmp_path / "bad.npz", "state", 2**20)
    (tmp_path / "long.npy").write_bytes(_npy_header_claiming((2,)) + b"\0" * 24)  # 16 bytes claimed, 24 there
    with pytest.raises(UserError, match="data beyond its shape"):
        load_points(tmp_path / "long.npy")


def test_a_path_is_named_as_typed_trailing_slash_included(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savetxt(tmp_path / "pts.csv", np.zeros((4, 2)), delimiter=",")
    with pytest.raises(UserError, match=r"data file '0/' does not exist"):
        load_points("0/")
    with pytest.raises(UserError, match=r"'pts.csv/' does not exist \(a folder in its path is a file\)"):
        load_points("pts.csv/")
