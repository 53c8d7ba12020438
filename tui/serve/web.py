"""`smtui serve --web`: textual-serve's server, page and terminal, with the bounds of the SSH
server. Each browser tab gets its own app (smtui.tui.serve.web_session: its own process group,
ended within about a second of the tab's connection ending, whatever the reason); at most
--max-sessions tabs at once; a tab idle for --idle-timeout (no key, nothing training) is ended;
requests must name this server and websockets come from its own pages (smtui.tui.serve.origins);
every message from a tab is checked, and a bad one costs one log line. The page loads nothing
from outside. On SIGINT or SIGTERM every tab is told why and every app ended, then the server stops."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import logging
import shlex
import signal
import socket
import sys
import time
from pathlib import Path
from string import Template

from aiohttp import WSCloseCode, WSMsgType, web
from textual_serve.server import Server

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.text import shown, visible
from smtui.tui.cli.flags import setup_changes
from smtui.tui.serve.bounds import MAX_PENDING_KEYS, IdleWatch, group_alive, say, signal_group, size_text, stamp
from smtui.tui.serve.command import app_command
from smtui.tui.serve.origins import Gate
from smtui.tui.serve.web_session import WebSession

MAX_MESSAGE = 1 << 20  # bytes of one message from a tab (a paste; the page sends a key at a time); beyond, it closes
BAD_LINES = 20  # bad messages of one tab logged, one line each; the rest are counted
# Seconds a tab has to answer the server's goodbye (a loaded machine's page is slow), within the
# 10 s the shutdown waits for its tabs.
SHUTDOWN_CLOSE_WAIT = 8.0
PAGE = Template((Path(__file__).parent / "page.html").read_text(encoding="utf-8"))
REFUSED = Template('<!DOCTYPE html>\n<html><head><meta charset="utf-8" /><title>smtui</title></head>\n'
                   '<body><p>$line</p><p><a href="/">Start with this server\'s setup</a></p></body></html>\n')


class BadMessage(ValueError):
    """A message from a tab that is not what the page sends; its text says what it is."""


def _whole(value, what: str) -> int:
    if type(value) is not int or value < 1:
        raise BadMessage(f"{what} {shown(json.dumps(value), 40)} is not a whole number >= 1")
    return value


def parse_message(text: str) -> tuple[str, object]:
    """(kind, value) from a tab's message, as the page sends them: ["stdin", keys],
    ["resize", {"width": w, "height": h}], ["ping", token], ["focus"], ["blur"]."""
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError):
        raise BadMessage("not JSON") from None
    if not (isinstance(envelope, list) and envelope and isinstance(envelope[0], str)):
        raise BadMessage("not a [type, ...] list")
    kind, args = envelope[0], envelope[1:]
    if kind == "stdin" and len(args) == 1 and isinstance(args[0], str):
        return kind, args[0].encode("utf-8", "replace")
    if kind == "resize" and len(args) == 1 and isinstance(args[0], dict):
        return kind, (_whole(args[0].get("width"), "width"), _whole(args[0].get("height"), "height"))
    if kind == "ping" and len(args) == 1 and isinstance(args[0], str) and len(args[0]) <= 32:
        return kind, args[0]
    if kind in ("focus", "blur") and not args:
        return kind, None
    raise BadMessage(f"a {shown(repr(kind), 24)} message of an unknown form")


def _query_int(request: web.Request, name: str, default: int) -> int:
    try:
        return max(int(request.query.get(name, default)), 1)
    except ValueError:
        return default


class Tab:
    """One browser tab: its websocket, its app, its idle watch, and its log line."""

    reading: asyncio.Task | None = None  # the task reading the tab's messages, while another one does
    closing: asyncio.Event | None = None  # set once the close begun (by whichever task) is over

    def __init__(self, web_server: Web, ws: web.WebSocketResponse, request: web.Request, config: Config | None = None):
        self.server, self.ws = web_server, ws
        self.peer, self.started, self.t0 = request.remote or "?", stamp(), time.monotonic()
        self.outcome, self.bad = "client left", 0
        size = _query_int(request, "width", 80), _query_int(request, "height", 24)
        argv = web_server.command_argv if config is None else app_command(web_server.args, config)
        self.app = WebSession(argv, *size, ws.send_bytes, self.keys_dropped)
        self.idle: IdleWatch | None = None
        self.done = asyncio.Event()

    async def run(self) -> None:
        try:
            await self.app.start()
        except OSError as exc:
            self.outcome = f"could not start the app: {visible(exc)}"
            await self.close("smtui serve: the app could not start here; tell the person running the demo")
            return self.log()
        self.server.pgids.add(self.app.pid)
        if self.server.idle_timeout:
            self.idle = IdleWatch(self.server.idle_timeout, self.app.pid, self.idle_timeout)
            self.idle.start()
        ended = asyncio.create_task(self.app.exited.wait())
        try:
            messages = self.reading = asyncio.create_task(self.messages())
            await asyncio.wait([messages, ended], return_when=asyncio.FIRST_COMPLETED)
            if ended.done() and not self.ws.closed:
                self.outcome = "app quit" if self.app.status == 0 else f"app ended ({self.app.status})"
                await self.close("the app ended", code=WSCloseCode.OK)
            messages.cancel()
        finally:
            ended.cancel()
            if self.idle:
                self.idle.stop()
            # Shielded: even if this handler is cancelled, the app's group is ended (and shutdown waits for it).
            await asyncio.shield(self.server.spawn(self.app.end()))
            await self.close("")
            if self.app.status not in (0, None) and self.app.last_error() and self.outcome.startswith("app"):
                self.outcome += f": {self.app.last_error()}"
            self.log()

    def log(self) -> None:
        """The tab's line in the server's log, once it has ended."""
        dropped = f" ({size_text(self.app.keys.dropped)} of keys dropped)" if self.app.keys.dropped else ""
        say(f"{self.started}  {self.peer}  web  {time.monotonic() - self.t0:.1f} s  {self.outcome}{dropped}")
        self.done.set()

    async def messages(self) -> None:
        async for msg in self.ws:
            if msg.type is WSMsgType.TEXT:
                try:
                    kind, value = parse_message(msg.data)
                except BadMessage as exc:
                    self.bad_message(str(exc))
                    continue
                if kind == "stdin":
                    if self.idle:
                        self.idle.key()
                    self.app.keys_in(value)
                elif kind == "resize":
                    self.app.resize(*value)
                elif kind == "ping":
                    try:
                        await self.ws.send_str(json.dumps(["pong", value]))
                    except ConnectionError:
                        return
                else:
                    self.app.meta({"type": kind})
            elif msg.type is WSMsgType.ERROR:
                self.bad_message(str(self.ws.exception() or "a broken message"))
            else:
                self.bad_message("a binary message")

    def bad_message(self, why: str) -> None:
        self.bad += 1
        if self.bad <= BAD_LINES:
            more = "; more are counted, not logged" if self.bad == BAD_LINES else ""
            say(f"{stamp()}  {self.peer}  web  bad message ignored: {shown(why, 120)}{more}")

    def keys_dropped(self) -> None:
        say(f"{stamp()}  {self.peer}  web  keys arrive faster than the app takes them: beyond "
            f"{size_text(MAX_PENDING_KEYS)} held, the rest is dropped (said once a session)")

    def idle_timeout(self) -> None:
        self.outcome = "idle timeout"
        t = self.server.idle_timeout
        self.server.spawn(self.close(f"idle for {t:g} s (no key pressed, nothing training); session ended"))

    async def close(self, why: str, code: int = WSCloseCode.GOING_AWAY, wait: float = 2.0) -> None:
        """Close the websocket, telling the page why (its closing message shows it), and wait up to
        ``wait`` s for the page's answer before the connection goes. The task reading the tab stops
        first: closed while another task reads, aiohttp drops the connection at once, and a page
        that answers after that (a loaded machine's) sees an abnormal close (1006), not the reason."""
        if self.closing is not None:  # another task is closing it: the handler returns once that is over
            await self.closing.wait()
            return
        if self.ws.closed:
            return
        self.closing = asyncio.Event()
        try:
            reading = self.reading
            if reading is not None and reading is not asyncio.current_task() and not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
            try:
                await asyncio.wait_for(self.ws.close(code=code, message=why.encode()[:120]), wait)
            except (TimeoutError, ConnectionError, RuntimeError):
                pass
        finally:
            self.closing.set()


class Web(Server):
    """textual-serve's Server with our own page, websocket handler, checks and shutdown."""

    def __init__(self, args: argparse.Namespace, command: list[str], port: int):
        super().__init__(shlex.join(command), host=args.host, port=port, title="smtui")
        self.args, self.command_argv = args, command
        self.max_sessions, self.idle_timeout = args.max_sessions, args.idle_timeout
        self.gate = Gate(port, args.allow_origin or [])
        self.tabs: set[Tab] = set()
        self.goodbye = "the demo server is shutting down"  # what each tab is told at the end
        self.tab_class = Tab  # presenter mode: smtui.tui.serve.watch_web.WatchTab
        self.stage = None  # presenter mode: the one app every tab watches (smtui.tui.serve.stage)
        self.pgids: set[int] = set()  # every app's process group, for a last look at the end
        self.tasks: set[asyncio.Task] = set()
        self.closing = False

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.check_host], client_max_size=MAX_MESSAGE)
        app.add_routes([web.get("/", self.handle_index), web.get("/ws", self.handle_websocket),
                        web.static("/static", self.statics_path)])
        return app

    @web.middleware
    async def check_host(self, request: web.Request, handler):
        if not self.gate.host_ok(request.headers.get("Host")):
            say(f"{stamp()}  {request.remote}  web  refused: a request for host "
                f"{shown(request.headers.get('Host', '(none)'), 80)} (not this server; see --allow-origin)")
            return web.Response(status=421, text="smtui serve: this server does not answer for that host name\n")
        return await handler(request)

    def tab_setup(self, request: web.Request) -> Config | None:
        """The setup the address asks for (?setup= and the setup flags, as `smtui` takes them),
        validated as the flags are; None for the server's own. A UserError in one line."""
        text = request.query.get("setup", "")
        if not text.strip():
            return None
        if self.stage is not None:
            raise UserError("this demo is presented: every tab watches the presenter's app, so it takes no ?setup=")
        if self.args.resumes:
            raise UserError("this server resumes a saved experiment (--load): it takes no ?setup=")
        changes = setup_changes(text)
        if "data_path" in changes:
            raise UserError("?setup= cannot name a data file (--data): the server's files are not the page's to choose")
        if "distribution" in changes:
            changes["data_path"] = None
        return self.args.base_config.with_changes(**changes)

    def refused_setup(self, request: web.Request, exc: UserError) -> str:
        line = f"smtui serve: ?setup=: {shown(str(exc), 300)}"
        say(f"{stamp()}  {request.remote}  web  refused: {line[13:]}")
        return line

    async def handle_index(self, request: web.Request) -> web.Response:
        try:
            self.tab_setup(request)
        except UserError as exc:
            line = html.escape(self.refused_setup(request, exc))
            return web.Response(status=400, content_type="text/html", text=REFUSED.substitute(line=line))
        return web.Response(text=PAGE.substitute(title="smtui", static="/static"), content_type="text/html")

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not self.gate.origin_ok(origin, request.headers.get("Host")):
            say(f"{stamp()}  {request.remote}  web  refused: a websocket from a page at {shown(origin, 80)} "
                "(not this server's; see --allow-origin)")
            return web.Response(status=403, text="smtui serve: pages from other sites may not open sessions\n")
        # (timeout: aiohttp's own bound on a close's answer; Tab.close bounds each close itself)
        ws = web.WebSocketResponse(heartbeat=15, timeout=SHUTDOWN_CLOSE_WAIT, max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        if self.closing or len(self.tabs) >= self.max_sessions:
            n = self.max_sessions
            why = ("the demo server is shutting down" if self.closing
                   else f"smtui serve: full ({n} session{'s' * (n != 1)}), try later")
            say(f"{stamp()}  {request.remote}  web  0.0 s  {'refused: shutting down' if self.closing else 'full'}")
            await asyncio.wait_for(ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=why.encode()), 2.0)
            return ws
        try:
            config = self.tab_setup(request)
        except UserError as exc:
            why = self.refused_setup(request, exc)
            await asyncio.wait_for(ws.close(code=WSCloseCode.POLICY_VIOLATION, message=why.encode()[:120]), 2.0)
            return ws
        tab = self.tab_class(self, ws, request, config)
        self.tabs.add(tab)
        try:
            await tab.run()
        finally:
            self.tabs.discard(tab)
        return ws

    async def shutdown(self) -> int:
        """Tell every tab, end every app; returns how many processes were still there at the end."""
        self.closing = True
        for tab in list(self.tabs):
            if not tab.ws.closed:  # (a tab already closing keeps its own reason)
                tab.outcome = "server shut down"
                self.spawn(tab.close(self.goodbye, wait=SHUTDOWN_CLOSE_WAIT))
        if self.tabs:
            await asyncio.wait([asyncio.create_task(t.done.wait()) for t in self.tabs], timeout=10)
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
        left = [pgid for pgid in self.pgids if group_alive(pgid)]
        for pgid in left:
            signal_group(pgid, signal.SIGKILL)
        return len(left)

    async def start(self, sock: socket.socket) -> None:
        self.runner = web.AppRunner(await self._make_app(), handle_signals=False, access_log=None,
                                    shutdown_timeout=5)
        await self.runner.setup()
        await web.SockSite(self.runner, sock).start()

    async def stop(self) -> int:
        """Tell every tab, end every app, stop serving; returns how many app process groups were
        still there at the end (and were killed)."""
        left = await self.shutdown()
        await self.runner.cleanup()
        return left

    async def run(self, sock: socket.socket, url: str) -> int:
        """Serve until SIGINT or SIGTERM, then stop cleanly."""
        await self.start(sock)
        n = self.max_sessions
        say(f"smtui serve: web on {url}, at most {n} tab{'s' * (n != 1)} at once, "
            + (f"idle timeout {self.idle_timeout:g} s" if self.idle_timeout else "no idle timeout"))
        say("each browser tab gets its own app   (ctrl+c or SIGTERM stops the server)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
            say("smtui serve: shutting down")
            return await self.stop()  # a second ctrl+c meanwhile changes nothing
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


class OneLine(logging.Formatter):
    """A library's log record as one line of the server's log (never a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        return f"{stamp()}  smtui serve: {record.name}: {shown(text, 300)}"


class ToStdout(logging.StreamHandler):
    """Writes to sys.stdout as it is when a record comes (presenter mode holds the lines meanwhile)."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def quiet_logs() -> None:
    handler = ToStdout()
    handler.setFormatter(OneLine())
    for name in ("aiohttp", "asyncio", "textual-serve"):
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.WARNING)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or a one-line UserError."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except (OSError, OverflowError) as exc:
        sock.close()
        why = visible(getattr(exc, "strerror", None) or exc)
        raise UserError(f"cannot listen on {visible(host)}:{port}: {why}") from None
    return sock


def serve_web(args: argparse.Namespace, command: list[str]) -> int:
    sock = listen(args.host, args.port)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if sock.family == socket.AF_INET6 else args.host
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        files = (", and with --allow-files the app's save and load reach this account's files"
                 if args.allow_files else "")
        say(f"smtui serve: WARNING: anyone who can reach {visible(args.host)}:{port} "
            f"{'watches' if args.present else 'gets'} the app, with no authentication{files}", err=True)
    quiet_logs()
    server, url = Web(args, command, port), f"http://{host}:{port}"
    if args.present:
        from smtui.tui.serve.present import present_web

        left = asyncio.run(present_web(server, sock, url))
    else:
        left = asyncio.run(server.run(sock, url))
    say("smtui serve: stopped" + (f" ({left} app process groups had to be killed)" if left else ""))
    return 0
