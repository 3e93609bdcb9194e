"""The console's JSON API: the dictionary, telemetry, events, commands and the station's status.

Every read comes from the station's archive (read-only); a command goes up through the station's
control socket, as ``ground send`` does. Bad input of any kind (an unknown command or channel, an
argument out of range, JSON that is not JSON, a missing or wrong operator token) is answered with a
4xx and ``{"error": ..., "field": ...}`` naming what was wrong, counted, and never reaches the uplink.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from aiohttp import web

from flight.counters import Counters
from flight.dictionary.commands import encode_command
from flight.dictionary.model import Channel, Command, Dictionary, Limits, Severity
from flight.dictionary.types import ValueType, json_value
from flight.files.transfer import FINISHED
from flight.link.errors import CommandError, ZenithError
from flight.supervisor.services.jobs import JOB_SERVICE, OUTPUT, PROGRESS, SAMPLE
from ground.api import StationClient
from ground.archive import CommandRecord, EventRecord, Stage
from ground.control import StationError
from ground.operator_cli import octets_from_hex
from ground.passes import PassSettings, upcoming
from ground.time_arg import TimeArgumentError, parse_time

MAX_BODY = 64 * 1024  # a command request is small; anything bigger is refused before it is read
HISTORY_LIMIT = 5000  # values of one channel per history request, newest kept
TOKEN_HEADER = "X-Zenith-Token"
LIMIT_FIELDS = ("warning_low", "warning_high", "critical_low", "critical_high")


class RequestError(ZenithError):
    """A request the console refuses: ``status`` is its HTTP status, ``field`` what was wrong."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def type_json(kind: ValueType) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind.name}
    if kind.minimum is not None:
        out["min"] = kind.minimum
    if kind.maximum is not None:
        out["max"] = kind.maximum
    if kind.name in ("string", "bytes"):
        out["max_length"] = kind.max_length
    if kind.values:
        out["values"] = sorted(kind.values, key=kind.values.__getitem__)
    return out


def limits_json(limits: Limits) -> dict[str, Any]:
    """The limits a channel has (those it has not are left out)."""
    out: dict[str, Any] = {name: getattr(limits, name) for name in LIMIT_FIELDS if getattr(limits, name) is not None}
    if limits.critical_values:
        out["critical_values"] = list(limits.critical_values)
    return out


def channel_json(channel: Channel) -> dict[str, Any]:
    return {"name": channel.name, "units": channel.units, "description": channel.description,
            **type_json(channel.type), "limits": limits_json(channel.limits)}


def command_json(command: Command) -> dict[str, Any]:
    return {"name": command.name, "description": command.description, "essential": command.essential,
            "arguments": [{"name": a.name, "units": a.units, "description": a.description, **type_json(a.type)}
                          for a in command.arguments]}


def stage_json(stage: Stage) -> dict[str, Any]:
    return {"stage": stage.stage, "ok": stage.ok, "code": stage.code, "field": stage.field, "step": stage.step,
            "time": stage.time}


def record_json(record: CommandRecord, stages: list[Stage]) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "arguments": record.arguments, "sent": record.sent,
            "source": record.source, "stages": [stage_json(s) for s in stages]}


def event_json(event: EventRecord) -> dict[str, Any]:
    return {"id": event.id, "time": event.time, "name": event.name, "severity": event.severity.name,
            "message": event.message, "source": event.name.split("_", 1)[0].lower(), "arguments": event.arguments}


def json_response(body: Any, status: int = 200) -> web.Response:
    """Strict JSON (json_value: octets as hex, NaN and infinities by name), which browsers parse."""
    return web.json_response(json_value(body), status=status, dumps=lambda o: json.dumps(o, allow_nan=False))


