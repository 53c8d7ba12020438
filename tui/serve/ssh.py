"""`smtui serve --ssh`: an asyncssh server whose only service is the app. Each session that asks
for a terminal gets its own app process on a pty (smtui.tui.serve.pty_session); shells, commands, forwarding,
SFTP/SCP and password logins are refused. Keys come from an authorized-keys file, unless --open."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import time

from smtui.core.errors import UserError
from smtui.core.text import visible
from smtui.tui.serve.bounds import MAX_PENDING_KEYS, PTY_DRIVER, IdleWatch, say, size_text, stamp
from smtui.tui.serve.pty_session import RESET_TERMINAL, AppProcess
from smtui.tui.serve.ssh_keys import asyncssh, junk_text, load_authorized_keys, load_host_key

# The viewer's environment the app may see (never PATH, PYTHONPATH, LD_*: that would run their code).
CLIENT_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "NO_COLOR", "COLORTERM")
# The server's own environment that describes the operator's terminal, not the viewer's.
SERVER_ONLY_ENV = ("COLORTERM", "NO_COLOR", "COLUMNS", "LINES", "TMUX", "TMUX_PANE", "TERM_PROGRAM",
                   "TERM_PROGRAM_VERSION", "STY", "WINDOW", "VTE_VERSION")
TERM_NAME = re.compile(r"[A-Za-z0-9._+-]{1,64}")


# ----- one session: the app on a pty, or a one-line refusal
class AppSession(asyncssh.SSHServerSession):
    def __init__(self, conn: Connection):
        self.conn, self.demo = conn, conn.demo
        self.chan = None
        self.term, self.size = None, (80, 24)
        self.command: str | None = None
        self.app: AppProcess | None = None
        self.idle: IdleWatch | None = None
        self.closed = False

    def connection_made(self, chan) -> None:
        self.chan = chan
        self.conn.channels += 1

    def pty_requested(self, term_type, term_size, term_modes) -> bool:
        self.term = term_type if TERM_NAME.fullmatch(term_type or "") else "xterm"
        cols, rows = term_size[:2]
        self.size = (cols or 80, rows or 24)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command  # accepted only to say in one line why it will not run
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self.conn.outcome = f"refused subsystem {visible(subsystem)[:40]}"
        return False  # no SFTP, nor anything else

    def break_received(self, msec: int) -> bool:
        return False

    def session_started(self) -> None:
        if self.command is not None:
            self.conn.outcome = "refused a command"
            return self.refuse("smtui serve: this server only runs the smtui app; connect without a command: "
                               f"ssh -p {self.demo.port} {self.demo.host_hint}")
        if self.term is None:
            self.conn.outcome = "refused: no terminal"
            return self.refuse("smtui serve: the app needs a terminal; connect with ssh -t")
        if len(self.demo.sessions) >= self.demo.max_sessions:
            self.conn.outcome = "full"
            n = self.demo.max_sessions
            return self.refuse(f"smtui serve: full ({n} session{'s' * (n != 1)}), try later")
        self.demo.sessions.add(self)
        self.begin()

    def begin(self) -> None:
        """The viewer's own app, on a pty."""
        self.conn.outcome = "app running"
        env = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY_ENV and not k.startswith("TEXTUAL")}
        for k, v in self.chan.get_environment().items():
            if k in CLIENT_ENV and len(v) <= 64 and v.isprintable():
                env[k] = v
        env["TERM"], env["TEXTUAL_DRIVER"] = self.term, PTY_DRIVER
        self.app = AppProcess(self.demo.command, env, *self.size, self.show, self.app_exited, self.keys_dropped)
        self.demo.starting.add(self.demo.spawn(self._start()))

    async def _start(self) -> None:
        try:
            await self.app.start()
        except OSError as exc:
            self.demo.sessions.discard(self)
            self.conn.outcome = f"could not start the app: {visible(exc)}"
            say(f"smtui serve: could not start the app: {visible(exc)}", err=True)
            self.app = None
            self.refuse("smtui serve: the app could not start here; tell the person running the demo")
        else:
            if self.closed:  # the viewer left while it started
                await self.app.stop()
            elif self.demo.idle_timeout:
                self.idle = IdleWatch(self.demo.idle_timeout, self.app.pid, self.idle_timeout)
                self.idle.start()
        finally:
            self.demo.starting.discard(asyncio.current_task())

    def refuse(self, line: str) -> None:
        nl = "\r\n" if self.term else "\n"
        self.chan.write_stderr((line + nl).encode())
        self.chan.exit(1)

    def show(self, data: bytes) -> None:
        if not self.closed:
            self.chan.write(data)

    def data_received(self, data: bytes, datatype) -> None:
        if self.idle:
            self.idle.key()
        if self.app is not None:
            self.app.write(data)

    def keys_dropped(self) -> None:
        c = self.conn
        say(f"{stamp()}  {c.peer}  {c.fingerprint}  keys arrive faster than the app takes them: beyond "
            f"{size_text(MAX_PENDING_KEYS)} held, the rest is dropped (said once a session)")

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if width and height:
            self.size = (width, height)
            if self.app is not None:
                self.app.resize(width, height)

    def pause_writing(self) -> None:
        if self.app is not None:
            self.app.pause_output()

    def resume_writing(self) -> None:
        if self.app is not None:
            self.app.resume_output()

    def idle_timeout(self) -> None:
        self.conn.outcome = "idle timeout"
        self.end(f"smtui serve: idle for {self.demo.idle_timeout:g} s (no key pressed, nothing training); "
                 "session ended")

    def end(self, line: str) -> None:
        """End the app from outside, then tell the viewer why and close the channel."""
        if self.app is None or self.app.done.is_set():
            return
        self.app.on_exit = lambda status: self._ended_from_outside(line)
        self.demo.spawn(self.app.stop())

    def _ended_from_outside(self, line: str) -> None:
        self.demo.sessions.discard(self)
        if self.idle:
            self.idle.stop()
        if not self.closed:
            self.chan.write(RESET_TERMINAL + b"\r\n" + line.encode() + b"\r\n")
            self.chan.exit(1)

    def app_exited(self, status: int) -> None:
        self.demo.sessions.discard(self)
        if self.idle:
            self.idle.stop()
        if not self.closed:
            self.conn.outcome = "app quit"
            self.chan.exit(status if 0 <= status < 256 else 1)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.conn.channels -= 1
        self.conn.watch_sessionless()
        if self.idle:
            self.idle.stop()
        if self.app is not None:
            self.conn.keys_dropped += self.app.keys.dropped
        if self.app is not None and not self.app.done.is_set():
            self.conn.outcome = "client left"
            self.app.pause_output()  # nobody to show it to
            self.demo.spawn(self.app.stop())


