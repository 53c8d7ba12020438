"""Verdicts that could have failed (docs/math.md, "Verdicts"): one rule for every identity
smtui checks, used by the app's identities panel, ``smtui run`` and its JSON.

Each identity is a measured value, a theory value and a bound on their difference:

    bound = tol + 3 se        (tol: what rounding, and for quadrature the rule, leaves;
                               se: the standard error of the difference, Monte Carlo;
                               the rows measured with DSM as training defines it carry
                               one error, rounding and rule included: bound = 3 error)

and ``resolve``, what the check must be able to see: the larger of the two sides, and
for the identities that assert a cancellation, the size of the theta-dependent terms
that cancel (a wrong score or target would leave them). The verdict is

* "agree" when |difference| <= bound and bound < RESOLVE_FRACTION * resolve: the check
  could have failed, and did not;
* "disagree" when |difference| > bound: the difference is more than the estimator and
  the arithmetic can leave;
* "undecided" otherwise: a bound as large as what it must resolve, a figure that is
  missing or not finite, a sample whose standard error is not to be trusted (a few rare
  values carry its spread: ``tail`` over TAIL_LIMIT), or parameters that diverged (after a
  divergence nothing is ticked: ``reason`` says "diverged").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smtui.core.evaluation import TAIL_LIMIT

AGREE, UNDECIDED, DISAGREE = "agree", "undecided", "disagree"
# A tick needs a bound below this share of what it must resolve: a failure of that size (a
# wrong score or target leaves terms of the size of those that should cancel) would then
# move the difference by four bounds or more.
RESOLVE_FRACTION = 0.25
_ULPS = 256 * 2.0**-52  # without a tolerance: a few hundred ulps of the larger side


@dataclass(frozen=True)
class Verdict:
    """One identity's check; ``error`` is the difference's standard error or, for the rows
    measured by quadrature, its precision (shown as ±; None when only rounding bounds it)."""

    key: str  # the JSON name: metrics.verdicts.<key>
    label: str  # the panel's row name
    theory_label: str
    measured: float | None
    theory: float | None
    error: float | None
    difference: float | None
    bound: float | None
    resolve: float | None
    verdict: str  # AGREE, UNDECIDED or DISAGREE
    reason: str = ""  # why undecided, in a few words ("" when decided)

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "difference": self.difference, "bound": self.bound,
                "measured": self.measured, "theory": self.theory, "resolve": self.resolve, "reason": self.reason}


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def judge(measured, theory, se=None, tol=None, cancel=None, tail=None, diverged=False) -> tuple[str, dict]:
    """(verdict, details) for one identity by the rule above; details hold difference, bound,
    resolve and reason. ``se`` is the difference's standard error (None when exact), ``tol``
    what rounding and the rule leave (None: a few hundred ulps of the larger side), ``cancel``
    the size of the terms whose cancellation the identity asserts (None: none)."""
    out = {"difference": None, "bound": None, "resolve": None, "reason": ""}
    if not (_finite(measured) and _finite(theory)):
        out["reason"] = "diverged" if diverged else "not finite"
        return UNDECIDED, out
    larger = max(abs(measured), abs(theory))
    tol = _ULPS * larger if tol is None else tol
    if not _finite(tol) or (se is not None and not _finite(se)) or (cancel is not None and not _finite(cancel)):
        out["reason"] = "diverged" if diverged else "not finite"
        return UNDECIDED, out
    bound = tol + (3.0 * se if se is not None else 0.0)
    resolve = larger if cancel is None else min(larger, cancel)
    out.update(difference=measured - theory, bound=bound, resolve=resolve)
    if diverged:
        out["reason"] = "diverged"
        return UNDECIDED, out
    if tail is not None and tail > TAIL_LIMIT:
        out["reason"] = "a few rare values carry the spread"
        return UNDECIDED, out
    if abs(measured - theory) > bound:
        return DISAGREE, out
    if not bound < RESOLVE_FRACTION * resolve:
        out["reason"] = "bound too large"
        return UNDECIDED, out
    return AGREE, out


def _hypot(*ses):
    """The standard error of a difference of independent estimates (None when all exact)."""
    given = [v for v in ses if v is not None]
    return math.hypot(*given) if given else None


def _scaled(value, factor):
    return value * factor if _finite(value) else value


def identity_verdicts(figures, sigma: float, diverged: bool = False) -> tuple[Verdict, ...]:
    """Every identity's verdict from one evaluation's figures (core/evaluation.py), in the
    panel's order: ESM - DSM and ISM - DSM with DSM measured as training defines it, the
    pairs estimate training sees, DSM against DAE/(2 sigma^4), then identities 1 and 2."""
    f = figures
    get = f.get
    s4 = 2.0 * sigma**4
    theory_se = get("esm_minus_dsm_theory_se")
    rows = [
        # key, label, theory label, measured, theory, se, tol, cancel, tail
        ("esm_minus_dsm", "ESM-DSM", "C2-C3", get("esm_minus_dsm_measured"), get("esm_minus_dsm_theory"),
         _hypot(get("esm_minus_dsm_measured_err"), theory_se), 0.0, get("esm_minus_dsm_measured_cancel"), None),
        ("esm_minus_dsm_pairs", "pairs", "C2-C3", get("esm_minus_dsm_pairs"), get("esm_minus_dsm_theory"),
         _hypot(get("esm_minus_dsm_pairs_se"), theory_se), get("esm_minus_dsm_pairs_tol"),
         get("esm_minus_dsm_pairs_cancel"), get("esm_minus_dsm_pairs_tail")),
        ("ism_minus_dsm", "ISM-DSM", "-d/2σ²", get("ism_minus_dsm_measured"), get("ism_minus_dsm_theory"),
         get("ism_minus_dsm_measured_err"), 0.0, get("ism_minus_dsm_measured_cancel"), None),
        ("dsm_dae", "DSM", "DAE/2σ⁴", get("dsm"), _scaled(get("dae"), 1.0 / s4), None, get("dsm_dae_tol"), None, None),
        ("esm_minus_ism_sigma", "ESM-ISM σ", "C2", _difference(get("esm_sigma"), get("ism_sigma")), get("c2"),
         _hypot(get("esm_minus_ism_sigma_se"), get("c2_se")), get("esm_minus_ism_sigma_tol"),
         get("esm_minus_ism_sigma_cancel"), None),
    ]
    if get("esm") is not None:
        rows.append(("esm_minus_ism", "ESM-ISM q", "C1", _difference(get("esm"), get("ism")), get("c1"), None,
                     get("esm_minus_ism_tol"), get("esm_minus_ism_cancel"), None))
    out = []
    for key, label, tlabel, m, t, se, tol, cancel, tail in rows:
        verdict, d = judge(m, t, se, tol, cancel, tail, diverged)
        out.append(Verdict(key, label, tlabel, m, t, se, d["difference"], d["bound"], d["resolve"], verdict,
                           d["reason"]))
    return tuple(out)


def _difference(a, b):
    return a - b if a is not None and b is not None else None
