"""The whole setup of an experiment, validated: every bad value is a one-line UserError."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from smtui.core.errors import UserError
from smtui.core.names import ANALYTIC, DTYPES, NEEDS_ANALYTIC, OBJECTIVES, OPTIMIZERS
from smtui.core.names import DISTRIBUTIONS as NAMES
from smtui.core.text import quoted

# The names come from core/names.py, and nothing here needs numpy: the command line's help
# reads the defaults from Config without loading the engine.
SIGMA_MIN, SIGMA_MAX = 1e-8, 1e8
# float32 below this sigma: the gradients grow like sigma^-4, so Adam's second moment (their
# square) passes float32's 3.4e38 near sigma = 1e-5 on unit-scale data (measured: 3e29 at
# 1e-4, inf at 1e-5), training stalls and the saved state cannot be loaded. Refused up front.
FLOAT32_SIGMA_MIN = 1e-4
# Memory bounds: the figures are evaluated on ~10^5 fixed points at once, so hidden 2048
# already needs several GB; a training step holds a few (batch, hidden) arrays.
HIDDEN_MAX = 2048
BATCH_X_HIDDEN_MAX = 2**25
# What messages call each setting (the palette's prompts use the same words).
WORDS = {"lr": "learning rate", "batch": "batch size", "hidden": "hidden size", "n_train": "training-set size",
         "eval_every": "steps between evaluations", "lam": "lambda"}


@dataclass(frozen=True)
class Config:
    distribution: str = "ring8"
    data_path: str | None = None  # the user's own points; overrides distribution
    objective: str = "dsm"
    sigma: float = 0.3
    lr: float = 0.01
    optimizer: str = "adam"
    batch: int = 256
    hidden: int = 64
    n_train: int = 512
    lam: float = 0.1  # ISMreg's lambda
    seed: int = 0
    dtype: str = "float64"
    eval_every: int = 250  # steps between evaluations of every figure

    def validated(self) -> Config:
        """Return self if every field is allowed, else raise UserError naming the field."""
        _positive_float("sigma", self.sigma)
        if not SIGMA_MIN <= self.sigma <= SIGMA_MAX:  # sigma^4 must stay a normal float64
            raise UserError(f"sigma must be from {SIGMA_MIN:g} to {SIGMA_MAX:g}, got {quoted(self.sigma)}")
        _positive_float("learning rate", self.lr)
        if not _is_number(self.lam) or not math.isfinite(self.lam) or self.lam < 0:
            raise UserError(f"lambda must be a finite number >= 0, got {quoted(self.lam)}")
        for field, hi in (("batch", 1_000_000), ("hidden", HIDDEN_MAX), ("n_train", 1_000_000),
                          ("eval_every", 10**9)):
            _positive_int(WORDS[field], getattr(self, field), hi)
        if self.batch * self.hidden > BATCH_X_HIDDEN_MAX:
            raise UserError(f"batch x hidden must be at most {BATCH_X_HIDDEN_MAX:,} (memory per step), got "
                            f"{self.batch} x {self.hidden}; lower the batch or the hidden size")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**63:
            raise UserError(f"seed must be a whole number from 0 to 2^63 - 1, got {quoted(self.seed)}")
        if self.data_path is None and self.distribution not in NAMES:
            raise UserError(f"unknown distribution {quoted(self.distribution)}; choose one of: {', '.join(NAMES)}")
        if self.objective not in OBJECTIVES:
            raise UserError(f"unknown objective {quoted(self.objective)}; choose one of: {', '.join(OBJECTIVES)}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {quoted(self.optimizer)}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {quoted(self.dtype)}; choose one of: {', '.join(DTYPES)}")
        if self.dtype == "float32" and self.sigma < FLOAT32_SIGMA_MIN:
            raise UserError(f"float32 needs sigma >= {FLOAT32_SIGMA_MIN:g}, got {self.sigma:g}: below it the squared "
                            "gradients (~sigma^-8) overflow float32 in Adam's state; use float64 for smaller sigma")
        if self.objective in NEEDS_ANALYTIC and not self.is_analytic:
            source = "your data file" if self.data_path else f"{self.distribution!r}"
            raise UserError(
                f"objective 'esm' needs an analytic score, which {source} does not have; "
                f"use one of {', '.join(ANALYTIC)}, or 'esm-sigma' / 'dsm' for sample-only data"
            )
        return self

    @property
    def is_analytic(self) -> bool:
        return self.data_path is None and self.distribution in ANALYTIC

    @property
    def source(self) -> str:
        """A short name for the data: the distribution or the file's name."""
        return self.data_path if self.data_path else self.distribution

    def with_changes(self, **changes) -> Config:
        """A validated copy with some fields changed (unknown field names are refused)."""
        known = {f.name for f in fields(self)}
        for key in changes:
            if key not in known:
                raise UserError(f"unknown setting {quoted(key)}; known: {', '.join(sorted(known))}")
        return replace(self, **changes).validated()

    def to_dict(self) -> dict:
        return asdict(self)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive_float(what: str, v) -> None:
    if not _is_number(v) or not math.isfinite(v) or v <= 0:
        raise UserError(f"{what} must be a finite number > 0, got {quoted(v)}")


def _positive_int(what: str, v, hi: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
        raise UserError(f"{what} must be a whole number from 1 to {hi:,}, got {quoted(v)}")
