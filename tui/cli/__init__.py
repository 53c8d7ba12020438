"""The command line: the `smtui` entry point, the shared setup flags and one module per command."""
