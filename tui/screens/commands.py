"""The command palette's entries (every action, every choice, exact values, files) and the
parsing of typed values into Config changes; a bad value is a one-line UserError.

Files (save, load, exports) are asked for with a default name that overwrites nothing; a
save or export is checked by the one writer's rules (core/outputs.py: never over the data
file or the experiment the app reads), and a name that exists is overwritten only after a
yes to "overwrite?"."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual.app import SystemCommand

from smtui.core.config import HIDDEN_MAX, WORDS, Config
from smtui.core.distributions import NAMES
from smtui.core.errors import UserError
from smtui.core.experiment import load_config, suggest_experiment_path
from smtui.core.objectives import OBJECTIVES
from smtui.core.optim import OPTIMIZERS
from smtui.core.outputs import Input, Request, check, data_input, experiment_inputs, write, write_each
from smtui.core.reading import check_regular
from smtui.core.text import quoted
from smtui.tui.cli.flags import setup_argv
from smtui.tui.render.report import VIEWS
from smtui.tui.runner.protocol import ExportCsv, Load, Save
from smtui.tui.screens.keys import MAIN_KEYS
from smtui.tui.screens.modals import Confirm, SetupLine, ValuePrompt
from smtui.tui.screens.sweep import ask_sweep

LONGEST_NUMBER = 40  # characters; anything longer is a mistake, and quoting it whole would not fit a line


@dataclass(frozen=True)
class Setting:
    """A value the palette can set exactly: its Config field and how to read it."""

    title: str
    field: str
    kind: type
    what: str


SETTINGS = (
    Setting("sigma", "sigma", float, "a number > 0 (the noise width and temperature)"),
    Setting(WORDS["lr"], "lr", float, "a number > 0"),
    Setting(WORDS["hidden"], "hidden", int, f"a whole number of hidden units, 1 to {HIDDEN_MAX:,}"),
    Setting("seed", "seed", int, "a whole number >= 0 (new data, init and batches)"),
    Setting(WORDS["lam"], "lam", float, "a number >= 0 (ISMreg's weight)"),
    Setting(WORDS["batch"], "batch", int, "a whole number >= 1"),
    Setting(WORDS["n_train"], "n_train", int, "a whole number of points to draw, >= 1"),
    Setting("data file", "data_path", str, "a CSV / text / .npy file of points, shape (n, d)"),
)


def parse_value(setting: Setting, text: str):
    """The typed text as a value for ``setting.field``, or a UserError saying what is allowed."""
    text = text.strip()
    if not text:
        raise UserError(f"{setting.title}: nothing typed; expected {setting.what}")
    if setting.kind is str:
        path = os.path.expanduser(text)
        check_regular(path, setting.title)  # a FIFO, a device or a loop is named as such
        return path
    if len(text) > LONGEST_NUMBER:
        raise UserError(f"{setting.title} must be {setting.what}, got {quoted(text, 30)} ({len(text)} characters)")
    try:
        return setting.kind(text)
    except ValueError:
        raise UserError(f"{setting.title} must be {setting.what}, got {quoted(text)}") from None


def parse_setting(config: Config, setting: Setting, text: str) -> dict:
    """The change the typed text asks for, checked against the whole setup: ``{field: value}``,
    or a one-line UserError naming the bad value and what is allowed."""
    value = parse_value(setting, text)
    config.with_changes(**{setting.field: value})
    return {setting.field: value}


# --- files ------------------------------------------------------------------------------


def free_path(stem: str, suffix: str, folder: str | Path = ".") -> Path:
    """``folder/stem.suffix``, or ``stem-2.suffix``, ... : the first name not taken."""
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
    for i in range(1, 10_000):
        p = Path(folder) / (f"{stem}{suffix}" if i == 1 else f"{stem}-{i}{suffix}")
        if not p.exists():
            return p
    raise UserError(f"no free file name like {stem + suffix!r} in {str(folder)!r}")


def app_inputs(main, for_save: bool = False) -> list[Input]:
    """The files the app reads, which no save or export may replace: the data file it trains
    on, and the experiment last loaded or saved with the files it names (its TOML left out
    for a save, which replaces it after a yes)."""
    return [*data_input(main.config.data_path, "the data file the app trains on"),
            *experiment_inputs(main.experiment, "the experiment last loaded or saved", with_toml=not for_save)]


def ask_file(main, question: str, default: Path, request: Callable[[str], Request], inputs: list[Input],
             then: Callable[[str, bool], None], dropped: Callable[[], None] = lambda: None) -> None:
    """Ask for a file name (``default`` filled in); check ``request(name)`` by the one
    writer's rules (core/outputs.py) against ``inputs``; if the file exists, ask before
    overwriting. Then ``then(name, overwrite)``; or, when nothing is to be written
    (escape, a refused name, no to "overwrite?"), ``dropped()``."""

    def chosen(text: str | None) -> None:
        if text is None:
            dropped()
            return
        name = os.path.expanduser(text.strip())
        try:
            out = check(request(name), inputs, force=True)  # every rule but "exists": asked below
        except UserError as exc:
            main.notify(str(exc), title="refused", severity="error")
            dropped()
            return
        if not out.exists:
            then(name, False)
            return
        taken = Path(out.given).name

        def confirmed(yes: bool | None) -> None:
            if yes:
                then(name, True)
            else:
                main.notify(f"nothing written; {taken} kept (give another name to write beside it)",
                           severity="warning")
                dropped()

        main.app.push_screen(Confirm(f"{taken} exists. Overwrite?"), confirmed)

    main.app.push_screen(ValuePrompt(question, str(default)), chosen)


def _sent(inputs: list[Input]) -> tuple[tuple[str, str], ...]:
    """Inputs as the trainer's commands carry them (plain pairs: they cross a pipe)."""
    return tuple((i.what, str(i.path)) for i in inputs)


