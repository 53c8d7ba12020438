"""The one way a number is written in a table of the tui (the compare screen's and
``smtui compare``'s): four significant figures, right-aligned."""

from __future__ import annotations

import math
from numbers import Real


def g(v, width: int) -> str:
    """``v`` to four significant figures in ``width`` cells; "—" when there is no number
    (None, NaN); inf and -inf as such (a value that overflowed is not a missing one)."""
    if isinstance(v, bool) or not isinstance(v, Real) or math.isnan(v):
        return "—".rjust(width)
    return f"{v:>{width}.4g}"
