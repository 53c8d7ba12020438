"""The serve tests' harness: SSH keys, an in-process SSH or web demo server with its clients
(every process a session started ended at the end, even when a test failed), a presenting
server with the test's pty as the operator's terminal, and what a session draws read as plain
text. Every wait is bounded."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import signal
import struct
import termios
import time

import aiohttp
import asyncssh
import pytest

from smtui.tui.serve import command
from smtui.tui.serve.command import app_command, build_serve_parser, check_args
from smtui.tui.serve.mirror import Mirror
from smtui.tui.serve.present import present_ssh, present_web
from smtui.tui.serve.ssh import Demo
from smtui.tui.serve.ssh_keys import load_authorized_keys, load_host_key
from smtui.tui.serve.stage import Console
from smtui.tui.serve.web import Web, listen

SETUP = ["--n-train", "128", "--hidden", "16"]  # a light app: quicker to start on a busy CI machine
ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78])")
APP_WAIT = 60.0  # seconds an app may take to draw its first screen on 2 loaded cores


def _screen_text(raw: bytes) -> str:
    return ANSI.sub(b"", raw).decode("utf-8", "replace")


async def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)
    return result


class Served:
    """An in-process SSH demo server and the clients of one test, all ended at the end."""

    def __init__(self, processes, keys, *flags):
        viewer, _, ak, host_key = keys
        args = build_serve_parser().parse_args(
            ["--ssh", "--port", "0", "--host-key", str(host_key), *(flags or ["--authorized-keys", str(ak)]), *SETUP])
        check_args(args)
        authorized = None if args.open else load_authorized_keys(args.authorized_keys)[0]
        self.demo = Demo(args, app_command(args), load_host_key(args.host_key)[0], authorized)
        self.viewer, self.conns, self.pgids = viewer, [], []
        self.processes = processes

    async def __aenter__(self):
        await self.demo.start()
        return self

    async def __aexit__(self, *exc):
        for c in self.conns:
            c.close()
        await asyncio.wait_for(self.demo.shutdown(grace=5), 30)
        for pgid in self.pgids:  # never leave a process behind, even when a test failed
            for pid in self.processes.group(pgid):
                os.kill(pid, signal.SIGKILL)

    async def connect(self, **kw):
        opts = dict(known_hosts=None, username="viewer", client_keys=[self.viewer], agent_path=None, config=())
        conn = await asyncio.wait_for(asyncssh.connect("127.0.0.1", self.demo.port, **{**opts, **kw}), 20)
        self.conns.append(conn)
        return conn

    async def app_session(self, size=(100, 30), conn=None, env=None):
        conn = conn or await self.connect()
        proc = await conn.create_process(term_type="xterm-256color", term_size=size, encoding=None, env=env or {})
        session = await _until(lambda: next((s for s in self.demo.sessions if s.app and s.app.pid), None), 20,
                              "the app process")
        self.pgids.append(session.app.pid)
        return conn, proc, Screen(proc), session.app.pid


class Screen:
    """What the app draws on one channel, searched as plain text: each wait looks only at what
    came after the text the previous wait found."""

    def __init__(self, proc):
        self.proc, self.raw, self.seen = proc, b"", 0

    async def wait_for(self, text: str, timeout: float = APP_WAIT) -> None:
        deadline = time.monotonic() + timeout
        while text not in _screen_text(self.raw[self.seen:]):
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared; last output: {_screen_text(self.raw[-400:])!r}"
            try:
                chunk = await asyncio.wait_for(self.proc.stdout.read(65536), min(left, 1.0))
            except TimeoutError:
                continue
            assert chunk, f"channel closed before {text!r} appeared"
            self.raw += chunk
        self.seen = len(self.raw)

    async def rest(self, timeout: float = 20) -> str:
        """Everything until the channel closes."""
        out = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        await asyncio.wait_for(self.proc.wait_closed(), timeout)
        return _screen_text(self.raw + out)


def _rss_mb(pids) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            pass
    return total / 1024


async def _settled_rss_mb(pids, spread: float = 1.0, readings: int = 4, timeout: float = 20.0) -> float:
    """The resident memory of ``pids()``, in MB, once it has stopped growing: ``readings``
    readings 0.2 s apart within ``spread`` MB (a session that has just drawn its first screen
    may still be loading: on a loaded machine its start-up growth went on into a test's
    measurement). Bounded: after ``timeout`` seconds, the last reading."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        seen = [*seen[-(readings - 1):], _rss_mb(pids())]
        if (len(seen) == readings and max(seen) - min(seen) < spread) or time.monotonic() > deadline:
            return seen[-1]
        await asyncio.sleep(0.2)


