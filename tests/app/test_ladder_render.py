"""The ladder screen's pure builders (tui/render/ladder.py): densities by quantile, the rungs
shown, the bars and their ticks, the strip's numbers, against hand-made snapshots."""

import numpy as np
import pytest

from smtui.tui.render import ladder as lr
from smtui.tui.runner.ladder_job import WalkView


def _walk(kind="ladder", weights=None, tv=None, clouds=4, sigmas=(3.0, 1.0, 0.3, 0.05), source="learned"):
    x = np.zeros((10, 2), np.float32)
    metrics = None if weights is None else {"mode_weights": list(weights), "weight_tv": tv, "mmd2": 0.02,
                                            "off_mode": 0.1, "spread": 1.5}
    return WalkView(source, kind, sigmas, len(sigmas) - 1, sigmas[-1], 41, 41, x,
                    tuple(x for _ in range(clouds)), 0, metrics)


def test_density_shades_occupied_cells_by_quantile_and_marks_modes_where_empty():
    box = (np.array([0.0, 0.0]), np.array([4.0, 2.0]))
    # cell (row 0, col 0) gets 1 particle, (row 0, col 3) 10, (row 1, col 1) 100
    x = np.concatenate([np.full((1, 2), [0.5, 1.5]), np.full((10, 2), [3.5, 1.5]), np.full((100, 2), [1.5, 0.5])])
    rows = [t.plain for t in lr.density_rows(x, box, 4, 2, modes=np.array([[2.5, 0.5], [0.5, 1.5]]), colour=False)]
    assert rows[0][0] == lr.GLYPHS[0] and rows[1][1] == lr.GLYPHS[-1]
    assert lr.GLYPHS.index(rows[0][0]) < lr.GLYPHS.index(rows[0][3]) < lr.GLYPHS.index(rows[1][1])
    assert rows[1][2] == lr.MODE and rows[0][1] == " "  # a mode where no particle is; (0.5, 1.5) has one
    same = [t.plain for t in lr.density_rows(x * 1.0, box, 4, 2)]
    assert same == rows[:0] + [r.replace(lr.MODE, " ") for r in rows]
    assert [t.plain for t in lr.density_rows(np.array([[9.0, 9.0]]), box, 4, 2)] == ["    ", "    "]


def test_the_rungs_shown_are_spread_from_top_to_bottom_and_include_the_one_walked():
    assert lr.shown_rungs(10, None, 4) == [0, 3, 6, 9]
    assert lr.shown_rungs(10, 5, 4) == [0, 5, 6, 9] or lr.shown_rungs(10, 5, 4) == [0, 3, 5, 9]
    assert 5 in lr.shown_rungs(10, 5, 4) and len(lr.shown_rungs(10, 5, 4)) == 4
    assert lr.shown_rungs(3, 1, 6) == [0, 1, 2]


def test_rungs_panel_heads_each_cloud_with_sigma_verdict_and_mmd(ladder_snapshot):
    snap = ladder_snapshot({("learned", "ladder"): _walk()})
    text = lr.rungs_panel(snap, "learned", 80, 6, colour=False).plain
    head = text.splitlines()[0]
    assert "σ3" in head and "σ0.05" in head and head.count("✓") == 4 and "M0.030" in head
    assert len(text.splitlines()) == 6 and all(len(line) <= 80 for line in text.splitlines())
    assert "training" in lr.rungs_panel(ladder_snapshot({}, phase="training"), "learned", 40, 6).plain


def test_bars_show_each_weight_against_a_tick_at_q_s_weight(ring8w_weights, ladder_snapshot):
    weights = (0.5, 0.0, 0.1875, 0.0625, 0.1875, 0.0625, 0.0, 0.0)
    snap = ladder_snapshot({("learned", k): _walk(k, weights, 0.4, clouds=1 if k != "ladder" else 4,
                                                sigmas=(0.05,) if k == "small" else (0.3,) if k == "large"
                                                else (3.0, 1.0, 0.3, 0.05)) for k in ("small", "large", "ladder")})
    text = lr.bars_panel(snap, "learned", 90, 12, colour=False).plain.splitlines()
    assert text[0].startswith("σ 0.05 ") and "ladder" in text[0] and "TV 0.400" in text[-1]
    col = (90 + 1) // 3 - 1
    bar = col - 4
    top = max(ring8w_weights) * 1.6
    for i, (w, t) in enumerate(zip(weights, ring8w_weights)):
        cells = text[1 + i][3: 3 + bar]
        assert cells.index("┃") == min(round(t / top * bar), bar - 1)
        filled = sum(1 for c in cells if c == "█") + (1 if round(min(w, top) / top * bar) > cells.index("┃") else 0)
        assert filled == round(min(w, top) / top * bar)
    assert "no known modes" in lr.bars_panel(ladder_snapshot({}, target_weights=None), "learned", 60, 10).plain


def test_the_strip_shows_every_walks_metrics_and_the_kernel_width(ring8w_weights, ladder_snapshot):
    snap = ladder_snapshot({(s, k): _walk(k, ring8w_weights, 0.01 * (i + 1), source=s)
                          for i, (s, k) in enumerate([(s, k) for s in ("learned", "exact")
                                                      for k in ("ladder", "small", "large")])})
    text = lr.strip(snap, 80, 7).plain.splitlines()
    assert "ladder*" in text[0] and text[3].split()[:3] == ["weight", "TV", "0.01"]
    assert text[3].split()[-1] == "0.06" and "width 0.2" in text[-1]
    assert "come when the walks end" in lr.strip(ladder_snapshot({}), 80, 7).plain


@pytest.mark.parametrize("phase,words", [("training", "training 10/10,000"), ("done", "s samples again"),
                                         ("checking", "checking")])
def test_status_says_the_phase_and_what_to_press(phase, words, ladder_snapshot):
    from smtui.tui.runner.ladder_job import LadderReport

    report = LadderReport(snapshot=ladder_snapshot({}, phase=phase))
    assert words in lr.status_text(report, width=200).plain
    assert "starting" in lr.status_text(None).plain
