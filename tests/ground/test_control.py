"""The operator control socket: only a map with the right token reaches the handler; nothing kills the server."""

from __future__ import annotations

import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.errors import CommandError, ConfigError, ZenithError
from ground.control import (
    ControlClient,
    ControlServer,
    StationError,
    StationUnavailable,
    load_or_create_token,
    read_token,
)
from hil.ports import free_base_port

TOKEN = "0123456789abcdef0123456789abcdef"
Handler = Callable[[dict[str, Any]], dict[str, Any]]


class Bench:
    """A ControlServer with a recording handler, and a raw REQ socket to poke it with."""

    def __init__(self, handle: Handler | None = None) -> None:
        self.ctx = zmq.Context()
        self.handled: list[dict[str, Any]] = []
        self.handle = handle or (lambda request: {"ok": True, "echo": request.get("op")})
        self.server = ControlServer(self.ctx, "tcp://127.0.0.1:*", TOKEN, self._handle)
        self.endpoint = self.server.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.req = self.ctx.socket(zmq.REQ)
        self.req.setsockopt(zmq.LINGER, 0)
        self.req.connect(self.endpoint)

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        self.handled.append(request)
        return self.handle(request)

    def ask_raw(self, raw: bytes) -> dict[str, Any]:
        """Send these octets as a request, let the server answer, and return its reply."""
        self.req.send(raw)
        served = 0
        while not served:
            assert self.server.socket.poll(5000), "the request never reached the server"
            served = self.server.serve_pending()
        assert served == 1
        assert self.req.poll(5000), "no reply"
        return msgpack.unpackb(self.req.recv(), raw=False)

    def ask(self, **request: Any) -> dict[str, Any]:
        return self.ask_raw(msgpack.packb(request, use_bin_type=True))

    def close(self) -> None:
        self.req.close()
        self.server.close()
        self.ctx.term()


@pytest.fixture
def bench() -> Iterator[Bench]:
    b = Bench()
    yield b
    b.close()


@pytest.fixture(scope="module")
def shared_bench() -> Iterator[Bench]:
    b = Bench()
    yield b
    b.close()


def test_a_request_with_the_token_reaches_the_handler_and_is_counted(bench: Bench) -> None:
    reply = bench.ask(token=TOKEN, op="ping", extra=[1, 2])
    assert reply == {"ok": True, "echo": "ping"}
    assert bench.handled == [{"token": TOKEN, "op": "ping", "extra": [1, 2]}]
    assert bench.server.counters["requests"] == 1
    assert bench.server.counters["unauthorized"] == bench.server.counters["malformed"] == 0


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN[:-1], TOKEN + "0", TOKEN.upper(), 12345,
                                   TOKEN.encode(), [TOKEN]], ids=repr)
def test_a_wrong_or_missing_token_is_refused_counted_and_never_handled(bench: Bench, token: Any) -> None:
    request = {"op": "send", "name": "SAFE_MODE_ENTER"} if token is None else {"token": token, "op": "send"}
    reply = bench.ask(**request)
    assert reply["ok"] is False
    assert reply["field"] == "token"
    assert "token" in reply["error"]
    assert bench.handled == []
    assert bench.server.counters["unauthorized"] == 1
    assert bench.server.counters["requests"] == 0
    # ... and the server still answers the next, good request.
    assert bench.ask(token=TOKEN, op="ping")["ok"] is True
    assert len(bench.handled) == 1


@pytest.mark.parametrize("payload", [[TOKEN, "ping"], TOKEN, 7, None, b"\x00" * 8], ids=repr)
def test_a_request_that_is_not_a_map_is_malformed(bench: Bench, payload: Any) -> None:
    reply = bench.ask_raw(msgpack.packb(payload, use_bin_type=True))
    assert reply == {"ok": False, "error": reply["error"], "field": "request"}
    assert bench.server.counters["malformed"] == 1
    assert bench.handled == []


@pytest.mark.parametrize("raw", [b"", b"\xc1", b"\x81", b"not msgpack at all", b"\x82\xa5token",
                                 msgpack.packb({"token": TOKEN}) + b"\x00"], ids=repr)
