"""The command line's help: `smtui --help` names every command, every command's --help
works, no listed flag is always refused, and the help is built without loading numpy
(its speed is measured by benchmarks/cli_startup.py, not here)."""

import os
import subprocess
import sys

import pytest

from smtui.tui.cli.main import COMMANDS, main

ENV = {**os.environ, "PYTHONPATH": ""}  # smtui as installed, as a user runs it


def _help(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    assert exc.value.code == 0 and err == "", (argv, err)
    return out


def test_the_help_names_every_command_with_a_line(capsys):
    out = _help(capsys, ["--help"])
    listed = out.split("commands:\n")[1].split("\n\n")[0].splitlines()
    names = [line.split()[0] for line in listed]
    assert names == ["(none)", "run", "compare", "sweep", "ladder", "serve", "list", "tour"] == ["(none)", *COMMANDS]
    assert all(len(line.split()) > 2 and len(line) <= 80 for line in listed), listed
    assert "--distribution NAME" in out and "--no-files" in out  # the app's own options follow


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_a_working_help(capsys, command):
    out = _help(capsys, [command, "--help"])
    assert out.startswith(f"usage: smtui {command}")


def test_list_takes_no_arguments_and_says_so_in_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["list", "extra"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "extra" in err and "smtui list" in err


def test_compare_lists_no_objective_flag_and_still_refuses_it_with_a_pointer(capsys):
    out = _help(capsys, ["compare", "--help"])
    assert "--objectives" in out and "--objective " not in out and "--objective\n" not in out
    assert main(["compare", "--objective", "dsm"]) == 2
    assert "use --objectives" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["list", "--help"]])
def test_the_help_and_the_list_load_no_numpy(argv):
    code = (
        "import sys, contextlib, io\n"
        "from smtui.tui.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    try: main({argv!r})\n"
        "    except SystemExit as exc: assert exc.code == 0, exc.code\n"
        "assert 'ring8' in out.getvalue() or 'usage' in out.getvalue(), out.getvalue()\n"
        "heavy = [m for m in ('numpy', 'autograd', 'textual', 'rich', 'smtui.core.trainer') if m in sys.modules]\n"
        "print(','.join(heavy)); sys.exit(1 if heavy else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 0, f"loaded {r.stdout.strip()} {r.stderr}"


def test_python_dash_m_smtui_help_names_the_commands():
    r = subprocess.run([sys.executable, "-m", "smtui", "--help"], capture_output=True, text=True, env=ENV,
                       stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0 and r.stderr == ""
    assert all(f"\n  {name} " in r.stdout for name in COMMANDS)


@pytest.mark.parametrize("argv", [["list"], ["compare", "--steps", "2", "--n-train", "24", "--hidden", "4"]])
def test_a_closed_stdout_ends_quietly(argv):
    """`smtui list | head -1`: the reader leaves early; no traceback, exit status 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout fails with EPIPE
    try:
        r = subprocess.run([sys.executable, "-m", "smtui", *argv], stdout=write_end, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, env=ENV, timeout=120)
    finally:
        os.close(write_end)
    assert r.returncode == 1 and r.stderr == b"", r.stderr.decode()[-500:]
