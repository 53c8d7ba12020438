"""`smtui serve`: an asyncssh client against the SSH server on 127.0.0.1 (a free port, a temporary
host key and authorized-keys file): the app on a pty, keys and window changes reaching it, `q`
closing the channel, every process of a session gone when the viewer leaves, the refusals, the
limits, and the flags. The real commands, as an operator runs them: test_serve_command.py.
Every wait is bounded and every process started is ended."""

from __future__ import annotations

import asyncio
import os
import re
import stat

import asyncssh
import pytest

from smtui.core.errors import UserError
from smtui.tui.cli.main import main
from smtui.tui.serve.bounds import MAX_PENDING_KEYS
from smtui.tui.serve.ssh_keys import junk_text, load_authorized_keys, load_host_key


# ----- the app on a pty
async def test_session_shows_the_app_takes_keys_and_window_changes_and_q_closes_the_channel(
        keys, served, processes, until):
    async with served(keys) as s:
        conn, proc, screen, pgid = await s.app_session(size=(100, 30))
        await screen.wait_for("❚❚ paused — space trains")  # the status line
        proc.stdin.write(b" ")
        await screen.wait_for("training — space pauses")  # the key press took effect
        proc.change_terminal_size(60, 18)
        await screen.wait_for("terminal too small: need 70x20, have 60x18")  # the window change reached it
        proc.change_terminal_size(100, 30)
        proc.stdin.write(b" ")  # pause
        await screen.wait_for("paused")
        proc.stdin.write(b"q")  # a demo session saves nothing (smtui --no-files), so q does not ask
        await screen.rest()
        assert proc.exit_status == 0
        await until(lambda: not processes.group(pgid), 10, "the app's process group to end")
        assert not s.demo.sessions


async def test_viewer_leaving_ends_every_process_of_the_session(keys, served, processes, until):
    async with served(keys) as s:
        sent = {"NO_COLOR": "1", "LD_PRELOAD": "/nowhere/evil.so", "PYTHONSTARTUP": "/nowhere/evil.py"}
        conn, proc, screen, pgid = await s.app_session(env=sent)
        await screen.wait_for("paused")
        with open(f"/proc/{pgid}/environ", "rb") as f:
            env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        # the viewer's TERM and NO_COLOR reach the app; nothing that could run their code does
        assert env[b"TERM"] == b"xterm-256color" and env[b"NO_COLOR"] == b"1"
        assert b"LD_PRELOAD" not in env and b"PYTHONSTARTUP" not in env
        members = processes.group(pgid)
        assert pgid in members and len(members) >= 2, members  # the app and its trainer
        conn.close()
        await until(lambda: not processes.group(pgid), 15, "the app and its trainer to end")
        assert all(processes.state(pid) in ("gone", "Z") for pid in members)
        await until(lambda: not s.demo.sessions, 5, "the session to be dropped")


async def test_a_key_flood_is_held_to_a_bound_and_said_once(keys, capsys, app_wait, served, processes, rss_mb, until,
                                                            settled_rss_mb):
    async with served(keys) as s:
        conn, proc, screen, pgid = await s.app_session()
        await screen.wait_for("paused")
        shown = asyncio.create_task(screen.rest(timeout=app_wait))  # keep reading what the app draws
        before = peak = await settled_rss_mb(lambda: processes.group(pgid))  # (start-up growth is not the flood's)
        for i in range(1024):  # 1 MB of keys, as fast as the connection takes them
            proc.stdin.write(b"x" * 1024)
            await proc.stdin.drain()
            if i % 32 == 0:
                peak = max(peak, rss_mb(processes.group(pgid)))
        for _ in range(20):
            await asyncio.sleep(0.1)
            peak = max(peak, rss_mb(processes.group(pgid)))
        app = next(iter(s.demo.sessions)).app
        assert app.keys.dropped > 0 and len(app._pending) <= MAX_PENDING_KEYS
        assert peak - before < 12, (before, peak)  # MB, the app and its trainer (unbounded: ~2.5 GB)
        conn.close()
        await until(lambda: not processes.group(pgid) and not s.demo.connections, 15, "the session to end")
        shown.cancel()
    log = capsys.readouterr().out
    assert log.count("keys arrive faster than the app takes them") == 1
    assert re.search(r"client left \(\d+ KiB of keys dropped\)$", log, re.M), log