def test_garbage_octets_are_malformed(bench: Bench, raw: bytes) -> None:
    reply = bench.ask_raw(raw)
    assert (reply["ok"], reply["field"]) == (False, "request")
    assert bench.server.counters["malformed"] == 1
    assert bench.handled == []


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=2048))
def test_any_octets_get_a_refusal_never_reach_the_handler_and_never_kill_the_server(shared_bench: Bench,
                                                                                    raw: bytes) -> None:
    counters = shared_bench.server.counters
    before = counters["malformed"] + counters["unauthorized"]
    reply = shared_bench.ask_raw(raw)
    assert reply["ok"] is False
    assert reply["field"] in ("request", "token")
    assert counters["malformed"] + counters["unauthorized"] == before + 1
    assert shared_bench.handled == []
    assert counters["requests"] == 0


def test_the_server_keeps_serving_after_garbage(bench: Bench) -> None:
    for raw in (b"\xc1", b"\x91\x01", msgpack.packb({"token": "x"})):
        assert bench.ask_raw(raw)["ok"] is False
    assert bench.ask(token=TOKEN, op="ping") == {"ok": True, "echo": "ping"}
    assert (bench.server.counters["malformed"], bench.server.counters["unauthorized"]) == (2, 1)


@pytest.mark.parametrize(("error", "field", "text"), [
    (StationError("send needs a command name", "name"), "name", "send needs a command name"),
    (CommandError("PING.x", "unknown argument"), "PING.x", "command.PING.x: unknown argument"),
    (ZenithError("the archive is gone"), "", "the archive is gone"),
    (KeyError("boom"), "", "station error: KeyError"),
    (ZeroDivisionError("division by zero"), "", "station error: ZeroDivisionError: division by zero"),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None)
def test_a_handler_that_raises_gives_an_error_reply_and_the_server_keeps_serving(
        error: Exception, field: str, text: str) -> None:
    calls = []

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        calls.append(request["op"])
        if request["op"] == "fail":
            raise error
        return {"ok": True}

    bench = Bench(handle)
    try:
        reply = bench.ask(token=TOKEN, op="fail")
        assert reply["ok"] is False
        assert reply["field"] == field
        assert text in reply["error"]
        # Only a bug (not a refusal the station meant) counts as an error.
        assert bench.server.counters["errors"] == (0 if isinstance(error, ZenithError) else 1)
        assert bench.ask(token=TOKEN, op="again") == {"ok": True}
        assert calls == ["fail", "again"]
    finally:
        bench.close()


def test_a_second_server_on_the_same_endpoint_is_a_config_error(bench: Bench) -> None:
    with pytest.raises(ConfigError, match="cannot bind the control endpoint"):
        ControlServer(bench.ctx, bench.endpoint, TOKEN, lambda r: {"ok": True})


# --- the token file ------------------------------------------------------------------------------


def test_load_or_create_token_makes_a_0600_file_and_reuses_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ground.token"
    token = load_or_create_token(path)
    assert len(token) >= 32 and all(c in "0123456789abcdef" for c in token)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token
    assert load_or_create_token(path) == token
    assert read_token(path) == token
    assert load_or_create_token(tmp_path / "other.token") != token


def test_an_existing_token_is_kept_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "ground.token"
    path.write_text("  my-own-token \n")
    assert load_or_create_token(path) == "my-own-token"
    assert path.read_text() == "  my-own-token \n"


def test_a_missing_token_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.token"
    with pytest.raises(ConfigError) as caught:
        read_token(path)
    assert str(path) in str(caught.value)
    assert "is the station running?" in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"\n", b"  \n\t"])
def test_an_empty_token_file_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ground.token"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="empty"):
        read_token(path)
    with pytest.raises(ConfigError, match="empty"):
        load_or_create_token(path)


def test_a_token_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=str(tmp_path)):
        read_token(tmp_path)


def test_a_token_file_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "ground.token"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=str(path)):
        read_token(path)


# --- the client ----------------------------------------------------------------------------------


class Serving:
    """A ControlServer answering in a thread, as the station's loop would."""

    def __init__(self, endpoint: str, handle: Handler) -> None:
        self.ctx = zmq.Context()
        self.server = ControlServer(self.ctx, endpoint, TOKEN, handle)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.server.socket.poll(20):
                self.server.serve_pending()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()
        self.ctx.term()


