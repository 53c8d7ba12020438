"""How precise the figures are, by sigma: the engine's evaluation (Gauss-Hermite quadrature
for d <= 2) against a plain Monte Carlo reference written here (x from the data, xt = x +
sigma eps, the Parzen score by its own log-sum-exp), at the trained, the initial and a
random theta (W ~ N(0, 1): large weights, sharp sigmoids). Prints, per sigma and theta, the
largest |engine - Monte Carlo| over ESM_qsigma, ISM_qsigma and DSM relative to the figures'
scale, its z-score, and the ISM - DSM identity's residual relative to the scale (the
quadrature's own error check: the theory value is exact). A second table (--sharpness) gives
the error against how sharp the model is across a Parzen bump, sigma max_j ||W_j||: every
figure against a 48-node rule, and the identity's residual.

    python -m benchmarks.precision                            # the table in the README
    python -m benchmarks.precision --sharpness                # the second table in the README
    python -m benchmarks.precision --sigma 0.3 --mc 20000 --steps 20 --n-train 64   # a smoke run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import table
from smtui.core import evaluation
from smtui.core.config import Config
from smtui.core.evaluation import build_eval_set, evaluate
from smtui.core.trainer import Trainer


def _score(p, x, sigma):
    s = 1.0 / (1.0 + np.exp(-np.clip(x @ p["W"].T + p["b"], -500, 500)))
    return (s @ p["W"] + p["c"] - x) / sigma**2, s


def _monte_carlo(p, data, sigma, m, rng):
    """Means and standard errors of ESM_qsigma, ISM_qsigma and DSM per point, in chunks."""
    sums = {k: [] for k in ("esm_sigma", "ism_sigma", "dsm")}
    for lo in range(0, m, 20000):
        k = min(20000, m - lo)
        x = data[rng.integers(0, len(data), k)]
        xt = x + sigma * rng.standard_normal(x.shape)
        psi, s = _score(p, xt, sigma)
        div = ((s * (1 - s)) @ (p["W"] ** 2).sum(1) - data.shape[1]) / sigma**2
        logits = -((xt[:, None, :] - data[None]) ** 2).sum(-1) / (2 * sigma**2)
        w = np.exp(logits - logits.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        g = (w @ data - xt) / sigma**2
        sums["esm_sigma"].append(0.5 * ((psi - g) ** 2).sum(1))
        sums["ism_sigma"].append(0.5 * (psi**2).sum(1) + div)
        sums["dsm"].append(0.5 * ((psi - (x - xt) / sigma**2) ** 2).sum(1))
    out = {}
    for key, parts in sums.items():
        v = np.concatenate(parts)
        out[key] = (v.mean(), v.std(ddof=1) / np.sqrt(len(v)))
    return out


def _with_nodes(k, floor, build):
    old = evaluation.NODES_PER_DIM[2], evaluation.NODE_WEIGHT_FLOOR
    evaluation.NODES_PER_DIM[2], evaluation.NODE_WEIGHT_FLOOR = k, floor
    try:
        return build()
    finally:
        evaluation.NODES_PER_DIM[2], evaluation.NODE_WEIGHT_FLOOR = old


def sharpness_table(sigmas, n_train: int) -> str:
    """Error against sigma * max ||W_j||, with W = s * N(0, 1) for a range of s."""
    rows = []
    keys = ("esm_sigma", "ism_sigma", "dsm")
    for sigma in sigmas:
        data = Trainer(Config(sigma=sigma, n_train=n_train)).data
        ev = build_eval_set(data, sigma, 0)
        ref = _with_nodes(48, 1e-16, lambda: build_eval_set(data, sigma, 0))  # noqa: B023
        for target in (0.3, 1.0, 3.0, 10.0, 30.0):
            rng = np.random.default_rng(5)
            W = rng.normal(size=(64, 2))
            W *= target / (sigma * np.linalg.norm(W, axis=1).max())
            p = {"W": W, "b": rng.normal(size=64) * target / sigma, "c": rng.normal(0, 0.5, 2)}
            f, r = evaluate(p, ev, fallback=False), evaluate(p, ref, fallback=False)
            scale = max(abs(f["esm_sigma"]), abs(f["dsm"]), abs(f["ism_sigma"]), f["c3"])
            err = max(abs(f[k] - r[k]) for k in keys) / scale
            residual = abs(f["ism_minus_dsm"] - f["ism_minus_dsm_theory"]) / scale
            rows.append([f"{sigma:g}", f"{target:g}", f"{err:.1e}", f"{residual:.1e}"])
    return table(["sigma", "sigma max||W_j||", "max |16-node - 48-node| / scale", "ISM-DSM residual / scale"],
                 rows, f"ring8, n_train {n_train}, random W scaled to the sharpness shown")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigma", action="append", type=float, help="repeatable; default 0.01 .. 1000")
    ap.add_argument("--distribution", default="ring8")
    ap.add_argument("--n-train", type=int, default=256)
    ap.add_argument("--steps", type=int, default=1000, help="DSM steps for the trained theta")
    ap.add_argument("--mc", type=int, default=200_000, help="Monte Carlo pairs for the reference")
    ap.add_argument("--sharpness", action="store_true", help="the table by sigma * max ||W_j|| instead")
    args = ap.parse_args(argv)
    if args.sharpness:
        print(sharpness_table(args.sigma or [0.1, 1.0, 10.0, 1000.0], min(args.n_train, 128)))
        return 0
    rows = []
    for sigma in args.sigma or [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0, 1000.0]:
        t = Trainer(Config(distribution=args.distribution, sigma=sigma, n_train=args.n_train, eval_every=10**9))
        init = {k: np.array(v, dtype=float) for k, v in t.params.items()}
        t.train(args.steps, evaluate=False)
        rng = np.random.default_rng(7)
        h, d = init["W"].shape
        thetas = {"trained": {k: np.array(v, dtype=float) for k, v in t.params.items()}, "initial": init,
                  "W~N(0,1)": {"W": rng.normal(size=(h, d)), "b": rng.normal(size=h), "c": rng.normal(0, 0.5, d)}}
        for name, p in thetas.items():
            f = evaluate(p, t.eval_set, fallback=False)  # the quadrature itself, however sharp
            mc = _monte_carlo(p, t.data, sigma, args.mc, np.random.default_rng(11))
            scale = max(abs(f["esm_sigma"]), abs(f["dsm"]), abs(f["ism_sigma"]), f["c3"])
            errs = {k: abs(f[k] - mc[k][0]) for k in mc}
            worst = max(errs, key=errs.get)
            z = errs[worst] / mc[worst][1] if mc[worst][1] > 0 else float("inf")
            residual = abs(f["ism_minus_dsm"] - f["ism_minus_dsm_theory"]) / scale
            sharp = sigma * np.linalg.norm(p["W"], axis=1).max()
            rows.append([f"{sigma:g}", name, f"{sharp:.3g}", f"{errs[worst] / scale:.1e}", worst, f"{z:.1f}",
                         f"{mc[worst][1] / scale:.1e}", f"{residual:.1e}"])
    print(table(["sigma", "theta", "sigma max||W_j||", "max |quad - MC| / scale", "figure", "z", "MC se / scale",
                 "ISM-DSM residual / scale"], rows, f"{args.distribution}, n_train {args.n_train}, "
                f"{args.mc:,} Monte Carlo pairs; scale = max(|ESM|, |ISM|, |DSM|, C3)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
