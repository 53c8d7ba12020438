"""What every smtui command shares: exit codes, the parser that fails in one line, the
setup flags and how they become a Config (or a resumed Trainer). Command modules
(``smtui.tui.cli.run``, ``smtui.tui.cli.compare``, ...) import this, never ``smtui.tui.cli.main``, so the CLI module
only parses the command word and dispatches. Nothing here loads numpy: every help is built
from core/names.py and Config's defaults, and the engine is imported when a command runs."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from smtui.core.config import HIDDEN_MAX, Config
from smtui.core.errors import UserError
from smtui.core.names import DISTRIBUTIONS, DTYPES, OBJECTIVES, OPTIMIZERS
from smtui.core.text import QUOTE_LIMIT, quoted, shown, visible

EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_OUTPUT_FAILED, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_FAILED = 1  # the work could not go on (a sweep's worker process was killed)
EXIT_TERMINATED = 143  # stopped by SIGTERM (128 + 15), as a shell reports it


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit status 2."""

    def error(self, message: str):  # noqa: D401
        # argparse quotes whole values: cut each to QUOTE_LIMIT characters, as core does.
        message = re.sub(rf"'([^'\n]{{{QUOTE_LIMIT}}})[^'\n]+'", lambda m: f"'{m.group(1)}'…", message)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


LONGEST_MESSAGE = 600  # characters: a backstop; core cuts each quoted value (core/text.py)


def one_line(message: str) -> str:
    """A message for stderr: control characters made visible (argparse echoes unknown
    arguments raw), and never longer than LONGEST_MESSAGE."""
    return shown(visible(message), LONGEST_MESSAGE)


# Flag -> Config field, for the options every command shares.
SETUP_FLAGS = {
    "distribution": "distribution", "data": "data_path", "objective": "objective", "sigma": "sigma",
    "lr": "lr", "optimizer": "optimizer", "batch": "batch", "hidden": "hidden", "n_train": "n_train",
    "lambda_": "lam", "seed": "seed", "dtype": "dtype", "eval_every": "eval_every",
}


def add_setup_options(p: argparse.ArgumentParser, list_objective: bool = True, hide: tuple[str, ...] = (),
                      default: Config | None = None) -> None:
    """The setup flags. ``list_objective=False``: --objective is still parsed (so a command that
    trains several can refuse it in its own words) but not shown in the help; so are the
    flags named in ``hide`` (the fields objective, sigma, lam or eval_every). ``default``: the
    defaults the help states."""
    d = default or Config()
    g = p.add_argument_group("setup")

    def shown(field: str, text: str) -> str:
        return argparse.SUPPRESS if field in hide else text

    src = g.add_mutually_exclusive_group()
    src.add_argument("--distribution", metavar="NAME",
                     help=f"one of {', '.join(DISTRIBUTIONS)} (default {d.distribution})")
    src.add_argument("--data", metavar="FILE", help="your own points: CSV / whitespace text or .npy, shape (n, d)")
    g.add_argument("--objective", metavar="NAME", help=argparse.SUPPRESS if not list_objective else
                   shown("objective", f"one of {', '.join(OBJECTIVES)} (default {d.objective})"))
    g.add_argument("--sigma", type=float, metavar="S",
                   help=shown("sigma", f"noise width and temperature, 1e-8 to 1e8 (default {d.sigma})"))
    g.add_argument("--lr", type=float, metavar="LR", help=f"learning rate, > 0 (default {d.lr})")
    g.add_argument("--optimizer", metavar="NAME", help=f"one of {', '.join(OPTIMIZERS)} (default {d.optimizer})")
    g.add_argument("--batch", type=int, metavar="B",
                   help=f"batch size: points per step, 1 to 1,000,000 (default {d.batch})")
    g.add_argument("--hidden", type=int, metavar="H",
                   help=f"hidden units of the energy model, 1 to {HIDDEN_MAX} (default {d.hidden})")
    g.add_argument("--n-train", type=int, metavar="N",
                   help=f"training-set size: points drawn from the distribution, 1 to 1,000,000 (default {d.n_train})")
    g.add_argument("--lambda", dest="lambda_", type=float, metavar="L",
                   help=shown("lam", f"ISMreg's lambda, >= 0 (default {d.lam})"))
    g.add_argument("--seed", type=int, metavar="S", help=f"seed for data, init and batches (default {d.seed})")
    g.add_argument("--dtype", metavar="T", help=f"one of {', '.join(DTYPES)} (default {d.dtype})")
    g.add_argument("--eval-every", type=int, metavar="K",
                   help=shown("eval_every", f"steps between evaluations (default {d.eval_every})"))


