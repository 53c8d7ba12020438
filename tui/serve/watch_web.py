"""A browser tab in presenter mode (`smtui serve --web --present`): no app of its own; it watches
the presenter's (smtui.tui.serve.stage), at the presenter's size, in the page's terminal. Its keys
do nothing but q, which leaves; every message is still checked as the page's are, a bad one
costing one log line. It is never idle while the presenter's app is there."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque

from aiohttp import WSCloseCode, WSMsgType, web

from smtui.tui.serve.bounds import clamp_size, say, stamp
from smtui.tui.serve.watch_ssh import asks_to_leave
from smtui.tui.serve.web import BadMessage, Tab, _query_int, parse_message


class WatchTab(Tab):
    """One tab: what the stage sends it is queued here and written by its own task."""

    def __init__(self, web_server, ws: web.WebSocketResponse, request: web.Request, config=None):
        self.server, self.ws, self.stage = web_server, ws, web_server.stage
        self.peer, self.started, self.t0 = request.remote or "?", stamp(), time.monotonic()
        self.outcome, self.bad, self.idle = "client left", 0, None
        self.size = clamp_size(_query_int(request, "width", 80), _query_int(request, "height", 24))
        self.queue: deque[bytes] = deque()
        self.queued = 0
        self.wake, self.done = asyncio.Event(), asyncio.Event()

    def send(self, data: bytes) -> None:
        self.queue.append(data)
        self.queued += len(data)
        self.wake.set()

    def backlog(self) -> int:
        return self.queued

    async def _write(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                data = self.queue.popleft()
                try:
                    await self.ws.send_bytes(data)
                except (ConnectionError, RuntimeError):
                    return
                finally:
                    self.queued -= len(data)

    async def run(self) -> None:
        self.outcome = "watched"
        self.stage.join(self)
        writer = asyncio.create_task(self._write())
        try:
            await self.messages()
        finally:
            self.stage.leave(self)
            writer.cancel()
            await self.close("")
            self.log()

    async def messages(self) -> None:
        async for msg in self.ws:
            if msg.type is not WSMsgType.TEXT:
                self.bad_message(str(self.ws.exception() or "a broken message") if msg.type is WSMsgType.ERROR
                                 else "a binary message")
                continue
            try:
                kind, value = parse_message(msg.data)
            except BadMessage as exc:
                self.bad_message(str(exc))
                continue
            if kind == "stdin" and asks_to_leave(value):
                self.outcome = "left (q)"
                return await self.close("you left the demo", code=WSCloseCode.OK)
            if kind == "resize":
                self.size = clamp_size(*value)
                self.stage.resized(self)
            elif kind == "ping":
                try:
                    await self.ws.send_str(json.dumps(["pong", value]))
                except ConnectionError:
                    return

    def log(self) -> None:
        say(f"{self.started}  {self.peer}  web  {time.monotonic() - self.t0:.1f} s  {self.outcome}")
        self.done.set()
