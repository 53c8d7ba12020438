"""The `smtui` command: the app (default) and the commands in ``COMMANDS`` (each its own
module, imported when used), which share their flags through ``smtui.tui.cli.flags``."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from smtui.core.errors import UserError
from smtui.tui.cli.flags import (
    EXIT_BAD_INPUT,
    Parser,
    add_experiment_options,
    add_setup_options,
    one_line,
    setup_from_args,
)

# Each command: the module with its ``main(argv) -> exit status``, imported only when used, and
# its line in `smtui --help`. This module imports no numpy: `smtui --help` stays quick
# (benchmarks/cli_startup.py), and the engine loads when a command or the app runs.
COMMANDS = {
    "run": ("smtui.tui.cli.run", "train headless, then report every figure"),
    "compare": ("smtui.tui.cli.compare", "train 2 to 4 objectives side by side from one start"),
    "sweep": ("smtui.tui.cli.sweep", "one run per (sigma, seed) in parallel: what sigma buys and costs"),
    "ladder": ("smtui.tui.cli.ladder", "one model over a ladder of sigmas, sampled by walking down it"),
    "serve": ("smtui.tui.serve.command", "give a demo: the app to SSH clients or browser tabs"),
    "list": ("smtui.tui.cli.listing", "name every distribution and objective"),
    "tour": ("smtui.tui.cli.tour", "open the app on a guided tour of the paper"),
}
APP_LINE = "open the app"  # the help's lines fit 80 columns


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui", usage="%(prog)s [COMMAND] [OPTIONS]", description=_commands_text(),
               formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setup_options(p)
    add_experiment_options(p)
    p.add_argument("--no-files", action="store_true",
                   help="touch no files from inside the app: no saving, loading, exports or data-file prompt "
                   "(what every `smtui serve` session gets unless the server is given --allow-files)")
    p.add_argument("--sweep-jobs", type=int, metavar="J",
                   help=f"worker processes of the app's sweeps, 1 to {MAX_SWEEP_JOBS} (default: one per core; "
                   "a `smtui serve` session gets 1 unless the server is given more)")
    return p


MAX_SWEEP_JOBS = 256


def _commands_text() -> str:
    """The help's opening: what smtui is, then every command with its line."""
    width = max(len(name) for name in COMMANDS)
    rows = [("(none)", APP_LINE), *((name, line) for name, (_, line) in COMMANDS.items())]
    return "\n".join([
        "A terminal playground for score matching and denoising autoencoders (Vincent 2011).", "", "commands:",
        *(f"  {name:<{width}}  {line}" for name, line in rows),
        "", "Each command has its own options: smtui COMMAND --help.",
        "With no command, the options below set up the app.",
    ])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] and argv[0] in COMMANDS:
            return importlib.import_module(COMMANDS[argv[0]][0]).main(argv[1:])
        args = build_parser().parse_args(argv)
        config, trainer = setup_from_args(args)
        if trainer is None and config.data_path is not None:
            from smtui.core.data import load_points

            load_points(config.data_path)  # refused here in one line, not in the app's trainer process
        from smtui.tui.app import run_app

        # The app's trainer process loads the experiment again from its path (a Trainer does
        # not pickle); loading it here first refuses a bad file with exit status 2.
        if args.sweep_jobs is not None and not 1 <= args.sweep_jobs <= MAX_SWEEP_JOBS:
            raise UserError(f"--sweep-jobs must be a whole number from 1 to {MAX_SWEEP_JOBS}, got {args.sweep_jobs}")
        return run_app(config, experiment=None if trainer is None else args.load, files=not args.no_files,
                       sweep_jobs=args.sweep_jobs)
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
    except BrokenPipeError:  # stdout's reader left (`smtui list | head -1`): end quietly, as Unix tools do
        _drop_stdout()
        return EXIT_BROKEN_PIPE


EXIT_BROKEN_PIPE = 1  # as Python's own advice and rich (sweep's tables) have it


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def entry() -> None:
    code = main()
    _quiet_shutdown()
    sys.exit(code)


def _quiet_shutdown() -> None:
    """From here the interpreter only shuts down (joins the threads and processes it
    started): a ctrl+c now ends it at once, with no traceback from its exit handlers."""

    def now(signum, frame):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(130)

    try:
        signal.signal(signal.SIGINT, now)
    except ValueError:  # not the main thread
        pass


if __name__ == "__main__":
    entry()
