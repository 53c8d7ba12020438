"""core/outputs.py, the one writer: its rules (empty path, -, devices and FIFOs, links,
clashes, inputs by inode, an existing file) and its one way to write (atomic for regular
files; straight into a FIFO, with bounded waits so that a write never hangs), one line per
failure with the other outputs still written.

FIFOs and devices are made in tmp dirs only, never real /dev nodes."""

import errno
import os
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from smtui.core import outputs
from smtui.core.errors import UserError
from smtui.core.outputs import Input, Output, Request, check, plan, write, write_each


def _reader(fifo: Path, got: list, opened: threading.Event | None = None, read: bool = True,
            release: threading.Event | None = None) -> threading.Thread:
    """A thread that opens ``fifo`` for reading, then reads it all (or holds it unread
    until ``release`` is set)."""

    def run():
        fd = os.open(fifo, os.O_RDONLY)  # blocks until a writer opens it too, or returns at once if one waits
        if opened is not None:
            opened.set()
        try:
            if read:
                chunks = []
                while chunk := os.read(fd, 65536):
                    chunks.append(chunk)
                got.append(b"".join(chunks))
            else:
                release.wait(60)
        finally:
            os.close(fd)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


# --- the rules -----------------------------------------------------------------------------


def test_an_empty_path_is_refused_and_dash_is_stdout_only_where_allowed(tmp_path):
    with pytest.raises(UserError, match="--csv: empty path"):
        plan([Request("--csv", "")], [])
    with pytest.raises(UserError, match=r"or - for stdout"):
        plan([Request("--json", "", stdout=True)], [])
    assert plan([Request("--json", "-", stdout=True)], [])[0].path is None
    with pytest.raises(UserError, match="only --json takes - for stdout"):
        plan([Request("--json", "-", stdout=True), Request("--csv", "-")], [])
    with pytest.raises(UserError, match="- is not stdout here"):
        check(Request("screenshot", "-"))
    assert check(Request("--csv", "./-")).path == Path("-")  # a file named -, asked for plainly


