"""A sweep's grid: setup flags and the values each takes (``--grid sigma=0.03:3:8 --grid
objective=dsm,esm-sigma``), every value checked before the first run.

An axis is a setup flag's name and its values: a list (``16,64,256``, ``dsm,esm-sigma``)
or, for numbers, ``START:STOP:COUNT``, COUNT values evenly spaced in log (whole numbers
rounded, for the sizes). Numbers are sorted ascending (plots read left to right); names
keep the order given. Each value goes through Config's own validation, as the flag would,
then each cell of the grid as a whole (``esm`` needs an analytic distribution, batch x
hidden is capped, ...): a refusal is one line naming the axis or the cell.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.text import quoted

# A flag's name on the grid -> (its Config field, the kind of its values).
AXES = {
    "sigma": ("sigma", float), "lr": ("lr", float), "lambda": ("lam", float),
    "hidden": ("hidden", int), "batch": ("batch", int), "n-train": ("n_train", int),
    "objective": ("objective", str), "optimizer": ("optimizer", str), "distribution": ("distribution", str),
    "dtype": ("dtype", str), "data": ("data_path", str),
}
ALIASES = {"n_train": "n-train", "lam": "lambda", "optimiser": "optimizer", "data_path": "data"}
MAX_VALUES = 64  # per axis
MAX_AXES = 6
MAX_RUNS = 20_000  # cells x seeds
MAX_SEEDS = 64
NO_EVALUATIONS = 10**9  # eval_every: a sweep reads one evaluation, at the end


@dataclass(frozen=True)
class Axis:
    """One flag of the grid: its name as the command line spells it, its Config field, and
    the values it takes, in the grid's order."""

    name: str
    field: str
    values: tuple

    def label(self, value) -> str:
        """A value as tables and legends show it."""
        if isinstance(value, float):
            return f"{value:.3g}"
        if self.field == "data_path":
            return str(value).rsplit("/", 1)[-1]
        return str(value)


def parse_axis(spec: str, base: Config | None = None) -> Axis:
    """``NAME=VALUES`` as an Axis, each value checked by Config's validation over ``base``."""
    spec = str(spec).strip()
    if "=" not in spec:
        raise UserError(f"--grid {quoted(spec)}: give NAME=VALUES, e.g. sigma=0.03:3:8 or objective=dsm,esm-sigma")
    given, text = (part.strip() for part in spec.split("=", 1))
    name = ALIASES.get(given, given)
    if name not in AXES:
        if name == "seed":
            raise UserError("--grid seed=...: give the number of seeds with --seeds K instead")
        raise UserError(f"--grid {quoted(given)}: not a setup flag a grid can vary; choose from {', '.join(AXES)}")
    return values_axis(name, text, f"--grid {name}={text}", base)


def parse_grid(text: str, base: Config | None = None) -> list[Axis]:
    """A whole grid typed in one line (the app's prompt): ``NAME=VALUES`` specs separated by
    spaces or semicolons (``sigma=0.03:3:8 objective=dsm,esm-sigma``), or bare values, which
    are sigma's (``0.03:3:8``); each checked as ``--grid`` checks it."""
    specs = [part for part in str(text).replace(";", " ").split() if part]
    if not specs:
        raise UserError("no grid given; type e.g. sigma=0.03:3:8 objective=dsm,esm-sigma")
    if len(specs) == 1 and "=" not in specs[0]:
        specs = [f"sigma={specs[0]}"]
    axes = [parse_axis(spec, base) for spec in specs]
    check_axes(axes, {})
    return axes


def values_axis(name: str, text: str, what: str, base: Config | None = None) -> Axis:
    """The values of flag ``name`` from ``text`` (a list or START:STOP:COUNT); ``what``
    opens every refusal (``--grid hidden=16,x``, ``--sigma 0.1,x``)."""
    field, kind = AXES[name]
    what = quoted(what) if len(what) > 60 else what
    text = str(text).strip()
    if kind is str:
        values = [part.strip() for part in text.split(",")]
        if any(v == "" for v in values):
            raise UserError(f"{what}: an empty value; give a list such as a,b")
    elif ":" in text:
        values = _range(text, kind, what)
    else:
        values = sorted(_number(part, kind, what) for part in text.split(","))
    if len(values) > MAX_VALUES:
        raise UserError(f"{what}: at most {MAX_VALUES} values, got {len(values)}")
    if len(set(values)) != len(values):
        raise UserError(f"{what}: a value appears twice")
    base = base or Config()
    for v in values:  # Config's own checks, as the flag would get them
        try:
            _validated(base, {field: v})
        except UserError as exc:
            raise UserError(f"{what}: {exc}") from None
    return Axis(name, field, tuple(values))


