"""What the quadrature resolves of the identities measured with DSM as training defines it
(core/evaluation.measured_identities): ESM_qsigma - DSM against C2 - C3 and ISM_qsigma - DSM
against -d/(2 sigma^2), each residual relative to the size of the terms subtracted, over
random parameters (weights scaled to a sharpness sigma max_j ||W_j|| up to SHARPNESS_LIMIT,
where the quadrature is used; c moved off zero) on a mixture set and on a set with a tight
cluster, in 1-D and 2-D. The largest ratio is what MEASURED_PRECISION must cover.

    python -m benchmarks.measured_identities                          # the figure quoted in core/evaluation.py
    python -m benchmarks.measured_identities --thetas 2 --n 32 --sigma 0.3   # a smoke run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import table
from smtui.core import distributions
from smtui.core.evaluation import MEASURED_PRECISION, SHARPNESS_LIMIT, build_eval_set, evaluate, sharpness
from smtui.core.model import init_params


def data_sets(d: int, n: int) -> dict:
    rng = np.random.default_rng(9)
    made = np.concatenate([rng.normal(0.0, 0.05, (n * 2 // 5, d)), rng.uniform(-3, 3, (n - n * 3 // 5, d)),
                           rng.normal(2.0, 0.5, (n // 5, d))])
    return {("bimodal" if d == 1 else "ring8"): distributions.sample("bimodal" if d == 1 else "ring8", n, 3),
            "made": made}


def ratios(data, sigma, thetas, rng):
    """Each theta's residual / terms for both identities (quadrature only)."""
    d = data.shape[1]
    ev = build_eval_set(data, sigma, 0)
    out = []
    for _ in range(thetas):
        p = init_params(rng, d, 32)
        target = rng.uniform(0.1, SHARPNESS_LIMIT)
        p["W"] = p["W"] * target / max(sharpness(p, sigma), 1e-300)
        p["c"] = p["c"] + rng.normal(0.0, 1.0, d)
        f = evaluate(p, ev)
        assert f["evaluation"] == "quadrature"
        row = []
        for name, theory in (("esm_minus_dsm_measured", "esm_minus_dsm_theory"),
                             ("ism_minus_dsm_measured", "ism_minus_dsm_theory")):
            terms = f[name + "_err"] / (MEASURED_PRECISION + 256 * np.finfo(float).eps)
            row.append(abs(f[name] - f[theory]) / terms)
        out.append(row)
    return np.array(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sigma", type=float, action="append", help="sigma (repeatable); default 1e-3 to 1e3")
    ap.add_argument("--thetas", type=int, default=10)
    ap.add_argument("--n", type=int, default=256)
    args = ap.parse_args(argv)
    sigmas = args.sigma or [1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0, 1e3]
    rows, worst = [], 0.0
    for d in (1, 2):
        for name, data in data_sets(d, args.n).items():
            for sigma in sigmas:
                r = ratios(data, sigma, args.thetas, np.random.default_rng([d, int(sigma * 1e3)]))
                worst = max(worst, float(r.max()))
                rows.append([f"{d}-D {name}", f"{sigma:g}", f"{r[:, 0].max():.1e}", f"{np.median(r[:, 0]):.1e}",
                             f"{r[:, 1].max():.1e}", f"{np.median(r[:, 1]):.1e}"])
    print(table(["data", "sigma", "ESM-DSM max", "median", "ISM-DSM max", "median"], rows,
                title=f"|measured - theory| / terms over {args.thetas} thetas each (quadrature)"))
    print(f"\nlargest: {worst:.2g} of the terms; MEASURED_PRECISION = {MEASURED_PRECISION:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