def ask_save(main, dropped: Callable[[], None] = lambda: None) -> None:
    """s: save the experiment (setup, parameters and optimiser state, metric history);
    ``dropped()`` when nothing is to be saved after all."""
    def toml(name: str) -> str:
        return name if name.lower().endswith(".toml") or not name else name + ".toml"

    inputs = app_inputs(main, for_save=True)
    ask_file(main, "Save the experiment as (.toml; .npz and .csv go beside it)",
             suggest_experiment_path(main.config),
             lambda name: Request("experiment", toml(name), replaces=False, regular_only=True), inputs,
             lambda name, overwrite: main.command(Save(toml(name), overwrite, _sent(inputs))), dropped)


def ask_load(main) -> None:
    """Load a saved experiment: its setup is checked here, the rest where it trains."""

    def chosen(text: str | None) -> None:
        if text is None:
            return
        name = os.path.expanduser(text.strip())
        try:
            if not name:
                raise UserError("no file name typed; nothing loaded")
            load_config(name)
        except UserError as exc:
            main.notify(str(exc), title="refused", severity="error")
            return
        main.command(Load(name))

    main.app.push_screen(ValuePrompt("Load an experiment (.toml, saved with s or smtui run --save)", ""), chosen)


def _stem(main) -> str:
    step = main.report.snapshot.step if main.report else 0
    return f"smtui-{Path(main.config.source).stem}-step{step}"


