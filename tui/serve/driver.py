"""The app's own side of a served session: Textual's drivers, with the viewer's input bounded
inside the app. Textual's input thread turns every byte it reads into an event posted to the
app (a few KB each while queued) as fast as it can read, whatever the app's pace, so a key
flood grew an app by a GB (issue 18). Here the thread waits while the app has MAX_BACKLOG
input events not yet taken; it then reads no more, the pty or pipe fills, and the server holds
and drops the rest within its own bound (smtui.tui.serve.bounds.KeyBuffer).
The servers choose these drivers with TEXTUAL_DRIVER (bounds.PTY_DRIVER, bounds.WEB_DRIVER)."""

from __future__ import annotations

import asyncio
import threading
import time

from textual import events
from textual.drivers.linux_driver import LinuxDriver
from textual.drivers.web_driver import WebDriver as TextualWebDriver

from smtui.tui.serve.bounds import MAX_COLS, MAX_ROWS

MAX_BACKLOG = 64  # input events posted to the app and not yet taken from its queue


class _BoundedInput:
    """Mixin for a Driver whose input thread posts events through ``send_message``."""

    _posted = 0  # posted, not yet in the app's queue
    _lock = threading.Lock()

    def send_message(self, message) -> None:
        if not isinstance(message, events.InputEvent | events.Paste):
            return super().send_message(message)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the input thread (never wait on the app's own loop)
            while self._posted + self._app.message_queue_size >= MAX_BACKLOG and not self.exit_event.is_set():
                time.sleep(0.005)
        with self._lock:
            self._posted += 1
        future = asyncio.run_coroutine_threadsafe(self._app._post_message(message), loop=self._loop)
        future.add_done_callback(self._queued)

    def _queued(self, _future) -> None:
        with self._lock:
            self._posted -= 1


class PtyDriver(_BoundedInput, LinuxDriver):
    """`smtui serve --ssh`: the app on a pty."""


class WebDriver(_BoundedInput, TextualWebDriver):
    """`smtui serve --web`: the app on pipes to the server; a window size from the server is
    checked again here (whole numbers, capped), so that no value can reach the app's layout."""

    def on_meta(self, packet_type: str, payload: dict[str, object]) -> None:
        if packet_type == "resize":
            width, height = payload.get("width"), payload.get("height")
            if not all(type(v) is int and v > 0 for v in (width, height)):
                return
            payload = {**payload, "width": min(width, MAX_COLS), "height": min(height, MAX_ROWS)}
        super().on_meta(packet_type, payload)
