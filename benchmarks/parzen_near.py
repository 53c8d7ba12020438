"""ESM-sigma's Parzen target per training step: the exact computation (core/parzen.py)
against the neighbour search (core/neighbours.py), at n training points, for a batch of
training-like queries (x + sigma * eps); interleaved medians, and each one's largest
error on 32 of the queries against the score in extended precision (np.longdouble, from
the differences x_t - xt), times sigma, to compare with the stated bound TOLERANCE.

    python -m benchmarks.parzen_near                          # n = 100,000, 2-D
    python -m benchmarks.parzen_near --n 2000 --rounds 1 --sigma 0.05   # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import interleaved, table
from smtui.core import distributions
from smtui.core.neighbours import TOLERANCE, build_index, parzen_score_near
from smtui.core.parzen import parzen_score


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--distribution", action="append", help="a 2-D one, repeatable; default ring8, moons, checkerboard")
    ap.add_argument("--sigma", action="append", type=float, help="repeatable; default 0.001 0.003 0.01 0.03 0.1 0.3")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    rows = []
    for name in args.distribution or ["ring8", "moons", "checkerboard"]:
        data = distributions.sample(name, args.n, 0)
        for sigma in args.sigma or [0.001, 0.003, 0.01, 0.03, 0.1, 0.3]:
            t0 = time.perf_counter()
            index = build_index(data, sigma)
            build = (time.perf_counter() - t0) * 1e3
            rng = np.random.default_rng(1)
            xt = data[rng.integers(0, len(data), args.batch)] + sigma * rng.standard_normal((args.batch, 2))
            runners = {"exact": lambda k, xt=xt, data=data, s=sigma: [parzen_score(xt, data, s) for _ in range(k)]}
            if index is not None:
                runners["near"] = lambda k, xt=xt, index=index: [parzen_score_near(xt, index) for _ in range(k)]
            t = interleaved(runners, args.rounds, 1)
            if index is None:
                rows.append([name, f"{sigma:g}", t["exact"] * 1e3] + ["-"] * 4 + ["no index (radius covers the data)"])
                continue
            truth = _extended(xt[:32], data, sigma)
            errs = [np.abs(got - truth).max() * sigma
                    for got in (parzen_score_near(xt[:32], index), parzen_score(xt[:32], data, sigma))]
            rows.append([name, f"{sigma:g}", t["exact"] * 1e3, t["near"] * 1e3, build, f"{errs[0]:.1e}",
                         f"{errs[1]:.1e}",
                         f"radius {index.radius:.3g}, {'x'.join(map(str, index.cells))} cells"])
            print(table(_HEADER, rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(_HEADER, rows, title=f"ms per batch of {args.batch}, n = {args.n:,}, 2-D, medians of {args.rounds} "
                                       "interleaved rounds; err = largest |score - extended-precision score| "
                                       f"on 32 queries; stated bound for near: err * sigma <= {TOLERANCE:g}"))
    return 0


def _extended(xt, centres, sigma):
    """The Parzen score in extended precision, 8 queries at a time (memory)."""
    out, c, s2 = [], np.asarray(centres, np.longdouble), np.longdouble(sigma) ** 2
    for lo in range(0, len(xt), 8):
        diff = c[None, :, :] - np.asarray(xt[lo : lo + 8], np.longdouble)[:, None, :]
        logits = -np.sum(diff * diff, axis=2) / (2 * s2)
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        out.append(np.einsum("mn,mnd->md", w, diff) / w.sum(axis=1)[:, None] / s2)
    return np.concatenate(out).astype(float)


_HEADER = ["data", "sigma", "exact ms", "near ms", "build ms", "near err*sigma", "exact err*sigma", ""]

if __name__ == "__main__":
    raise SystemExit(main())