def test_an_output_that_is_an_input_is_refused_by_inode_whatever_the_path(tmp_path):
    data = tmp_path / "pts.csv"
    data.write_text("1,2\n")
    os.link(data, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(data)
    (tmp_path / "sub").mkdir()
    inputs = [Input("the data file", data)]
    for path in ("hard.csv", "soft.csv", "sub/../pts.csv", "pts.csv"):
        with pytest.raises(UserError, match="is the data file; an output never replaces an input"):
            plan([Request("--csv", str(tmp_path / path))], inputs, force=True)
    # A copy is another file: it may be written.
    (tmp_path / "copy.csv").write_text("1,2\n")
    assert plan([Request("--csv", str(tmp_path / "copy.csv"))], inputs)[0].exists
    assert data.read_text() == "1,2\n"


def test_an_input_not_there_yet_is_compared_by_its_resolved_path(tmp_path):
    (tmp_path / "sub").mkdir()
    inputs = [Input("the experiment given with --load", tmp_path / "E.toml")]
    with pytest.raises(UserError, match="given with --load"):
        check(Request("--json", str(tmp_path / "sub" / ".." / "E.toml")), inputs)


def test_two_outputs_never_name_one_file_but_a_character_device_takes_any(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(UserError, match="--json and --csv name the same file"):
        plan([Request("--json", str(tmp_path / "x")), Request("--csv", str(tmp_path / "sub" / ".." / "x"))], [])
    os.mkfifo(tmp_path / "f")
    with pytest.raises(UserError, match="name the same file"):
        plan([Request("--json", str(tmp_path / "f")), Request("--csv", str(tmp_path / "f"))], [])
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")
    assert [o.path for o in plan([Request("--json", str(null)), Request("--csv", str(null))], [])] == [null, null]


def test_an_existing_file_is_replaced_only_by_an_output_that_replaces_or_with_force(tmp_path):
    old = tmp_path / "E.toml"
    old.write_text("keep")
    with pytest.raises(UserError, match="already exists; choose another name or add --force to overwrite it"):
        check(Request("--save", str(old), replaces=False))
    with pytest.raises(UserError, match="or allow overwriting it"):
        check(Request("screenshot", str(old), replaces=False), force_hint="allow overwriting it")
    assert check(Request("--save", str(old), replaces=False), force=True).exists
    assert check(Request("--json", str(old))).exists  # --json replaces by nature
    assert old.read_text() == "keep"


def test_special_files_links_and_folders(tmp_path):
    os.mkfifo(tmp_path / "e.toml")
    with pytest.raises(UserError, match="FIFO .* not a regular file"):
        check(Request("experiment", str(tmp_path / "e.toml"), regular_only=True))
    assert check(Request("--json", str(tmp_path / "e.toml"))).path == tmp_path / "e.toml"  # written straight
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    with pytest.raises(UserError, match="leads nowhere"):
        check(Request("--csv", str(tmp_path / "dangling")))
    with pytest.raises(UserError, match="is a directory"):
        check(Request("--csv", str(tmp_path)))
    with pytest.raises(UserError, match="does not exist"):
        check(Request("--csv", str(tmp_path / "no" / "x.csv")))


# --- writing -------------------------------------------------------------------------------


def test_a_regular_file_is_replaced_whole_and_a_failed_write_leaves_the_old_one(tmp_path, monkeypatch):
    p = tmp_path / "r.json"
    p.write_text("old")
    os.chmod(p, 0o640)
    write(check(Request("--json", str(p))), "new")
    assert p.read_text() == "new" and stat.S_IMODE(os.stat(p).st_mode) == 0o640

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write(check(Request("--json", str(p))), "newer")
    assert p.read_text() == "new" and os.listdir(tmp_path) == ["r.json"]


def test_a_fifo_gets_a_bounded_wait_for_its_reader(tmp_path, monkeypatch):
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    monkeypatch.setattr(outputs, "FIFO_WAIT", 0.05)
    with pytest.raises(OSError, match="FIFO with no reader") as info:
        write(check(Request("--json", str(fifo))), "x")
    assert info.value.errno == errno.ENXIO and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # A reader that comes while the writer waits (started when the writer first waits) gets everything.
    monkeypatch.setattr(outputs, "FIFO_WAIT", 60.0)
    got: list[bytes] = []
    readers: list[threading.Thread] = []

    def sleep(seconds):
        if not readers:
            readers.append(_reader(fifo, got))
        time.sleep(seconds)

    monkeypatch.setattr(outputs, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    data = os.urandom(300_000)  # more than a pipe holds: the writer waits for the reader to read
    write(check(Request("--json", str(fifo))), data)
    readers[0].join(30)
    assert got == [data] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_reader_that_stops_reading_cannot_hang_the_writer(tmp_path, monkeypatch):
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    monkeypatch.setattr(outputs, "FIFO_WAIT", 60.0)
    monkeypatch.setattr(outputs, "STALL_WAIT", 0.1)
    opened, release = threading.Event(), threading.Event()
    th = _reader(fifo, [], opened, read=False, release=release)
    try:
        with pytest.raises(OSError, match="took nothing") as info:
            write(check(Request("--json", str(fifo))), b"x" * 2_000_000)  # far more than a pipe holds
        assert info.value.errno == errno.ETIMEDOUT and opened.is_set()
    finally:
        release.set()
        th.join(30)


def test_write_each_gives_one_line_per_failure_and_writes_the_rest(tmp_path, monkeypatch):
    fifo = tmp_path / "f.json"
    os.mkfifo(fifo)
    monkeypatch.setattr(outputs, "FIFO_WAIT", 0.05)
    planned = plan([Request("--json", str(fifo)), Request("--csv", str(tmp_path / "h.csv")),
                    Request("--save-params", str(tmp_path / "p.npz"))], [])

    def one(out: Output) -> None:
        if out.flag == "--save-params":
            raise UserError("cannot save: the disk said no")
        write(out, "a,b\n")

    written: list[Output] = []
    failures = write_each(planned, one, written)
    assert failures == [f"--json {outputs.name(str(fifo))} not written: it is a FIFO with no reader (waited 0.05 s); "
                        "nothing written", "--save-params: cannot save: the disk said no"]
    assert [o.flag for o in written] == ["--csv"] and (tmp_path / "h.csv").read_text() == "a,b\n"


def test_stdout_is_written_and_a_closed_stdout_is_an_oserror(capsys, monkeypatch):
    out = check(Request("--json", "-", stdout=True))
    write(out, "{}\n")
    assert capsys.readouterr().out == "{}\n"

    class Closed:
        def write(self, text):
            raise ValueError("I/O operation on closed file")

    monkeypatch.setattr("sys.stdout", Closed())
    assert write_each([out], lambda o: write(o, "{}")) == ["--json '-' not written: stdout is closed"]
