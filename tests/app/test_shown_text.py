"""Text read from files reaches the terminal escaped and never as markup (issue 9 cause 5),
and the words of prompts and errors agree (issue 8 item 12)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment import save_experiment
from smtui.core.text import count
from smtui.core.trainer import Trainer
from smtui.tui.app import SMApp
from smtui.tui.screens.commands import SETTINGS, parse_setting

# A hand-edited message: set the terminal title, colour, a newline, a bidi override, markup.
EVIL = "\\u001b]0;pwned\\u0007\\u001b[31mred\\nsecond line \\u202e [bold]not bold[/bold] [link=x]y[/link]"


def _evil_experiment(folder: Path, config: Config) -> Path:
    t = Trainer(config)
    t.train(3, evaluate=False)
    path = save_experiment(t, folder / "e.toml")
    text = path.read_text()
    text = text.replace('status = "ok"', 'status = "diverged"').replace('message = ""', f'message = "{EVIL}"')
    path.write_text(text)
    return path


def test_cli_prints_a_saved_message_escaped(tmp_path):
    _evil_experiment(tmp_path, Config(n_train=24, hidden=4, batch=8))
    r = subprocess.run([sys.executable, "-m", "smtui", "run", "--load", "e.toml", "--steps", "0", "--json", "-"],
                       cwd=tmp_path, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 3, r.stderr
    for stream in (r.stdout, r.stderr):
        assert b"\x1b" not in stream and b"\x07" not in stream and "\u202e".encode() not in stream
    err = r.stderr.decode()
    assert len(err.strip().splitlines()) == 1, err
    assert "\\x1b]0;pwned\\x07" in err and "\\nsecond line \\u202e [bold]not bold[/bold]" in err


def test_a_control_character_in_a_flag_is_shown_escaped(tmp_path):
    for argv in (["run", "\x1b]0;pwned\x07"], ["run", "--distribution", "\x1b[2J"], ["list", "\x1b[2J"]):
        r = subprocess.run([sys.executable, "-m", "smtui", *argv], cwd=tmp_path, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        assert r.returncode == 2 and b"\x1b" not in r.stderr and b"\\x1b" in r.stderr, (argv, r.stderr)


async def test_app_shows_a_saved_message_literally(tmp_path, fast, notes, settled, status, wait_for):
    path = _evil_experiment(tmp_path, fast)
    app = SMApp(fast, runner_mode="thread", experiment=str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=3)
        await wait_for(pilot, lambda: any("pwned" in n for n in notes(app)), what="the diverged toast")
        toast = next(n for n in app._notifications if "pwned" in n.message)
        assert "\x1b" not in toast.message and "\n" not in toast.message and "\u202e" not in toast.message
        assert "\\x1b]0;pwned\\x07" in toast.message and "[bold]not bold[/bold]" in toast.message
        assert toast.markup is False  # shown as typed, never read as Rich markup
        assert "\x1b" not in status(app)


async def test_app_shows_an_escaped_data_file_name(tmp_path, fast, settled):
    import numpy as np

    data = tmp_path / "odd\x1b[2Jname.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(40, 2)), delimiter=",")
    app = SMApp(fast.with_changes(data_path=str(data)), runner_mode="thread")
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot, step=0)
        shown = str(app.main.query_one("#setup").render())
        assert "odd\\x1b[2Jname.csv" in shown and "\x1b" not in shown


# --- wording (issue 8 item 12) -------------------------------------------------------------


@pytest.mark.parametrize("field,bad,words", [("lr", 0.0, "learning rate"), ("n_train", 0, "training-set size"),
                                             ("hidden", 0, "hidden size"), ("batch", 0, "batch size")])
def test_errors_use_the_words_of_the_prompts(field, bad, words):
    with pytest.raises(UserError) as info:
        Config().with_changes(**{field: bad})
    assert str(info.value).startswith(f"{words} must be a ")
    setting = next(s for s in SETTINGS if s.field == field)
    assert setting.title == words
    with pytest.raises(UserError) as typed:
        parse_setting(Config(), setting, "x")
    msg = str(typed.value)
    assert msg.startswith(f"{words} must be a ") and f"{words} must be {words}" not in msg
    assert "must be hidden units" not in msg and "must be points" not in msg and "must be noise" not in msg


def test_counts_agree_with_their_nouns():
    assert count(1, "row") == "1 row" and count(0, "row") == "0 rows" and count(1024, "row") == "1,024 rows"


def test_the_palettes_data_file_names_what_a_bad_path_is(tmp_path):
    setting = next(s for s in SETTINGS if s.field == "data_path")
    os.mkfifo(tmp_path / "f.csv")
    os.symlink("loop.csv", tmp_path / "loop.csv")
    for path, words in ((tmp_path / "f.csv", "FIFO"), (tmp_path / "loop.csv", "symlink loop"),
                        (tmp_path / "none.csv", "does not exist"), (tmp_path, "a directory")):
        with pytest.raises(UserError, match=words):
            parse_setting(Config(), setting, str(path))
