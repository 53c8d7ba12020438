"""Every key, once: the app's bindings, the footer and the help screen are all built
from this table, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

SIGMA_FACTOR = 1.25
LR_FACTOR = 2.0


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma-separated
    action: str
    label: str  # how the help screen shows the key
    short: str  # footer text
    help: str  # help screen text
    show: bool = True  # in the footer
    footer_key: str = ""  # how the footer shows the key, if not as ``label``


KEYS = (
    Key("space", "toggle_training", "space", "train", "train / pause"),
    Key("n", "step", "n", "step", "one training step (while paused)"),
    Key("r", "reinitialise", "r", "re-init", "re-initialise the parameters (same seed; the step count goes on)"),
    Key("d", "distribution(1)", "d", "data", "next distribution"),
    Key("D", "distribution(-1)", "D", "prev data", "previous distribution", show=False),
    Key("o", "objective(1)", "o", "obj", "next objective (ESM is skipped for sample-only data)"),
    Key("O", "objective(-1)", "O", "prev objective", "previous objective", show=False),
    Key("plus,equals_sign", "sigma(1)", "+", "σ", f"sigma up by a factor {SIGMA_FACTOR}",
        footer_key="+/-"),
    Key("minus", "sigma(-1)", "-", "σ down", f"sigma down by a factor {SIGMA_FACTOR}", show=False),
    Key("right_square_bracket", "lr(1)", "]", "lr", f"learning rate up by a factor {LR_FACTOR:g}",
        footer_key="[/]"),
    Key("left_square_bracket", "lr(-1)", "[", "lr down", f"learning rate down by a factor {LR_FACTOR:g}",
        show=False),
    Key("v", "view", "v", "view", "next view of the score field"),
    Key("l", "langevin", "l", "samples", "draw samples by Langevin dynamics from the model score"),
    Key("s", "save", "s", "save", "save the experiment (asks where, with a default name; never overwrites "
        "silently); the palette loads one and exports a screenshot or the metric history"),
    Key("question_mark", "help", "?", "help", "this help (escape closes it)"),
    Key("ctrl+p", "command_palette", "ctrl+p", "commands", "command palette: every action and exact values",
        show=False),
    Key("q", "quit", "q", "quit", "quit"),
)


def bindings() -> list[Binding]:
    return [Binding(k.keys, k.action, k.short, show=k.show, key_display=k.footer_key or k.label) for k in KEYS
            if k.action != "command_palette"]