CLOSING = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


class WebServed:
    """An in-process web demo server and the clients of one test, all ended at the end."""

    def __init__(self, processes, *flags):
        self.processes = processes
        args = build_serve_parser().parse_args(["--web", "--port", "0", *flags, *SETUP])
        check_args(args)
        self.sock = listen("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = Web(args, app_command(args), self.port)

    async def __aenter__(self):
        await self.server.start(self.sock)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc):
        await self.http.close()
        await asyncio.wait_for(self.server.stop(), 30)
        for pgid in self.server.pgids:  # never leave a process behind, even when a test failed
            for pid in self.processes.group(pgid):
                os.kill(pid, signal.SIGKILL)

    async def tab(self, width=100, height=30, headers=None):
        ws = await self.http.ws_connect(f"{self.url.replace('http', 'ws')}/ws?width={width}&height={height}",
                                        headers=headers or {}, max_msg_size=0)
        return Tab(ws)

    def pgid(self) -> int:
        return next(iter(self.server.pgids))


class Tab:
    """What the app draws in one tab, searched as plain text (each wait looks only after the last find)."""

    def __init__(self, ws):
        self.ws, self.raw, self.seen = ws, b"", 0

    async def wait_for(self, text: str, timeout: float = APP_WAIT) -> None:
        deadline = time.monotonic() + timeout
        while text not in _screen_text(self.raw[self.seen:]):
            assert time.monotonic() < deadline, f"{text!r} never appeared: {_screen_text(self.raw[-400:])!r}"
            try:
                msg = await asyncio.wait_for(self.ws.receive(), 1)
            except TimeoutError:
                continue
            assert msg.type not in CLOSING, f"closed ({self.ws.close_code}) before {text!r} appeared"
            if msg.type is aiohttp.WSMsgType.BINARY:
                self.raw += msg.data
        self.seen = len(self.raw)

    async def send(self, *envelope) -> None:
        import json

        await self.ws.send_str(json.dumps(list(envelope)))

    async def closed(self, timeout: float = APP_WAIT) -> tuple[int, str]:
        """(close code, reason) once the server closes the tab."""
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, "the tab was never closed"
            try:
                msg = await asyncio.wait_for(self.ws.receive(), 1)
            except TimeoutError:
                continue
            if msg.type in CLOSING:
                return self.ws.close_code, msg.extra or ""
            if msg.type is aiohttp.WSMsgType.BINARY:
                self.raw += msg.data



# --- presenter mode: the operator's terminal (a pty of the test's own) and the presenting server


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Operator:
    """The presenter's terminal: a pty of the test's own. Keys are written to it; what the app
    draws there is read back, and kept as a terminal shows it (``mirror``)."""

    def __init__(self, cols: int, rows: int):
        self.master, self.slave = os.openpty()
        set_size(self.slave, cols, rows)
        self.raw, self.seen, self.mirror = b"", 0, Mirror(cols, rows)
        asyncio.get_running_loop().add_reader(self.master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            return asyncio.get_running_loop().remove_reader(self.master)
        self.raw += data
        self.mirror.feed(data)

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def resize(self, cols: int, rows: int) -> None:
        """The presenter's window changes size."""
        set_size(self.slave, cols, rows)

    async def wait_for(self, text: str, timeout: float = APP_WAIT) -> None:
        """Until ``text`` is drawn after what was last waited for."""
        await _until(lambda: text in _screen_text(self.raw[self.seen:]), timeout, f"{text!r} on the presenter's screen")
        self.seen = len(self.raw)

    async def shows(self, text: str, timeout: float = APP_WAIT) -> None:
        """Until the presenter's screen shows ``text``, drawn whenever (it may have come in the
        same burst as what was last waited for, and the app does not draw it again)."""
        await _until(lambda: any(text in row for row in self.mirror.screen.display), timeout,
                     f"{text!r} shown on the presenter's screen")

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)