# ----- one connection: who it is, and its log line
class Connection(asyncssh.SSHServer):
    def __init__(self, demo: Demo):
        self.demo = demo
        self.peer, self.fingerprint, self.outcome = "?", "-", "not authenticated"
        self.started, self.t0 = stamp(), time.monotonic()
        self.conn = None
        self.channels = 0  # open session channels
        self.keys_dropped = 0  # bytes, by all its sessions
        self.timer = None

    def watch_sessionless(self) -> None:
        """A logged-in connection with no session (``ssh -N``) is closed after a grace period."""
        if self.timer:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.demo.sessionless_grace, self._close_if_sessionless)

    def _close_if_sessionless(self) -> None:
        if self.channels == 0 and self.conn is not None:
            self.outcome = "closed: no session"
            self.conn.close()

    def auth_completed(self) -> None:
        self.watch_sessionless()

    def connection_made(self, conn) -> None:
        self.conn = conn
        host, port = conn.get_extra_info("peername")[:2]
        self.peer = f"{host}:{port}"
        if len(self.demo.connections) >= self.demo.max_connections:
            self.outcome = "refused: too many connections"
            conn.close()
            return
        self.demo.connections.add(self)

    def connection_lost(self, exc) -> None:
        if self.timer:
            self.timer.cancel()
        self.demo.connections.discard(self)
        dropped = f" ({size_text(self.keys_dropped)} of keys dropped)" if self.keys_dropped else ""
        took = time.monotonic() - self.t0
        say(f"{self.started}  {self.peer}  {self.fingerprint}  {took:.1f} s  {self.outcome}{dropped}")

    def begin_auth(self, username: str) -> bool:
        if self.demo.authorized is None:  # --open
            self.fingerprint, self.outcome = "open", "authenticated (open)"
            return False
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return self.demo.authorized is not None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        host = self.peer.rsplit(":", 1)[0]
        ok = self.demo.authorized.validate(key, host, host) is not None
        if ok:
            self.fingerprint, self.outcome = key.get_fingerprint(), "authenticated"
        return ok

    def session_requested(self):
        return self.demo.session_class(self)

    def connection_requested(self, dest_host, dest_port, orig_host, orig_port):
        return False  # no port forwarding, either way

    def server_requested(self, listen_host, listen_port):
        return False

    def unix_connection_requested(self, dest_path):
        return False

    def unix_server_requested(self, listen_path):
        return False


