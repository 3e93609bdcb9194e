"""The station's operator control socket: ZeroMQ REQ/REP, msgpack maps, every request token-checked.

Operators' tools (``ground send``, the scripting API) ask the running station to uplink a command;
everything they read comes from the archive, which they open read-only. A request is a map
``{"token": ..., "op": ..., ...}``; a reply is ``{"ok": true, ...}`` or ``{"ok": false, "error": ...,
"field": ...}``. A request without the right token, or that is not a map, is refused and counted,
never acted on. The token lives in a 0600 file beside the archive: whoever may read it may command.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import zmq

from flight.atomic_file import write_atomic
from flight.counters import Counters
from flight.link.errors import ConfigError, ZenithError

log = logging.getLogger(__name__)
MAX_REQUEST = 64 * 1024
ANSWERS_KEPT = 256  # replies kept by request key, for clients that ask again after a lost reply
Reply = dict[str, Any]


class StationError(ZenithError):
    """The station refused a request; ``field`` names what was wrong, when one thing was."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class StationUnavailable(ZenithError):
    """No station answered at the control endpoint."""


def load_or_create_token(path: Path) -> str:
    """The station's operator token; a new random one (0600) if there is none yet."""
    if path.exists():
        return read_token(path)
    token = secrets.token_hex(16)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, token.encode() + b"\n", mode=0o600)
    return token


def read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the operator token {path}: {exc.strerror} (is the station running?)"
                          ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"operator token file {path} is not text") from None
    if not token:
        raise ConfigError(f"operator token file {path} is empty")
    return token


class ControlServer:
    def __init__(self, ctx: zmq.Context, endpoint: str, token: str, handle: Callable[[dict[str, Any]], Reply]
                 ) -> None:
        self.socket = ctx.socket(zmq.REP)
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST)
        self.socket.setsockopt(zmq.LINGER, 0)
        try:
            self.socket.bind(endpoint)
        except zmq.ZMQError as exc:
            self.socket.close()
            raise ConfigError(f"cannot bind the control endpoint {endpoint}: {exc}") from None
        self._token = token.encode()
        self._handle = handle
        self._answered: OrderedDict[str, Reply] = OrderedDict()
        self.counters = Counters("control")

    def serve_pending(self) -> int:
        """Answer every request already waiting; how many were answered."""
        served = 0
        while True:
            try:
                parts = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return served
            if len(parts) != 1:  # a request is one message part; REP must still answer it once
                self.counters.inc("malformed")
                reply: Reply = {"ok": False, "error": "a request is a single message part", "field": "request"}
            else:
                reply = self._answer(parts[0])
            try:
                self.socket.send(msgpack.packb(reply, use_bin_type=True))
            except zmq.ZMQError:  # the asker went away: nothing to answer, nothing to stop for
                self.counters.inc("reply_errors")
            served += 1

    def _answer(self, raw: bytes) -> Reply:
        try:
            request = msgpack.unpackb(raw, raw=False)
        except Exception:  # any garbage a client sends: refused, counted
            request = None
        if not isinstance(request, dict):
            self.counters.inc("malformed")
            return {"ok": False, "error": "a request is a msgpack map", "field": "request"}
        token = request.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token):
            self.counters.inc("unauthorized")
            return {"ok": False, "error": "wrong or missing operator token", "field": "token"}
        self.counters.inc("requests")
        key = request.get("key")
        key = key[:64] if isinstance(key, str) else None  # bounded, and the same form to look up and keep
        if key is not None and key in self._answered:
            # A client that missed our reply asks again with the same key: the same answer, and the
            # command is not sent twice.
            self.counters.inc("repeated")
            return self._answered[key]
        reply = self._reply(request)
        if key is not None:
            self._answered[key] = reply
            while len(self._answered) > ANSWERS_KEPT:
                self._answered.popitem(last=False)
        return reply

    def _reply(self, request: dict[str, Any]) -> Reply:
        try:
            return self._handle(request)
        except StationError as exc:
            return {"ok": False, "error": str(exc), "field": exc.field}
        except ZenithError as exc:
            return {"ok": False, "error": str(exc), "field": getattr(exc, "field", "")}
        except Exception as exc:  # a station bug answers this request with an error, not a dead station
            self.counters.inc("errors")
            log.exception("control request %r failed", request.get("op"))
            return {"ok": False, "error": f"station error: {type(exc).__name__}: {exc}", "field": ""}

    def close(self) -> None:
        self.socket.close()


class ControlClient:
    def __init__(self, endpoint: str, token: str, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
        self._ctx = zmq.Context.instance()
        self._socket: zmq.Socket | None = None

    def call(self, op: str, attempts: int = 2, **fields: Any) -> Reply:
        """One request; StationError if refused, StationUnavailable if nobody answers in time.

        A request that gets no answer is asked again, with the same key: a station that did act on it
        (and whose reply was lost) answers the same without acting twice.
        """
        request = msgpack.packb({"token": self.token, "op": op, "key": secrets.token_hex(8), **fields},
                                use_bin_type=True)
        for _ in range(attempts):
            socket = self._connect()
            socket.send(request)
            if socket.poll(int(self.timeout * 1000)):
                break
            self.close()  # a REQ socket that missed its reply is stuck: throw it away
        else:
            raise StationUnavailable(f"no ground station answered at {self.endpoint} within "
                                     f"{attempts} x {self.timeout:g} s")
        assert self._socket is not None
        reply = msgpack.unpackb(self._socket.recv(), raw=False)
        if not reply.get("ok"):
            raise StationError(reply.get("error", "refused"), reply.get("field", ""))
        return reply

    def _connect(self) -> zmq.Socket:
        if self._socket is None:
            socket = self._ctx.socket(zmq.REQ)
            socket.setsockopt(zmq.LINGER, 0)
            try:
                socket.connect(self.endpoint)
            except zmq.ZMQError as exc:  # e.g. a [ground] control setting that is no endpoint
                socket.close()
                raise ConfigError(f"cannot connect to the control endpoint {self.endpoint!r}: {exc}") from None
            self._socket = socket
        return self._socket

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
