"""`smtui list`: every distribution and objective with a line each, from core/names.py
(no numpy: it answers as quickly as `smtui --help`)."""

from __future__ import annotations

import argparse

from smtui.core import names
from smtui.tui.cli.flags import EXIT_OK, Parser


def build_list_parser() -> argparse.ArgumentParser:
    return Parser(prog="smtui list", description="Name every distribution (analytic, with an exact score, or "
                  "sample-only) and every objective, with a line each. Takes no options.")


def main(argv: list[str]) -> int:
    """`smtui list ARGS`."""
    build_list_parser().parse_args(argv)
    for name in names.DISTRIBUTIONS:
        kind = "analytic" if name in names.ANALYTIC else "sample-only"
        print(f"distribution  {name:13s} {kind}" + ("" if name in names.SAMPLE_ONLY else ", exact score"))
    for name, description in names.OBJECTIVES.items():
        print(f"objective     {name:13s} {description}")
    return EXIT_OK
