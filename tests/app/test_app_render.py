"""The pure builders behind the panels, and the trainer process's imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.tui.render import frames, plot
from smtui.tui.render import report as render


@pytest.mark.parametrize("distribution", ["ring8", "bimodal"])
@pytest.mark.parametrize("size", [(70, 22), (20, 6)])
def test_every_view_and_panel_draws_at_any_size(distribution, size, report_for):
    r = report_for(Config(distribution=distribution, n_train=64), size=size)
    for view in range(len(render.VIEWS)):
        text, problem = render.safely(render.field_panel, *size, r, view, *size)
        assert problem == "" and text.plain.strip()
    for build in (render.loss_panel, render.identity_plot):
        text, problem = render.safely(build, *size, r.snapshot, *size)
        assert problem == "" and text.plain.strip()
    assert "✓" in render.identities_table(r.snapshot).plain


def test_identity_rows_agree_and_use_the_papers_scaling(report_for):
    r = report_for(Config(distribution="ring8", n_train=64), samples=False)
    rows = {v.label: v for v in render.identity_rows(r.snapshot)}
    f, s = r.snapshot.figures, r.snapshot.config.sigma
    assert list(rows) == ["ESM-DSM", "pairs", "ISM-DSM", "DSM"]
    assert rows["DSM"].theory == pytest.approx(f["dae"] / (2 * s**4))
    assert rows["ISM-DSM"].theory == pytest.approx(-r.snapshot.dim / (2 * s**2))
    # ESM - DSM is the measured one (DSM as training defines it), not the rao-blackwellised
    assert rows["ESM-DSM"].measured == f["esm_minus_dsm_measured"] != f["esm_minus_dsm"]
    assert all(v.verdict == "agree" for v in rows.values())


def test_the_panel_marks_each_verdict_and_nothing_after_a_divergence(report_for):
    """✓ agree, ✗ disagree, ? undecided; after a divergence every row says so, none ticked
    (the issue saw ESM-DSM 0 ±0 -0.7239 ✓ beside a DSM of 2.86e96)."""
    from dataclasses import replace
    from types import MappingProxyType

    r = report_for(Config(distribution="ring8", n_train=64), samples=False)
    shown = render.identities_table(r.snapshot).plain
    assert shown.count("✓") == 4 and "diverged" not in shown
    wrong = dict(r.snapshot.figures, dsm=r.snapshot.figures["dsm"] * 1.01)  # DSM no longer DAE / 2σ⁴
    assert "✗" in render.identities_table(replace(r.snapshot, figures=MappingProxyType(wrong))).plain
    gone = replace(r.snapshot, status="diverged")
    shown = render.identities_table(gone).plain
    assert shown.count("diverged") == 4 and not any(mark in shown for mark in "✓✗?")


def test_reports_survive_pickling_read_only(report_for):
    r = report_for(Config(distribution="bimodal", n_train=64))
    assert not r.snapshot.losses.flags.writeable and not r.snapshot.field.model.flags.writeable
    assert r.snapshot.figures["dsm"] > 0


def test_the_trainer_side_never_imports_the_ui():
    code = ("import sys, smtui.tui.runner.loop, smtui.tui.runner.trainer_job, smtui.tui.runner.compare_job; "
            "print(sorted(m for m in ('textual', 'rich', 'plotext') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- frames: rows built off the UI thread --------------------------------------------------


def test_plots_read_from_plotexts_matrix_match_its_ansi_output(monkeypatch, report_for):
    """plot.text reads plotext's cells; parsing plotext's own ANSI canvas is the
    independent route to the same characters and colours."""
    from rich.console import Console
    from rich.text import Text

    def cells(text):
        return [(ch, seg.style or None) for seg in text.render(Console(width=500)) for ch in seg.text]

    pairs, ours = [], plot.text

    def both(fig):
        text = ours(fig)
        pairs.append((text, Text.from_ansi(fig.monitor.matrix.set_canvas().rstrip("\n"), no_wrap=True, end="")))
        return text

    monkeypatch.setattr(plot, "text", both)
    for distribution in ("ring8", "bimodal"):
        r = report_for(Config(distribution=distribution, n_train=64))
        for view in range(len(render.VIEWS)):
            render.field_panel(r, view, 70, 22)
        render.loss_panel(r.snapshot, 70, 10)
        render.identity_plot(r.snapshot, 46, 17)
    assert len(pairs) == 14
    for mine, plotexts in pairs:
        assert mine.plain == plotexts.plain and cells(mine) == cells(plotexts)


def test_rows_are_cropped_to_the_panel_and_never_wrap():
    from rich.text import Text

    rows = frames.rows(Text("abcdef\nxy\nthird\nfourth"), 4, 3)
    assert [r.text for r in rows] == ["abcd", "xy", "thir"]


def test_unchanged_panels_send_no_rows_and_identity_panels_are_not_redrawn(monkeypatch, report_for):
    r = report_for(Config(distribution="ring8", n_train=64), samples=False)
    sizes = {"field": (70, 22), "loss": (70, 10), "identities": (46, 5), "onescale": (46, 17), "idplot": (36, 10)}
    first = frames.build(r, 0, sizes)
    assert set(first.rows) == set(frames.PLOTS) and not first.problems
    drawn = []
    monkeypatch.setattr(render, "identity_plot", lambda *a: drawn.append(a) or render.Text("redrawn"))
    again = frames.build(r, 0, sizes, first.shown)
    assert again.rows == {} and drawn == []  # same report: nothing new to show, the plot not even drawn
    assert again.texts["idplot"] is first.texts["idplot"]
    other_view = frames.build(r, 1, sizes, first.shown)
    assert set(other_view.rows) == {"field"}
    resized = frames.build(r, 0, {**sizes, "idplot": (40, 12)}, first.shown)
    hidden = frames.build(r, 0, {**sizes, "idplot": (0, 0)}, first.shown)  # at 80x24 the layout hides it
    assert "idplot" not in hidden.texts and not hidden.problems
    assert set(resized.rows) == {"idplot"} and resized.texts["idplot"].plain == "redrawn"


def test_the_field_is_drawn_again_only_when_a_new_one_came(monkeypatch, report_for):
    """Between the trainer's field computations a report keeps the last field object (the
    runner's ``received``): the field panel is then not even drawn; a new field object, a
    new view or new samples draw it."""
    import dataclasses

    r = report_for(Config(distribution="ring8", n_train=64), samples=False)
    sizes = {"field": (70, 22), "loss": (70, 10), "identities": (46, 5), "onescale": (46, 17), "idplot": (36, 10)}
    first = frames.build(r, 0, sizes)
    drawn = []
    monkeypatch.setattr(render, "field_panel", lambda *a: drawn.append(a) or render.Text("redrawn"))
    later = dataclasses.replace(r, snapshot=dataclasses.replace(r.snapshot, step=r.snapshot.step + 50))
    kept = frames.build(later, 0, sizes, first.shown)
    assert drawn == [] and kept.texts["field"] is first.texts["field"]
    field = r.snapshot.field
    new = dataclasses.replace(later, snapshot=dataclasses.replace(later.snapshot, field=dataclasses.replace(field)))
    assert set(frames.build(new, 0, sizes, first.shown).rows) >= {"field"} and len(drawn) == 1
    frames.build(later, 3, sizes, first.shown)
    samples = dataclasses.replace(later, snapshot=dataclasses.replace(later.snapshot, samples=np.zeros((3, 2))))
    frames.build(samples, 0, sizes, first.shown)
    assert len(drawn) == 3


@pytest.mark.parametrize("sigma", [1e-3, 0.3, 1e3])
def test_identity_lines_fit_the_compact_panel_with_whole_numbers_and_a_verdict(sigma, report_for):
    """At 80x24 the identities panel is 40 cells wide: a number cut inside its exponent
    (-3.98595e-284 shown as -3.98595e-) reads as another value, so numbers shrink instead."""
    r = report_for(Config(distribution="gaussian", n_train=64, sigma=sigma), samples=False)
    lines = render.identities_table(r.snapshot).plain.splitlines()[:-1]
    for line in lines:
        assert len(line) <= 40 and line[-1] in "✓✗?", line
        for field in line[8:18], line[28:38]:
            float(field.strip().replace("—", "nan"))  # each number whole
    assert render._num(-3.98595e-284) == "-3.99e-284" and render._num(-6.38854) == "  -6.38854"


@pytest.mark.parametrize("size", [(70, 22), (118, 37), (36, 11), (150, 44)])
def test_the_density_view_has_no_blank_stripe(size, report_for):
    """The grid is laid out for arrows; drawn point by point, two grid columns (or rows) could
    share a cell of the plot and leave the next cell blank in every row (a stripe through the
    density)."""
    r = report_for(Config(distribution="ring8", n_train=256), samples=False, size=size)
    text, problem = render.safely(render.field_panel, *size, r, render.VIEWS.index("model density"), *size)
    assert problem == ""
    rows = [line for line in text.plain.splitlines() if "│" in line or "┤" in line][1:-1]
    inner = [line.split("┤" if "┤" in line else "│", 1)[1].rstrip("│") for line in rows]
    width = max(len(line) for line in inner)
    inked = [any(i < len(line) and line[i] != " " for line in inner) for i in range(width)]
    first, last = inked.index(True), width - 1 - inked[::-1].index(True)
    assert all(inked[first:last + 1]), "".join("#" if k else "_" for k in inked)
    across = [line.strip() != "" for line in inner]
    first, last = across.index(True), len(across) - 1 - across[::-1].index(True)
    assert all(across[first:last + 1]), "".join("#" if k else "_" for k in across)


def test_the_pairs_row_is_undecided_when_a_few_pairs_carry_its_spread(report_for):
    """At sigma = 1e-3 nearly all of the pairs estimator's spread sits in under 1% of the
    pairs, so its sample standard error is not to be trusted: ? instead of a ✗ that reads as
    'the identity fails'. At the default sigma the tail share is that of ordinary noise."""
    from smtui.core.evaluation import TAIL_LIMIT, tail_share

    rng = np.random.default_rng(0)
    assert tail_share(rng.standard_normal(100_000)) == pytest.approx(0.09, abs=0.02)
    small = report_for(Config(distribution="ring8", sigma=1e-3), steps=100, samples=False)
    assert small.snapshot.figures["esm_minus_dsm_pairs_tail"] > TAIL_LIMIT
    rows = {v.label: v for v in render.identity_rows(small.snapshot)}
    assert rows["pairs"].verdict == "undecided" and "rare" in rows["pairs"].reason
    usual = report_for(Config(distribution="ring8", n_train=64), samples=False)
    assert usual.snapshot.figures["esm_minus_dsm_pairs_tail"] < TAIL_LIMIT
    assert {v.label: v.verdict for v in render.identity_rows(usual.snapshot)}["pairs"] == "agree"
