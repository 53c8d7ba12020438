"""Which requests `smtui serve --web` answers. The Host a request names must be this server: an
IP address or localhost, this machine's own name, or the host of an --allow-origin, on the
server's port (a foreign name resolving to this address is DNS rebinding). A websocket from a
browser must come from one of this server's own pages (its Origin is the Host it asks) or from
an --allow-origin: otherwise any web page open in a browser on this machine could drive apps.
A request without an Origin does not come from a web page (browsers always send it with a websocket)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from smtui.core.errors import UserError
from smtui.core.text import visible

DEFAULT_PORT = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower case; an IPv6 address without brackets
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == DEFAULT_PORT[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def _split(text: str) -> Origin | None:
    """An origin ``scheme://host[:port]`` (nothing else), or None."""
    try:
        u = urlsplit(text)
        port = u.port
    except ValueError:
        return None
    if u.scheme not in DEFAULT_PORT or not u.hostname or u.username is not None or u.password is not None:
        return None
    if u.path not in ("", "/") or u.query or u.fragment:
        return None
    return Origin(u.scheme, u.hostname.lower(), DEFAULT_PORT[u.scheme] if port is None else port)


def parse_origin(text: str) -> Origin:
    """An --allow-origin value, or a one-line UserError."""
    origin = _split(text)
    if origin is None:
        raise UserError(f"--allow-origin must be an origin like https://demo.example.org (scheme://host[:port]), "
                        f"got {visible(text)[:100]}")
    return origin


def _host_port(header: str | None) -> tuple[str, int] | None:
    """('name', port) from a Host header's value (port 80 if none is given), or None if it is not one."""
    u = _split(f"http://{header}") if header else None
    return None if u is None else (u.host, u.port)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Gate:
    """The Host and Origin rules for a server on ``port`` that also accepts ``allowed`` origins."""

    def __init__(self, port: int, allowed: list[Origin]):
        self.port, self.allowed = port, set(allowed)
        self.names = {"localhost"} | {n.lower() for n in (socket.gethostname(), socket.getfqdn()) if n}

    def host_ok(self, header: str | None) -> bool:
        parsed = _host_port(header)
        if parsed is None:
            return False
        name, port = parsed
        if any(name == o.host for o in self.allowed):
            return True  # a name the operator vouches for (a proxy in front may pass it on with any port)
        return port == self.port and (_is_ip(name) or name in self.names)

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        if origin is None:
            return True
        o = _split(origin)
        if o is None:
            return False  # "null" (a sandboxed page or a file), or junk
        if o in self.allowed:
            return True
        here = _host_port(host)
        return o.scheme == "http" and here == (o.host, o.port) and self.host_ok(host)
