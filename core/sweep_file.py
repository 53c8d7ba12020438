"""A sweep's plan and its results file (``smtui sweep --out FILE``), which makes a sweep
resumable and re-plottable.

The plan is everything the runs depend on: the base setup (``config``: every setup field
the grid does not vary, seed aside), the grid, the seeds and the steps. The results file is
JSON Lines written through the one output writer (core/outputs.py): a first line with the
plan and the versions the runs depend on (core/versions.py), made as a whole file, then
one ``{"run": ...}`` line appended and synced as each run finishes. A crash loses at most
the line being written, which the reader drops (that run is done again on --resume).
``read`` also takes a sweep's --json report, which holds the same plan and its runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.grid import Axis, from_plan, grid_configs, to_plan
from smtui.core.io import to_json
from smtui.core.outputs import Output, append_file, trim_cut_line, write
from smtui.core.reading import MiB, name, read_text
from smtui.core.sweep import FIGURES, SETUP, run_key, summarise
from smtui.core.versions import first_difference, versions

FORMAT = 1
MAX_BYTES = 64 * MiB  # a results file of 20,000 runs is ~15 MB
STATUSES = ("ok", "diverged")


@dataclass(frozen=True)
class Plan:
    """A sweep as planned: ``base`` (seed: the first seed), the grid's axes, how many seeds
    per cell and the steps per run."""

    base: Config
    axes: tuple[Axis, ...]
    seeds: int
    steps: int

    def configs(self) -> list[Config]:
        return grid_configs(self.base, list(self.axes), self.seeds)

    @property
    def fields(self) -> tuple[str, ...]:
        """The Config fields the grid varies (what the summary groups by)."""
        return tuple(a.field for a in self.axes)

    def to_dict(self) -> dict:
        varied = {*self.fields, "seed", "eval_every"}
        if {"distribution", "data_path"} & set(self.fields):
            varied |= {"distribution", "data_path"}
        config = {k: v for k, v in self.base.to_dict().items() if k not in varied}
        return {"config": config, "grid": to_plan(list(self.axes)),
                "seeds": [self.base.seed + k for k in range(self.seeds)], "steps": self.steps}

    @classmethod
    def from_dict(cls, d) -> Plan:
        """A plan read back (``to_dict``); a refusal is one UserError line saying what is wrong."""
        if not isinstance(d, dict):
            raise UserError("it holds no sweep plan")
        if "grid" not in d and isinstance(d.get("sigmas"), list):  # a report from before grids
            d = {**d, "grid": {"sigma": d["sigmas"]}}
        axes = from_plan(d.get("grid"))
        config, seeds, steps = d.get("config"), d.get("seeds"), d.get("steps")
        if not isinstance(config, dict) or set(config) - {f for f in SETUP} - {"eval_every"}:
            raise UserError("its config is missing or names unknown settings")
        if (not isinstance(seeds, list) or not seeds or not all(_whole(s) for s in seeds)
                or seeds != list(range(seeds[0], seeds[0] + len(seeds)))):
            raise UserError("its seeds must be consecutive whole numbers")
        if not _whole(steps) or steps < 0:
            raise UserError("its steps must be a whole number >= 0")
        try:
            base = replace(Config(), **{k: v for k, v in config.items() if k != "eval_every"}, seed=seeds[0])
        except TypeError:
            raise UserError("its config is not a setup") from None
        return cls(base, tuple(axes), len(seeds), steps)


def report(plan: Plan, runs: list[dict], **about) -> dict:
    """A sweep's --json report (and the app's JSON export): the plan, ``about`` (where it
    ran, its wall time), whether it is partial, every run, and the summary per cell."""
    planned = len(plan.configs())
    return {**plan.to_dict(), **about, "partial": len(runs) < planned, "planned_runs": planned, "runs": runs,
            "summary": summarise(runs, plan.fields)}


def csv_rows(runs: list[dict], fields: tuple[str, ...]) -> list[dict]:
    """One row per run for CSV: the grid's settings, the seed, status and steps, the figures,
    then the rest of its setup."""
    first = [*fields, "seed", "status", "steps"]
    return [{**{k: r.get(k) for k in first}, **{k: v for k, v in r.items() if k not in first}} for r in runs]


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def start(out: Output, plan: Plan) -> None:
    """Make the results file: its first line (the plan and the versions), as a whole file."""
    write(out, to_json({"smtui_sweep": FORMAT, **plan.to_dict(), "versions": versions()}, indent=None))


def drop_cut_line(out: Output) -> None:
    """Before resuming: a last line a crash cut short is removed, so the next run's record
    starts a line of its own (the run is done again)."""
    trim_cut_line(out.path)


def append_run(out: Output, run: dict) -> None:
    """Add one finished run to the results file (appended and synced)."""
    append_file(out.path, to_json({"run": run}, indent=None))


@dataclass(frozen=True)
class Read:
    """A sweep read back: its plan, the runs that finished (in the grid's order, each once),
    the versions its runs were made with (None for a report), and whether a last line cut
    short by a crash was dropped."""

    plan: Plan
    runs: list[dict]
    versions: dict | None
    dropped_cut_line: bool = False


def read(path, what: str = "sweep file") -> Read:
    """A results file (JSON Lines) or a sweep's --json report; every refusal is one line
    naming the file."""
    text = read_text(path, what, MAX_BYTES)
    try:
        return _parse(text)
    except UserError as exc:
        raise UserError(f"{what} {name(path)}: {exc}") from None


def _parse(text: str) -> Read:
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and "runs" in whole:  # a --json report
        plan = Plan.from_dict(whole)
        runs = whole["runs"] if isinstance(whole["runs"], list) else None
        if runs is None:
            raise UserError("its runs are not a list")
        config = plan.to_dict()["config"]
        return Read(plan, _checked(plan, [{**config, **r} if isinstance(r, dict) else r for r in runs], 1), None)
    lines = text.split("\n")
    cut = lines[-1] != ""  # the last record has no newline: cut short while being written
    lines = lines[:-1]
    if not lines:
        raise UserError("it is empty; is it a sweep's --out file?")
    head = _json_line(lines[0], 1)
    if not isinstance(head, dict) or head.get("smtui_sweep") != FORMAT:
        raise UserError("it is not a sweep's results file (no sweep plan on its first line)")
    plan = Plan.from_dict(head)
    runs = []
    for i, line in enumerate(lines[1:], start=2):
        record = _json_line(line, i)
        if not isinstance(record, dict) or not isinstance(record.get("run"), dict):
            raise UserError(f"line {i} is not a run's record")
        runs.append(record["run"])
    return Read(plan, _checked(plan, runs, 2), head.get("versions"), cut)


def _json_line(line: str, number: int):
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"line {number} is not JSON ({exc.msg})") from None


def _checked(plan: Plan, runs: list, first_line: int) -> list[dict]:
    """The runs that belong to the plan, each once, in its order; anything else refused."""
    order = {run_key(cfg): i for i, cfg in enumerate(plan.configs())}
    kept: dict[str, dict] = {}
    for i, run in enumerate(runs):
        where = f"run {i + 1}" if first_line == 1 else f"line {i + first_line}"
        if not isinstance(run, dict) or any(k not in run for k in SETUP) or run.get("status") not in STATUSES:
            raise UserError(f"{where} is not a whole run (its setup or status is missing)")
        if any(not _figure(run.get(k)) for k in FIGURES):
            raise UserError(f"{where} has a figure that is not a number")
        key = run_key(run)
        if key not in order:
            raise UserError(f"{where} is a run outside its grid")
        kept.setdefault(key, run)
    return sorted(kept.values(), key=lambda r: order[run_key(r)])


def _figure(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def check_resumable(found: Read, plan: Plan | None) -> None:
    """--resume continues the file's own sweep, with the versions that made its runs."""
    if plan is not None and plan.to_dict() != found.plan.to_dict():
        raise UserError("holds another sweep (its setup, grid, seeds or steps differ from the flags given); "
                        "give the same flags, or only --out FILE --resume to continue it as it was")
    if found.versions is None:
        raise UserError("is a --json report; --resume continues a results file made with --out")
    differs = first_difference(versions(), found.versions)
    if differs:
        raise UserError(f"was made with other versions ({differs}); its runs and new ones would not match: resume "
                        "it with those versions, or start afresh with --force")