# ----- the server
class Demo:
    """The running server's settings and its live connections and sessions."""

    def __init__(self, args: argparse.Namespace, command: list[str], host_key, authorized):
        self.command, self.host_key, self.authorized = command, host_key, authorized
        self.host, self.port = args.host, args.port
        self.host_hint = args.host if args.host not in ("0.0.0.0", "::", "") else "HOST"
        self.max_sessions, self.idle_timeout = args.max_sessions, args.idle_timeout
        self.sessions: set[AppSession] = set()
        self.starting: set[asyncio.Task] = set()  # apps being started
        self.tasks: set[asyncio.Task] = set()  # every task started here (held, so none is lost)
        self.connections: set[Connection] = set()
        self.server = None
        self.sessionless_grace = 60.0  # seconds a logged-in connection may hold no session
        self.max_connections = 4 * self.max_sessions + 16  # logging in or refused, not yet gone
        self.goodbye = "the demo server is shutting down"  # what each viewer is told at the end
        self.session_class = AppSession  # presenter mode: smtui.tui.serve.watch_ssh.WatchSession
        self.stage = None  # presenter mode: the one app every viewer watches (smtui.tui.serve.stage)

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def start(self) -> None:
        self.server = await asyncssh.create_server(
            lambda: Connection(self), self.host, self.port, server_host_keys=[self.host_key],
            encoding=None, allow_pty=True, line_editor=False, agent_forwarding=False, x11_forwarding=False,
            sftp_factory=None, allow_scp=False, password_auth=False, kbdint_auth=False, host_based_auth=False,
            gss_auth=False, gss_kex=False, public_key_auth=self.authorized is not None, login_timeout=60,
            keepalive_interval=30, server_version="smtui")
        self.port = self.server.sockets[0].getsockname()[1]

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop listening, end every session's app (telling its viewer), close every connection."""
        self.server.close()
        await asyncio.gather(*self.starting, return_exceptions=True)
        for session in list(self.sessions):
            session.conn.outcome = "server shut down"
            session.end(f"smtui serve: {self.goodbye}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.sessions and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # let the goodbye lines go out
        for c in list(self.connections):
            c.conn.close()
        deadline = loop.time() + grace
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.tasks:  # apps of viewers who left just now, still being ended
            await asyncio.wait(self.tasks, timeout=3 * grace)
        await self.server.wait_closed()


async def run_server(demo: Demo, ready=None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly."""
    await demo.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready:
        ready(demo)
    try:
        await stop.wait()
        say("smtui serve: shutting down")
        await demo.shutdown()  # a second ctrl+c meanwhile changes nothing: the sessions are being ended
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def serve_ssh(args: argparse.Namespace, command: list[str]) -> int:
    host_key, key_path, made = load_host_key(args.host_key)
    authorized = None
    if not args.open:
        authorized, keys_path, count, junk = load_authorized_keys(args.authorized_keys)
        if junk:
            say(f"smtui serve: WARNING: {visible(keys_path)}: {junk_text(junk)}; skipped", err=True)
    demo = Demo(args, command, host_key, authorized)

    def ready(demo: Demo) -> str:
        n, where = demo.max_sessions, f"{demo.host}:{demo.port}"
        if args.present:
            say(f"smtui serve: SSH on {where}, presenting: every viewer watches the app in this terminal, "
                f"read-only (at most {n} at once)")
        else:
            say(f"smtui serve: SSH on {where}, at most {n} session{'s' * (n != 1)} at once, "
                + (f"idle timeout {demo.idle_timeout:g} s" if demo.idle_timeout else "no idle timeout"))
        say(f"host key {host_key.get_fingerprint()} ({'made now, ' if made else ''}{visible(key_path)})")
        if args.open:
            files = (", and with --allow-files the app's save and load reach this account's files"
                     if args.allow_files else "")
            say(f"smtui serve: WARNING: --open: anyone who can reach {where} "
                f"{'watches' if args.present else 'gets'} the app, with no authentication{files}", err=True)
        else:
            say(f"viewers: the {count} key{'s' * (count != 1)} in {visible(keys_path)}")
        join = f"ssh -p {demo.port} {demo.host_hint}"
        say(f"viewers connect with: {join}   "
            + ("(q in the app ends the demo)" if args.present else "(ctrl+c or SIGTERM stops the server)"))
        return join

    if args.present:
        from smtui.tui.serve.present import present_ssh

        serving = present_ssh(demo, ready)
    else:
        serving = run_server(demo, ready)
    try:
        asyncio.run(serving)
    except OSError as exc:
        raise UserError(f"cannot listen on {visible(args.host)}:{args.port}: {visible(exc.strerror or exc)}") from None
    return 0
