"""How good a set of samples is, against points from the target (docs/math.md, "The noise ladder"):

* ``mmd2``: the unbiased squared maximum mean discrepancy with a Gaussian kernel of width
  ``width`` (MMD_WIDTH unless stated), exp(-||a - b||^2 / (2 width^2));
* ``hist_tv``: the total variation between 2-D histograms (1-D for d = 1; for d > 2 on the
  data's first principal plane), over a box around the reference with one more bin for
  everything outside it (a sample far away counts against the sampler);
* for a mixture q with known modes, ``mode_report``: each sample goes to the mode nearest in
  that component's own metric if within WITHIN standard deviations of it (Mahalanobis), the
  mode weights are the shares of those samples, ``weight_tv`` their total variation from q's
  weights, ``off_mode`` the share of samples farther than WITHIN std from every mode;
* ``spread``: the RMS distance from a sample to its nearest reference point, over the same for
  points drawn like the reference (1: as tight as the data; more: blurred).
"""

from __future__ import annotations

import numpy as np

from smtui.core.distributions import GaussianMixture
from smtui.core.field import plane, project

MMD_WIDTH = 0.2
WITHIN = 3.0  # standard deviations: a sample farther than this from every mode is off-mode
HIST_BINS = {1: 48, 2: 24}  # per axis
HIST_PAD = 0.1  # the box: the reference's range, widened by this share of it on each side
_ROWS = 512  # rows of a distance block at once (512 x 2000 x 8 bytes = 8 MB)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = np.sum(a * a, axis=1)[:, None] - 2.0 * a @ b.T + np.sum(b * b, axis=1)[None, :]
    return np.maximum(d2, 0.0)


def _kernel_sum(a, b, width, same: bool) -> float:
    """sum of k(a_i, b_j) over i, j (i != j when ``same``), in blocks of rows."""
    total = 0.0
    for lo in range(0, len(a), _ROWS):
        k = np.exp(_sq_dists(a[lo:lo + _ROWS], b) * (-0.5 / width**2))
        if same:
            idx = np.arange(lo, min(lo + _ROWS, len(a)))
            k[idx - lo, idx] = 0.0
        total += float(k.sum())
    return total


def mmd2(x: np.ndarray, y: np.ndarray, width: float = MMD_WIDTH) -> float:
    """Unbiased MMD^2 between samples x (m, d) and y (n, d), Gaussian kernel of this width."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    centre = y.mean(axis=0)  # distances measured near the data: no cancellation far from 0
    x, y = x - centre, y - centre
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        return float("nan")
    return (_kernel_sum(x, x, width, True) / (m * (m - 1)) + _kernel_sum(y, y, width, True) / (n * (n - 1))
            - 2.0 * _kernel_sum(x, y, width, False) / (m * n))


def _flat(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Points as the histogram sees them: as they are for d <= 2, else on the reference's
    first principal plane (core/field.py's PC1-PC2)."""
    return points if reference.shape[1] <= 2 else project(points, plane(reference, 0))


def hist_tv(x: np.ndarray, reference: np.ndarray) -> float:
    """Total variation between the histograms of x and the reference (see the module's note)."""
    x, reference = _flat(np.asarray(x, float), np.asarray(reference, float)), _flat(np.asarray(reference, float),
                                                                                     np.asarray(reference, float))
    d = reference.shape[1]
    lo, hi = reference.min(axis=0), reference.max(axis=0)
    pad = HIST_PAD * np.maximum(hi - lo, 1e-12)
    edges = [np.linspace(a, b, HIST_BINS[d] + 1) for a, b in zip(lo - pad, hi + pad)]

    def shares(p):
        counts, _ = np.histogramdd(p, bins=edges)
        inside = counts.sum()
        return np.append(counts.ravel(), len(p) - inside) / len(p)

    return 0.5 * float(np.abs(shares(x) - shares(reference)).sum())


def mode_report(x: np.ndarray, q: GaussianMixture, within: float = WITHIN) -> dict:
    """Mode weights, their total variation from q's weights and the off-mode share (see the note)."""
    x = np.asarray(x, dtype=float)
    diff = x[:, None, :] - q.means[None, :, :]
    prec = np.linalg.inv(q.covs)
    maha = np.sqrt(np.einsum("nki,kij,nkj->nk", diff, prec, diff))
    nearest = np.argmin(maha, axis=1)
    on = maha[np.arange(len(x)), nearest] <= within
    counts = np.bincount(nearest[on], minlength=len(q.weights)).astype(float)
    weights = counts / counts.sum() if counts.sum() > 0 else counts
    return {"mode_weights": weights.tolist(), "weight_tv": 0.5 * float(np.abs(weights - q.weights).sum()),
            "off_mode": float(1.0 - on.mean()) if len(x) else 1.0}


def _rms_nearest(a: np.ndarray, b: np.ndarray) -> float:
    near = np.concatenate([_sq_dists(a[lo:lo + _ROWS], b).min(axis=1) for lo in range(0, len(a), _ROWS)])
    return float(np.sqrt(near.mean()))


def spread(x: np.ndarray, reference: np.ndarray, heldout: np.ndarray) -> float:
    """RMS distance from x to its nearest reference point over that of ``heldout`` (drawn like
    the reference, independently of it)."""
    base = _rms_nearest(np.asarray(heldout, float), np.asarray(reference, float))
    return _rms_nearest(np.asarray(x, float), np.asarray(reference, float)) / base if base > 0 else float("nan")


def sample_metrics(x: np.ndarray, reference: np.ndarray, heldout: np.ndarray, q: GaussianMixture | None = None,
                   width: float = MMD_WIDTH) -> dict:
    """Every metric of the samples x: mmd2, hist_tv, spread, and where q's modes are known
    mode_weights, weight_tv, off_mode (None otherwise)."""
    x = np.asarray(x, dtype=float)
    finite = np.isfinite(x).all(axis=1)
    out = {"mmd2": mmd2(x[finite], reference, width), "hist_tv": hist_tv(x[finite], reference),
           "spread": spread(x[finite], reference, heldout), "non_finite": float(1.0 - finite.mean()),
           "mmd_width": width}
    if q is not None:
        modes = mode_report(x[finite], q)
        # a non-finite sample is off every mode
        modes["off_mode"] = float(1.0 - (1.0 - modes["off_mode"]) * finite.mean())
        out.update(modes)
    else:
        out.update(mode_weights=None, weight_tv=None, off_mode=None)
    return out
