"""What the objectives of a comparison share besides their minibatches (one draw per step
for all, core/batches.py): the exact batch, and one scale.

* ``exact_batch`` is the expectation itself as one weighted batch: the evaluation set's
  quadrature pairs (x_t, x_t + sigma z_k) with their weights for the q_sigma objectives,
  the whole training set for the clean ones, each row with its weight: the objectives'
  definitions (core/objectives.py) and their fast path (core/fused.py) take per-row
  weights, so exact mode trains through the same gradient as a minibatch.
* ``shift`` puts each objective on its group's scale by its exact constant (docs/math.md,
  "one scale for all objectives"): ESM_qsigma; DSM + C2 - C3; ISM_qsigma + C2;
  DAE / (2 sigma^4) + C2 - C3. The clean objectives share ESM_q (ESM_q; ISM_q + C1) when
  q is analytic; the two groups have no common scale and are never mixed.
"""

from __future__ import annotations

import numpy as np

from smtui.core.errors import UserError
from smtui.core.evaluation import NODES_PER_DIM, EvalSet, gauss_hermite_nodes
from smtui.core.fused import with_ones
from smtui.core.model import jacobian_diagonal
from smtui.core.objectives import OBJECTIVES
from smtui.core.text import quoted

SIGMA_GROUP = ("esm-sigma", "ism-sigma", "dsm", "dae")  # fit q_sigma: the ESM_qsigma scale
CLEAN_GROUP = ("esm", "ism", "ism-reg")  # fit q itself: the ESM_q scale
DEFAULT_OBJECTIVES = ("esm-sigma", "dsm", "ism-sigma", "dae")
MIN_RUNS, MAX_RUNS = 2, 4


def check_objectives(names) -> tuple[str, ...]:
    """2 to 4 distinct known objectives from one group, else a one-line UserError."""
    names = tuple(names)
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise UserError(f"unknown objective {quoted(unknown[0])}; choose from: {', '.join(OBJECTIVES)}")
    if len(set(names)) != len(names):
        raise UserError(f"each objective may appear once, got {quoted(','.join(names))}")
    if not MIN_RUNS <= len(names) <= MAX_RUNS:
        raise UserError(f"compare takes {MIN_RUNS} to {MAX_RUNS} objectives, got {len(names)}")
    clean = [n for n in names if n in CLEAN_GROUP]
    if clean and len(clean) != len(names):
        other = next(n for n in names if n not in CLEAN_GROUP)
        raise UserError(f"{clean[0]} fits q itself (scale ESM_q) and {other} fits q_sigma (scale ESM_qsigma): no "
                        f"common scale; compare {', '.join(CLEAN_GROUP)} together, or {', '.join(SIGMA_GROUP)}")
    return names


def scale_name(names, analytic: bool) -> str:
    """The one scale every curve of this comparison is drawn on."""
    if names[0] not in CLEAN_GROUP:
        return "ESM_qσ"
    return "ESM_q" if analytic else "ISM on D (sample-only data: no C1 to reach ESM_q)"


# --- the exact batch -----------------------------------------------------------------------


def exact_batch(names, ev: EvalSet, data: np.ndarray, data_score=None) -> tuple[dict, str]:
    """(name -> weighted batch, a note saying what the expectation is taken over). Each
    batch is laid out as a minibatch is (core/batches.py), with the rows' weights in "weight"
    (summing to 1): the objectives' definitions and core/fused.py take it as it is."""
    d = data.shape[1]
    if names[0] in CLEAN_GROUP:
        w = np.full(len(data), 1.0 / len(data))
        x1 = with_ones(data)
        out = {n: {"x": x1[:, :d], "x1": x1, "weight": w} for n in names}
        if "esm" in names:
            out["esm"]["target"] = data_score
        return out, (f"exact: all {len(data):,} training points as one batch (ESM and ISM on D differ by more "
                     "than a constant: integration by parts needs q, not D)")
    if ev.method == "quadrature":
        z, wz = gauss_hermite_nodes(ev.dim, NODES_PER_DIM.get(ev.dim, 8))
        x = np.repeat(ev.reference, len(wz), axis=0)
        xt = (ev.reference[:, None, :] + ev.sigma * z[None, :, :]).reshape(-1, ev.dim)
        w, target = ev.weight, ev.post.score
        note = (f"exact: the evaluation set's {len(xt):,} quadrature pairs as one batch (slower per step; "
                "equal gradients to the quadrature's precision)")
    else:
        x, xt, target = ev.pair_x, ev.pair_xt, ev.pair_score
        w = np.full(len(xt), 1.0 / len(xt))
        note = (f"exact: {ev.dim}-D has no quadrature; the evaluation set's {len(xt):,} fixed pairs as one batch "
                "(Monte Carlo: the runs agree only to its noise; slower per step)")
    xt1 = with_ones(xt)
    out = {}
    for n in names:
        if n == "esm-sigma":
            out[n] = {"x": xt1[:, :d], "x1": xt1, "target": target, "weight": w}
        elif n == "ism-sigma":
            out[n] = {"x": xt1[:, :d], "x1": xt1, "weight": w}
        else:
            out[n] = {"x": x, "xt": xt1[:, :d], "xt1": xt1, "weight": w}
    return out, note


# --- one scale -----------------------------------------------------------------------------


def loss_scale(name: str, sigma: float) -> float:
    """The factor taking the objective to its scale: 1/(2 sigma^4) for DAE (DSM = DAE/(2 sigma^4))."""
    return 1.0 / (2.0 * sigma**4) if name == "dae" else 1.0


def shift(name: str, figs: dict, sigma: float, reg: float | None = None) -> float | None:
    """The objective's value at the evaluated parameters, on its group's scale. ``figs``
    are ``smtui.core.evaluation.evaluate``'s figures; ``reg`` is E sum_i (d psi_i/dx_i)^2 times
    lambda on the same points (ism-reg only; its regulariser has no constant and stays)."""
    gap = figs["esm_minus_dsm_theory"]  # C2 - C3
    if name == "esm-sigma":
        return figs["esm_sigma"]
    if name in ("dsm", "dae"):  # as training defines them, not through the posterior (docs/math.md)
        value = figs.get(f"{name}_measured")
        return None if value is None else value * loss_scale(name, sigma) + gap
    if name == "ism-sigma":
        return figs["ism_sigma"] + figs["c2"]
    if name == "esm":
        return figs["esm"]
    base = figs["ism"] + figs["c1"] if figs.get("ism") is not None else figs["ism_data"]
    return base + (reg or 0.0) if name == "ism-reg" else base


def reg_term(params: dict, ev: EvalSet, sigma: float, lam: float) -> float:
    """lambda E sum_i (d psi_i / d x_i)^2 on the points ``shift`` evaluates ISM on."""
    a = ev.analytic
    pts, w = (a.nodes, a.weights) if a is not None else (ev.data_points, None)
    p = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    diag = jacobian_diagonal(p, pts, sigma)
    rows = np.sum(diag * diag, axis=1)
    return float(lam * (w @ rows if w is not None else rows.mean()))
