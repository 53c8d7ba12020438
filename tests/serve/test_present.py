"""Presenter mode (`smtui serve --ssh|--web --present`): the operator's terminal (a pty of the
test's own) runs and drives the one app; SSH viewers (asyncssh) and browser tabs (aiohttp) watch
it, read-only, at the presenter's size. Two viewers see the step count rise, their keys change
nothing, one leaving does not disturb the other; a smaller one is told the size it needs; a late
joiner gets the whole screen at once; when the presenter quits every viewer is told and every
process ends. In-process servers on free ports of 127.0.0.1; every wait bounded, every process ended."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

import pytest

from smtui.core.errors import UserError
from smtui.tui.render.status import status_text
from smtui.tui.serve import command
from smtui.tui.serve.audience import CountWriter, read_counts
from smtui.tui.serve.command import app_command, build_serve_parser, check_args
from smtui.tui.serve.mirror import Mirror
from smtui.tui.serve.watch_ssh import asks_to_leave

STEP = re.compile(r"step (\d[\d,]*)")


@pytest.fixture
def trainers(processes):
    """trainers(pgid): the trainer processes in the app's group (besides them: the app and
    multiprocessing's resource tracker)."""
    return lambda pgid: sum("spawn_main" in processes.cmdline(pid) for pid in processes.group(pgid))


@pytest.fixture
def last_step(screen_text):
    """last_step(raw): the last step a status line in ``raw`` shows, or -1."""

    def last_step(raw: bytes) -> int:
        found = STEP.findall(screen_text(raw))
        return int(found[-1].replace(",", "")) if found else -1

    return last_step


@pytest.fixture
def step_beyond(last_step, app_wait):
    """await step_beyond(screen, n, timeout=app_wait): read a viewer's screen until its status
    line shows a step beyond ``n``; that step."""

    async def step_beyond(screen, n: int, timeout: float = app_wait) -> int:
        deadline = time.monotonic() + timeout
        while (step := last_step(screen.raw)) <= n:
            assert time.monotonic() < deadline, f"the step never passed {n}"
            await screen.wait_for("step ", timeout=deadline - time.monotonic())
        return step

    return step_beyond


