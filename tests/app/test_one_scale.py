"""The one-scale plot (docs/math.md, "One scale for all objectives"): the curves it reads from the
trainer's scale history, and the pure builder that draws them (``smtui.tui.render.onescale``),
tested without an app."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.trainer import SCALE_COLUMNS, Trainer
from smtui.tui.render import onescale

# --- the curves, from the trainer's history ------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """ring8 at sigma 0.3, DSM trained 600 steps, evaluated every 100."""
    t = Trainer(Config(distribution="ring8", n_train=128, eval_every=100, seed=0))
    t.evaluate()
    t.train(600)
    return t


def test_the_shifted_objectives_fall_together_on_esm_sigmas_scale(trained):
    """The shifted curves are ESM_qsigma within the measured identities' reported errors at every
    evaluation, while ESM_qsigma falls; DSM itself stays C2 - C3 away; ESM_q lies above."""
    c = onescale.scale_curves(trained.snapshot().scale_history)
    errs = np.array([e["esm_minus_dsm_measured_err"] for e in trained.evaluations])
    assert np.all(np.abs(c.dsm - c.esm_sigma) <= 3 * errs)
    assert np.all(np.abs(c.dae - c.esm_sigma) <= 3 * errs)
    assert np.all(np.abs(c.ism - c.esm_sigma) <= 1e-3 * np.abs(c.esm_sigma))  # identity 2, by quadrature
    assert c.esm_sigma[-1] < c.esm_sigma[0] / 10
    assert np.allclose(c.raw - c.esm_sigma, -c.gap, rtol=1e-3)
    assert c.gap == pytest.approx(trained.evaluations[-1]["esm_minus_dsm_theory"]) and c.gap < 0
    assert np.all(c.esm_q > c.esm_sigma)


def test_a_new_sigma_starts_the_curves_again():
    """Another sigma is another q_sigma: the curves are drawn from the change on."""
    t = Trainer(Config(distribution="ring8", n_train=64, eval_every=50, seed=0))
    t.train(100)
    t.configure(sigma=0.5)
    t.evaluate()
    t.train(50)
    c = onescale.scale_curves(t.snapshot().scale_history)
    assert list(c.steps) == [100, 150] and c.gap == t.evaluations[-1]["esm_minus_dsm_theory"]


# --- the pure builder -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(40, 5), (46, 10), (46, 17), (80, 30)])
def test_the_plot_fits_its_panel_and_shows_every_curve(trained, size):
    width, height = size
    text = onescale.one_scale_plot(trained.snapshot(), width, height)
    rows = text.plain.split("\n")
    assert len(rows) == height and all(len(r) <= width for r in rows)
    for mark in (onescale.LINE, *onescale.MARKS.values()):
        assert mark in text.plain
    assert "DSM" in text.plain  # DSM itself, C2 - C3 away, named at its end
    if height >= onescale.ROOMY:  # the legend inside, with the gap's value
        assert f"C2−C3 = {onescale.scale_curves(trained.snapshot().scale_history).gap:.4g}" in text.plain
        assert "linear y" in onescale.subtitle(trained.snapshot(), width, height)
    else:
        assert "C2−C3 = " in onescale.subtitle(trained.snapshot(), width, height)
        assert len(onescale.SHORT_TITLE) <= 36  # the legend as the border title of a 42-cell panel


def test_esm_q_far_away_is_named_not_drawn_and_sample_only_data_has_none(trained):
    snap = trained.snapshot()
    h = np.array(snap.scale_history)
    h[:, SCALE_COLUMNS.index("esm")] = 1e6
    far = onescale.one_scale_plot(dataclasses.replace(snap, scale_history=h), 46, 17).plain
    assert "ESM_q 1e+06: off the plot (above)" in far
    h[:, SCALE_COLUMNS.index("esm")] = np.nan  # sample-only data: no ESM_q
    none = onescale.one_scale_plot(dataclasses.replace(snap, scale_history=h), 46, 17).plain
    assert re.search("ESM_q(?!σ)", none) is None


def _history(esm: np.ndarray, gap=-6.0, dsm_off=0.0) -> np.ndarray:
    """A made-up one-scale history whose objectives meet ESM_qsigma exactly (DSM off by ``dsm_off``)."""
    cols = {"step": 100.0 * np.arange(len(esm)), "esm-sigma": esm, "dsm": esm + dsm_off, "ism-sigma": esm,
            "dae": esm, "esm": esm + 3.0, "c2_minus_c3": gap}
    return np.stack([np.broadcast_to(np.asarray(cols[c], dtype=float), esm.shape) for c in SCALE_COLUMNS], axis=1)


def test_a_shifted_objective_that_misses_is_seen_apart(trained):
    """The plot can show a failure: on a level line every letter sits in the dotted line's
    row; a DSM off by a sixth of the range puts its letter in a row of its own."""
    esm = np.full(31, 2.0)
    snap = trained.snapshot()

    def rows_with(text, mark):  # the plot's rows (inside its frame, past step 0's column) holding ``mark``
        rows = text.split("\n")
        left = rows[0].index("┌")
        end = rows.index(next(r for r in rows if "└" in r))
        inside = [r[left + 2:-1].replace("DSM", "").replace("ESM_q", "") for r in rows[1:end]]  # not the names
        return {i for i, r in enumerate(inside) if mark in r}

    good = onescale.one_scale_plot(dataclasses.replace(snap, scale_history=_history(esm)), 46, 17).plain
    bad = onescale.one_scale_plot(dataclasses.replace(snap, scale_history=_history(esm, dsm_off=1.0)), 46, 17).plain
    assert rows_with(good, "D") == rows_with(good, "I") == rows_with(good, "A") == rows_with(good, onescale.LINE)
    assert rows_with(bad, "D").isdisjoint(rows_with(bad, onescale.LINE) | rows_with(bad, "I"))


def test_nothing_yet_is_said_in_words():
    assert "appear here" in onescale.one_scale_plot(None, 40, 5).plain
