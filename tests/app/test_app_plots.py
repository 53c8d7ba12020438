"""What the plot panels draw, read off their text: the loss for signed objectives and
through a divergence spike, round axis ticks, the arrow-size legend and colours that
stay apart in 256, 16 and no colours, and the 1-D views."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from rich.color import ColorSystem, ColorType
from rich.style import Style

from smtui.core.config import Config
from smtui.tui.render import axes
from smtui.tui.render import field as fieldview
from smtui.tui.render import report as render

BRAILLE = re.compile("[\u2801-\u28ff]")


@pytest.fixture(scope="module")
def ring(report_for):
    return report_for(Config(distribution="ring8", n_train=128), steps=30, size=(70, 22))


@pytest.fixture(scope="module")
def line(report_for):
    return report_for(Config(distribution="bimodal", n_train=128), steps=30, samples=False, size=(70, 22))


def with_losses(report, steps, loss):
    return dataclasses.replace(report.snapshot, losses=np.stack([steps, loss], axis=1).astype(float), marks=())


def y_labels(text) -> list[float]:
    """The numbers left of the plot's y axis, top to bottom."""
    out = []
    for row in text.plain.split("\n"):
        if "┤" in row and row.split("┤")[0].strip():
            out.append(_number(row.split("┤")[0].strip()))
    return out


def x_labels(text) -> list[float]:
    rows = text.plain.split("\n")
    bottom = max(i for i, r in enumerate(rows) if "└" in r)
    return [_number(w) for w in rows[bottom + 1].split()]


def _number(word: str) -> float:
    word = word.replace(",", "").replace("−", "-")
    scale = {"k": 1e3, "M": 1e6}.get(word[-1], 1.0)
    return float(word[:-1] if scale != 1.0 else word) * scale


def curve_rows(text) -> int:
    return sum(bool(BRAILLE.search(row)) for row in text.plain.split("\n"))


# --- 3. the loss of every objective, through spikes -------------------------------------------


def test_negative_losses_are_drawn_on_a_linear_axis_that_says_so(ring):
    steps = np.arange(1, 3001)
    loss = -5.0 - 20.0 * (1 - np.exp(-steps / 400)) + 0.3 * np.sin(steps / 50)  # ISM: below zero all along
    snap = with_losses(ring, steps, loss)
    text = render.loss_panel(snap, 70, 14)
    assert curve_rows(text) >= 6 and "negative" not in text.plain and "linear y" in text.plain
    assert "linear y" in render.loss_subtitle(snap)
    labels = y_labels(text)
    assert len(labels) >= 2 and min(labels) <= -20 and max(labels) <= -5
    signed = with_losses(ring, steps, loss + 15.0)  # crossing zero
    assert curve_rows(render.loss_panel(signed, 70, 14)) >= 6
    positive = with_losses(ring, steps, np.exp(-steps / 500) + 0.01)
    assert "log10 y" in render.loss_panel(positive, 70, 14).plain and "log10" in render.loss_subtitle(positive)


@pytest.mark.parametrize("objective_loss", ["positive", "negative"])
def test_a_divergence_spike_does_not_flatten_the_rest_and_h_drops_it_from_view(ring, objective_loss):
    steps = np.arange(1, 2001)
    loss = 10.0 / np.sqrt(steps) + 0.2 * np.sin(steps / 40)
    loss = loss if objective_loss == "positive" else loss - 20.0
    loss[700:705] = 1e44
    snap = with_losses(ring, steps, loss)
    text = render.loss_panel(snap, 70, 16)
    after = render.loss_panel(with_losses(ring, steps[799:], loss[799:]), 70, 16)
    # the curve after the spike spans several rows, not the bottom one
    assert curve_rows(text) >= 5 and max(abs(v) for v in y_labels(text)) < 1e3
    assert "spike cut" in text.plain
    since = render.loss_panel(snap, 70, 16, since=800)
    assert x_labels(since)[0] >= 800 and since.plain.split("\n")[1:] == after.plain.split("\n")[1:]
    assert "from step 800" in since.plain and "whole history" in render.loss_subtitle(snap, 800)


