"""The command palette's entries (every action, every choice, and exact values) and the
parsing of typed values into Config changes; a bad value is a one-line UserError."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from textual.app import SystemCommand

from core.distributions import NAMES
from core.errors import UserError
from core.objectives import OBJECTIVES
from core.optim import OPTIMIZERS
from tui.keys import KEYS
from tui.render import VIEWS


@dataclass(frozen=True)
class Setting:
    """A value the palette can set exactly: its Config field and how to read it."""

    title: str
    field: str
    kind: type
    what: str


SETTINGS = (
    Setting("sigma", "sigma", float, "noise width and temperature, a number > 0"),
    Setting("learning rate", "lr", float, "a number > 0"),
    Setting("hidden size", "hidden", int, "hidden units, a whole number >= 1"),
    Setting("seed", "seed", int, "a whole number >= 0 (new data, init and batches)"),
    Setting("lambda", "lam", float, "ISMreg's lambda, a number >= 0"),
    Setting("batch size", "batch", int, "a whole number >= 1"),
    Setting("training-set size", "n_train", int, "points drawn from the distribution, >= 1"),
    Setting("data file", "data_path", str, "a CSV / text / .npy file of points, shape (n, d)"),
)


def parse_value(setting: Setting, text: str):
    """The typed text as a value for ``setting.field``, or a UserError saying what is allowed."""
    text = text.strip()
    if not text:
        raise UserError(f"{setting.title}: nothing typed; expected {setting.what}")
    if setting.kind is str:
        return os.path.expanduser(text)
    try:
        return setting.kind(text)
    except ValueError:
        raise UserError(f"{setting.title} must be {setting.what}, got {text!r}") from None


def palette(app) -> Iterator[SystemCommand]:
    """Every action the keys offer, every choice, and a prompt for each exact value."""
    for k in KEYS:
        if k.action in ("command_palette", "quit"):
            continue
        yield SystemCommand(k.help[0].upper() + k.help[1:], f"key {k.label}", _action(app, k.action))
    for s in SETTINGS:
        yield SystemCommand(f"Set {s.title}…", s.what, partial(app.ask_setting, s))
    for name in NAMES:
        yield SystemCommand(f"Distribution: {name}", "switch the data", partial(app.change, distribution=name,
                                                                              data_path=None))
    for name, o in OBJECTIVES.items():
        yield SystemCommand(f"Objective: {name}", o.description, partial(app.change, objective=name))
    for name in OPTIMIZERS:
        yield SystemCommand(f"Optimiser: {name}", "resets the optimiser state", partial(app.change, optimizer=name))
    for i, name in enumerate(VIEWS):
        yield SystemCommand(f"View: {name}", "what the score field panel shows", partial(app.show_view, i))


def _action(app, action: str) -> Callable:
    async def run() -> None:
        await app.run_action(action)

    return run
