"""The console's websocket: what the archive gained, pushed to every open page.

One poll of the archive serves all pages (every ``period`` seconds): the newest value of each channel
whose newest time moved, the events after the last one sent, and the recent commands whose
verification stages changed. A poll first reads the archive's high-water mark, and reads nothing
more while it stands still (between passes, most of the time). A page fetches history over HTTP first and then follows this feed, so
nothing received before it opened is missing and nothing after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from typing import Any

from aiohttp import WSMsgType, web

from flight.dictionary.types import json_value
from ground.api import StationClient
from ground.web.routes import event_json, record_json

RECENT_COMMANDS = 50  # the commands whose stages the feed follows


class LiveFeed:
    def __init__(self, client: StationClient, period: float = 0.5) -> None:
        self.client = client
        self.period = period
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._times: dict[str, float] = {}
        self._last_event = 0
        self._stages: dict[int, int] = {}
        self._seen = (0, 0)  # the archive's high-water mark at the last poll
        self._task: asyncio.Task[None] | None = None

    async def start(self, _app: web.Application) -> None:
        self._prime()
        self._task = asyncio.create_task(self._run())

    async def stop(self, _app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for socket in list(self._sockets):
            await socket.close()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=20.0)
        await socket.prepare(request)
        self._sockets.add(socket)
        async for message in socket:  # the page sends nothing that matters; this waits for it to go
            if message.type == WSMsgType.ERROR:
                break
        return socket

    def _prime(self) -> None:
        """Start from what the archive holds now: the pages fetch that over HTTP."""
        self._seen = self.client.archive.high_water()
        self._times = {name: t for name, (t, _) in self.client.archive.latest().items()}
        events = self.client.archive.query("SELECT COALESCE(MAX(id), 0) FROM events")
        self._last_event = int(events[0][0])
        self._stages = {c.id: len(s) for c, s in self.client.history(RECENT_COMMANDS)}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            for message in self.changes():
                await self._broadcast(message)

    def changes(self) -> list[dict[str, Any]]:
        """What the archive gained since the last call, as the messages the pages get."""
        mark = self.client.archive.high_water()
        if mark == self._seen:
            return []
        self._seen = mark
        out: list[dict[str, Any]] = []
        fresh = {name: (t, v) for name, (t, v) in self.client.archive.latest().items() if self._times.get(name) != t}
        if fresh:
            self._times.update({name: t for name, (t, _) in fresh.items()})
            out.append({"type": "telemetry",
                        "values": {n: {"time": t, "value": v} for n, (t, v) in fresh.items()}})
        events = self.client.archive.events(self._last_event)
        if events:
            self._last_event = events[-1].id
            out.append({"type": "events", "events": [event_json(e) for e in events]})
        changed = []
        for command, stages in self.client.history(RECENT_COMMANDS):
            if self._stages.get(command.id) != len(stages):
                self._stages[command.id] = len(stages)
                changed.append(record_json(command, stages))
        if changed:
            out.append({"type": "commands", "commands": changed})
        return out

    async def _broadcast(self, message: dict[str, Any]) -> None:
        text = json.dumps(json_value(message), allow_nan=False)
        for socket in list(self._sockets):
            if socket.closed:
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await socket.send_str(text)
