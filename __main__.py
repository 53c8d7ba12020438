"""`python -m smtui`: the same as the `smtui` command."""

from smtui.tui.cli.main import entry

if __name__ == "__main__":
    entry()
