"""Every field of a saved experiment is checked on load: type, dtype, range, and
consistency with the others (issue 9 cause 13). Each corruption below loaded with exit 0
before; now each is refused in one line naming what is wrong.

Since format 2 the TOML holds the SHA-256 of its .npz and .csv, so an edited file is
refused by its checksum first; here each edit is re-signed (as a careful hand-editor, or a
version 1 file, would get past that) to reach the field checks behind it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.core.experiment import load_experiment, save_experiment
from smtui.core.trainer import Trainer

SMALL = dict(n_train=40, hidden=4, batch=8, eval_every=2)


@pytest.fixture
def saved(tmp_path) -> Path:
    t = Trainer(Config(**SMALL))
    t.train(5)
    t.configure(lr=0.02)
    t.train(1)
    return save_experiment(t, tmp_path / "e.toml")


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(UserError) as info:
        load_experiment(path)
    msg = str(info.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
    return msg


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_the_fixture_loads(saved):
    t = load_experiment(saved)
    assert t.step == 6 and len(t.evaluations) == 3 and t.marks == [(5, "lr=0.02")]


# --- the .csv metric history ---------------------------------------------------------------


def test_csv_empty_header_only_and_cut_are_refused(saved, named_files, rewrite_history):
    full = named_files(saved)[1].read_text()
    rewrite_history(saved, b"")
    _refused(saved, "empty (0 bytes)")
    rewrite_history(saved, full.splitlines()[0] + "\n")
    _refused(saved, "a header but no rows")
    rewrite_history(saved, full[:-7])
    _refused(saved, "cut short")


def test_csv_steps_beyond_the_run_out_of_order_or_nan_are_refused(saved, named_files, rewrite_history):
    lines = named_files(saved)[1].read_text().splitlines()
    rewrite_history(saved, "\n".join(lines + ["99999" + lines[-1][1:]]) + "\n")
    _refused(saved, "step 99999 is not from 0 to the run's step 6")
    rewrite_history(saved, "\n".join([lines[0], lines[2], lines[1]]) + "\n")
    _refused(saved, "comes before the previous row's")
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("dsm")] = "nan"
    rewrite_history(saved, "\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    _refused(saved, "dsm = 'nan'", "no nan or inf")


# --- the TOML ------------------------------------------------------------------------------


def test_toml_dtype_over_arrays_of_another_dtype_is_refused(saved):
    _edit(saved, 'dtype = "float64"', 'dtype = "float32"')
    _refused(saved, "array 'W'", "float64", "float32")


def test_version_true_is_not_a_version_number(saved):
    text = saved.read_text()
    saved.write_text(re.sub(r"^version = \d+$", "version = true", text, count=1, flags=re.M))
    _refused(saved, "version True is not supported")


@pytest.mark.parametrize("step,words", [(-5, "from 0 to run.step (6)"), (99999, "from 0 to run.step (6)"),
                                        ('"5"', "whole number")])
def test_marks_outside_the_run_are_refused(saved, step, words):
    _edit(saved, "{ step = 5,", f"{{ step = {step},")
    _refused(saved, "run.marks[0].step", words)


def test_a_diverged_status_needs_its_message(saved):
    _edit(saved, 'status = "ok"', 'status = "diverged"')
    _refused(saved, "run.message")


# --- the .npz state ------------------------------------------------------------------------


def test_float32_weights_in_a_float64_setup_are_refused(saved, named_files, rewrite_npz):
    with np.load(named_files(saved)[0]) as z:
        w = z["W"]
    rewrite_npz(saved, W=w.astype(np.float32))
    _refused(saved, "array 'W'", "float32", "float64")


def test_an_all_zero_random_state_is_refused(saved, rewrite_npz):
    rewrite_npz(saved, rng=np.zeros(6, dtype=np.uint64))
    _refused(saved, "'rng' is not a valid PCG64")


def test_emptied_losses_are_refused(saved, rewrite_npz):
    rewrite_npz(saved, losses=np.zeros((0, 2)))
    _refused(saved, "array 'losses' has 0 rows")
    rewrite_npz(saved, losses=np.zeros((0, 2)), losses_seen=np.asarray(0, dtype=np.int64))
    _refused(saved, "'losses_seen' is 0, the run's step is 6")


@pytest.mark.parametrize("t,words", [(0, "moments are not zero"), (-1, "from 0 to the run's step 6"),
                                     (7, "from 0 to the run's step 6")])
def test_adam_step_count_out_of_range_is_refused(saved, t, words, rewrite_npz):
    rewrite_npz(saved, **{"opt.t": np.asarray(t, dtype=np.int64)})
    _refused(saved, "'opt.t'", words)


def test_negative_adam_second_moments_are_refused(saved, named_files, rewrite_npz):
    with np.load(named_files(saved)[0]) as z:
        v = z["opt.v.W"]
    rewrite_npz(saved, **{"opt.v.W": -v - 1e-3})
    _refused(saved, "'opt.v.W'", "negative")


def test_last_loss_must_match_the_history(saved, rewrite_npz):
    rewrite_npz(saved, last_loss=np.asarray(123.0))
    _refused(saved, "'last_loss'")
    rewrite_npz(saved, last_loss=np.asarray(np.nan))
    _refused(saved, "'last_loss'", "nan before the first step")


# --- issue 9 cause 14: float32 at tiny sigma -------------------------------------------------


def test_float32_below_its_sigma_floor_is_refused_up_front_with_the_reason():
    with pytest.raises(UserError, match=r"float32 needs sigma >= 0.0001.*overflow float32 in Adam's state"):
        Config(dtype="float32", sigma=1e-5).validated()
    with pytest.raises(UserError, match="float32 needs sigma"):
        Config(dtype="float32", sigma=1e-3).with_changes(sigma=1e-6)
    Config(dtype="float64", sigma=1e-8).validated()  # float64 keeps the whole range


@pytest.mark.parametrize("objective", ["dsm", "ism", "esm-sigma"])
def test_float32_at_its_sigma_floor_saves_a_state_that_loads(tmp_path, objective):
    t = Trainer(Config(objective=objective, sigma=1e-4, dtype="float32", n_train=128, batch=32, hidden=16,
                       eval_every=10**6))
    t.train(30, evaluate=False)
    assert t.status == "ok"
    for a in t.opt_state["v"].values():
        assert np.isfinite(a).all() and a.max() < 1e34  # float32's 3.4e38 is 4 orders away
    back = load_experiment(save_experiment(t, tmp_path / "f.toml"))
    assert back.step == 30


def test_the_loss_history_check_holds_across_decimation(tmp_path):
    """The exact row rule (one row per stride from step 1) holds after the history halves."""
    t = Trainer(Config(n_train=32, hidden=2, batch=4, eval_every=10**6))
    done = 0
    for target in (2047, 2048, 4097):
        t.train(target - done, evaluate=False)
        done = target
        back = load_experiment(save_experiment(t, tmp_path / f"s{target}.toml"))
        np.testing.assert_array_equal(back.losses.array(), t.losses.array())


def test_setup_changes_evaluated_at_one_step_save_and_load(tmp_path):
    """What the app does when lr or sigma change while paused: an evaluation per change, all at
    the same step. The history then has equal steps, and the saved experiment must load."""
    t = Trainer(Config(**SMALL))
    t.train(5)
    t.evaluate()
    for lr in (0.02, 0.04, 0.08):
        t.configure(lr=lr)
        t.evaluate()
    steps = [row["step"] for row in t.evaluations]
    assert steps.count(5) >= 3
    back = load_experiment(save_experiment(t, tmp_path / "paused.toml"))
    assert [row["step"] for row in back.evaluations] == steps and back.config.lr == 0.08
