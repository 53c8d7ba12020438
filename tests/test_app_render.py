"""The pure builders behind the panels, and the trainer process's imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.config import Config
from core.trainer import Trainer
from tui import render
from tui.protocol import Report, grid_shape, pack, unpack


def report_for(config: Config, steps=20, samples=True, size=(70, 22)) -> Report:
    t = Trainer(config)
    t.evaluate()
    t.train(steps, evaluate=False)
    t.evaluate()
    snap = t.snapshot(field_shape=grid_shape(*size, t.dim), figures=False,
                      samples=t.langevin_samples(50, 20) if samples else None)
    return unpack(pack(Report(snap, False, "", None, 0.0, t.step if samples else None)))


@pytest.mark.parametrize("distribution", ["ring8", "bimodal"])
@pytest.mark.parametrize("size", [(70, 22), (20, 6)])
def test_every_view_and_panel_draws_at_any_size(distribution, size):
    r = report_for(Config(distribution=distribution, n_train=64), size=size)
    for view in range(len(render.VIEWS)):
        text, problem = render.safely(render.field_panel, *size, r, view, *size)
        assert problem == "" and text.plain.strip()
    for build in (render.loss_panel, render.identity_plot):
        text, problem = render.safely(build, *size, r.snapshot, *size)
        assert problem == "" and text.plain.strip()
    assert "✓" in render.identities_table(r.snapshot).plain


def test_identity_rows_agree_and_use_the_papers_scaling():
    r = report_for(Config(distribution="ring8", n_train=64), samples=False)
    rows = {name: (m, t, ok) for name, m, _, t, _, ok in render.identity_rows(r.snapshot)}
    f, s = r.snapshot.figures, r.snapshot.config.sigma
    assert rows["DSM"][1] == pytest.approx(f["dae"] / (2 * s**4))
    assert rows["ISM-DSM"][1] == pytest.approx(-r.snapshot.dim / (2 * s**2))
    assert all(ok for _, _, ok in rows.values())


def test_agrees_uses_standard_errors_when_given():
    assert render.agrees(1.0, 1.0005)
    assert not render.agrees(1.0, 1.01)
    assert render.agrees(1.0, 1.2, se=0.1) and not render.agrees(1.0, 1.4, se=0.1)


def test_reports_survive_pickling_read_only():
    r = report_for(Config(distribution="bimodal", n_train=64))
    assert not r.snapshot.losses.flags.writeable and not r.snapshot.field.model.flags.writeable
    assert r.snapshot.figures["dsm"] > 0


def test_the_trainer_side_never_imports_the_ui():
    code = "import sys, tui.bridge; print(sorted(m for m in ('textual', 'rich', 'plotext') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
