"""The SSH server's keys: its own host key (made on first use, private) and the viewers'
authorized keys, read as every input is (smtui.core.reading: a regular file, capped), each
line checked on its own so that a junk line is named, not skipped in silence."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

with warnings.catch_warnings():  # asyncssh still names DSA types, which cryptography warns of on import
    warnings.filterwarnings("ignore", message=".*deprecated", module=r"asyncssh(\.|$)")
    import asyncssh

from smtui.core.errors import UserError
from smtui.core.reading import read_text
from smtui.core.text import visible
from smtui.tui.serve.command import config_dir


def load_host_key(path: str | None) -> tuple[asyncssh.SSHKey, str, bool]:
    """(key, path, made): the ed25519 host key at ``path`` (default in the config directory),
    made with mode 0600 on first use; refused if it is not a regular private file."""
    key_path = Path(path).expanduser() if path else config_dir() / "ssh_host_ed25519_key"
    try:
        st = key_path.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UserError(f"cannot read host key {visible(key_path)}: {visible(exc.strerror)}") from None
    if st is None:
        key = asyncssh.generate_private_key("ssh-ed25519")
        try:
            key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key.export_private_key("openssh"))
        except OSError as exc:
            raise UserError(f"cannot write host key {visible(key_path)}: {visible(exc.strerror)}") from None
        return key, str(key_path), True
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"host key {visible(key_path)} is not a regular file")
    if st.st_mode & 0o077:
        raise UserError(f"host key {visible(key_path)} can be read by others (mode {st.st_mode & 0o777:o}); "
                        f"chmod 600 it")
    try:
        key = asyncssh.read_private_key(key_path)
    except (OSError, ValueError, asyncssh.KeyImportError) as exc:
        raise UserError(f"cannot read host key {visible(key_path)}: {visible(exc)}") from None
    return key, str(key_path), False


AUTHORIZED_KEYS_LIMIT = 1 << 20  # bytes: thousands of keys


def load_authorized_keys(path: str | None) -> tuple[asyncssh.SSHAuthorizedKeys, str, int, list[int]]:
    """(keys, path, count, junk line numbers) from an OpenSSH authorized_keys file (default
    ~/.ssh/authorized_keys), read as every input is (smtui.core.reading: a regular file, capped)."""
    keys_path = Path(path).expanduser() if path else Path("~/.ssh/authorized_keys").expanduser()
    if not os.path.lexists(keys_path):
        raise UserError(f"no authorized keys at {visible(keys_path)}: list the viewers' public keys there, "
                        f"give --authorized-keys FILE, or --open for a public demo")
    text = read_text(keys_path, "authorized keys", AUTHORIZED_KEYS_LIMIT)
    good, junk = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            asyncssh.import_authorized_keys(line)  # one line at a time: the whole file skips junk silently
        except (ValueError, asyncssh.KeyImportError):
            junk.append(number)
        else:
            good.append(line)
    if not good:
        why = f" ({junk_text(junk)})" if junk else ""
        raise UserError(f"{visible(keys_path)} lists no public keys{why}: add the viewers' public keys, or use --open")
    return asyncssh.import_authorized_keys("\n".join(good)), str(keys_path), len(good), junk


def junk_text(numbers: list[int]) -> str:
    """'line 3 is not a public key', 'lines 3, 7 are not public keys' (the first ten named)."""
    shown = ", ".join(map(str, numbers[:10])) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
    return f"line {shown} is not a public key" if len(numbers) == 1 else f"lines {shown} are not public keys"
