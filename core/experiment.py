"""Experiments that last: a TOML file with the whole setup, and beside it the trained state
(``NAME.<save_id>.npz``: parameters, optimiser state, batch stream, histories) and the
metric history (``NAME.<save_id>.csv``). Loading one resumes exactly: k more steps give
the same parameters as never having stopped.

    save_experiment(trainer, "runs/ring.toml")      # refuses to overwrite unless asked
    trainer = load_experiment("runs/ring.toml")     # resume
    config = load_config("runs/ring.toml")          # the setup only, to rerun or share

This module is the public face; the work is split by responsibility:
core/experiment_layout.py (file names, the commit, leftovers), core/experiment_save.py,
core/experiment_load.py (every field checked; a wrong one is a one-line UserError).
"""

from __future__ import annotations

from pathlib import Path

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment_layout import FORMAT, VERSION, experiment_toml, state_files
from smtui.core.experiment_load import load_config, load_experiment
from smtui.core.experiment_save import ExperimentExists, save_experiment

__all__ = ["FORMAT", "VERSION", "ExperimentExists", "experiment_toml", "load_config",
           "load_experiment", "save_experiment", "state_files", "suggest_experiment_path"]


def suggest_experiment_path(config: Config, folder: str | Path = ".") -> Path:
    """A default name that says what the experiment is and overwrites nothing, e.g.
    ``ring8-dsm-sigma0.3.toml`` (then ``-2``, ``-3``, ... if taken)."""
    source = Path(config.data_path).stem if config.data_path else config.distribution
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{source}-{config.objective}-"
                   f"sigma{config.sigma:g}")
    folder = Path(folder)
    for i in range(1, 10_000):
        candidate = folder / (f"{stem}.toml" if i == 1 else f"{stem}-{i}.toml")
        if not any(candidate.with_suffix(s).exists() for s in (".toml", ".npz", ".csv")):
            return candidate
    raise UserError(f"no free experiment name like {stem!r} in {str(folder)!r}")
