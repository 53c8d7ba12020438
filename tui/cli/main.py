"""The `smtui` command: the app (default), `smtui list`, and the commands in ``COMMANDS``
(each its own module), which share their flags through ``smtui.tui.cli.flags``."""

from __future__ import annotations

import argparse
import importlib
import sys

from smtui.core.data import load_points
from smtui.core.distributions import ANALYTIC, NAMES, SAMPLE_ONLY
from smtui.core.errors import UserError
from smtui.core.objectives import OBJECTIVES
from smtui.core.text import quoted
from smtui.tui.cli.flags import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    Parser,
    add_experiment_options,
    add_setup_options,
    one_line,
    setup_from_args,
)

# Each command is a module with ``main(argv) -> exit status``, imported only when used.
COMMANDS = {
    "run": "smtui.tui.cli.run",
    "sweep": "smtui.tui.cli.sweep",
    "compare": "smtui.tui.cli.compare",
    "serve": "smtui.tui.serve.command",
}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui", description="A terminal playground for score matching and denoising "
                "autoencoders (Vincent 2011). With no command, opens the app.")
    add_setup_options(p)
    add_experiment_options(p)
    p.add_argument("--no-files", action="store_true",
                   help="touch no files from inside the app: no saving, loading, exports or data-file prompt "
                   "(what every `smtui serve` session gets unless the server is given --allow-files)")
    return p


def cmd_list() -> int:
    for name in NAMES:
        kind = "analytic" if name in ANALYTIC else "sample-only"
        print(f"distribution  {name:13s} {kind}" + ("" if name in SAMPLE_ONLY else ", exact score"))
    for name, o in OBJECTIVES.items():
        print(f"objective     {name:13s} {o.description}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["list"]:
            if argv[1:]:
                raise UserError(f"'smtui list' takes no arguments, got {quoted(' '.join(argv[1:]))}")
            return cmd_list()
        if argv[:1] and argv[0] in COMMANDS:
            return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])
        args = build_parser().parse_args(argv)
        config, trainer = setup_from_args(args)
        if trainer is None and config.data_path is not None:
            load_points(config.data_path)  # refused here in one line, not in the app's trainer process
        from smtui.tui.app import run_app

        # The app's trainer process loads the experiment again from its path (a Trainer does
        # not pickle); loading it here first refuses a bad file with exit status 2.
        return run_app(config, experiment=None if trainer is None else args.load, files=not args.no_files)
    except UserError as exc:
        print(f"smtui: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print("smtui: error: not enough memory for this setup; try a smaller --hidden, --batch or --n-train",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("smtui: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
