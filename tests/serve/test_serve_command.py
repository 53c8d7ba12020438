"""`smtui serve` as an operator runs it: the real command in its own process, `--ssh` printing
its host key's fingerprint, logging each connection and ending every session on SIGTERM, and
`--web` serving its page, an app per tab, and stopping cleanly. (The SSH server's behaviour
towards clients is tested in-process in test_serve.py.) Every wait is bounded and every
process started is ended."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import aiohttp
import asyncssh
import pytest


@pytest.fixture
def start(app_setup):
    """start(*argv, cwd=None): ``smtui serve *argv`` in its own process and session, the light
    app's setup appended, its output read line by line."""

    def start(*argv, cwd=None):
        return subprocess.Popen([sys.executable, "-m", "smtui", "serve", *argv, *app_setup],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, cwd=cwd)

    return start


async def read_line(server, pattern: str, timeout: float = 30) -> re.Match:
    lines = []
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(loop.run_in_executor(None, server.stdout.readline), deadline - time.monotonic())
        lines.append(line)
        if m := re.search(pattern, line):
            return m
        assert line, f"server ended; said {lines!r}"
    raise AssertionError(f"no {pattern!r} in {lines!r}")


def stop(server, timeout: float = 30, signal_it: bool = True) -> str:
    if signal_it and server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        out, _ = server.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        out, _ = server.communicate()
        raise AssertionError(f"server did not stop within {timeout} s: {out!r}") from None
    return out


async def test_ssh_command_prints_fingerprint_logs_connections_and_stops_every_session_on_sigterm(
        keys, screen_reader, processes, start):
    viewer, _, ak, host_key = keys
    ak.write_bytes(b"not a key\n" + ak.read_bytes())
    server = start("--ssh", "--port", "0", "--host-key", str(host_key), "--authorized-keys", str(ak))
    pgid = None
    try:
        first = await read_line(server, r".+")  # before anything else: no dependency's warnings
        assert first[0] == f"smtui serve: WARNING: {ak}: line 1 is not a public key; skipped", first[0]
        port = int((await read_line(server, r"SSH on 127\.0\.0\.1:(\d+)"))[1])
        fingerprint = (await read_line(server, r"host key (SHA256:\S+)"))[1]
        assert fingerprint == asyncssh.read_private_key(host_key).get_fingerprint()
        await read_line(server, rf"viewers: the 1 key in {re.escape(str(ak))}$")
        conn = await asyncio.wait_for(asyncssh.connect(
            "127.0.0.1", port, known_hosts=None, username="viewer", client_keys=[viewer], agent_path=None,
            config=()), 20)
        assert conn.get_server_host_key().get_fingerprint() == fingerprint
        proc = await conn.create_process(term_type="xterm", term_size=(80, 24), encoding=None)
        screen = screen_reader(proc)
        await screen.wait_for("paused")
        apps = processes.children(server.pid)
        assert len(apps) == 1
        pgid = apps[0]
        assert len(processes.group(pgid)) >= 2  # the app and its trainer, in their own group
        server.send_signal(signal.SIGTERM)
        out = await screen.rest()
        assert "the demo server is shutting down" in out and proc.exit_status == 1
        conn.close()
        log = await asyncio.get_running_loop().run_in_executor(None, stop, server, 30, False)
        assert server.returncode == 0, log
        assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  127\.0\.0\.1:\d+  " + re.escape(viewer.get_fingerprint())
                         + r"  \d+\.\d s  server shut down$", log, re.M), log
        assert not processes.group(pgid)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
        for pid in processes.group(pgid) if pgid else ():
            os.kill(pid, signal.SIGKILL)


async def test_web_serves_its_page_runs_an_app_per_tab_and_stops_cleanly(app_wait, processes, start):
    server = start("--web", "--port", "0")
    apps: set[int] = set()
    try:
        url = (await read_line(server, r"web on (http://127\.0\.0\.1:\d+)"))[1]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            deadline = time.monotonic() + 30
            while True:  # the address is printed as the server starts listening
                try:
                    async with http.get(url) as page:
                        assert page.status == 200
                        html = await page.text()
                    break
                except aiohttp.ClientConnectorError:
                    assert time.monotonic() < deadline, "the page was never served"
                    await asyncio.sleep(0.1)
            assert "textual.js" in html and "googleapis" not in html
            async with http.ws_connect(url.replace("http", "ws") + "/ws?width=100&height=30") as ws:
                seen = b""
                deadline = time.monotonic() + app_wait
                while b"paused" not in seen:  # the app's status line, drawn in this tab
                    assert time.monotonic() < deadline, "the app never drew its status line"
                    try:
                        msg = await asyncio.wait_for(ws.receive(), 1)
                    except TimeoutError:
                        continue
                    assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
                    seen += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                apps = set(processes.descendants(server.pid))
                assert len(apps) >= 2  # the app and its trainer
                stopping = asyncio.get_running_loop().run_in_executor(None, stop, server)
                while not ws.closed and time.monotonic() < deadline + 30:  # the tab sees the server go
                    await asyncio.wait_for(ws.receive(), 30)
                assert ws.close_code == 1001 and ws.closed
                log = await stopping
        assert server.returncode == 0 and "smtui serve: stopped" in log, log
        assert "had to be killed" not in log and "Traceback" not in log and "Error" not in log, log
        assert re.search(r"  127\.0\.0\.1  web  \d+\.\d s  server shut down$", log, re.M), log
        assert all(processes.state(pid) in ("gone", "Z") for pid in apps)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()
        for pid in apps:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


