"""Where an experiment's files live and how a save commits (format version 3).

An experiment is ``NAME.toml`` plus two files named by its save id beside it:
``NAME.<save_id>.npz`` (the trained state) and ``NAME.<save_id>.csv`` (the metric history).
A save writes the two new files under fresh names, then switches ``NAME.toml`` in one
rename; the TOML names the save id and holds the SHA-256 of both files. So at every
instant the TOML on disk names a complete, matching pair: the old one until the rename,
the new one after. Files of older or interrupted saves are removed by the next save or
load of the same name, under a lock on the folder.

Version 3 records the batch stream's version (core/batches.py) and the steps taken from
its block; versions 2 (the same files, batch stream version 1) and 1 (``NAME.npz`` and
``NAME.csv`` renamed in place one by one) are still read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tomllib
from pathlib import Path

import numpy as np

from smtui.core.errors import UserError
from smtui.core.reading import name as shown_path

FORMAT = "smtui-experiment"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
SAVE_ID = re.compile(r"[0-9a-f]{12}")
TEMP_SUFFIX = ".tmp"


def experiment_toml(path: str | Path) -> Path:
    """The experiment's TOML path (checked to end in .toml)."""
    p = Path(path)
    if str(path) == "":
        raise UserError("experiment file name is empty; give a NAME.toml")
    if p.suffix.lower() != ".toml":
        raise UserError(f"experiment file {shown_path(p)} must end in .toml")
    return p


def new_save_id() -> str:
    return secrets.token_hex(6)


def state_files(toml: Path, save_id: str, version: int = VERSION) -> tuple[Path, Path]:
    """(state .npz, history .csv) of the save ``save_id`` of ``toml``."""
    if version == 1:
        return toml.with_suffix(".npz"), toml.with_suffix(".csv")
    return toml.with_name(f"{toml.stem}.{save_id}.npz"), toml.with_name(f"{toml.stem}.{save_id}.csv")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_digest(data: np.ndarray) -> str:
    a = np.ascontiguousarray(data, dtype=np.float64)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def flatten(prefix: str, tree: dict, out: dict) -> dict:
    """Nested dicts of arrays as one flat dict keyed ``prefix.key.subkey``."""
    for k, v in tree.items():
        if isinstance(v, dict):
            flatten(f"{prefix}{k}.", v, out)
        else:
            out[f"{prefix}{k}"] = np.asarray(v)
    return out


def temp_name(target: Path) -> Path:
    """A fresh hidden name beside ``target`` for writing it before the rename."""
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _leftover_pattern(toml: Path) -> re.Pattern:
    stem, name = re.escape(toml.stem), re.escape(toml.name)
    # NAME.<id>.npz/csv of other saves; our TOML temporaries; version 1's temporaries and
    # backups (.NAME.toml/.npz/.csv.XXXXXXXX.tmp|.old, from tempfile.mkstemp).
    return re.compile(rf"{stem}\.[0-9a-f]{{12}}\.(npz|csv)|\.{name}\.[0-9a-f]{{8}}\.tmp"
                      rf"|\.{stem}\.(toml|npz|csv)\.[A-Za-z0-9_]{{8}}\.(tmp|old)")


def leftovers(toml: Path, keep: set[Path]) -> list[Path]:
    """Files of this experiment's name that no save needs any more."""
    pattern, folder = _leftover_pattern(toml), toml.parent if str(toml.parent) else Path(".")
    kept = {p.name for p in keep}
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(folder / n for n in names if pattern.fullmatch(n) and n not in kept)


def remove_leftovers(toml: Path, keep: set[Path]) -> None:
    for p in leftovers(toml, keep):
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink():
                os.unlink(p)


@contextlib.contextmanager
def folder_lock(folder: Path, wait: bool = True):
    """An exclusive lock on the folder (flock on the directory itself: no lock file to
    leave behind; released by the kernel if the process dies). Yields True if held,
    False where locking is not possible (then nothing that needs it should be done)."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform
        yield False
        return
    try:
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Create ``path`` (it must not exist), write and sync it; remove it if that fails."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def sync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (where the platform allows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def commit(toml: Path, data: bytes, overwrite: bool) -> None:
    """Put ``data`` at ``toml`` in one step: a temporary file, then a rename over the old
    TOML (``overwrite``) or a hard link that fails if the TOML exists (so of two saves
    racing for a new name, exactly one wins). Raises FileExistsError for the loser."""
    tmp = temp_name(toml)
    mode = toml.stat().st_mode & 0o777 if overwrite and toml.is_file() else 0o666
    write_new(tmp, data, mode)
    try:
        if mode != 0o666:
            os.chmod(tmp, mode)  # keep the old TOML's permissions
        if overwrite:
            os.replace(tmp, toml)
        else:
            try:
                os.link(tmp, toml)
            except FileExistsError:
                raise
            except OSError:  # no hard links here (some network or FAT file systems)
                if os.path.lexists(toml):
                    raise FileExistsError(17, "File exists", str(toml)) from None
                os.replace(tmp, toml)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def named_files(toml: Path) -> list[Path]:
    """The state and history files the TOML's save names, read leniently (for telling
    inputs from outputs; loading checks them properly). [] if it names none."""
    if not Path(toml).is_file():  # never open a FIFO or device here: it could block
        return []
    try:
        with open(toml, "rb") as fh:
            run = tomllib.loads(fh.read(4 * 2**20).decode("utf-8")).get("run", {})
        version = 1 if "state_sha256" not in run else VERSION
        save_id = run.get("save_id", "")
        if not isinstance(save_id, str) or (version >= 2 and not SAVE_ID.fullmatch(save_id)):
            return []
        return list(state_files(toml, save_id, version))
    except (OSError, ValueError, AttributeError):
        return []
