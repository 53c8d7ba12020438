"""Each line of the help held to the behaviour it describes (issue 16, item 8): the help's
words are checked here beside what the app draws, so that one cannot change without the other."""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.trainer import Trainer
from smtui.tui.render import onescale
from smtui.tui.render import report as render
from smtui.tui.runner.protocol import Report, grid_shape
from smtui.tui.screens.keys import QUIT_KEYS
from smtui.tui.screens.modals import FIGURES

HELP = re.sub(r"\s+", " ", FIGURES)


@pytest.fixture(scope="module")
def line():
    """1-D data (bimodal), trained a little, with Langevin samples."""
    t = Trainer(Config(distribution="bimodal", n_train=128, seed=0))
    t.evaluate()
    t.train(300, evaluate=False)
    t.evaluate()
    return t


def _report(t: Trainer, samples=None) -> Report:
    snap = t.snapshot(field_shape=grid_shape(70, 22, t.dim), figures=False, samples=samples)
    return Report(snapshot=snap, samples_step=t.step if samples is not None else None)


def test_negative_losses_are_drawn_on_a_linear_axis_as_the_help_says(line):
    assert "on a log10 axis while all are positive, on a linear one once any is not" in HELP
    assert "not drawn" not in HELP
    steps = np.arange(1.0, 201.0)
    loss = np.linspace(5.0, -5.0, 200)  # ISM crossing zero
    snap = dataclasses.replace(line.snapshot(), losses=np.stack([steps, loss], axis=1))
    text = render.loss_panel(snap, 60, 14).plain
    assert "linear y" in text and "log10" not in text
    rows = text.splitlines()
    zero = next(i for i, r in enumerate(rows) if r.lstrip().startswith("0┤"))
    assert any(re.search("[⠁-⣿]", r) for r in rows[zero + 1:])  # the values below zero are drawn


def test_the_1d_views_are_what_the_help_says(line):
    """One curve per view over x; the zero line, where psi crossing it downwards is a mode of
    the model density; the density beside a histogram of the training points, then of the samples."""
    assert "1-D data shows each view as one curve over x: ψ, the data score or their difference" in HELP
    r = _report(line)
    titles = [render.field_panel(r, view, 70, 22).plain.splitlines()[0] for view in range(3)]
    assert "model score ψ(x)" in titles[0] and "data score" not in titles[0]
    assert "data score" in titles[1] and "difference" in titles[2]
    assert "histogram of training points" in render.field_panel(r, 3, 70, 22).plain
    sampled = _report(line, samples=line.langevin_samples(200, 50))
    assert "histogram of Langevin samples" in render.field_panel(sampled, 4, 70, 22).plain
    # "where ψ crosses it downwards the model density has a mode": on the field's own grid
    f = r.snapshot.field
    psi, logp = f.model[:, 0], f.log_density
    down = np.flatnonzero((psi[:-1] > 0) & (psi[1:] <= 0))
    modes = np.flatnonzero((logp[1:-1] >= logp[:-2]) & (logp[1:-1] >= logp[2:])) + 1
    assert len(down) >= 1 and len(down) == len(modes)
    assert all(np.min(np.abs(modes - i)) <= 1 for i in down)


def test_the_verdict_marks_are_the_ones_the_help_explains(line):
    """✓, ✗ and ? as the help defines them; "diverged" rows tick nothing."""
    for words in ("✓ agree", "✗ disagree", "? undecided: the bound is too large", "the rows say \"diverged\""):
        assert words in HELP
    snap = line.snapshot()
    f = dict(snap.figures)
    agree = render.identities_table(snap).plain.splitlines()[0]
    assert agree.startswith("ESM-DSM") and agree.rstrip().endswith("✓")
    undecided = {**f, "esm_minus_dsm_measured_err": 10 * f["esm_minus_dsm_measured_cancel"]}
    row = render.identities_table(dataclasses.replace(snap, figures=MappingProxyType(undecided))).plain
    assert row.splitlines()[0].rstrip().endswith("?")
    wrong = {**f, "esm_minus_dsm_measured": f["esm_minus_dsm_theory"] + 0.5 * f["esm_minus_dsm_measured_cancel"]}
    row = render.identities_table(dataclasses.replace(snap, figures=MappingProxyType(wrong))).plain
    assert row.splitlines()[0].rstrip().endswith("✗")
    gone = render.identities_table(dataclasses.replace(snap, status="diverged")).plain
    assert "diverged" in gone and "✓" not in gone


def test_the_esm_dsm_line_names_its_middle_tick_and_gives_its_range_not_an_uncertainty(line):
    assert "The middle tick is C2 - C3; the two ends are the axis's range, not an uncertainty" in HELP
    text = render.identity_plot(line.snapshot(), 36, 10).plain
    assert "C2-C3┤" in text and "±" not in text
    ends = [float(w) for w in re.findall(r"^ *(-?[\d.]+(?:e-?\d+)?)┤", text, flags=re.M)]
    theory = line.snapshot().figures["esm_minus_dsm_theory"]
    assert len(ends) == 2 and min(ends) < theory < max(ends)
    assert "measured" in text  # the line is the measured ESM - DSM, as the help says


def test_the_one_scale_legend_in_the_help_is_the_plots():
    for key, words in (("dsm", "DSM + (C2 - C3)"), ("ism", "ISM_qσ + C2"), ("dae", "DAE/(2σ⁴) + (C2 - C3)")):
        assert f"{onescale.MARKS[key]} = {words}" in HELP
    assert "ESM_qσ (the dotted line)" in HELP and onescale.LINE == "·"


def test_the_quit_questions_s_says_what_it_does():
    assert [k.short for k in QUIT_KEYS if "save" in k.action] == ["saves, then quits"]
