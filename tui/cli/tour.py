"""`smtui tour`: the app, opened on a guided tour of the paper (smtui.tui.screens.tour): a page
at a time beside the live app, each setting it up to show its point."""

from __future__ import annotations

import argparse

from smtui.tui.cli.flags import EXIT_OK, Parser


def build_tour_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui tour", description="Open the app on a guided tour of the paper (Vincent 2011): the "
               "energy model, explicit and implicit score matching, Parzen smoothing, denoising score matching "
               "and the one-scale plot, the denoising autoencoder, what sigma costs. A page at a time beside the "
               "live app; t or → on, ← back, escape leaves (t opens it again).")
    p.add_argument("--no-files", action="store_true",
                   help="touch no files from inside the app: no saving, loading, exports or data-file prompt")
    return p


def main(argv: list[str]) -> int:
    """`smtui tour ARGS`."""
    args = build_tour_parser().parse_args(argv)
    from smtui.core.config import Config
    from smtui.tui.app import run_app

    code = run_app(Config(), files=not args.no_files, tour=True)
    return code or EXIT_OK