def _range(text: str, kind, what: str) -> list:
    parts = text.split(":")
    if len(parts) != 3:
        raise UserError(f"{what}: a range is START:STOP:COUNT, e.g. 0.01:10:8")
    lo, hi = (_number(p, kind, what) for p in parts[:2])
    try:
        count = int(parts[2])
    except ValueError:
        raise UserError(f"{what}: COUNT {quoted(parts[2].strip())} must be a whole number") from None
    if not 1 <= count <= MAX_VALUES:
        raise UserError(f"{what}: COUNT must be from 1 to {MAX_VALUES}, got {count}")
    if count == 1:
        if lo != hi:
            raise UserError(f"{what}: a range of 1 value needs START = STOP")
        return [lo]
    if lo <= 0 or hi <= 0:
        raise UserError(f"{what}: a range is evenly spaced in log, so START and STOP must be > 0; list the "
                        "values instead (e.g. 0,0.01,0.1)")
    if lo > hi:
        lo, hi = hi, lo
    logs = [math.log(lo) + (math.log(hi) - math.log(lo)) * k / (count - 1) for k in range(count)]
    values = [lo, *(math.exp(v) for v in logs[1:-1]), hi]  # the ends exactly as typed
    if kind is int:
        values = [int(round(v)) for v in values]
        if len(set(values)) != len(values):
            raise UserError(f"{what}: {count} whole numbers from {lo} to {hi} repeat some; ask for fewer")
    return values


def _number(part: str, kind, what: str):
    part = part.strip()
    try:
        v = kind(part)
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise UserError(f"{what}: {quoted(part)} is not {word}; give e.g. 0.1,0.3,1 or 0.01:10:8") from None
    if kind is float and not math.isfinite(v):
        raise UserError(f"{what}: {quoted(part)} is not a finite number")
    return v


def _validated(base: Config, changes: dict) -> Config:
    if "data_path" in changes:
        changes = {**changes, "distribution": base.distribution}
    elif "distribution" in changes:
        changes = {**changes, "data_path": None}
    return replace(base, **changes).validated()


def check_axes(axes: list[Axis], base_flags: dict) -> None:
    """Refuse a grid that names a flag twice, or a flag given on its own too
    (``base_flags``: the Config fields the setup flags set, e.g. {"hidden": 32})."""
    if len(axes) > MAX_AXES:
        raise UserError(f"--grid: at most {MAX_AXES} flags, got {len(axes)}")
    seen = set()
    for a in axes:
        if a.name in seen:
            raise UserError(f"--grid {a.name} is given twice; give its values once, e.g. {a.name}=a,b,c")
        seen.add(a.name)
        if a.field in base_flags:
            raise UserError(f"--grid {a.name}=... and --{a.name} both set it; give one")
    if {"data", "distribution"} <= seen:
        raise UserError("--grid: data and distribution both choose the points; give one")
    for a, other in (("distribution", "data_path"), ("data", "distribution")):
        if a in seen and other in base_flags:
            raise UserError(f"--grid {a}=... and --{'data' if other == 'data_path' else other} both choose the "
                            "points; give one")


def cells(axes: list[Axis]) -> list[dict]:
    """Every combination of the axes' values as {field: value}, the first axis slowest."""
    return [dict(zip((a.field for a in axes), combo)) for combo in itertools.product(*(a.values for a in axes))]


def grid_configs(base: Config, axes: list[Axis], seeds: int) -> list[Config]:
    """One validated Config per (cell, seed), in the grid's order: seeds base.seed,
    base.seed + 1, ... innermost. A cell Config refuses is one line naming the cell."""
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"seeds must be a whole number from 1 to {MAX_SEEDS}, got {quoted(seeds)}")
    if base.seed + seeds > 2**63:
        raise UserError("seed + seeds must stay below 2^63")
    grid = cells(axes)
    if len(grid) * seeds > MAX_RUNS:
        raise UserError(f"the grid has {len(grid):,} cells x {seeds} seeds = {len(grid) * seeds:,} runs; the most "
                        f"is {MAX_RUNS:,}")
    configs = []
    for cell in grid:
        try:
            cfg = _validated(base, {**cell, "eval_every": NO_EVALUATIONS})
        except UserError as exc:
            raise UserError(f"--grid cell {cell_text(axes, cell)}: {exc}") from None
        configs += [replace(cfg, seed=base.seed + k) for k in range(seeds)]
    return configs


def cell_text(axes: list[Axis], cell: dict) -> str:
    """``objective=esm hidden=16``: a cell as the command line would name it."""
    return " ".join(f"{a.name}={a.label(cell[a.field])}" for a in axes)


def to_plan(axes: list[Axis]) -> dict:
    """The grid as JSON holds it: {Config field: [values]}, in order (the runs' records
    name their setup by the same fields)."""
    return {a.field: list(a.values) for a in axes}


FIELD_NAMES = {field: name for name, (field, _) in AXES.items()}


def from_plan(grid) -> list[Axis]:
    """The axes of a grid read back from JSON (``to_plan``); a refusal is one line."""
    if not isinstance(grid, dict) or not grid:
        raise UserError("its grid is missing or empty")
    axes = []
    for field, values in grid.items():
        if field not in FIELD_NAMES or not isinstance(values, list) or not values:
            raise UserError(f"its grid has an unknown setting or no values: {quoted(field)}")
        name = FIELD_NAMES[field]
        kind = AXES[name][1]
        if not all(_of_kind(v, kind) for v in values):
            raise UserError(f"its grid has values of the wrong kind for {name}")
        axes.append(Axis(name, field, tuple(float(v) if kind is float else v for v in values)))
    return axes


def _of_kind(v, kind) -> bool:
    if isinstance(v, bool):
        return False
    if kind is float:
        return isinstance(v, (int, float))
    if kind is str:
        return isinstance(v, str) or v is None
    return isinstance(v, kind)