async def test_idle_timeout_ends_the_session_and_says_why(keys, app_wait, served, processes, until):
    async with served(keys, "--authorized-keys", str(keys[2]), "--idle-timeout", "1.5") as s:
        conn, proc, screen, pgid = await s.app_session()
        out = await screen.rest(timeout=app_wait)
        assert "idle for 1.5 s (no key pressed, nothing training); session ended" in out
        assert proc.exit_status == 1
        await until(lambda: not processes.group(pgid), 10, "the app's process group to end")


async def test_the_next_client_beyond_max_sessions_is_told_it_is_full(keys, served):
    async with served(keys, "--authorized-keys", str(keys[2]), "--max-sessions", "1") as s:
        await s.app_session()
        conn = await s.connect()
        second = await conn.create_process(term_type="xterm", term_size=(80, 24), encoding=None)
        err = await asyncio.wait_for(second.stderr.read(), 20)
        await asyncio.wait_for(second.wait_closed(), 20)
        assert err.decode().strip() == "smtui serve: full (1 session), try later"
        assert second.exit_status == 1 and len(s.demo.sessions) == 1


async def test_open_lets_a_client_in_without_any_key(keys, served):
    async with served(keys, "--open") as s:
        conn = await s.connect(client_keys=None)
        _, proc, screen, pgid = await s.app_session(conn=conn)
        await screen.wait_for("paused")


# ----- refusals (no app is ever started for these)
async def test_unlisted_key_is_refused(keys, served):
    async with served(keys) as s:
        with pytest.raises(asyncssh.PermissionDenied):
            await s.connect(client_keys=[keys[1]])


async def test_password_and_keyboard_interactive_auth_are_refused(keys, served):
    async with served(keys) as s:
        for method in ("password", "keyboard-interactive"):
            with pytest.raises(asyncssh.PermissionDenied):
                await s.connect(client_keys=None, password="anything", preferred_auth=method)


async def test_exec_and_a_shell_without_terminal_are_refused_in_one_line(keys, served):
    async with served(keys) as s:
        conn = await s.connect()
        for command, line in (("ls /", "this server only runs the smtui app; connect without a command: "
                                       f"ssh -p {s.demo.port} 127.0.0.1"),
                              (None, "the app needs a terminal; connect with ssh -t")):
            result = await asyncio.wait_for(conn.run(command, encoding=None), 20)
            assert result.stderr.decode() == f"smtui serve: {line}\n" and result.exit_status == 1
            assert result.stdout == b""
        assert not s.demo.sessions and not s.demo.starting


async def test_sftp_scp_and_forwarding_are_refused(keys, tmp_path, served):
    async with served(keys) as s:
        conn = await s.connect()
        with pytest.raises(asyncssh.ChannelOpenError):  # "Session request failed"
            await asyncio.wait_for(conn.start_sftp_client(), 20)
        scp = await asyncio.wait_for(conn.run("scp -t /tmp", encoding=None), 20)
        assert scp.exit_status == 1 and b"only runs the smtui app" in scp.stderr
        with pytest.raises(asyncssh.ChannelOpenError):
            await asyncio.wait_for(conn.open_connection("127.0.0.1", s.demo.port), 20)
        with pytest.raises(asyncssh.ChannelListenError):
            await asyncio.wait_for(conn.start_server(lambda *a: None, "127.0.0.1", 0), 20)
        assert not s.demo.sessions


async def test_a_connection_that_opens_no_session_is_closed(keys, served, until):
    async with served(keys) as s:
        s.demo.sessionless_grace = 0.5
        conn = await s.connect()
        await asyncio.wait_for(conn.wait_closed(), 20)  # as `ssh -N` would hold it open otherwise
        await until(lambda: not s.demo.connections, 5, "the server to drop the connection")


async def test_connections_beyond_the_cap_are_closed_at_once(keys, served):
    async with served(keys) as s:
        s.demo.max_connections = 2  # (default: 4 per session allowed, plus 16)
        await s.connect()
        await s.connect()
        with pytest.raises((asyncssh.Error, OSError)):
            await s.connect()
        assert len(s.demo.connections) == 2


# ----- keys and flags, checked before listening
def test_host_key_is_made_once_private_and_then_reused(tmp_path):
    path = tmp_path / "conf" / "host_key"
    key, where, made = load_host_key(str(path))
    assert made and where == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key.algorithm == b"ssh-ed25519"
    again, _, made_again = load_host_key(str(path))
    assert not made_again and again.get_fingerprint() == key.get_fingerprint()