def ask_screenshot(main) -> None:
    """Export what the screen shows now as SVG (by the one writer: atomically, never over an
    input). The screen is rendered on the UI thread and written off it (a FIFO's reader may
    take seconds)."""
    inputs = app_inputs(main)

    def request(name: str) -> Request:
        return Request("screenshot", name, replaces=False)

    def write_svg(name: str, overwrite: bool) -> None:
        def now() -> None:
            try:  # checked again: the answer to "Overwrite?" may have taken a while
                out = check(request(name), inputs, force=overwrite, force_hint="allow overwriting it")
            except UserError as exc:
                main.notify(str(exc), title="refused", severity="error")
                return
            svg = main.app.export_screenshot(title=f"smtui · {Path(name).name}")

            def written() -> None:
                failures = write_each([out], lambda o: write(o, svg))
                if failures:
                    main.app.call_from_thread(main.notify, failures[0], title="refused", severity="error")
                else:
                    main.app.call_from_thread(main.notify, f"screenshot written to {name}", title="done")

            main.run_worker(written, thread=True, group="export", exit_on_error=False)

        main.call_after_refresh(now)  # once the prompt is gone from the screen

    ask_file(main, "Export a screenshot as (.svg)", free_path(_stem(main), ".svg"), request, inputs, write_svg)


def ask_history(main) -> None:
    """Export the metric history (every evaluation so far) as CSV, written by the trainer."""
    inputs = app_inputs(main)
    ask_file(main, "Export the metric history as (.csv)", free_path(_stem(main) + "-history", ".csv"),
             lambda name: Request("metric history", name, replaces=False), inputs,
             lambda name, overwrite: main.command(ExportCsv(name, overwrite, _sent(inputs))))


def palette(main) -> Iterator[SystemCommand]:
    """Every action the keys offer, every choice, and a prompt for each exact value."""
    files = main.files  # False in a demo session: no entry that saves, loads or reads a file
    for k in MAIN_KEYS:
        if k.action == "command_palette" or k.action.startswith("tour_") or (k.action == "save" and not files):
            continue
        yield SystemCommand(k.help[0].upper() + k.help[1:], f"key {k.label}", _action(main, k.action))
    for s in SETTINGS:
        if s.field == "data_path" and not files:
            continue
        yield SystemCommand(f"Set {s.title}…", s.what, partial(main.ask_setting, s))
    yield SystemCommand("Compare chosen objectives…", "2 to 4 objectives side by side from one start",
                        partial(_compare, main))
    yield SystemCommand("Ladder…", "from one sigma to a ladder: K, sigma range, sampler and steps per rung, "
                        "then train and walk down it", partial(_ladder, main))
    if files:
        yield SystemCommand("Load an experiment…", "a .toml saved with s; resumes where it was saved",
                            partial(ask_load, main))
        yield SystemCommand("Export a screenshot (SVG)…", "what the screen shows now", partial(ask_screenshot, main))
        yield SystemCommand("Export the metric history (CSV)…", "every evaluation so far, one row each",
                            partial(ask_history, main))
    yield SystemCommand("Copy setup", "the one command line that starts this setup again (smtui --distribution …)",
                        lambda: main.app.push_screen(SetupLine(["smtui", *setup_argv(main.config)])))
    yield SystemCommand("Sweep…", "one run per cell of a grid (sigma by default, any setup) and seed, in worker "
                        "processes: what each setting buys and costs",
                        partial(ask_sweep, main))
    yield SystemCommand("Restart the trainer", "from the experiment last saved or loaded, else from step 0",
                        main.restart_trainer)
    for name in NAMES:
        yield SystemCommand(f"Distribution: {name}", "switch the data", partial(main.change, distribution=name,
                                                                              data_path=None))
    for name, o in OBJECTIVES.items():
        yield SystemCommand(f"Objective: {name}", o.description, partial(main.change, objective=name))
    for name in OPTIMIZERS:
        yield SystemCommand(f"Optimiser: {name}", "resets the optimiser state", partial(main.change, optimizer=name))
    for i, name in enumerate(VIEWS):
        yield SystemCommand(f"View: {name}", "what the score field panel shows", partial(main.show_view, i))


def _compare(main) -> None:
    from smtui.tui.screens.compare import ask_objectives

    ask_objectives(main)


def _ladder(main) -> None:
    from smtui.tui.screens.ladder import ask_ladder

    ask_ladder(main)


def _action(main, action: str) -> Callable:
    async def run() -> None:
        await main.run_action(action)

    return run
