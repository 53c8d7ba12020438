"""Time to build one frame of each panel, as the app's worker builds it (the plot's
``Text`` and its rows as Strips), at the panel sizes the app lays out for each terminal.

    python benchmarks/frame_build.py [--sizes 80x24,120x40,200x60] [--repeats 15]

Histories and setup-change marks are at the trainer's caps (the slowest case a long
run reaches). Prints median milliseconds; a panel over the budget at 120x40 is
flagged. Asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import table
from smtui.core.config import Config
from smtui.core.trainer import MAX_MARKS, Trainer
from smtui.tui.render import frames, onescale
from smtui.tui.render import report as render
from smtui.tui.render.status import status_text
from smtui.tui.runner.protocol import Report, grid_shape, pack, unpack

BUDGET_MS = 30.0  # issue 4: every frame at 120x40
BUDGET_SIZE = "120x40"
PANELS = (*frames.PLOTS, "setup", "status")


async def _panel_sizes(width: int, height: int) -> dict[str, tuple[int, int]]:
    """The content size of every panel as the app lays it out in a terminal this big."""
    from smtui.tui.app import SMApp  # imported here: Textual is only needed for the layout

    app = SMApp(Config(), runner_mode="thread")
    async with app.run_test(size=(width, height)) as pilot:
        await pilot.pause()
        return {wid: tuple(app.main.query_one(f"#{wid}").content_size) for wid in PANELS}


def _trained(config: Config, steps: int, samples: int) -> tuple[Trainer, np.ndarray]:
    t = Trainer(config)
    t.evaluate()
    t.train(steps, evaluate=False)
    t.evaluate()
    return t, t.langevin_samples(samples, 50)


def _full(history: np.ndarray, rows: int, rng: np.random.Generator) -> np.ndarray:
    """A history at ``rows`` rows: the real one repeated over later steps, jittered."""
    reps = -(-rows // max(len(history), 1))
    h = np.tile(history, (reps, 1))[:rows].copy()
    h[:, 0] = np.arange(rows) * max(1.0, float(history[-1, 0]) / max(len(history), 1))
    h[:, 1:] *= 1 + 0.01 * rng.standard_normal(h[:, 1:].shape)
    return h


def report_for(t: Trainer, samples: np.ndarray, field_size: tuple[int, int], capacity: int) -> Report:
    rng = np.random.default_rng(0)
    snap = t.snapshot(field_shape=grid_shape(*field_size, t.dim), figures=False, samples=samples)
    losses = _full(snap.losses, capacity, rng)
    marks = tuple((int(step), "setup changed") for step in np.linspace(0, losses[-1, 0], MAX_MARKS))
    snap = dataclasses.replace(snap, losses=losses, marks=marks,
                               identity_history=_full(snap.identity_history, capacity, rng),
                               scale_history=_full(snap.scale_history, capacity, rng))
    return unpack(pack(Report(snapshot=snap, training=True, steps_per_second=1234.0, elapsed=61.0,
                                samples_step=t.step)))


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def cases(report: Report, sizes: dict, label: str) -> dict:
    """name -> a callable building that panel's text and rows."""
    snap = report.snapshot

    def panel(build, wid, *args):
        return lambda: frames.rows(build(*args), *sizes[wid])

    plots = {w: sizes[w] for w in frames.PLOTS}
    # Between evaluations only the field and the loss change: the identity panels are reused.
    evaluated = ("identities", "onescale", "idplot")
    unchanged = {w: v for w, v in frames.build(report, 0, plots).shown.items() if w in evaluated}
    out = {}
    for view, name in enumerate(render.VIEWS):
        out[f"field {label}: {name}"] = panel(render.field_panel, "field", report, view, *sizes["field"])
    return out | {
        "loss": panel(render.loss_panel, "loss", snap, *sizes["loss"]),
        "identities": panel(render.identities_table, "identities", snap),
        "one-scale plot": panel(onescale.one_scale_plot, "onescale", snap, *sizes["onescale"]),
        "ESM-DSM plot": panel(render.identity_plot, "idplot", snap, *sizes["idplot"]),
        "setup": panel(render.setup_text, "setup", snap.config, snap.dim),
        "status": panel(status_text, "status", report),
        "whole frame (5 plots, worker)": lambda: frames.build(report, 0, plots),
        "training frame (identities unchanged)": lambda: frames.build(report, 0, plots, unchanged),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="80x24,120x40,200x60", help="terminal sizes, WxH, comma-separated")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--steps", type=int, default=500, help="training steps before the frames are built")
    p.add_argument("--n-train", type=int, default=512)
    p.add_argument("--samples", type=int, default=400, help="Langevin samples shown")
    p.add_argument("--capacity", type=int, default=2048, help="rows in the loss and identity histories")
    args = p.parse_args(argv)
    terms = args.sizes.split(",")
    trainers = {label: _trained(Config(distribution=dist, n_train=args.n_train, seed=0), args.steps, args.samples)
                for label, dist in (("2-D", "ring8"), ("1-D", "bimodal"))}
    results: dict[str, dict[str, float]] = {}
    for term in terms:
        w, h = (int(v) for v in term.split("x"))
        sizes = asyncio.run(_panel_sizes(w, h))
        for label, (t, samples) in trainers.items():
            report = report_for(t, samples, sizes["field"], args.capacity)
            built = cases(report, sizes, label)
            if label == "1-D":  # the 1-D rows that differ from 2-D: the field views
                built = {k: v for k, v in built.items() if k.startswith("field")}
            for name, fn in built.items():
                fn()  # warm: first-call imports and caches
                results.setdefault(name, {})[term] = _median_ms(fn, args.repeats)
    rows, over = [], []
    order = sorted(results, key=lambda name: not name.startswith("field"))  # field views first, then the rest
    for name in order:
        by_term = results[name]
        flag = ""
        if by_term.get(BUDGET_SIZE, 0.0) > BUDGET_MS and "frame" not in name:
            flag = "✗ over budget"
            over.append(name)
        rows.append([name, *(by_term[t] for t in terms), flag])
    print(table(["panel", *(f"{t} ms" for t in terms), ""], rows,
                f"one frame per panel: median of {args.repeats}, text + rows (histories {args.capacity} rows, "
                f"{MAX_MARKS} marks)"))
    if BUDGET_SIZE in terms:
        which = f": {', '.join(over)}" if over else ""
        print(f"\n{len(over)} panel(s) over {BUDGET_MS:.0f} ms at {BUDGET_SIZE}{which}")


if __name__ == "__main__":
    main()