# --- 4. axis numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("last", [300, 1618, 43486, 1_234_567])
@pytest.mark.parametrize("width", [40, 70, 150])
def test_step_axes_have_whole_round_evenly_spaced_labels_up_to_the_last(ring, last, width):
    steps = np.arange(1, last + 1, max(1, last // 3000))
    snap = with_losses(ring, steps, 1.0 / np.sqrt(steps))
    for text in (render.loss_panel(snap, width, 12), render.identity_plot(
            dataclasses.replace(snap, identity_history=np.array([[s, 1.0, 1.0, 1.0, 0.1, 1.0, 1.0, 1.0, 1e-4]
                                                                  for s in (0, last)])), width, 12)):
        xs = x_labels(text)
        assert len(xs) >= 2 and all(v == int(v) for v in xs)
        gaps = np.diff(xs)
        assert np.all(gaps == gaps[0])
        mantissa = gaps[0] / 10 ** np.floor(np.log10(gaps[0]))
        assert mantissa in (1, 2, 5)
        assert xs[-1] + gaps[0] > last  # the last tick in range is labelled


@pytest.mark.parametrize("size", [(36, 12), (70, 22), (150, 44)])
def test_field_axes_have_round_evenly_spaced_labels(ring, size):
    text = render.field_panel(ring, 0, *size)
    for labels in (y_labels(text), x_labels(text)):
        assert len(labels) >= 2
        gaps = np.abs(np.diff(labels))
        assert np.allclose(gaps, gaps[0])
        assert round(gaps[0] / 10 ** np.floor(np.log10(gaps[0])), 9) in (1, 2, 5)


def test_linear_ticks():
    assert axes.linear_ticks(0, 1618, 4, integer=True) == [0, 500, 1000, 1500]
    assert axes.linear_ticks(0, 1618, 3, integer=True) == [0, 1000]
    assert axes.linear_ticks(-2.8, 3.0, 6) == [-2, -1, 0, 1, 2, 3]
    assert axes.linear_ticks(-2.8, 3.0, 5) == [-2, 0, 2]
    assert axes.tick_labels([0, 20000, 40000], integer=True) == ["0", "20k", "40k"]
    assert axes.tick_labels([0.25, 0.5, 0.75]) == ["0.25", "0.50", "0.75"]
    pos, labels = axes.log_ticks(-0.8, 1.8, 3)
    assert labels == ["1", "10"] and pos == [0.0, 1.0]


# --- 5. colours and the size legend --------------------------------------------------------------


def cells(text, glyphs):
    """(glyph, style) of every cell showing one of ``glyphs``, from the text's spans."""
    styles = [Style()] * len(text.plain)
    for span in text.spans:
        for i in range(span.start, span.end):
            styles[i] = styles[i] + (Style.parse(span.style) if isinstance(span.style, str) else span.style)
    end = text.plain.rindex("\n")  # the plot, not the legend under it
    return [(ch, styles[i]) for i, ch in enumerate(text.plain[:end]) if ch in glyphs]


def test_the_field_has_a_size_legend_and_colours_apart_in_256_and_16_colours(ring):
    text = render.field_panel(ring, 0, 70, 22)
    legend = text.plain.split("\n")[-1]
    assert legend.startswith("size ") and "max" in legend and "training points" in legend
    arrows = cells(text, fieldview.ARROWS + fieldview.BIG_ARROWS)
    points = cells(text, fieldview.POINT)
    assert arrows and points
    arrow_colours = {style.color.triplet: style.color for _, style in arrows}.values()
    assert len(arrow_colours) == len(fieldview.SIZE_COLOURS)
    # RGB, not the 16 named ANSI colours a Textual theme remaps (red and magenta became one)
    assert all(c.type == ColorType.TRUECOLOR for c in arrow_colours)
    for system in (ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
        down = {c.downgrade(system).number for c in arrow_colours}
        assert len(down) == len(arrow_colours), system
    assert all(style.color is None for _, style in points)  # the text colour: unlike every arrow
    # the bigger arrows are drawn with another glyph too, so size reads without colour
    big = {g for g, style in arrows if g in fieldview.BIG_ARROWS}
    assert big and {g for g, _ in arrows} - big


def test_without_colour_points_and_arrow_sizes_still_differ_by_glyph(ring):
    text = render.field_panel(ring, 0, 70, 22, colour=False)
    arrows = cells(text, fieldview.ARROWS + fieldview.BIG_ARROWS)
    assert all(style.color is None for _, style in arrows)
    assert {g for g, _ in arrows} & set(fieldview.BIG_ARROWS) and {g for g, _ in arrows} & set(fieldview.ARROWS)
    assert fieldview.POINT in text.plain and "size" in text.plain.split("\n")[-1]


# --- 8. 1-D views -------------------------------------------------------------------------------


def test_1d_model_and_data_score_views_draw_different_curves(line):
    model, data = (render.field_panel(line, v, 70, 18).plain for v in (0, 1))
    assert "model score ψ" in model and "data score" not in model.split("\n", 1)[1]
    assert "data score" in data and "model score ψ" not in data
    body = lambda t: "".join(BRAILLE.findall(t))  # noqa: E731
    assert body(model) != body(data)


def test_1d_langevin_view_before_l_says_it_shows_training_points(line):
    text = render.field_panel(line, 4, 70, 18).plain
    assert "histogram of training points" in text and "histogram of Langevin samples" not in text


# --- 2. plots fill their panel, whatever the process's terminal --------------------------------


def test_plots_are_the_panels_size_not_the_processs_terminal(ring, monkeypatch):
    """plotext caps a figure at the terminal it finds (80x24 under a test or a pipe)."""
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a, **k: shutil.os.terminal_size((40, 10)))
    for build, args in ((render.field_panel, (ring, 0)), (render.loss_panel, (ring.snapshot,)),
                        (render.identity_plot, (ring.snapshot,))):
        lines = build(*args, 150, 44).plain.split("\n")
        assert len(lines) == 44 and {len(line) for line in lines[:-1]} == {150}, build.__name__


def test_the_small_multiples_are_drawn_by_the_field_renderer_small():
    """The compare screen's fields: the main field's size colours (RGB) and double arrows,
    without its frame, axes, legend or points; NO_COLOR drops the colours there too."""
    from smtui.core.compare import Comparison
    from smtui.tui.render import compare as cr

    c = Comparison(Config(distribution="ring8", n_train=96, hidden=16, seed=0), ["dsm", "dae"])
    c.train(5, evaluate=False)
    snap = c.snapshot(field_shape=(30, 12))
    text = cr.multiple_panel(snap, "dsm", 0, 34, 14)
    arrows = cells(text, fieldview.ARROWS + fieldview.BIG_ARROWS)
    assert len(arrows) > 20
    shown = {style.color.triplet for _, style in arrows}
    assert shown <= {Style(color=f"rgb{c}").color.triplet for c in fieldview.SIZE_COLOURS} and len(shown) == 5
    assert {g for g, _ in arrows} & set(fieldview.BIG_ARROWS)
    assert not set(text.plain) & set("┌└┐┘┤┬├" + fieldview.POINT) and "size" not in text.plain
    plain = cr.multiple_panel(snap, "dsm", 0, 34, 14, colour=False)
    assert plain.plain == text.plain and all(style.color is None for _, style in cells(plain, fieldview.ARROWS))
    one = Comparison(Config(distribution="bimodal", n_train=96, seed=0), ["dsm", "dae"]).snapshot((30,))
    for view in range(len(cr.VIEWS)):  # 1-D too: curves, small
        assert BRAILLE.search(cr.multiple_panel(one, "dsm", view, 30, 10).plain)
