"""The presenter's screen as a terminal shows it, for `smtui serve --present`: every byte the
app writes goes through pyte (a VT100/xterm emulator), so that a viewer who joins late, or who
fell behind, can be sent the whole picture at once (``snapshot``) and then the app's own output
from that point on. ``at_rest`` says whether that point is between two escape sequences (and
two UTF-8 characters), where a viewer may start."""

from __future__ import annotations

import pyte
from pyte import graphics, modes

# SGR codes from pyte's own colour names (reversed tables, so its spellings always match).
_FG = {name: code for table in (graphics.FG_ANSI, graphics.FG_AIXTERM) for code, name in table.items()}
_BG = {name: code for table in (graphics.BG_ANSI, graphics.BG_AIXTERM) for code, name in table.items()}
# pyte keeps a 256-colour index as its RGB value: back to the index (the cube and greys win over
# 0-15, whose colours a terminal's theme changes), so a 256-colour terminal is sent 256 colours.
_INDEX = {rgb: i for i, rgb in enumerate(graphics.FG_BG_256)}
# Before a snapshot: the alternate screen, no wrapping at the edge, no cursor, nothing left over.
START = "\x1b[?1049h\x1b[?7l\x1b[?25l\x1b[0m\x1b[H\x1b[2J"


def _colour(value: str, named: dict[str, int], base: int) -> str:
    """SGR parameters for a pyte colour: ``base`` 30 (foreground) or 40 (background)."""
    if value in named:
        return str(named[value])
    if value in _INDEX:
        return f"{base + 8};5;{_INDEX[value]}"
    try:
        r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return str(base + 9)  # "default", or a name pyte has no code for
    return f"{base + 8};2;{r};{g};{b}"


def sgr(char: pyte.screens.Char) -> str:
    """The escape sequence that sets ``char``'s attributes from nothing."""
    codes = ["0"]
    for flag, code in (("bold", "1"), ("italics", "3"), ("underscore", "4"), ("blink", "5"), ("reverse", "7"),
                       ("strikethrough", "9")):
        if getattr(char, flag):
            codes.append(code)
    if char.fg != "default":
        codes.append(_colour(char.fg, _FG, 30))
    if char.bg != "default":
        codes.append(_colour(char.bg, _BG, 40))
    return f"\x1b[{';'.join(codes)}m"


class Mirror:
    """A ``cols`` x ``rows`` terminal fed the app's output."""

    def __init__(self, cols: int, rows: int):
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.errors = 0  # sequences pyte could not take (it resets its parser and goes on)

    def feed(self, data: bytes) -> None:
        try:
            self.stream.feed(data)
        except Exception:  # noqa: BLE001 - one odd sequence must not end the demo; pyte starts afresh
            self.errors += 1

    def resize(self, cols: int, rows: int) -> None:
        self.screen.resize(rows, cols)

    @property
    def at_rest(self) -> bool:
        """Whether the output so far ends between sequences and characters: a viewer may start here."""
        plain = getattr(self.stream, "_taking_plain_text", True)
        return bool(plain) and not self.stream.utf8_decoder.getstate()[0]

    def snapshot(self) -> bytes:
        """The whole screen as one write: every row from its first column, the attributes set
        only where they change, then the cursor where the app left it, with its attributes."""
        s = self.screen
        out, last = [START], None
        for y in range(s.lines):
            out.append(f"\x1b[{y + 1};1H")
            row = s.buffer[y]
            for x in range(s.columns):
                char = row[x]
                if not char.data:  # the right half of a wide character
                    continue
                style = char[1:]
                if style != last:
                    out.append(sgr(char))
                    last = style
                out.append(char.data)
        x, y = s.cursor.x, s.cursor.y
        if x < s.columns:
            out.append(f"\x1b[{y + 1};{x + 1}H")
        else:  # just past the last column (a character was drawn there): draw it again to get there
            char = s.buffer[y][s.columns - 1]
            out += [f"\x1b[{y + 1};{s.columns}H", sgr(char), char.data or " "]
        out.append(sgr(s.cursor.attrs))  # what the app's next characters are drawn with, unless it says
        out.append("\x1b[?7h" if modes.DECAWM in s.mode else "")
        out.append("" if s.cursor.hidden else "\x1b[?25h")
        return "".join(out).encode("utf-8", "replace")
