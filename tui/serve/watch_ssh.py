"""An SSH viewer in presenter mode (`smtui serve --ssh --present`): no app of its own; it watches
the presenter's (smtui.tui.serve.stage), at the presenter's size. Its keys do nothing but q, which
leaves; they are looked at and dropped, never held. It is never idle while the presenter's app is
there: watching is what it is for."""

from __future__ import annotations

import re

from smtui.tui.serve.pty_session import RESET_TERMINAL
from smtui.tui.serve.ssh import AppSession

# A terminal's own reports (mouse, focus, replies to queries) are sequences, never a key press.
SEQUENCE = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|P[^\x1b]*(\x1b\\)?|O.|.)?", re.S)
LEAVE = RESET_TERMINAL + b"\x1b[<u"  # and the keyboard protocol the app may have asked of the terminal


def asks_to_leave(data: bytes) -> bool:
    """Whether a viewer's input holds a q pressed (not a q inside a terminal's report)."""
    return b"q" in SEQUENCE.sub(b"", data).lower()


class WatchSession(AppSession):
    """One viewer: the stage sends it the screen (``send``); the channel's own buffer is its queue."""

    def begin(self) -> None:
        self.conn.outcome = "watched"
        self.demo.stage.join(self)

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.chan.write(data)

    def backlog(self) -> int:
        return 0 if self.closed else self.chan.get_write_buffer_size()

    def data_received(self, data: bytes, datatype) -> None:
        if asks_to_leave(data):
            self.conn.outcome = "left (q)"
            self.end("smtui serve: you left the demo")

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if width and height:
            self.size = (width, height)
            self.demo.stage.resized(self)

    def pause_writing(self) -> None:
        pass  # the stage looks at the backlog: a slow viewer skips ahead, nobody waits for it

    def resume_writing(self) -> None:
        pass

    def end(self, line: str) -> None:
        """Tell the viewer why, and close the channel."""
        self._gone()
        if not self.closed:
            self.chan.write(LEAVE + b"\r\n" + line.encode() + b"\r\n")
            self.chan.exit(0)

    def _gone(self) -> None:
        self.demo.stage.leave(self)
        self.demo.sessions.discard(self)

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.conn.channels -= 1
        self.conn.watch_sessionless()
        self._gone()
