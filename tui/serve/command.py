"""`smtui serve`: give a demo. `--ssh` serves the app to SSH clients (smtui.tui.serve.ssh), `--web`
to browser tabs (smtui.tui.serve.web). This module parses and checks the flags; the servers start
`python -m smtui [setup flags]` once per session and own nothing of the science."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from smtui.core.config import Config
from smtui.core.errors import UserError
from smtui.tui.cli.flags import (
    SETUP_FLAGS,
    Parser,
    add_experiment_options,
    add_setup_options,
    setup_argv,
    setup_from_args,
)

SSH_PORT, WEB_PORT = 2222, 8000
MAX_SESSIONS, IDLE_TIMEOUT = 8, 900.0
MAX_WATCHERS = 64  # --present: viewers at once (each costs a connection, not an app)
SWEEP_JOBS = 1  # worker processes of a session's sweep, unless the operator allows more
# Flags that only one server understands, with argparse's names for them.
SSH_ONLY = {"authorized_keys": "--authorized-keys", "open": "--open", "host_key": "--host-key"}
WEB_ONLY = {"allow_origin": "--allow-origin"}


def build_serve_parser() -> argparse.ArgumentParser:
    p = Parser(prog="smtui serve", description="Give a demo: every SSH connection or browser tab gets its own "
               "copy of the app, starting from the setup the flags describe.")
    mode = p.add_argument_group("server").add_mutually_exclusive_group(required=True)
    mode.add_argument("--ssh", action="store_true", help="serve the app over SSH (asyncssh)")
    mode.add_argument("--web", action="store_true", help="serve the app to web browsers (textual-serve)")
    s = p.add_argument_group("both servers")
    s.add_argument("--present", action="store_true",
                   help="presenter mode: you drive the app in this terminal and every viewer watches it, live and "
                   "read-only, at your terminal's size (one app, one trainer, however many watch); q in the app "
                   "ends the demo")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, metavar="N", help=f"port (default {SSH_PORT} for --ssh, {WEB_PORT} for --web)")
    s.add_argument("--allow-files", action="store_true",
                   help="let viewers save, load and export files as the serving user (off: every session "
                   "runs `smtui --no-files`)")
    s.add_argument("--sweep-jobs", type=int, metavar="J",
                   help=f"worker processes a session's sweep may use (default {SWEEP_JOBS}: one core's worth per "
                   "session, whatever the viewers ask; with --present: one per core)")
    s.add_argument("--max-sessions", type=int, metavar="N",
                   help=f"sessions (SSH sessions or browser tabs) at once; the next is told to try later "
                   f"(default {MAX_SESSIONS}; with --present, viewers watching: default {MAX_WATCHERS})")
    s.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                   help="end a session after this long with no key pressed and nothing training, 0 for never "
                   f"(default {IDLE_TIMEOUT:g})")
    g = p.add_argument_group("SSH only")
    who = g.add_mutually_exclusive_group()
    who.add_argument("--authorized-keys", metavar="FILE",
                     help="public keys allowed to connect, one a line (default ~/.ssh/authorized_keys)")
    who.add_argument("--open", action="store_true",
                     help="let anyone who can reach the port in, without authentication (a public demo)")
    g.add_argument("--host-key", metavar="FILE", help="the server's ed25519 host key, made on first use "
                   "(default: ssh_host_ed25519_key in smtui's config directory)")
    w = p.add_argument_group("web only")
    w.add_argument("--allow-origin", action="append", metavar="URL",
                   help="a web origin (scheme://host[:port]) whose pages may open sessions besides this server's "
                   "own, e.g. a reverse proxy's https://demo.example.org; repeatable. Others are refused, and "
                   "so are requests naming another host (DNS rebinding)")
    add_setup_options(p)
    add_experiment_options(p)
    p.epilog = "Viewers connect with `ssh -p PORT HOST` or open http://HOST:PORT in a browser."
    return p


def session_argv(args: argparse.Namespace, config: Config | None = None) -> list[str]:
    """The setup flags again, as every session's `python -m smtui` gets them (paths made absolute);
    or, given a ``config`` (a web tab's ?setup=), the flags that make that one."""
    argv = [] if config is None else setup_argv(config)
    for dest in (*SETUP_FLAGS, "load", "config") if config is None else ():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest in ("data", "load", "config"):
            value = str(Path(value).resolve())
        argv += ["--" + dest.rstrip("_").replace("_", "-"), str(value)]
    present, files = getattr(args, "present", False), getattr(args, "allow_files", False)
    jobs = getattr(args, "sweep_jobs", None)
    jobs = SWEEP_JOBS if jobs is None and not present else jobs  # presenting: the app's own default
    argv += [] if jobs is None else ["--sweep-jobs", str(jobs)]
    return argv if files or present else [*argv, "--no-files"]  # presenting: the app is the operator's own


def app_command(args: argparse.Namespace, config: Config | None = None) -> list[str]:
    """The command line of one session's app: this Python, smtui's CLI, the setup flags (or
    those of ``config``). -P: the working directory is not on sys.path."""
    return [sys.executable, "-P", "-m", "smtui", *session_argv(args, config)]


def check_args(args: argparse.Namespace) -> None:
    """Refuse what cannot work before listening: bad ports and limits, flags of the other server,
    and a setup the app would refuse (so no viewer is the first to find out)."""
    other, name = (SSH_ONLY, "--ssh") if args.web else (WEB_ONLY, "--web")
    given = [flag for dest, flag in other.items() if getattr(args, dest) not in (None, False)]
    if given:
        raise UserError(f"{given[0]} applies to {name} only")
    args.port = (SSH_PORT if args.ssh else WEB_PORT) if args.port is None else args.port
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be 0 to 65535, got {args.port}")
    if not args.host.strip():
        raise UserError("--host must name an address, e.g. 127.0.0.1")
    if args.present:
        check_presenting(args)
    if args.sweep_jobs is not None and not 1 <= args.sweep_jobs <= 256:
        raise UserError(f"--sweep-jobs must be a whole number from 1 to 256, got {args.sweep_jobs}")
    args.max_sessions = (MAX_WATCHERS if args.present else MAX_SESSIONS) if args.max_sessions is None \
        else args.max_sessions
    args.idle_timeout = IDLE_TIMEOUT if args.idle_timeout is None else args.idle_timeout
    if args.max_sessions < 1:
        raise UserError(f"--max-sessions must be at least 1, got {args.max_sessions}")
    if not 0 <= args.idle_timeout < float("inf"):
        raise UserError(f"--idle-timeout must be a number of seconds >= 0 (0: never), got {args.idle_timeout}")
    if args.web:
        from smtui.tui.serve.origins import parse_origin

        args.allow_origin = [parse_origin(o) for o in args.allow_origin or ()]
    config, trainer = setup_from_args(args)  # the app's own checks of the setup flags and experiment
    args.base_config, args.resumes = config, trainer is not None  # what a web tab's ?setup= changes
    if trainer is None and config.data_path is not None:
        from smtui.core.data import load_points

        load_points(config.data_path)  # and of the data file, as `smtui` checks it before its app starts


def has_terminal() -> bool:
    return os.isatty(0) and os.isatty(1)


def check_presenting(args: argparse.Namespace) -> None:
    """--present: a terminal to present from, and none of the flags that only separate sessions have."""
    if not has_terminal():
        raise UserError("--present needs a terminal to present from: run it in one (its input and output a terminal)")
    if args.idle_timeout is not None:
        raise UserError("--idle-timeout applies to separate sessions: with --present a viewer watches as long as "
                        "your app runs")
    if args.allow_files:
        raise UserError("--allow-files applies to separate sessions: with --present the app is yours (it saves and "
                        "loads as smtui does) and viewers only watch")
    args.idle_timeout = 0


def config_dir() -> Path:
    """Where smtui keeps its own files: $XDG_CONFIG_HOME/smtui, else ~/.config/smtui."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "smtui"


def main(argv: list[str]) -> int:
    """`smtui serve ARGS`."""
    args = build_serve_parser().parse_args(argv)
    check_args(args)
    if args.ssh:
        from smtui.tui.serve.ssh import serve_ssh

        return serve_ssh(args, app_command(args))
    from smtui.tui.serve.web import serve_web

    return serve_web(args, app_command(args))