async def drain(screen, quiet: float = 1.0, timeout: float = 20) -> None:
    """Read what a viewer is sent until nothing comes for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            screen.raw += await asyncio.wait_for(screen.proc.stdout.read(65536), quiet)
        except TimeoutError:
            return


def shown(raw: bytes, cols: int, rows: int) -> list[str]:
    m = Mirror(cols, rows)
    m.feed(raw)
    return m.screen.display


# ----- over SSH
async def test_two_viewers_watch_the_step_count_rise_their_keys_do_nothing_and_one_leaving_leaves_the_other(
        keys, monkeypatch, capsys, processes, until, presented, last_step, step_beyond, trainers):
    async with presented(keys) as p:
        (_, a_proc, a), (_, b_proc, b) = await p.viewer(), await p.viewer(size=(130, 45))
        await p.op.wait_for("2 watching")
        for screen in (a, b):
            await screen.wait_for("paused")
        for proc, keys_ in ((a_proc, b" nvdx\x1b[A"), (b_proc, b"rol+")):
            proc.stdin.write(keys_)  # train, step, view, data, re-init, objective, sample, sigma: nothing happens
        await asyncio.sleep(2.0)
        assert last_step(p.op.raw) == 0 and "paused" in p.op.mirror.screen.display[-2]
        assert trainers(p.pgid) == 1  # one trainer, however many watch
        p.op.press(b" ")  # the presenter trains
        first = [await step_beyond(s, 0) for s in (a, b)]
        [await step_beyond(s, n) for s, n in zip((a, b), first)]  # and both see it rise
        a_proc.stdin.write(b"q")  # one leaves
        assert "smtui serve: you left the demo" in await a.rest()
        await p.op.wait_for("1 watching")
        n = last_step(b.raw)
        assert await step_beyond(b, n) > n  # the other goes on watching
        assert trainers(p.pgid) == 1
        p.op.press(b" q")  # the presenter pauses and quits; asked about unsaved steps, says yes
        await p.op.wait_for("Quit?")
        p.op.press(b"y")
        assert "smtui serve: the presenter ended the demo" in await b.rest()
        assert await asyncio.wait_for(p.task, 30) == 0
        await until(lambda: not processes.group(p.pgid), 10, "the app's process group to end")
        assert not p.server.sessions and not p.server.stage.viewers
    log = capsys.readouterr().out  # held while the app had the terminal, printed once it was back
    assert re.search(r"127\.0\.0\.1:\d+  SHA256:\S+  \d+\.\d s  left \(q\)$", log, re.M), log


async def test_a_late_joiner_gets_the_whole_screen_and_a_smaller_one_is_told_the_size(
        keys, monkeypatch, presented, trainers):
    async with presented(keys, (100, 30)) as p:
        await p.op.shows("ESM-DSM")  # evaluated and paused: from here the app redraws only the count
        _, _, late = await p.viewer(size=(110, 32))
        await late.wait_for("1 watching")
        await drain(late)
        assert shown(late.raw, 110, 32)[:30] == [row + " " * 10 for row in p.op.mirror.screen.display]
        assert shown(late.raw, 110, 32)[30:] == [" " * 110] * 2
        _, small_proc, small = await p.viewer(size=(80, 24))
        await small.wait_for("the presenter's screen is 100x30, this window 80x24. Make it at")
        small_proc.change_terminal_size(100, 30)
        await small.wait_for("score field")  # big enough: the whole screen
        await p.op.wait_for("2 watching")
        p.op.resize(110, 34)  # the presenter's window grows past the smaller viewer's
        os.kill(os.getpid(), signal.SIGWINCH)
        await small.wait_for("the presenter's screen is 110x34, this window 100x30")
        await late.wait_for("the presenter's screen is 110x34, this window 110x32")
        p.op.resize(100, 30)
        os.kill(os.getpid(), signal.SIGWINCH)
        for screen in (small, late):
            await screen.wait_for("score field")
        assert trainers(p.pgid) == 1


# ----- in browser tabs
async def test_tabs_watch_the_presenters_app_and_q_leaves(
        monkeypatch, capsys, processes, until, presented, last_step, step_beyond):
    async with presented(None, (100, 30)) as p:
        first, second = await p.tab(), await p.tab(size=(120, 40))
        await p.op.wait_for("2 watching")
        await first.wait_for("paused")
        await first.send("stdin", " ")  # a tab's keys do nothing
        await first.send("resize", {"width": "x", "height": 3})  # a bad message: one log line
        p.op.press(b" ")
        for tab in (first, second):
            await tab.wait_for("training")
        n = await step_beyond(first, 0)
        await step_beyond(first, n)
        await first.send("stdin", "q")
        code, why = await first.closed()
        assert (code, why) == (1000, "you left the demo")
        await p.op.wait_for("1 watching")
        await step_beyond(second, last_step(second.raw))
        refused = await p.http.ws_connect(f"ws://127.0.0.1:{p.port}/ws?width=100&height=30&setup=--sigma+1")
        assert (await refused.receive()).extra.endswith("every tab watches the presenter's app, so it takes no ?setup=")
        p.op.press(b" q")
        await p.op.wait_for("Quit?")
        p.op.press(b"y")
        assert (await second.closed())[1] == "the presenter ended the demo"
        await asyncio.wait_for(p.task, 30)
        await until(lambda: not processes.group(p.pgid), 10, "the app's process group to end")
    log = capsys.readouterr().out
    assert log.count("bad message ignored") == 1
    assert re.search(r"127\.0\.0\.1  web  \d+\.\d s  left \(q\)$", log, re.M), log


async def test_the_demo_ends_on_sigterm_telling_every_viewer(keys, monkeypatch, processes, until, presented):
    async with presented(keys) as p:
        _, _, viewer = await p.viewer()
        await viewer.wait_for("paused")
        os.kill(os.getpid(), signal.SIGTERM)  # the server's own handler: the app is ended from outside
        assert "smtui serve: the demo server is shutting down" in await viewer.rest()
        await asyncio.wait_for(p.task, 30)
        await until(lambda: not processes.group(p.pgid), 10, "the app's process group to end")
        await until(lambda: b"\x1b[?1049l" in p.op.raw[-200:], 5, "the presenter's terminal put back")


# ----- the pieces
def test_presenting_needs_a_terminal_and_refuses_the_flags_of_separate_sessions(monkeypatch):
    def refused(*argv) -> str:
        with pytest.raises(UserError) as bad:
            check_args(build_serve_parser().parse_args(["--ssh", "--present", "--open", *argv]))
        return str(bad.value)

    assert refused().startswith("--present needs a terminal to present from")
    monkeypatch.setattr(command, "has_terminal", lambda: True)
    assert refused("--idle-timeout", "60").startswith("--idle-timeout applies to separate sessions")
    assert refused("--allow-files").startswith("--allow-files applies to separate sessions")
    args = build_serve_parser().parse_args(["--ssh", "--present", "--open", "--port", "0"])
    check_args(args)
    argv = app_command(args)
    assert "--no-files" not in argv and "--sweep-jobs" not in argv  # the presenter's own app
    assert (args.max_sessions, args.idle_timeout) == (64, 0)


def test_a_snapshot_redraws_the_same_screen():
    m = Mirror(30, 4)
    m.feed("\x1b[?7l\x1b[1;1H\x1b[38;5;32;48;5;233mbox ╭─╮\x1b[0m \x1b[1;38;2;1;2;3mbold\x1b[0m 漢字 "
           "\x1b[2;5H\x1b[31;42mred on green\x1b[3;1H\x1b[7mreverse\x1b[0m\x1b[4;28Habcdef".encode())
    again = Mirror(30, 4)
    again.feed(m.snapshot())
    assert all(again.screen.buffer[y][x] == m.screen.buffer[y][x] for y in range(4) for x in range(30))
    assert again.screen.display == m.screen.display
    assert (again.screen.cursor.x, again.screen.cursor.y) == (m.screen.cursor.x, m.screen.cursor.y)
    m.feed(b"\x1b[1;3")  # mid-sequence: no viewer may start here
    assert not m.at_rest
    m.feed(b"Hx\xe6")  # mid-character
    assert not m.at_rest
    m.feed(b"\xbc\xa2")
    assert m.at_rest


def test_only_a_q_pressed_leaves():
    assert asks_to_leave(b"q") and asks_to_leave(b"xxQ")
    for report in (b"\x1b[<0;12;5M", b"\x1b[?2026;2$y", b"\x1b]11;rgb:0000/0000/0000\x07", b"\x1bP>|xterm(q)\x1b\\",
                   b"\x1bOq", b"\x1b[I", b" nvx"):
        assert not asks_to_leave(report), report


async def test_the_count_reaches_the_app_and_its_status_line(until):
    seen = []
    writer = CountWriter("ssh -p 2222 host")
    fd = writer.open()
    stop = read_counts(fd, lambda n, hint: seen.append((n, hint)))
    for n in (0, 1, 1, 2, 1):
        writer.say(n)
    await until(lambda: seen and seen[-1] == (1, "ssh -p 2222 host"), 5, "the count")
    writer.close()
    await asyncio.sleep(0.1)  # EOF: the reader stops by itself
    stop()
    line = status_text(None, 120, watching=(3, "ssh -p 2222 host")).plain
    assert line.endswith(" · 3 watching (ssh -p 2222 host)")
    assert status_text(None, 45, watching=(3, "ssh -p 2222 host")).plain.endswith(" · 3 watching")  # room: no hint
