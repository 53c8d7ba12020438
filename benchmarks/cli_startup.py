"""How long the command line takes to answer: `smtui --help` (and `smtui list`, a command's
--help) against a bare interpreter (`python -c pass`), each a fresh process, in interleaved
rounds so a change in machine load hits them alike; medians in milliseconds. The budget
for `smtui --help` is 150 ms on an idle machine (issue 15); a command's --help loads the
engine and is shown for comparison.

    python -m benchmarks.cli_startup               # 21 rounds
    python -m benchmarks.cli_startup --rounds 3    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import table

BUDGET_MS = 150.0


def commands() -> dict[str, list[str]]:
    """What is timed: the installed `smtui` script beside this Python if there is one (what a
    user types), else `python -m smtui`."""
    script = Path(sys.executable).with_name("smtui")
    smtui = [str(script)] if script.exists() else [sys.executable, "-m", "smtui"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "smtui --help": [*smtui, "--help"],
        "smtui list": [*smtui, "list"],
        "python -m smtui --help": [sys.executable, "-m", "smtui", "--help"],
        "smtui run --help": [*smtui, "run", "--help"],
    }


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                   check=True, env={**os.environ, "PYTHONPATH": ""})
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    args = ap.parse_args(argv)
    runs = commands()
    times = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(timed(runs[name]))
    bare = statistics.median(times["python -c pass"])
    rows = []
    for name in names:
        ms = 1000 * statistics.median(times[name])
        rows.append([name, ms, ms - 1000 * bare, 1000 * min(times[name])])
    print(table(["command", "median ms", "over bare ms", "best ms"], rows,
                title=f"{args.rounds} rounds, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"))
    help_ms = 1000 * statistics.median(times["smtui --help"])
    print(f"smtui --help: {help_ms:.0f} ms median, budget {BUDGET_MS:.0f} ms: "
          + ("within" if help_ms <= BUDGET_MS else "OVER"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