def run_main(capsys, *argv):
    try:
        code = main(["serve", *argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, message", [
    (["--ssh", "--sigma", "-1"], "sigma"),
    (["--ssh", "--distribution", "nope"], "nope"),
    (["--ssh", "--port", "70000"], "--port must be 0 to 65535"),
    (["--ssh", "--max-sessions", "0"], "--max-sessions must be at least 1"),
    (["--ssh", "--idle-timeout", "nan"], "--idle-timeout must be"),
    (["--web", "--max-sessions", "0"], "--max-sessions must be at least 1"),
    (["--web", "--idle-timeout", "-1"], "--idle-timeout must be"),
    (["--ssh", "--allow-origin", "https://demo.example.org"], "--allow-origin applies to --web only"),
    (["--web", "--allow-origin", "demo.example.org"], "--allow-origin must be an origin like"),
    (["--web", "--allow-origin", "https://demo.example.org/path"], "--allow-origin must be an origin like"),
    (["--web", "--data", "/dev/zero"], "is a character device"),
    (["--ssh", "--data", "/nowhere/data.csv"], "does not exist"),
    (["--web", "--open"], "--open applies to --ssh only"),
    (["--ssh", "--web"], "not allowed with"),
    ([], "one of the arguments --ssh --web is required"),
    (["--ssh", "--open", "--authorized-keys", "x"], "not allowed with"),
])
def test_bad_flags_are_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("mode", ["--ssh", "--web"])
def test_a_port_in_use_is_one_line_and_exit_2(capsys, tmp_path, mode):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        extra = ["--open", "--host-key", str(tmp_path / "hk")] if mode == "--ssh" else []
        code, out, err = run_main(capsys, mode, "--port", str(port), *extra)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and len(err.splitlines()) == 1, err


def test_missing_authorized_keys_and_an_open_host_key_are_refused(capsys, tmp_path):
    code, _, err = run_main(capsys, "--ssh", "--host-key", str(tmp_path / "hk"),
                            "--authorized-keys", str(tmp_path / "none"))
    assert code == 2 and "no authorized keys at" in err and "--open" in err and len(err.splitlines()) == 1
    hk = tmp_path / "hk"  # made by the run above, before the keys were found missing
    hk.chmod(0o644)
    code, _, err = run_main(capsys, "--ssh", "--host-key", str(hk), "--open")
    assert code == 2 and "can be read by others (mode 644)" in err and len(err.splitlines()) == 1
    code, _, err = run_main(capsys, "--ssh", "--host-key", str(tmp_path), "--open")
    assert code == 2 and "is not a regular file" in err


def test_a_bad_data_file_exits_2_before_the_server_listens(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\nthree,4\n")
    for mode in (["--web"], ["--ssh", "--open", "--host-key", str(tmp_path / "hk")]):
        code, out, err = run_main(capsys, *mode, "--port", "0", "--data", str(bad))
        assert code == 2 and len(err.strip().splitlines()) == 1 and "bad.csv" in err, err
        assert out == ""  # no "web on ..." / "SSH on ...": it never listened


def test_authorized_keys_are_read_as_every_input_is(tmp_path, keys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big"
    big.write_bytes(b"#" * ((1 << 20) + 1))
    for path, why in ((fifo, "is a FIFO (named pipe), not a regular file"), ("/dev/zero", "is a character device"),
                      (big, "the most smtui reads is 1.0 MiB"), (tmp_path, "is a directory")):
        with pytest.raises(UserError, match=re.escape(why)):
            load_authorized_keys(str(path))
    key = keys[0].export_public_key().decode().strip()
    listed = tmp_path / "listed"
    listed.write_text(f"junk\n# a comment\n\n{key}\nssh-ed25519 AAAAnotbase64\nfrom=\"10.0.0.1\" {key}\n")
    authorized, _, count, junk = load_authorized_keys(str(listed))
    assert count == 2 and junk == [1, 5]
    assert junk_text(junk) == "lines 1, 5 are not public keys" and junk_text([3]) == "line 3 is not a public key"
    listed.write_text("junk\n\nmore junk\n")
    with pytest.raises(UserError, match=r"lists no public keys \(lines 1, 3 are not public keys\)"):
        load_authorized_keys(str(listed))
