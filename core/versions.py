"""What a run's figures depend on besides its setup: the versions of Python (major.minor),
numpy, autograd and smtui, and a hash of smtui's engine sources (two installs of one
version number can differ: a checkout with changes). A Dask cluster's workers and a
resumed results file are checked against them."""

from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path


def versions() -> dict:
    from importlib import metadata

    import numpy

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {"python": ".".join(platform.python_version_tuple()[:2]), "numpy": numpy.__version__,
            "autograd": version("autograd"), "smtui": version("smtui"), "smtui engine": engine_hash()}


@functools.cache
def engine_hash() -> str:
    """The first 12 hex digits of a SHA-256 over core/*.py (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def first_difference(mine: dict, theirs) -> str | None:
    """``"numpy 2.1 there, 2.4 here"`` for the first version that differs, else None."""
    theirs = theirs if isinstance(theirs, dict) else {}
    for key, value in mine.items():
        if theirs.get(key) != value:
            return f"{key} {theirs.get(key, 'unknown')} there, {value} here"
    return None
