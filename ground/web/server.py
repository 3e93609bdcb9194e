"""``ground web``: the console's HTTP server, beside the station and reading the same archive.

It binds to localhost unless told otherwise (``--host``): commanding from the page needs the
operator token (the station's token file), which the page sends with each command. The front end is
plain HTML, CSS and ES modules under ``static/``, served as files: no Node build at run time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from flight.mission_config import MissionFile
from ground.api import StationClient
from ground.control import read_token
from ground.station_config import ground_settings
from ground.web.live import LiveFeed
from ground.web.routes import ConsoleApi

STATIC = Path(__file__).parent / "static"
DEFAULT_PORT = 8600
LOCALHOST = "127.0.0.1"
DOWNLOADS = "console-downloads"  # where files fetched from the page land, beside the mission file


def build_app(mission: MissionFile, live_period: float = 0.5) -> web.Application:
    """The console: API, websocket and pages, over a StationClient for ``mission``."""
    client = StationClient(mission)
    settings = ground_settings(mission)
    token = read_token(mission.resolve(settings.token_file))
    api = ConsoleApi(client, token, mission.resolve(DOWNLOADS), settings.passes)
    live = LiveFeed(client, live_period)
    app = web.Application(client_max_size=64 * 1024, middlewares=[api.errors])
    app.add_routes(api.routes())
    app.add_routes([web.get("/api/live", live.handle), web.get("/", _index), web.static("/static", STATIC)])
    app.on_startup.append(live.start)
    app.on_cleanup.append(live.stop)

    async def close(_app: web.Application) -> None:
        api.close()
        client.close()

    app.on_cleanup.append(close)
    return app


async def _index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


def run_web(mission: MissionFile, host: str = LOCALHOST, port: int = DEFAULT_PORT) -> int:
    if host not in (LOCALHOST, "localhost", "::1"):
        print(f"ground web: serving on {host}, beyond this machine; commanding still needs the operator token",
              file=sys.stderr)
    print(f"ground web: http://{'localhost' if host == LOCALHOST else host}:{port}/", file=sys.stderr, flush=True)
    web.run_app(build_app(mission), host=host, port=port, print=None, handle_signals=True)
    return 0
