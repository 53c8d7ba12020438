"""Test helpers for experiment files: find the state and history a TOML names, and tamper
with them while keeping the checksum tie (so tests reach the checks behind it)."""

import hashlib
import re
import tomllib

import numpy as np

from smtui.core.experiment import state_files


def named_files(toml):
    """(npz, csv) the TOML's save names."""
    doc = tomllib.loads(toml.read_text())
    return state_files(toml, doc["run"]["save_id"], doc["version"])


def retie(toml):
    """Rewrite the TOML's checksums to match its files as they are now."""
    npz, csv = named_files(toml)
    text = toml.read_text()
    for key, p in (("state_sha256", npz), ("history_sha256", csv)):
        text = re.sub(rf'{key} = "[0-9a-f]*"', f'{key} = "{hashlib.sha256(p.read_bytes()).hexdigest()}"', text)
    toml.write_text(text)


def rewrite_npz(toml, tie=True, **changes):
    """Change, add or (value None) remove arrays of the saved state."""
    npz = named_files(toml)[0]
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    with open(npz, "wb") as fh:
        np.savez(fh, **arrays)  # pickles an object array, if a test gives one
    if tie:
        retie(toml)


def rewrite_history(toml, text, tie=True):
    named_files(toml)[1].write_text(text)
    if tie:
        retie(toml)