def test_the_client_raises_station_unavailable_when_nobody_answers_and_works_afterwards() -> None:
    endpoint = f"tcp://127.0.0.1:{free_base_port(1)}"
    client = ControlClient(endpoint, TOKEN, timeout=0.2)
    try:
        with pytest.raises(StationUnavailable, match=endpoint):
            client.call("ping")
        with pytest.raises(StationUnavailable):  # and again: the stuck socket was thrown away
            client.call("ping")
        serving = Serving(endpoint, lambda request: {"ok": True, "op": request["op"], "n": request.get("n")})
        try:
            client.timeout = 5.0
            assert client.call("ping", n=1) == {"ok": True, "op": "ping", "n": 1}
            assert client.call("status", n=2)["n"] == 2
            assert serving.server.counters["requests"] == 2  # the lost requests were never delivered late
        finally:
            serving.close()
    finally:
        client.close()


def test_the_client_raises_station_error_with_the_field_and_stays_usable() -> None:
    endpoint = f"tcp://127.0.0.1:{free_base_port(1)}"

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        if request["op"] == "bad":
            raise StationError("no such thing", "name")
        return {"ok": True}

    serving = Serving(endpoint, handle)
    try:
        client = ControlClient(endpoint, TOKEN, timeout=5.0)
        with pytest.raises(StationError) as caught:
            client.call("bad")
        assert (str(caught.value), caught.value.field) == ("no such thing", "name")
        assert client.call("good") == {"ok": True}
        client.close()
        intruder = ControlClient(endpoint, "not the token", timeout=5.0)
        with pytest.raises(StationError) as caught:
            intruder.call("good")
        assert caught.value.field == "token"
        intruder.close()
        assert serving.server.counters["unauthorized"] == 1
    finally:
        serving.close()


def test_a_malformed_endpoint_is_a_config_error_not_a_zmq_error() -> None:
    client = ControlClient("nonsense", TOKEN, timeout=0.2)
    with pytest.raises(ConfigError, match="nonsense"):
        client.call("ping")
    client.close()


def test_a_request_asked_again_with_its_key_is_answered_the_same_and_acted_on_once(bench: Bench) -> None:
    first = bench.ask(token=TOKEN, op="send", key="k1", name="PING")
    again = bench.ask(token=TOKEN, op="send", key="k1", name="PING")
    other = bench.ask(token=TOKEN, op="send", key="k2", name="PING")
    assert first == again == other == {"ok": True, "echo": "send"}
    assert len(bench.handled) == 2  # k1 once, k2 once
    assert bench.server.counters["repeated"] == 1


def test_a_key_without_the_token_gets_nothing_from_the_answers_kept(bench: Bench) -> None:
    bench.ask(token=TOKEN, op="send", key="k1")
    assert bench.ask(token="wrong", op="send", key="k1")["field"] == "token"


def test_the_client_asks_again_with_the_same_key_when_a_reply_is_lost() -> None:
    ctx = zmq.Context()
    server = ctx.socket(zmq.ROUTER)  # a station that drops its first reply on the floor
    server.setsockopt(zmq.LINGER, 0)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ControlClient(f"tcp://127.0.0.1:{port}", TOKEN, timeout=0.3)
    keys: list[str] = []

    def station() -> None:
        for answer in (False, True):
            assert server.poll(5000)
            identity, empty, raw = server.recv_multipart()
            keys.append(msgpack.unpackb(raw)["key"])
            if answer:
                server.send_multipart([identity, empty, msgpack.packb({"ok": True})])

    thread = threading.Thread(target=station)
    thread.start()
    try:
        assert client.call("send", name="PING") == {"ok": True}
    finally:
        thread.join()
        client.close()
        server.close()
        ctx.term()
    assert len(keys) == 2 and keys[0] == keys[1]


def test_a_long_key_is_matched_in_the_form_it_is_kept(bench: Bench) -> None:
    key = "k" * 100
    bench.ask(token=TOKEN, op="send", key=key)
    bench.ask(token=TOKEN, op="send", key=key)
    assert len(bench.handled) == 1
