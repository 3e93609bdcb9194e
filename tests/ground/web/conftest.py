"""A real station (stepped on a thread of its own) and the console served over HTTP on a free port."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from flight.dictionary import load_dictionary
from flight.dictionary.packing import pack_event, pack_record, pack_report
from flight.link.pus import build_tm
from flight.mission_config import MissionFile
from ground.archive import Archive
from ground.control import read_token
from ground.files.service import REQUESTS_KEY
from ground.station import Station
from ground.station_config import ground_settings
from ground.web.server import build_app
from hil.ports import free_base_port
from tests.ground.test_station import write_mission

DICTIONARY = load_dictionary()
CORE = DICTIONARY.mission.apids["core"]
CUC = DICTIONARY.mission.tm_time
T0 = 1_764_000_000.0


def hk_packet(seq: int, t: float, values: dict[str, Any]) -> bytes:
    report = next(r for r in DICTIONARY.housekeeping if all(c in {x.name for x in r.channels} for c in values))
    return build_tm(CORE, 3, 25, pack_report(report, values), CUC.encode(t), seq)


def event_packet(seq: int, t: float, name: str, arguments: dict[str, Any]) -> bytes:
    event = DICTIONARY.event(name)
    assert event is not None
    return build_tm(CORE, 5, int(event.severity), pack_event(event, arguments), CUC.encode(t), seq)


@dataclass
class Console:
    url: str
    token: str
    mission: MissionFile
    station: Station

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any, token: str | None = None, raw: bytes | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Zenith-Token"] = token
        return self.request("POST", path, raw if raw is not None else json.dumps(body).encode(), headers)

    def writer(self) -> Archive:
        """A second writing connection to the station's archive, as its own ingest would be."""
        return Archive(self.mission.resolve(ground_settings(self.mission).archive), DICTIONARY)


def job_packet(seq: int, t: float, subtype: int, body: dict[str, Any]) -> bytes:
    return build_tm(CORE, 130, subtype, pack_record(body), CUC.encode(t), seq)


def _seed(station: Station) -> None:
    station.archive.ingest([
        (hk_packet(0, T0, {"clock.rate": 1.0}), 0),
        (event_packet(1, T0 + 1, "PARAMETER_CHANGED", {"name": "events.flood_limit", "value": "50"}), 0),
        (job_packet(2, T0 + 2, 2, {"job": 2, "kind": "progress", "step": 10, "loss": 3.5, "tokens_per_s": 9.0,
                                   "lr": 1e-3, "memory": 1}), 0),
        (job_packet(3, T0 + 3, 2, {"job": 2, "kind": "eval", "step": 10, "train_loss": 3.4, "val_loss": 3.45}), 0),
        (job_packet(4, T0 + 4, 3, {"job": 2, "step": 10, "text": "ROMEO:"}), 0),
        (job_packet(5, T0 + 5, 4, {"job": 1, "ids": [1], "ttft_s": 0.5, "tokens_per_s": 40.0, "text": "is the Earth",
                                   "file": "jobs/job-1/output.txt", "prompt": "The blue planet"}), 0)], T0 + 6)


FETCHED = b"ROMEO: But soft, what light through yonder window breaks?\n"


def _seed_transfers(mission: MissionFile, tmp_path: Path) -> None:
    """A station that already fetched a file and failed another, as its archive remembers across restarts."""
    local = tmp_path / "fetched.txt"
    local.write_bytes(FETCHED)
    common = {"cfdp_class": 2, "transaction": "", "condition": "", "size": len(FETCHED), "progress": len(FETCHED),
              "checksum": "", "checksum_type": "crc32", "retransmitted": 0, "naks": 0, "started": T0, "ended": T0 + 1}
    requests = {"1-1": {**common, "id": "1-1", "kind": "get", "local": str(local), "remote": "jobs/job-1/output.txt",
                        "state": "finished", "verified": True},
                "1-2": {**common, "id": "1-2", "kind": "get", "local": str(tmp_path / "never.txt"),
                        "remote": "jobs/job-9/output.txt", "state": "failed", "verified": False}}
    with Archive(mission.resolve(ground_settings(mission).archive), DICTIONARY) as archive:
        archive.set_state(REQUESTS_KEY, requests)


@pytest.fixture
def console(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Console]:
    """Parametrise indirectly with lines for the mission file's [ground] table to change the station."""
    mission = write_mission(tmp_path / "stack", getattr(request, "param", ""))
    _seed_transfers(mission, tmp_path)
    stop, started = threading.Event(), threading.Event()
    stations: list[Station] = []

    def step() -> None:  # SQLite wants the station made, stepped and closed on one thread
        station = Station(mission, DICTIONARY, ground_settings(mission), out=io.StringIO())
        _seed(station)
        stations.append(station)
        started.set()
        while not stop.is_set():
            station.step(0.01)
        station.close()

    stepper = threading.Thread(target=step, name="station", daemon=True)
    stepper.start()
    assert started.wait(30), "the station did not start"
    station = stations[0]
    token = read_token(mission.resolve(ground_settings(mission).token_file))
    try:
        with serving(mission) as url:
            yield Console(url, token, mission, station)
    finally:
        stop.set()
        stepper.join(10)


@contextmanager
def serving(mission: MissionFile) -> Iterator[str]:
    """``ground web`` for ``mission`` on a free localhost port, on a thread of its own; its URL."""
    port = free_base_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runners: list[web.AppRunner] = []

    def serve() -> None:  # the app is made, served and closed on one thread, as `ground web` does
        asyncio.set_event_loop(loop)
        runners.append(web.AppRunner(build_app(mission, live_period=0.1)))
        loop.run_until_complete(runners[0].setup())
        loop.run_until_complete(web.TCPSite(runners[0], "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    server = threading.Thread(target=serve, name="web", daemon=True)
    server.start()
    assert ready.wait(30), "the console did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        server.join(10)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
