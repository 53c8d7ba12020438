"""Every key, once: each screen's bindings, key bar and help are all built from its table
(``KeyTable``), so they cannot disagree.

A key bar fits any width: essential keys first, then the others as room allows (all of
them are in the help screen, ?)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding

SIGMA_FACTOR = 1.25
LR_FACTOR = 2.0


def step_on_ladder(ladders: dict, field: str, current: float, factor: float, direction: int) -> float:
    """The next value of ``field`` up or down: base * factor**k from the value the keys started
    at, so going up and back down returns exactly to it (multiplying the rounded value at each
    press drifted: twelve presses each way took sigma 0.3 to 0.299). A value set another way
    (the palette, a load) starts a new ladder. ``ladders`` keeps (base, k) per field."""
    base, k = ladders.get(field, (None, 0))
    if base is None or ladder_value(base, factor, k) != current:
        base, k = current, 0
    ladders[field] = (base, k + direction)
    return ladder_value(base, factor, k + direction)


def ladder_value(base: float, factor: float, k: int) -> float:
    """base * factor**k to twelve significant figures (0.375, not 0.37500000000000006)."""
    x = base * factor**k
    return float(f"{x:.12g}") if math.isfinite(x) and x > 0 else x


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma-separated
    action: str
    label: str  # how the help screen shows the key
    short: str  # footer text
    help: str  # help screen text
    show: bool = True  # in the footer, when there is room
    footer_key: str = ""  # how the footer shows the key, if not as ``label``
    rank: int = 2  # footer priority: 0 essential (shown from 80 columns); higher ranks give way first
    bound: bool = True  # False: the app binds it (ctrl+p), the table only shows it


@dataclass(frozen=True)
class KeyTable:
    """One screen's keys, each declared once: its bindings, its key bar and its help are all
    made from this, so they cannot disagree. ``keep``: actions the key bar never drops."""

    keys: tuple[Key, ...]
    keep: tuple[str, ...] = ()

    def __iter__(self):
        return iter(self.keys)

    def bindings(self) -> list[Binding]:
        return [Binding(k.keys, k.action, k.short, show=False, key_display=k.footer_key or k.label)
                for k in self.keys if k.bound]

    def footer(self, width: int, greyed: frozenset[str] = frozenset(), shorts: dict[str, str] | None = None) -> Text:
        """The keys that fit in ``width`` cells: every essential one (from 80 columns), then
        the others in table order while room is left; ``greyed`` actions are shown dim;
        ``shorts`` gives an action another word for now (space: train or pause)."""
        shorts = shorts or {}
        keys = [k for k in self.keys if k.show]
        items = lambda ks: [(k, f"{k.footer_key or k.label} {shorts.get(k.action, k.short)}") for k in ks]  # noqa: E731

        def fits(ks, gap):
            return 1 + sum(len(s) for _, s in items(ks)) + gap * (len(ks) - 1) <= width

        while not fits(keys, 1):
            # the highest rank gives way first, the latest in the table among equals; ``keep`` stays
            extra = [k for k in keys if k.action not in self.keep]
            if not extra:
                break
            keys.remove(max(reversed(extra), key=lambda k: k.rank))
        gap = 2 if fits(keys, 2) else 1
        t = Text(" ", no_wrap=True, overflow="crop", end="")
        for i, (k, _) in enumerate(items(keys)):
            dim = "dim " if k.action in greyed else ""
            t.append(k.footer_key or k.label, style=f"{dim}bold")
            t.append(f" {shorts.get(k.action, k.short)}", style=dim.strip())
            if i < len(keys) - 1:
                t.append(" " * gap)
        return t

    def hint(self, shorts: dict[str, str] | None = None, hidden=frozenset()) -> str:
        """The shown keys as one line of words, for a small box: "escape closes"; ``shorts``
        gives an action another word for now; ``hidden`` actions do nothing now."""
        shorts = shorts or {}
        return " · ".join(f"{k.label} {shorts.get(k.action, k.short)}" for k in self.keys
                          if k.show and k.action not in hidden)

    def help(self) -> Text:
        """Every key and what it does, one a line, for the help screen."""
        text = Text("Keys\n", style="bold")
        for k in self.keys:
            text.append(f"{k.label:>8}  ", style="bold")
            text.append(f"{k.help}\n")
        return text


MAIN_KEYS = KeyTable((
    Key("space", "toggle_training", "space", "train", "train / pause", rank=0),
    Key("n", "step", "n", "step", "one training step (while paused)", rank=0),
    Key("r", "reinitialise", "r", "re-init", "re-initialise the parameters (same seed; the step count goes on)",
        rank=3),
    Key("d", "distribution(1)", "d", "data", "next distribution", rank=0),
    Key("D", "distribution(-1)", "D", "prev data", "previous distribution", show=False),
    Key("o", "objective(1)", "o", "obj", "next objective (ESM is skipped for sample-only data)",
        rank=0),
    Key("O", "objective(-1)", "O", "prev objective", "previous objective", show=False),
    Key("plus,equals_sign", "sigma(1)", "+", "σ", f"sigma up by a factor {SIGMA_FACTOR}",
        footer_key="+-", rank=0),
    Key("minus", "sigma(-1)", "-", "σ down", f"sigma down by a factor {SIGMA_FACTOR}", show=False),
    Key("right_square_bracket", "lr(1)", "]", "lr", f"learning rate up by a factor {LR_FACTOR:g}",
        footer_key="[]", rank=0),
    Key("left_square_bracket", "lr(-1)", "[", "lr down", f"learning rate down by a factor {LR_FACTOR:g}",
        show=False),
    Key("v", "view", "v", "view", "next view of the score field", rank=0),
    Key("p", "plane", "p", "plane", "next plane the field is drawn on, for data with d > 2: PC1-PC2, PC1-PC3, "
        "…, then the coordinate pairs x1-x2, …", show=False),
    Key("h", "loss_view", "h", "loss history", "the loss plot from now on (drops a spike or an old setup from "
        "view); again: the whole history", show=False),
    Key("l", "langevin", "l", "sample", "draw samples by Langevin dynamics from the model score",
        rank=1),
    Key("s", "save", "s", "save", "save the experiment (asks where, with a default name; never overwrites "
        "silently); loading one and the exports are in the palette (ctrl+p)", rank=0),
    Key("c", "compare", "c", "compare", "compare objectives side by side: esm-sigma, dsm, ism-sigma and dae "
        "from one start on one batch stream, on one scale (the main run pauses; escape returns)"),
    Key("L", "ladder", "L", "ladder", "from one sigma to a ladder: one model over many sigmas, sampled by walking "
        "down them, beside one sigma (the main run pauses; escape returns)", rank=4),
    Key("t", "tour", "t", "tour", "a guided tour of the paper, a page at a time beside the live app, each page "
        "setting the app up to show its point (t or → on, ← back, escape leaves; smtui tour opens the app on it)",
        rank=1),
    Key("right", "tour_page(1)", "→", "on", "the tour's next page", show=False),
    Key("left", "tour_page(-1)", "←", "back", "the tour's previous page", show=False),
    Key("escape", "tour_leave", "escape", "leaves", "leave the tour", show=False),
    Key("question_mark", "help", "?", "help", "this help: every key (escape closes it)", rank=0),
    Key("ctrl+p", "command_palette", "ctrl+p", "commands", "command palette: every action and exact values",
        footer_key="^p", bound=False),
    Key("q", "quit_asking", "q", "quit", "quit (asks first if steps are unsaved; ctrl+q quits at once)",
        rank=0),
), keep=("help", "quit_asking"))

COMPARE_KEYS = KeyTable((
    Key("space", "toggle_training", "space", "train", "train / pause every run", rank=0),
    Key("escape,c", "close", "esc", "back", "back to the main screen (its run untouched; these runs end)", rank=0),
    Key("e", "exact", "e", "exact", "exact mode: every step on the expectation itself (no gradient noise, much "
        "slower; runs that have drifted apart first restart from one start, and a note says so) / back to "
        "minibatches", rank=0),
    Key("n", "step", "n", "step", "one step of every run (while paused)", rank=1),
    Key("v", "view", "v", "view", "next view of the small multiples: model score, difference, model density",
        rank=1),
    Key("plus,equals_sign", "sigma(1)", "+", "σ", f"sigma up by a factor {SIGMA_FACTOR} (a new scale: the "
        "curves start again)", footer_key="+-", rank=2),
    Key("minus", "sigma(-1)", "-", "σ down", f"sigma down by a factor {SIGMA_FACTOR}", show=False),
    Key("right_square_bracket", "lr(1)", "]", "lr", f"learning rates up by a factor {LR_FACTOR:g}",
        footer_key="[]", rank=2),
    Key("left_square_bracket", "lr(-1)", "[", "lr down", f"learning rates down by a factor {LR_FACTOR:g}",
        show=False),
    Key("r", "reinitialise", "r", "re-init", "every run back to the one initial parameters (same seed)", rank=3),
    Key("d,D,o,O,l,s,h,p", "elsewhere", "d o l s", "main screen", "the data, objective, samples, saving and the "
        "loss view belong to the main screen: escape returns to it", show=False),
    Key("question_mark", "help", "?", "help", "this help: every key of this screen (escape closes it)", rank=4),
    Key("q", "quit_asking", "q", "quit", "quit (asks first if the main run's steps are unsaved)", rank=0),
), keep=("close", "quit_asking"))

LADDER_KEYS = KeyTable((
    Key("space", "toggle_running", "space", "run", "train, then walk down the ladder / pause", rank=0),
    Key("escape", "close", "esc", "back", "back to the main screen (its run untouched; the ladder ends)", rank=0),
    Key("n", "next_rung", "n", "rung", "walk on to the end of this rung, then pause (once trained)", rank=0),
    Key("s", "resample", "s", "again", "sample again: every walk afresh, with new noise, from the same start",
        rank=0),
    Key("b", "page", "b", "page", "80x24: the clouds / the bars and the score field (larger: all at once)", rank=1),
    Key("less_than_sign", "levels(-1)", "<", "K", "one rung fewer (retrains)", footer_key="<>", rank=1),
    Key("greater_than_sign", "levels(1)", ">", "K up", "one rung more (retrains)", show=False),
    Key("plus,equals_sign", "sigma_max(1)", "+", "σmax", f"the top rung's sigma up by a factor {SIGMA_FACTOR} "
        "(retrains)", footer_key="+-", rank=2),
    Key("minus", "sigma_max(-1)", "-", "σmax down", f"the top rung's sigma down by a factor {SIGMA_FACTOR}",
        show=False),
    Key("right_square_bracket", "sigma_min(1)", "]", "σmin", f"the bottom rung's sigma up by a factor "
        f"{SIGMA_FACTOR} (retrains)", footer_key="[]", rank=2),
    Key("left_square_bracket", "sigma_min(-1)", "[", "σmin down", f"the bottom rung's sigma down by a factor "
        f"{SIGMA_FACTOR}", show=False),
    Key("m", "sampler", "m", "sampler", "next sampler: annealed Langevin, annealed MALA, reverse SDE, "
        "predictor-corrector, probability-flow ODE (samples again)", rank=2),
    Key("t", "steps_per_level(1)", "t", "steps", "twice the sampler steps per rung (samples again)", footer_key="tT",
        rank=3),
    Key("T", "steps_per_level(-1)", "T", "T down", "half the sampler steps per rung", show=False),
    Key("f", "field_rung(1)", "f", "field σ", "the score field one rung down (smaller sigma)", footer_key="fF",
        rank=3),
    Key("F", "field_rung(-1)", "F", "field up", "the score field one rung up (larger sigma)", show=False),
    Key("v", "view", "v", "view", "next view of the score field: model score, data score, difference, density",
        rank=3),
    Key("x", "source", "x", "learned/exact", "the bars and the field of the learned or the exact score", rank=3),
    Key("d", "distribution(1)", "d", "data", "next distribution for the ladder (the main run untouched)", rank=4),
    Key("D", "distribution(-1)", "D", "prev data", "previous distribution", show=False),
    Key("question_mark", "help", "?", "help", "this help: every key of this screen and what it shows", rank=4),
    Key("q", "quit_asking", "q", "quit", "quit (asks first if the main run's steps are unsaved)", rank=0),
), keep=("close", "quit_asking"))

SWEEP_KEYS = KeyTable((
    Key("escape", "close", "escape", "closes",
        "while the sweep runs: stop it (the runs under way are ended, those finished stay shown, marked "
        "partial); once it has ended: close"),
    Key("e", "export", "e", "exports", "export the runs and the summary per cell: JSON, or CSV (one row per run) "
        "for a name ending in .csv (once the sweep has ended; not in a demo session)"),
))

# The modal screens' keys; their hint line is the key bar.
HELP_KEYS = KeyTable((
    Key("escape", "dismiss", "escape", "closes", "close the help"),
    Key("question_mark", "dismiss", "?", "closes", "close the help", show=False),
    Key("q", "dismiss", "q", "closes", "close the help", show=False),
))
PROMPT_KEYS = KeyTable((
    Key("enter", "submit", "enter", "sets it", "use the value typed", bound=False),  # the input's own enter
    Key("escape", "cancel", "escape", "cancels", "leave the value as it was"),
))
SETUP_KEYS = KeyTable((
    Key("c", "copy", "c", "copies it", "copy the command line to the clipboard (by OSC 52: most terminals, "
        "over SSH too; or select it with the mouse)"),
    Key("escape,q", "dismiss", "escape", "closes", "close"),
))
CONFIRM_KEYS = KeyTable((
    Key("y,enter", "answer(True)", "y or enter", "says yes", "yes"),
    Key("n,escape", "answer(False)", "n or escape", "says no", "no"),
))
QUIT_KEYS = KeyTable((
    Key("y,q", "answer('quit')", "y or q", "quits", "quit, losing the unsaved steps"),
    Key("s", "answer('save')", "s", "saves, then quits", "save the experiment (asks where), then quit once saved"),
    Key("n,escape", "answer(None)", "n or escape", "stays", "stay in the app"),
))
