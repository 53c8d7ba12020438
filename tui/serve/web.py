"""`smtui serve --web`: textual-serve gives each browser tab its own app process (the same
`python -m smtui [setup flags]` as the SSH server). When the server stops, textual-serve asks
each app to quit; this module then waits for them, and their trainers, to be gone."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import signal
import socket
import sys
import time

from smtui.core.errors import UserError
from smtui.core.text import visible


def serve_web(args: argparse.Namespace, command: list[str]) -> int:
    from textual_serve.server import Server

    # textual-serve reports a port it cannot take only from inside its loop; ask first, for one line.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((args.host, args.port))
            port = s.getsockname()[1]
    except (OSError, OverflowError) as exc:
        why = visible(getattr(exc, "strerror", exc))
        raise UserError(f"cannot listen on {visible(args.host)}:{args.port}: {why}") from None
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    url = f"http://{host}:{port}"

    class Web(Server):
        tabs: set[asyncio.Task] = set()

        async def on_startup(self, app) -> None:  # textual-serve's hook: our lines instead of its banner
            print(f"smtui serve: web on {url} (each browser tab gets its own app; ctrl+c or SIGTERM "
                  "stops the server)", flush=True)

        async def handle_websocket(self, request):
            """One tab, as textual-serve runs it, known so that shutdown can end it."""
            task = asyncio.current_task()
            self.tabs.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.tabs.discard(task)

        async def on_shutdown(self, app) -> None:
            # Without this the tabs' apps run on until aiohttp gives up on them (about 20 s):
            # cancelled, textual-serve tells each app to quit and waits for it.
            for task in self.tabs:
                task.cancel()
            if self.tabs:
                await asyncio.wait(self.tabs, timeout=10)

    server = Web(shlex.join(command), host=args.host, port=port, title="smtui", public_url=url)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        files = (", and with --allow-files the app's save and load reach this account's files"
                 if args.allow_files else "")
        print(f"smtui serve: WARNING: anyone who can reach {visible(args.host)}:{port} gets the app, with no "
              f"authentication{files}", file=sys.stderr, flush=True)
    # Every process a session starts inherits this mark, which is how they are found at the end.
    mark = f"{SERVE_ID}={os.getpid()}-{secrets.token_hex(8)}".encode()
    os.environ[SERVE_ID] = mark.split(b"=", 1)[1].decode()
    try:
        server.serve()
    finally:
        left = end_marked(mark)
    print("smtui serve: stopped" + (f" ({left} app processes had to be killed)" if left else ""), flush=True)
    return 0


SERVE_ID = "SMTUI_SERVE_ID"


def marked(mark: bytes) -> list[int]:
    """Processes whose environment carries ``mark`` (Linux's /proc; elsewhere none are found)."""
    pids = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return pids
    for name in names:
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        pids.append(int(name))
            except OSError:
                pass
    return pids


def end_marked(mark: bytes, grace: float = 5.0) -> int:
    """Wait up to ``grace`` s for the sessions' processes to quit, then SIGKILL the rest;
    returns how many had to be killed."""
    deadline = time.monotonic() + grace
    while (pids := marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.05)
        _reap()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    _reap()
    return len(pids)


def _reap() -> None:
    """Collect our own exited children, so they do not linger as zombies."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
