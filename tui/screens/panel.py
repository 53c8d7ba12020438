"""A panel that shows rows built elsewhere.

Plots reach the UI as ``Strip`` rows already cut to the panel's width (built by
``smtui.tui.render.frames`` in a worker). ``Static.update`` would convert a rich ``Text`` into
content and strips on the UI thread and lay the screen out again on every frame;
this widget only hands out the prebuilt row for each y, so a new frame costs the UI
a repaint of the panel's own region and nothing more."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget


class PlotPanel(Widget):
    """Shows a list of prebuilt rows; borders, titles and size come from CSS."""

    class Resized(Message):
        """The panel's size changed (after layout): what is drawn in it must follow."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, classes=classes)
        self.rows: list[Strip] = []

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())

    def show(self, rows: list[Strip]) -> None:
        """Show new rows: a repaint of this panel, never a layout of the screen."""
        self.rows = rows
        self.refresh()

    def render_line(self, y: int) -> Strip:
        # The panel's own colours go under the plot's (a Strip caches this per style).
        style = self.visual_style.rich_style
        if y < len(self.rows):
            return self.rows[y].apply_style(style)
        return Strip.blank(self.size.width, style)
