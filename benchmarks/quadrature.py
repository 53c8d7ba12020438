"""Accuracy and cost of the 2-D Gauss-Hermite evaluation set against its node count: every
figure's distance from a 40-node rule, and the identities' residuals, relative to the
figures' scale (the tests allow 1e-4), at a trained, the initial and two random thetas.

    python -m benchmarks.quadrature                                   # the study behind NODES_PER_DIM
    python -m benchmarks.quadrature --n-train 16 --sigma 0.3 --k 8 --floor 1e-6 --steps 2   # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import table
from smtui.core import evaluation
from smtui.core.config import Config
from smtui.core.model import init_params
from smtui.core.trainer import Trainer

KEYS = ("esm_sigma", "ism_sigma", "dsm", "c2")
REFERENCE_K = 40


def _figures(data, sigma, thetas, k, floor):
    old = evaluation.NODES_PER_DIM[2], evaluation.NODE_WEIGHT_FLOOR
    evaluation.NODES_PER_DIM[2], evaluation.NODE_WEIGHT_FLOOR = k, floor
    try:
        t0 = time.perf_counter()
        ev = evaluation.build_eval_set(data, sigma, 0)
        build = time.perf_counter() - t0
    finally:
        evaluation.NODES_PER_DIM[2], evaluation.NODE_WEIGHT_FLOOR = old
    t0 = time.perf_counter()
    figs = [evaluation.evaluate(p, ev, fallback=False) for p in thetas]  # the rule itself
    return figs, len(ev.weight) // len(ev.reference), build, (time.perf_counter() - t0) / len(thetas)


def _scale(f):
    return max(abs(f["esm_sigma"]), abs(f["dsm"]), abs(f["ism_sigma"]), f["c3"], 1.0)


def _residual(f):
    return max(abs(f["esm_sigma"] - f["ism_sigma"] - f["c2"]), abs(f["esm_minus_dsm"] - f["esm_minus_dsm_theory"]),
               abs(f["ism_minus_dsm"] - f["ism_minus_dsm_theory"])) / _scale(f)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--distribution", action="append", help="repeatable; default ring8 and moons")
    ap.add_argument("--sigma", action="append", type=float, help="repeatable; default 0.05, 0.1, 0.3, 1")
    ap.add_argument("--k", action="append", type=int, help="nodes per dim, repeatable; default 10-20")
    ap.add_argument("--floor", action="append", type=float, help="relative weight floor; default 1e-12, 1e-6")
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--steps", type=int, default=2000, help="DSM steps for the trained theta")
    args = ap.parse_args(argv)
    rows = []
    for dist in args.distribution or ["ring8", "moons"]:
        for sigma in args.sigma or [0.05, 0.1, 0.3, 1.0]:
            tr = Trainer(Config(objective="dsm", distribution=dist, sigma=sigma, n_train=args.n_train,
                                eval_every=10**9))
            tr.train(args.steps)
            rng = np.random.default_rng(1)
            thetas = [tr.params, init_params(rng, 2, 64),
                      *({"W": s * rng.normal(size=(64, 2)), "b": rng.normal(size=64), "c": rng.normal(0, 0.5, 2)}
                        for s in (1.0, 3.0))]
            ref = _figures(tr.data, sigma, thetas, REFERENCE_K, 1e-16)[0]
            for k in args.k or [10, 12, 14, 16, 20]:
                for floor in args.floor or [1e-12, 1e-6]:
                    figs, per_centre, build, ev_s = _figures(tr.data, sigma, thetas, k, floor)
                    err = max(max(abs(f[key] - r[key]) for key in KEYS) / _scale(r) for f, r in zip(figs, ref))
                    rows.append([dist, sigma, k, f"{floor:g}", per_centre, f"{err:.1e}",
                                 f"{max(_residual(f) for f in figs):.1e}", 1e3 * build, 1e3 * ev_s])
    header = ["data", "sigma", "k", "floor", "nodes/centre", f"max err vs k={REFERENCE_K}", "identity residual",
              "build ms", "evaluate ms"]
    print(table(header, rows, title=f"n_train {args.n_train}; errors relative to the figures' scale"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
