"""One key table per screen: its bindings, its key bar and its help all come from it (so a
key cannot be bound without being listed, or listed without doing anything), the key bar
fits any width, and one number formatter writes the tables' numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smtui.tui.render.numbers import g
from smtui.tui.screens.compare import CompareScreen
from smtui.tui.screens.keys import (
    COMPARE_KEYS,
    CONFIRM_KEYS,
    HELP_KEYS,
    MAIN_KEYS,
    PROMPT_KEYS,
    QUIT_KEYS,
    SWEEP_KEYS,
)
from smtui.tui.screens.main import MainScreen
from smtui.tui.screens.modals import Confirm, HelpScreen, QuitPrompt, ValuePrompt
from smtui.tui.screens.sweep import SweepScreen

TABLES = {MainScreen: MAIN_KEYS, CompareScreen: COMPARE_KEYS, SweepScreen: SWEEP_KEYS, HelpScreen: HELP_KEYS,
          ValuePrompt: PROMPT_KEYS, Confirm: CONFIRM_KEYS, QuitPrompt: QUIT_KEYS}


@pytest.mark.parametrize("screen", list(TABLES), ids=lambda s: s.__name__)
def test_a_screens_bindings_are_its_key_table_and_each_key_does_something(screen):
    table = TABLES[screen]
    assert [(b.key, b.action) for b in screen.BINDINGS] == [(k.keys, k.action) for k in table if k.bound]
    for k in table:
        if k.bound:
            assert callable(getattr(screen, f"action_{k.action.split('(')[0]}", None)), (screen.__name__, k.action)
    assert all(k.help for k in table)  # the help line of every key


@pytest.mark.parametrize("table", [MAIN_KEYS, COMPARE_KEYS], ids=["main", "compare"])
def test_the_key_bar_fits_every_width_and_keeps_what_it_must(table):
    kept = [k for k in table if k.action in table.keep]
    assert kept
    for width in range(30, 201):
        bar = table.footer(width).plain
        least = 1 + sum(len(f"{k.footer_key or k.label} {k.short}") + 1 for k in kept)
        assert len(bar) <= max(width, least)
        for k in kept:
            assert f"{k.footer_key or k.label} {k.short}" in bar
    wide = table.footer(200).plain
    assert all(f"{k.footer_key or k.label} {k.short}" in wide for k in table if k.show)


def test_the_compare_bar_says_what_space_and_e_do_now_and_greys_n_while_training():
    bar = COMPARE_KEYS.footer(200, frozenset({"step"}), {"toggle_training": "pause", "exact": "minibatch"})
    assert "space pause" in bar.plain and "e minibatch" in bar.plain and "space train" not in bar.plain
    greyed = [span for span in bar.spans if "dim" in str(span.style)]
    assert greyed and all(bar.plain[s.start:s.end].strip() in ("n", "step") for s in greyed)


def test_the_help_lists_every_key_of_its_table():
    for table in (MAIN_KEYS, COMPARE_KEYS):
        text = table.help().plain
        assert all(k.help in text and k.label in text for k in table)


def test_modal_hints_come_from_their_tables():
    assert HELP_KEYS.hint() == "escape closes"
    assert PROMPT_KEYS.hint() == "enter sets it · escape cancels"
    assert SWEEP_KEYS.hint() == "escape closes · e exports"
    assert SWEEP_KEYS.hint({"close": "stops the sweep"}, hidden={"export"}) == "escape stops the sweep"  # running
    assert "y or enter" in CONFIRM_KEYS.hint() and "n or escape" in CONFIRM_KEYS.hint()
    assert all(k.label in QUIT_KEYS.hint() for k in QUIT_KEYS)


def test_one_number_formatter_says_missing_and_overflowed_apart():
    assert g(0.123456, 9) == "   0.1235" and g(12345678.0, 10) == " 1.235e+07" and g(3, 4) == "   3"
    assert g(None, 5) == "    —" and g(math.nan, 5) == "    —" and g(np.float64("nan"), 3) == "  —"
    assert g(math.inf, 6) == "   inf" and g(-math.inf, 6) == "  -inf"  # overflowed, not missing
    assert g(np.float32(0.5), 4) == " 0.5" and g(True, 3) == "  —"
