"""The console's websocket: what the archive gains reaches an open page, once, and only the new."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.ground.web.conftest import T0, Console, event_packet, hk_packet


async def _follow(console: Console, act: Any, want: set[str], timeout: float = 10.0) -> list[dict[str, Any]]:
    """Open the live feed, do ``act`` (blocking, off the loop), collect messages until every type in ``want`` came."""
    got: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(console.url + "/api/live") as socket:
        await asyncio.sleep(0.3)  # the feed has primed itself on what the archive held before
        await asyncio.get_running_loop().run_in_executor(None, act)
        async with asyncio.timeout(timeout):
            while not want <= {m["type"] for m in got}:
                message = await socket.receive()
                assert message.type == aiohttp.WSMsgType.TEXT, message
                got.append(json.loads(message.data))
    return got


def test_new_values_events_and_commands_are_pushed_and_old_ones_are_not(console: Console) -> None:
    def act() -> None:
        with console.writer() as archive:
            archive.ingest([(hk_packet(2, T0 + 10, {"clock.rate": 2.5}), 0),
                            (event_packet(3, T0 + 11, "PARAMETER_CHANGED", {"name": "a", "value": "b"}), 0)], T0 + 12)
        assert console.post("/api/commands", {"name": "PING"}, token=console.token)[0] == 200

    messages = asyncio.run(_follow(console, act, {"telemetry", "events", "commands"}))
    values = {}
    for m in messages:
        if m["type"] == "telemetry":
            values.update(m["values"])
    assert values["clock.rate"] == {"time": T0 + 10, "value": 2.5}
    events = [e for m in messages if m["type"] == "events" for e in m["events"]]
    assert [(e["name"], e["message"]) for e in events] == [("PARAMETER_CHANGED", "a set to b")]  # not the seeded one
    commands = [c for m in messages if m["type"] == "commands" for c in m["commands"]]
    assert [(c["name"], c["stages"]) for c in commands] == [("PING", [])]
