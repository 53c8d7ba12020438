"""Share a setup: the palette's "Copy setup" shows the one command line that starts the current
setup again, which `smtui`'s own parser reads back into the same Config. (`smtui serve --web`
takes the same flags in its address: serve/test_serve_setup.py.)"""

from __future__ import annotations

import shlex

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.names import DISTRIBUTIONS, DTYPES, OBJECTIVES, OPTIMIZERS
from smtui.tui.cli.flags import config_from_args, setup_argv, setup_changes, setup_command
from smtui.tui.cli.main import build_parser
from smtui.tui.screens.commands import palette
from smtui.tui.screens.keys import SIGMA_FACTOR, ladder_value
from smtui.tui.screens.modals import SetupLine, shell_lines


def read_back(line: str) -> Config:
    """The Config `smtui LINE` would open the app on, through the real command's parser."""
    words = shlex.split(line.replace("\\\n", " "))
    assert words[0] == "smtui"
    return config_from_args(build_parser().parse_args(words[1:]))


def random_configs(n: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        changes = {"distribution": str(rng.choice(DISTRIBUTIONS)),
                   "objective": str(rng.choice([o for o in OBJECTIVES if o != "esm"])),
                   "sigma": ladder_value(0.3, SIGMA_FACTOR, int(rng.integers(-12, 12))) * float(rng.uniform(0.5, 2)),
                   "lr": float(10 ** rng.uniform(-5, 0)), "optimizer": str(rng.choice(OPTIMIZERS)),
                   "batch": int(rng.integers(1, 512)), "hidden": int(rng.integers(1, 256)),
                   "n_train": int(rng.integers(1, 5000)), "lam": float(rng.choice([0.0, rng.uniform(0, 3)])),
                   "seed": int(rng.integers(0, 2**62)), "dtype": str(rng.choice(DTYPES)),
                   "eval_every": int(rng.integers(1, 10_000))}
        keep = rng.random(len(changes)) < 0.6  # some fields left at their defaults
        yield Config().with_changes(**{k: v for (k, v), kept in zip(changes.items(), keep) if kept})


@pytest.mark.parametrize("config", [Config(), Config(distribution="bimodal", n_train=128, seed=0),
                                    Config(sigma=0.1 + 0.2, lam=0.0, lr=1e-5),
                                    Config(data_path="/tmp/my points [1].csv", objective="esm-sigma"),
                                    *random_configs(40)], ids=lambda c: "")
def test_the_setup_line_reads_back_into_the_same_config(config):
    line = setup_command(config)
    assert read_back(line) == config
    assert Config().with_changes(**setup_changes(line)) == config  # the web's reader: the same parser
    for width in (20, 40, 80):  # broken to fit a narrow box, the shell still reads one line
        assert read_back(shell_lines([shlex.quote(w) for w in ["smtui", *setup_argv(config)]], width)) == config


def test_the_line_names_the_data_the_objective_and_sigma_and_what_else_differs():
    assert setup_command(Config()) == "smtui --distribution ring8 --objective dsm --sigma 0.3"
    assert setup_command(Config(data_path="/d/x y.csv", hidden=8)) == \
        "smtui --data '/d/x y.csv' --objective dsm --sigma 0.3 --hidden 8"


@pytest.mark.parametrize("text, says", [
    ("--sigma x", "argument --sigma: invalid float value: 'x'"),
    ("--sigma -1", "sigma must be a finite number > 0, got -1.0"),
    ("--load exp.toml", "unrecognized arguments: --load exp.toml"),
    ("serve --web", "unrecognized arguments: serve --web"),
    ("--distribution nowhere", "unknown distribution 'nowhere'"),
    ('--sigma "0.5', "cannot read"),
    ("--sigma 1 " * 200, "at most 1,000"),
])
def test_a_bad_setup_is_one_line(text, says):
    with pytest.raises(UserError) as bad:
        Config().with_changes(**setup_changes(text))
    assert says in str(bad.value) and "\n" not in str(bad.value)


async def test_copy_setup_shows_the_line_in_a_box_and_c_copies_it(fake_app, settled, wait_for):
    app = fake_app(Config(distribution="bimodal", n_train=128, seed=0, sigma=0.5))
    async with app.run_test(size=(90, 30)) as pilot:
        await settled(app, pilot, step=0)
        await pilot.press("plus")  # sigma up a step: the line follows the setup as it is now
        await wait_for(pilot, lambda: app.main.config.sigma == 0.625, what="sigma 0.625")
        entry = next(c for c in palette(app.main) if c.title == "Copy setup")
        entry.callback()
        await wait_for(pilot, lambda: isinstance(app.screen, SetupLine), what="the setup box")
        await pilot.pause(0.2)
        shown = str(app.screen.query_one("#setup-line").render())
        assert read_back(shown) == app.main.config
        assert max(len(row.rstrip()) for row in shown.splitlines()) <= 90 - 10  # within the box, so selectable
        await pilot.press("c")
        assert app.clipboard == setup_command(app.main.config)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SetupLine), what="the box to close")
