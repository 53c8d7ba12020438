"""Share a setup on the web: `smtui serve --web` takes the setup flags in its address (?setup=),
validated as the flags are, a bad one refused in one line on the page and on the websocket.
An in-process server on a free port of 127.0.0.1, every app ended."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import aiohttp

from smtui.core.config import Config
from smtui.tui.cli.flags import config_from_args
from smtui.tui.cli.main import build_parser


async def test_a_web_address_with_a_setup_starts_the_tab_on_it_and_a_bad_one_is_refused(
        capsys, tab_reader, web_served, processes, until):
    async with web_served() as s:
        good = quote("--distribution moons --sigma 0.45 --hidden 12", safe="")
        async with s.http.get(f"{s.url}/?setup={good}") as page:
            assert page.status == 200 and "textual.js" in await page.text()
        async with s.http.get(f"{s.url}/?setup={quote('--sigma 0', safe='')}") as page:
            body = await page.text()
            assert page.status == 400
            assert "smtui serve: ?setup=: sigma must be a finite number &gt; 0, got 0.0" in body
        async with s.http.get(f"{s.url}/?setup={quote('--data /etc/passwd', safe='')}") as page:
            assert page.status == 400 and "cannot name a data file" in await page.text()
        ws = await s.http.ws_connect(f"{s.url.replace('http', 'ws')}/ws?width=100&height=30&setup={good}")
        await tab_reader(ws).wait_for("paused")
        with open(f"/proc/{s.pgid()}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
        args = build_parser().parse_args(argv[argv.index("smtui") + 1:])  # the tab's app, as `smtui` reads it
        assert config_from_args(args) == Config(distribution="moons", sigma=0.45, hidden=12, n_train=128)
        assert args.no_files  # and still a viewer's session
        await ws.close()
        bad = await s.http.ws_connect(f"{s.url.replace('http', 'ws')}/ws?width=100&height=30&setup=--lr+nope")
        msg = await asyncio.wait_for(bad.receive(), 20)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.extra.startswith("smtui serve: ?setup=: argument --lr")
        await until(lambda: not [p for g in s.server.pgids for p in processes.group(g)], 15, "the app to end")
        assert len(s.server.pgids) == 1  # the refused tab started no app
    log = capsys.readouterr().out
    assert log.count("refused: ?setup=:") == 3