class ConsoleApi:
    """The handlers, over one StationClient; blocking calls (the control socket) run on one thread."""

    def __init__(self, client: StationClient, token: str, downloads: Path, pass_settings: PassSettings) -> None:
        self.client = client
        self.downloads = downloads
        self.pass_settings = pass_settings
        self.dictionary: Dictionary = client.dictionary
        self._dictionary_json = self._describe(client.dictionary)  # fixed for the server's life: built once
        self._token = token
        self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="control")  # REQ: one at a time
        self.counters = Counters("web")

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/dictionary", self._wrap(self.dictionary_view)),
                web.get("/api/status", self._wrap(self.status)),
                web.get("/api/telemetry/latest", self._wrap(self.latest)),
                web.get("/api/telemetry/history", self._wrap(self.history)),
                web.get("/api/events", self._wrap(self.events)),
                web.get("/api/commands", self._wrap(self.commands)),
                web.get("/api/jobs", self._wrap(self.jobs)),
                web.get("/api/passes", self._wrap(self.passes)),
                web.get("/api/files", self._wrap(self.files)),
                web.post("/api/files", self._wrap(self.fetch)),
                web.get("/api/files/{request}/content", self._wrap(self.download)),
                web.post("/api/commands", self._wrap(self.send))]

    def _wrap(self, handler: Callable[[web.Request], Awaitable[Any]]
              ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                body = await handler(request)
            except RequestError as exc:
                self.counters.inc(f"refused_{exc.status}")
                return json_response({"error": str(exc), "field": exc.field}, exc.status)
            self.counters.inc("answered")
            return body if isinstance(body, web.StreamResponse) else json_response(body)
        return handle

    @web.middleware
    async def errors(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """aiohttp's own refusals on the API (no such path, wrong method, a body too large) as JSON
        naming the field, like every other refusal."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if not request.path.startswith("/api/") or exc.status < 400:
                raise
            field = {404: "path", 405: "method", 413: "body"}.get(exc.status, "request")
            self.counters.inc(f"refused_{exc.status}")
            return json_response({"error": exc.reason, "field": field}, exc.status)

    # --- reading ------------------------------------------------------------------------------

    @staticmethod
    def _describe(d: Dictionary) -> dict[str, Any]:
        return {"mission": {"name": d.mission.name, "spacecraft_id": d.mission.spacecraft_id},
                "channels": [channel_json(c) for c in d.telemetry],
                "commands": [command_json(c) for c in d.commands],
                "events": [{"name": e.name, "severity": e.severity.name, "format": e.format} for e in d.events],
                "severities": [s.name for s in Severity]}

    async def dictionary_view(self, _request: web.Request) -> dict[str, Any]:
        return self._dictionary_json

    async def status(self, _request: web.Request) -> dict[str, Any]:
        try:
            station = await self._call(self.client.status)
            reachable = True
        except ZenithError as exc:
            station, reachable = {"error": str(exc)}, False
        return {"station": station, "station_reachable": reachable, "counters": self.counters.snapshot()}

    async def latest(self, request: web.Request) -> dict[str, Any]:
        names = self._channel_names(request.query.get("channels", ""))
        values = self.client.archive.latest(names or None)
        return {"values": {name: {"time": t, "value": v} for name, (t, v) in values.items()}}

    async def history(self, request: web.Request) -> dict[str, Any]:
        [name] = self._channel_names(request.query.get("channel", ""), required=True)[:1]
        start = self._time(request, "from")
        end = self._time(request, "to")
        rows = self.client.archive.values(name, since=start, until=end)[-HISTORY_LIMIT:]
        return {"channel": name, "values": rows}

    async def events(self, request: web.Request) -> dict[str, Any]:
        after = self._integer(request, "after", 0)
        limit = self._integer(request, "limit", 500)
        severity = request.query.get("severity")
        if severity is not None and severity not in Severity.__members__:
            raise RequestError(400, "severity", f"severity {severity!r} is not one of {', '.join(Severity.__members__)}")
        events = self.client.archive.events(after, None, Severity[severity] if severity else None)
        source = request.query.get("source")
        out = [event_json(e) for e in events]
        if source:
            out = [e for e in out if e["source"] == source]
        return {"events": out[-limit:]}

    async def commands(self, request: web.Request) -> dict[str, Any]:
        limit = self._integer(request, "limit", 100)
        return {"commands": [record_json(c, s) for c, s in self.client.history(limit)]}

    async def jobs(self, request: web.Request) -> dict[str, Any]:
        """What each job sent down (TM[130,2..4]): its loss curve, evaluations, samples and answers."""
        after = self._integer(request, "after", 0)
        jobs: dict[int, dict[str, Any]] = {}
        newest = after
        for subtype in (PROGRESS, SAMPLE, OUTPUT):
            for report in self.client.archive.reports(JOB_SERVICE, subtype, after):
                body = report.body
                newest = max(newest, report.packet_id)
                number = body.get("job", 0)
                job = jobs.setdefault(number, {"job": number, "loss": [], "val_loss": [], "samples": [], "answers": []})
                if subtype == PROGRESS and body.get("kind") == "progress":
                    job["loss"].append([body["step"], body["loss"]])
                elif subtype == PROGRESS:
                    job["val_loss"].append([body["step"], body["val_loss"]])
                elif subtype == SAMPLE:
                    job["samples"].append({"step": body["step"], "text": body["text"]})
                else:
                    job["answers"].append({k: body.get(k) for k in ("prompt", "text", "tokens_per_s", "ttft_s",
                                                                    "truncated", "file")})
        return {"jobs": [jobs[k] for k in sorted(jobs)], "through": newest}

    async def passes(self, _request: web.Request) -> dict[str, Any]:
        """The next passes over the ground's stations, from ``[ground.passes]``."""
        return {"configured": self.pass_settings.configured, "stations": list(self.pass_settings.stations),
                "passes": upcoming(self.pass_settings)}

    async def files(self, _request: web.Request) -> dict[str, Any]:
        """The station's file transfers, with their live progress."""
        reply = await self._station(lambda: self.client.control.call("files_list"))
        return {"transfers": reply["requests"]}

    async def fetch(self, request: web.Request) -> dict[str, Any]:
        """A CFDP get of a payload file into the console's downloads folder, beside the mission file."""
        self._authorise(request)
        body = await self._json(request)
        remote = body.get("remote")
        if not isinstance(remote, str) or not remote.strip() or len(remote) > 1024:
            raise RequestError(400, "remote", "the payload file to fetch, a path under its filestore")
        name = PurePosixPath(remote).name
        if name in ("", ".", ".."):
            raise RequestError(400, "remote", f"{remote!r} names no file")
        local = self.downloads / f"{time.time_ns()}-{name}"
        self.downloads.mkdir(parents=True, exist_ok=True)
        reply = await self._station(lambda: self.client.control.call(
            "files_get", remote=remote, local=str(local.resolve()), cfdp_class=2))
        return {"transfer": reply["request"]}

    async def download(self, request: web.Request) -> web.FileResponse:
        """A fetched file, once its checksum was verified: the path comes from the station's record of
        the transfer, never from the request."""
        wanted = request.match_info["request"]
        try:
            reply = await self._station(lambda: self.client.control.call("files_status", id=wanted))
        except RequestError as exc:
            raise RequestError(404 if exc.field == "id" else exc.status, "request", str(exc)) from None
        transfer = reply["request"]
        if transfer["kind"] != "get" or transfer["state"] != FINISHED or not transfer["verified"]:
            raise RequestError(409, "request", f"transfer {wanted} has no verified file to give "
                                               f"(a {transfer['kind']}, {transfer['state']})")
        path = Path(transfer["local"])
        if not path.is_file():
            raise RequestError(410, "request", "the file is no longer where the transfer put it")
        name = PurePosixPath(transfer["remote"]).name.replace('"', "")
        return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # --- commanding ---------------------------------------------------------------------------

    async def send(self, request: web.Request) -> dict[str, Any]:
        self._authorise(request)
        body = await self._json(request)
        name, arguments = body.get("name"), body.get("arguments", {})
        if not isinstance(name, str):
            raise RequestError(400, "name", "the command's name, a string")
        command = self.dictionary.command(name)
        if command is None:
            raise RequestError(404, "name", f"no command {name!r} in the dictionary")
        if not isinstance(arguments, dict):
            raise RequestError(400, "arguments", "a JSON object of the command's arguments")
        try:
            arguments = octets_from_hex(command, arguments)  # JSON has no octet strings
            encode_command(self.dictionary, name, arguments)  # every check the station will make, first
        except CommandError as exc:
            raise RequestError(422, exc.field, str(exc)) from None
        reply = await self._station(lambda: self.client.control.call("send", name=name, arguments=arguments))
        self.counters.inc("commands_sent")
        return {"command_id": reply["command_id"], "name": name}

    def _authorise(self, request: web.Request) -> None:
        given = request.headers.get(TOKEN_HEADER, "")
        if not given:
            raise RequestError(401, "token", f"commanding needs the operator token (header {TOKEN_HEADER})")
        if not hmac.compare_digest(given.encode(), self._token.encode()):
            raise RequestError(403, "token", "wrong operator token")

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise RequestError(413, "body", f"at most {MAX_BODY} octets")
        try:
            body = json.loads(await request.text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(400, "body", f"not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise RequestError(400, "body", "expected a JSON object")
        return body

    async def _station(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A request to the station's control socket: its refusal a 422 naming its field, its silence a 503."""
        try:
            return await self._call(call)
        except StationError as exc:
            raise RequestError(422, exc.field or "request", str(exc)) from None
        except ZenithError as exc:
            raise RequestError(503, "station", f"the station did not answer: {exc}") from None

    async def _call(self, function: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._control, function)

    def _channel_names(self, text: str, required: bool = False) -> list[str]:
        names = [n for n in text.split(",") if n]
        if required and not names:
            raise RequestError(400, "channel", "name a telemetry channel")
        try:
            self.dictionary.channels_named(names)
        except ZenithError as exc:
            raise RequestError(404, "channel", str(exc)) from None
        return names

    @staticmethod
    def _time(request: web.Request, name: str) -> float | None:
        text = request.query.get(name)
        if text is None:
            return None
        try:
            return parse_time(text, time.time(), name)
        except TimeArgumentError as exc:
            raise RequestError(400, name, str(exc)) from None

    @staticmethod
    def _integer(request: web.Request, name: str, default: int) -> int:
        text = request.query.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise RequestError(400, name, f"{name} must be a whole number, not {text!r}") from None
        if value < 0:
            raise RequestError(400, name, f"{name} must not be negative")
        return value

    def close(self) -> None:
        self._control.shutdown(wait=False)