class Presented:
    """An in-process presenting server (SSH or web) with the test's pty as the operator's terminal."""

    def __init__(self, monkeypatch, processes, keys=None, size=(100, 30), *flags):
        self.processes = processes
        monkeypatch.setattr(command, "has_terminal", lambda: True)
        self.web = keys is None
        if self.web:
            argv = ["--web", "--present", "--port", "0"]
        else:
            self.viewer_key, _, ak, host_key = keys
            argv = ["--ssh", "--present", "--port", "0", "--host-key", str(host_key), "--authorized-keys", str(ak)]
        args = build_serve_parser().parse_args([*argv, *flags, *SETUP])
        check_args(args)
        self.args, self.size, self.conns = args, size, []

    async def __aenter__(self) -> Presented:
        self.op = Operator(*self.size)
        console = Console(self.op.slave, self.op.slave)
        if self.web:
            sock = listen("127.0.0.1", 0)
            self.port = sock.getsockname()[1]
            self.server = Web(self.args, app_command(self.args), self.port)
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            self.task = asyncio.create_task(present_web(self.server, sock, f"http://127.0.0.1:{self.port}", console))
        else:
            self.server = Demo(self.args, app_command(self.args), load_host_key(self.args.host_key)[0],
                               load_authorized_keys(self.args.authorized_keys)[0])
            self.task = asyncio.create_task(present_ssh(self.server, lambda demo: f"ssh -p {demo.port}", console))
        self.pgid = 0
        try:
            await _until(lambda: self.server.stage.app and self.server.stage.app.pid or self.task.done(), 30, "the app")
            self.pgid = self.server.stage.app.pid
            await self.op.wait_for("paused")
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            for c in self.conns:
                c.close()
            if self.web:
                await self.http.close()
            if not self.task.done():
                await self.server.stage.stop()
            await asyncio.wait_for(self.task, 30)
        finally:
            for pid in self.processes.group(self.pgid) if self.pgid else ():  # never leave a process, even on failure
                os.kill(pid, signal.SIGKILL)
            self.op.close()

    async def viewer(self, size=(100, 30)):
        """An SSH viewer: (connection, process, its screen)."""
        conn = await asyncio.wait_for(asyncssh.connect(
            "127.0.0.1", self.server.port, known_hosts=None, username="viewer", client_keys=[self.viewer_key],
            agent_path=None, config=()), 20)
        self.conns.append(conn)
        proc = await conn.create_process(term_type="xterm-256color", term_size=size, encoding=None)
        return conn, proc, Screen(proc)

    async def tab(self, size=(100, 30), query=""):
        ws = await self.http.ws_connect(f"ws://127.0.0.1:{self.port}/ws?width={size[0]}&height={size[1]}{query}")
        return Tab(ws)

    def watchers(self) -> int:
        return len(self.server.stage.viewers)


@pytest.fixture
def keys(tmp_path):
    """(viewer key, stranger key, authorized-keys path listing only the viewer, host key path)."""
    viewer, stranger = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    ak = tmp_path / "authorized_keys"
    ak.write_bytes(viewer.export_public_key())
    return viewer, stranger, ak, tmp_path / "host_key"


@pytest.fixture(scope="session")
def app_setup() -> list[str]:
    """The setup flags every served app gets: a light app, quicker to start on a busy machine."""
    return SETUP


@pytest.fixture(scope="session")
def app_wait() -> float:
    """Seconds an app may take to draw its first screen on 2 loaded cores."""
    return APP_WAIT


@pytest.fixture(scope="session")
def screen_text():
    """screen_text(raw): what a terminal shows of ``raw`` bytes, escape sequences removed."""
    return _screen_text


@pytest.fixture(scope="session")
def until():
    """await until(check, timeout, what): the first true ``check()``, polled every 50 ms,
    failing after ``timeout`` seconds with what was awaited."""
    return _until


@pytest.fixture(scope="session")
def rss_mb():
    """rss_mb(pids): the processes' resident memory, in MB."""
    return _rss_mb


@pytest.fixture(scope="session")
def settled_rss_mb():
    """await settled_rss_mb(pids_fn): the resident memory of pids_fn()'s processes, in MB,
    once it has stopped growing (bounded)."""
    return _settled_rss_mb


@pytest.fixture(scope="session")
def screen_reader():
    """screen_reader(proc): what the app draws on an SSH channel, waited for as plain text."""
    return Screen


@pytest.fixture(scope="session")
def tab_reader():
    """tab_reader(ws): what the app draws in a web tab's websocket, waited for as plain text."""
    return Tab


@pytest.fixture(scope="session")
def served(processes):
    """served(keys, *flags): an in-process SSH demo server (async with), as ``smtui serve --ssh``
    with ``flags`` (default: the keys' authorized-keys file) would start it."""
    return lambda keys, *flags: Served(processes, keys, *flags)


@pytest.fixture(scope="session")
def web_served(processes):
    """web_served(*flags): an in-process web demo server (async with), as ``smtui serve --web``
    with ``flags`` would start it; its ``tab()`` opens a client tab."""
    return lambda *flags: WebServed(processes, *flags)


@pytest.fixture
def presented(monkeypatch, processes):
    """presented(keys=None, size=(100, 30), *flags): an in-process presenting server (async with),
    SSH with ``keys`` or web without, the test's own pty as the operator's terminal of ``size``."""
    return lambda *args: Presented(monkeypatch, processes, *args)
