"""What presenter mode costs the host (issue 18: 20 watching viewers should cost less CPU and
memory than 2 separate viewer sessions). Both are the real `smtui serve --ssh` command: separate
sessions (one app and trainer each), and `--present` on a pty of this script's own as the
operator's terminal (one app and trainer; each viewer a connection). The viewers are asyncssh
clients in this process that keep reading what they are sent; in both cases the app trains.
Measured over the server's whole process tree: CPU used over --seconds (in cores), and memory
at the end as PSS (each shared page counted once) and RSS (shared pages counted per process).

    python -m benchmarks.present                          # 2 sessions against 20 watching, 15 s each
    python -m benchmarks.present --viewers 2 --sessions 1 --seconds 1 --warmup 1   # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import load_line, table
from smtui.tui.serve.ssh_keys import asyncssh  # (imported without its dependency's deprecation warnings)

SETUP = ["--n-train", "512", "--hidden", "64"]  # the default setup's sizes
ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>78])")
TICK = os.sysconf("SC_CLK_TCK")


# ----- the server's process tree, read from /proc
def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_mb(pid: int, field: str) -> float:
    path = f"/proc/{pid}/smaps_rollup" if field == "Pss" else f"/proc/{pid}/status"
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def role(pid: int, server: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            line = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if pid == server:
        return "server"
    if "spawn_main" in line:
        return "trainer"
    if "resource_tracker" in line:
        return "resource tracker"
    return "app" if "smtui" in line else "other"


async def measure(server: int, seconds: float) -> dict:
    """CPU (cores) over ``seconds`` and memory at the end, by role and in all."""
    pids = tree(server)
    before = {pid: cpu_seconds(pid) for pid in pids}
    await asyncio.sleep(seconds)
    out: dict[str, list[float]] = {}
    for pid in tree(server):
        r = out.setdefault(role(pid, server), [0, 0.0, 0.0, 0.0])
        r[0] += 1
        r[1] += (cpu_seconds(pid) - before.get(pid, cpu_seconds(pid))) / seconds
        r[2] += memory_mb(pid, "Pss")
        r[3] += memory_mb(pid, "VmRSS")
    out["all"] = [sum(v[i] for v in out.values()) for i in range(4)]
    return out


# ----- viewers
class Viewer:
    """An SSH client with a terminal that reads everything it is sent."""

    def __init__(self):
        self.raw, self.task, self.proc = bytearray(), None, None

    async def connect(self, port: int, size: tuple[int, int]) -> Viewer:
        conn = await asyncio.wait_for(asyncssh.connect("127.0.0.1", port, known_hosts=None, username="viewer",
                                                       agent_path=None, config=(), client_keys=()), 30)
        self.conn = conn
        self.proc = await conn.create_process(term_type="xterm-256color", term_size=size, encoding=None)
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while chunk := await self.proc.stdout.read(65536):
            self.raw += chunk
            if len(self.raw) > 1 << 17:
                del self.raw[:-(1 << 16)]

    def shows(self, text: bytes) -> bool:
        return text in ANSI.sub(b"", bytes(self.raw))

    def close(self) -> None:
        self.conn.close()


async def until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmarks.present: timed out waiting for {what}")
        await asyncio.sleep(0.1)


def port_of(text: bytes) -> int | None:
    m = re.search(rb"SSH on 127\.0\.0\.1:(\d+)", ANSI.sub(b"", text))
    return int(m.group(1)) if m else None


def end(server: subprocess.Popen) -> None:
    pids = tree(server.pid)
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:  # whatever is left (nothing, when the server does its job)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# ----- the two ways to give the demo
async def separate(n: int, args, host_key: str) -> dict:
    server = subprocess.Popen([sys.executable, "-m", "smtui", "serve", "--ssh", "--open", "--port", "0",
                               "--host-key", host_key, "--max-sessions", str(n), *SETUP],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    viewers = []
    try:
        banner = b""
        while (port := port_of(banner)) is None:
            line = await asyncio.to_thread(server.stdout.readline)
            if not line:
                raise SystemExit("benchmarks.present: the server did not start")
            banner += line
        viewers = [await Viewer().connect(port, args.size) for _ in range(n)]
        await until(lambda: all(v.shows(b"paused") for v in viewers), 120, "every app")
        for v in viewers:
            v.proc.stdin.write(b" ")
        await until(lambda: all(v.shows(b"training") for v in viewers), 60, "every app to train")
        await asyncio.sleep(args.warmup)
        return await measure(server.pid, args.seconds)
    finally:
        for v in viewers:
            v.close()
        end(server)


async def presenting(n: int, args, host_key: str) -> dict:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", args.size[1], args.size[0], 0, 0))
    server = subprocess.Popen([sys.executable, "-m", "smtui", "serve", "--ssh", "--present", "--open", "--port", "0",
                               "--host-key", host_key, *SETUP], stdin=slave, stdout=slave, stderr=slave,
                              start_new_session=True)
    os.close(slave)
    screen = bytearray()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""
        if not data:
            return asyncio.get_running_loop().remove_reader(master)
        screen.extend(data)
        if len(screen) > 1 << 20:
            del screen[:-(1 << 16)]

    asyncio.get_running_loop().add_reader(master, readable)
    viewers = []
    try:
        await until(lambda: port_of(bytes(screen)), 60, "the server")
        port = port_of(bytes(screen))
        await until(lambda: b"paused" in ANSI.sub(b"", bytes(screen)), 120, "the app")
        viewers = [await Viewer().connect(port, args.size) for _ in range(n)]
        await until(lambda: all(v.shows(b"paused") for v in viewers), 60, "every viewer to see the app")
        os.write(master, b" ")
        await until(lambda: all(v.shows(b"training") for v in viewers), 60, "every viewer to see it train")
        await asyncio.sleep(args.warmup)
        return await measure(server.pid, args.seconds)
    finally:
        for v in viewers:
            v.close()
        end(server)
        asyncio.get_running_loop().remove_reader(master)
        os.close(master)


def rows_of(name: str, figures: dict) -> list[list]:
    order = ["server", "app", "trainer", "resource tracker", "other", "all"]
    return [[name if r == "all" else f"  {r}", *figures[r]] for r in order if r in figures]


async def run(args) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        key = str(Path(tmp) / "host_key")
        a = await separate(args.sessions, args, key)
        b = await presenting(args.viewers, args, key)
    s = "s" * (args.sessions != 1)
    rows = rows_of(f"{args.sessions} separate session{s}", a) + rows_of(f"--present, {args.viewers} watching", b)
    print(table(["", "processes", "CPU (cores)", "PSS MB", "RSS MB"], rows,
                title=f"smtui serve --ssh, training, {args.size[0]}x{args.size[1]} viewers, CPU over "
                f"{args.seconds:g} s ({load_line()})"))
    cpu, pss = b["all"][1] / a["all"][1], b["all"][2] / a["all"][2]
    verdict = "less" if cpu < 1 and pss < 1 else "NOT less"
    print(f"\n{args.viewers} watching cost {cpu:.0%} of the CPU and {pss:.0%} of the memory (PSS) of "
          f"{args.sessions} separate session{s}: {verdict}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=15.0, help="the measurement, once everything trains")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of training before measuring")
    ap.add_argument("--size", default="120x40", help="every viewer's (and the presenter's) terminal, COLSxROWS")
    args = ap.parse_args(argv)
    args.size = tuple(int(v) for v in args.size.split("x"))
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
