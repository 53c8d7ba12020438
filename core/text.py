"""Text from outside (files, flags, typed values) made safe to show: control characters
made visible, and quoted input cut short, so no message can move the cursor, set the
terminal's title or fill a screen. Plain strings: the app passes them on with markup off."""

from __future__ import annotations

QUOTE_LIMIT = 60  # characters of a quoted value shown before the ellipsis


def visible(text) -> str:
    """``text`` with every non-printable character (newlines, ESC, bidi overrides, ...)
    written as its Python escape (``\\n``, ``\\x1b``, ``\\u202e``); spaces stay."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def quoted(value, limit: int = QUOTE_LIMIT, tail: bool = False) -> str:
    """``value`` in quotes for a message, escaped, cut to ``limit`` characters with an
    ellipsis (``tail``: keep the end instead, for paths, whose file name matters most).
    Non-strings are shown as their repr, unquoted."""
    if not isinstance(value, str):  # a number, a list, ... read from a file: as Python writes it
        return shown(repr(value), limit)
    text = value
    if len(text) <= limit:
        return repr(text)
    if tail:
        return "…" + repr(text[-limit:])
    return repr(text[:limit]) + "…"


def shown(value, limit: int = QUOTE_LIMIT) -> str:
    """``value`` escaped (``visible``) and cut to ``limit`` characters with an ellipsis,
    without quotes: for names inside a message (a field, a column)."""
    text = str(value)
    return visible(text[:limit]) + ("…" if len(text) > limit else "")


def count(n: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``1,024 rows``: a number and its noun, plural when it should be."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
