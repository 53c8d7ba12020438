"""A bounded, decimating history of rows: memory stays fixed however long training runs."""

from __future__ import annotations

import numpy as np


class DecimatingRows:
    """Keeps at most ``capacity`` rows of any kind. When full it keeps every other row and
    doubles its stride, so it always spans the whole run evenly; reads like a list."""

    def __init__(self, rows=(), capacity: int = 2048):
        self.capacity = capacity
        self._rows: list = []
        self._stride = 1
        self._seen = 0
        for r in rows:
            self.append(r)

    def _convert(self, row):
        return row

    def append(self, row) -> None:
        if self._seen % self._stride == 0:
            self._rows.append(self._convert(row))
            if len(self._rows) >= self.capacity:
                self._rows = self._rows[::2]
                self._stride *= 2
        self._seen += 1

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self):
        return iter(self._rows)

    def __getitem__(self, i):
        return self._rows[i]


class DecimatingHistory(DecimatingRows):
    """Decimating rows of floats under named columns, readable as one array."""

    def __init__(self, columns: tuple[str, ...], capacity: int = 2048):
        self.columns = columns
        super().__init__(capacity=capacity)

    def _convert(self, row):
        return tuple(float(v) for v in row)

    def array(self) -> np.ndarray:
        """A read-only copy, shape (rows, columns)."""
        arr = np.array(self._rows, dtype=float).reshape(-1, len(self.columns))
        arr.flags.writeable = False
        return arr

    def state(self) -> tuple[np.ndarray, int, int]:
        """(rows, stride, seen): everything needed to carry on exactly after a reload."""
        return self.array(), self._stride, self._seen

    def restore(self, rows: np.ndarray, stride: int, seen: int) -> None:
        """Put back a ``state()``; the history then continues as if never interrupted."""
        rows = np.asarray(rows, dtype=float).reshape(-1, len(self.columns))
        self._rows = [tuple(float(v) for v in r) for r in rows]
        self._stride, self._seen = int(stride), int(seen)