# Fields a resumed experiment keeps: changing one would discard the saved parameters or data.
FIXED_ON_RESUME = ("distribution", "data_path", "n_train", "seed", "hidden", "dtype")


def add_experiment_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("experiment")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--load", metavar="EXP.toml",
                     help="resume a saved experiment exactly (its .npz and .csv sit beside it); setup flags "
                     "given too change the training settings (objective, sigma, learning rate, optimizer, batch size, "
                     "lambda, eval-every) from here on; the data, seed, hidden size and dtype stay as saved")
    src.add_argument("--config", metavar="EXP.toml",
                     help="start afresh from the [setup] of an experiment file; setup flags override it")


def _changes(args: argparse.Namespace) -> dict:
    return {field: getattr(args, flag) for flag, field in SETUP_FLAGS.items() if getattr(args, flag, None) is not None}


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The Config the flags describe, over ``base`` (defaults if None); validated."""
    return (base or Config()).with_changes(**_changes(args))


# ----- a setup as one line of flags: the palette's "Copy setup" writes it, `smtui serve --web` reads it
ALWAYS_SHOWN = ("objective", "sigma")  # besides the data; every other field only when it is not the default
LONGEST_SETUP = 1000  # characters of a setup given as text (a URL's ?setup=)


def _flag(dest: str) -> str:
    return "--" + dest.rstrip("_").replace("_", "-")


def setup_argv(config: Config) -> list[str]:
    """The setup flags that make ``config`` from the defaults: the data (--distribution or --data),
    the objective and sigma, and every other field that differs from Config()'s. Numbers are
    written as Python's shortest exact form (repr), so they read back to the same value."""
    default, argv = Config(), []
    for dest, field in SETUP_FLAGS.items():
        value = getattr(config, field)
        if field == "distribution" and config.data_path is not None or field == "data_path" and value is None:
            continue
        if field in ("distribution", "data_path", *ALWAYS_SHOWN) or value != getattr(default, field):
            argv += [_flag(dest), repr(value) if isinstance(value, float) else str(value)]
    return argv


def setup_command(config: Config) -> str:
    """The one command line that opens the app on ``config``: ``smtui --distribution ... --sigma ...``."""
    return shlex.join(["smtui", *setup_argv(config)])


class _SetupParser(Parser):
    """The setup flags alone; a bad one is a UserError (the caller says it where it belongs)."""

    def error(self, message: str):  # noqa: D401
        raise UserError(f"{one_line(message)}")


def setup_changes(text: str) -> dict:
    """The Config changes a setup written as flags asks for (``smtui --sigma 0.5 ...``, or the
    flags alone), read by the setup flags' own parser; anything else is a one-line UserError."""
    if len(text) > LONGEST_SETUP:
        raise UserError(f"a setup of {len(text):,} characters; at most {LONGEST_SETUP:,}")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UserError(f"cannot read {quoted(text)} as flags: {exc}") from None
    if words[:1] == ["smtui"]:
        words = words[1:]
    p = _SetupParser(prog="setup", add_help=False)
    add_setup_options(p)
    return _changes(p.parse_args(words))


def _same_setting(field: str, given, saved) -> bool:
    if field == "data_path" and given is not None and saved is not None:
        return Path(given).resolve() == Path(saved).resolve()
    return given == saved


def setup_from_args(args: argparse.Namespace):
    """(config, trainer): a resumed Trainer for --load (else None) and the Config to use,
    from --config's file or the defaults, with the setup flags applied on top."""
    from smtui.core.experiment import load_config, load_experiment
    from smtui.core.reading import name as shown_path

    for flag in ("load", "config"):
        if getattr(args, flag, None) == "":
            raise UserError(f"--{flag}: empty path; give an experiment file (.toml)")
    if getattr(args, "load", None):
        trainer = load_experiment(args.load)
        saved = trainer.config
        changes = {k: v for k, v in _changes(args).items() if not _same_setting(k, v, getattr(saved, k))}
        flag_of = {field: flag for flag, field in SETUP_FLAGS.items()}
        for field in FIXED_ON_RESUME:
            if field in changes:
                flag = "--" + flag_of[field].rstrip("_").replace("_", "-")
                where = shown_path(args.load)
                raise UserError(f"{flag} cannot change when resuming {where} (the saved state depends on it); to "
                                f"start afresh from its setup use --config {where} {flag} ...")
        trainer.config.with_changes(**changes)  # validate before touching the trainer
        if changes:
            trainer.configure(**changes)
        return trainer.config, trainer
    base = load_config(args.config) if getattr(args, "config", None) else None
    return config_from_args(args, base), None
