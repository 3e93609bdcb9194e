"""The console's JSON API over HTTP, against a real station: every endpoint, and bad input of every
kind answered with a 4xx naming the field, never reaching the uplink."""

from __future__ import annotations

import urllib.request

import pytest

from tests.ground.web.conftest import FETCHED, T0, Console


def uplinked(console: Console) -> int:
    with console.writer() as archive:  # the station's own connection belongs to its thread
        return len(archive.query("SELECT id FROM commands"))


def test_the_dictionary_lists_commands_with_typed_arguments(console: Console) -> None:
    status, body = console.get("/api/dictionary")
    assert status == 200 and body["mission"]["name"] == "Zenith"
    commands = {c["name"]: c for c in body["commands"]}
    assert commands["PING"]["arguments"] == []
    interval = {a["name"]: a for a in commands["HK_SET_INTERVAL"]["arguments"]}["interval"]
    assert (interval["type"], interval["min"], interval["max"], interval["units"]) == ("f32", 0.1, 86400.0, "s")
    assert any(c["name"] == "clock.rate" for c in body["channels"])
    assert "INFO" in body["severities"]


def test_latest_and_history_come_from_the_archive(console: Console) -> None:
    status, body = console.get("/api/telemetry/latest?channels=clock.rate")
    assert status == 200 and body["values"]["clock.rate"] == {"time": T0, "value": 1.0}
    status, body = console.get("/api/telemetry/history?channel=clock.rate&from=2020-01-01")
    assert status == 200 and body["values"] == [[T0, 1.0]]
    assert console.get("/api/telemetry/history?channel=clock.rate&to=2020-01-01")[1]["values"] == []


def test_events_filter_by_severity_and_source(console: Console) -> None:
    status, body = console.get("/api/events")
    assert status == 200 and [e["name"] for e in body["events"]] == ["PARAMETER_CHANGED"]
    assert body["events"][0]["message"] == "events.flood_limit set to 50"
    assert console.get("/api/events?severity=HIGH")[1]["events"] == []
    assert console.get("/api/events?source=parameter")[1]["events"] != []
    assert console.get("/api/events?source=power")[1]["events"] == []


def test_jobs_show_their_loss_curve_samples_and_answers_beside_the_prompt(console: Console) -> None:
    status, body = console.get("/api/jobs")
    assert status == 200
    first, second = body["jobs"]
    assert first["job"] == 1 and first["answers"] == [{"prompt": "The blue planet", "text": "is the Earth",
                                                       "tokens_per_s": 40.0, "ttft_s": 0.5, "truncated": None,
                                                       "file": "jobs/job-1/output.txt"}]
    assert second["loss"] == [[10, 3.5]] and second["val_loss"] == [[10, 3.45]]
    assert second["samples"] == [{"step": 10, "text": "ROMEO:"}]
    assert console.get(f"/api/jobs?after={body['through']}")[1]["jobs"] == []


def test_without_an_orbit_there_are_no_passes_to_show(console: Console) -> None:
    assert console.get("/api/passes") == (200, {"configured": False, "stations": [], "passes": []})


@pytest.mark.parametrize("console", ['\n[ground.passes]\norbit = "default"\nstations = ["redmond", "hartebeesthoek"]\n'],
                         indirect=True)
def test_the_next_passes_over_the_stations(console: Console) -> None:
    status, body = console.get("/api/passes")
    assert status == 200 and body["configured"] and body["stations"] == ["redmond", "hartebeesthoek"]
    passes = body["passes"]
    assert passes and {p["station"] for p in passes} <= {"redmond", "hartebeesthoek"}
    assert [p["aos"] for p in passes] == sorted(p["aos"] for p in passes)
    assert all(p["los"] > p["aos"] and 10 <= p["max_elevation_deg"] <= 90 for p in passes)


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/api/telemetry/latest?channels=clock.speed", 404, "channel"),
    ("/api/telemetry/history", 400, "channel"),
    ("/api/telemetry/history?channel=no.such", 404, "channel"),
    ("/api/telemetry/history?channel=clock.rate&from=yesterday", 400, "from"),
    ("/api/events?severity=LOUD", 400, "severity"),
    ("/api/events?after=ten", 400, "after"),
    ("/api/events?limit=-1", 400, "limit"),
    ("/api/commands?limit=x", 400, "limit"),
    ("/api/jobs?after=-3", 400, "after"),
])
def test_bad_queries_name_their_field(console: Console, path: str, status: int, field: str) -> None:
    got, body = console.get(path)
    assert (got, body["field"]) == (status, field) and body["error"]


def test_a_command_with_the_token_goes_up_and_its_history_shows(console: Console) -> None:
    status, body = console.post("/api/commands", {"name": "PING"}, token=console.token)
    assert status == 200 and body == {"command_id": 1, "name": "PING"}
    status, body = console.get("/api/commands")
    assert status == 200 and [(c["id"], c["name"]) for c in body["commands"]] == [(1, "PING")]
    assert uplinked(console) == 1


@pytest.mark.parametrize(("body", "raw", "status", "field"), [
    (None, b"{not json", 400, "body"),
    (None, b"\xff\xfe", 400, "body"),
    (["PING"], None, 400, "body"),
    ({"arguments": {}}, None, 400, "name"),
    ({"name": "LAUNCH_MISSILES"}, None, 404, "name"),
    ({"name": "PING", "arguments": [1]}, None, 400, "arguments"),
    ({"name": "HK_SET_INTERVAL", "arguments": {"report": 1}}, None, 422, "HK_SET_INTERVAL.interval"),
    ({"name": "HK_SET_INTERVAL", "arguments": {"report": 1, "interval": 1e9}}, None, 422,
     "HK_SET_INTERVAL.interval"),
    ({"name": "HK_SET_INTERVAL", "arguments": {"report": "one", "interval": 5}}, None, 422, "HK_SET_INTERVAL.report"),
    ({"name": "PING", "arguments": {"extra": 1}}, None, 422, "PING.extra"),
    ({"name": "SCHEDULE_INSERT", "arguments": {"at": 1.0, "command": "zz"}}, None, 422, "SCHEDULE_INSERT.command"),
])
def test_bad_commands_are_refused_naming_the_field_and_nothing_goes_up(
        console: Console, body: object, raw: bytes | None, status: int, field: str) -> None:
    got, answer = console.post("/api/commands", body, token=console.token, raw=raw)
    assert (got, answer["field"]) == (status, field), answer
    assert uplinked(console) == 0 and console.station.link.sender.pending == 0  # an int read: safe across threads


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("", 401), ("not-the-token", 403)])
def test_commanding_needs_the_operator_token(console: Console, token: str | None, status: int) -> None:
    got, body = console.post("/api/commands", {"name": "PING"}, token=token)
    assert (got, body["field"]) == (status, "token")
    assert uplinked(console) == 0


def test_transfers_are_listed_and_a_verified_file_downloads_to_the_browser(console: Console) -> None:
    status, body = console.get("/api/files")
    assert status == 200 and {t["id"]: t["state"] for t in body["transfers"]} == {"1-1": "finished", "1-2": "failed"}
    with urllib.request.urlopen(console.url + "/api/files/1-1/content", timeout=10) as response:
        assert response.read() == FETCHED
        assert response.headers["Content-Disposition"] == 'attachment; filename="output.txt"'
    assert console.get("/api/files/1-2/content")[0] == 409  # failed: nothing verified to give
    status, body = console.get("/api/files/9-9/content")
    assert (status, body["field"]) == (404, "request")


def test_a_fetch_from_the_page_becomes_a_cfdp_get_into_the_console_downloads(console: Console) -> None:
    status, body = console.post("/api/files", {"remote": "jobs/job-1/output.txt"}, token=console.token)
    assert status == 200, body
    transfer = body["transfer"]
    assert (transfer["kind"], transfer["remote"], transfer["state"]) == ("get", "jobs/job-1/output.txt", "active")
    assert "/console-downloads/" in transfer["local"] and transfer["local"].endswith("-output.txt")
    assert console.get(f"/api/files/{transfer['id']}/content")[0] == 409  # not come down yet


@pytest.mark.parametrize(("body", "token", "status", "field"), [
    ({"remote": "x"}, None, 401, "token"),
    ({"remote": ""}, "token", 400, "remote"),
    ({"remote": "jobs/.."}, "token", 400, "remote"),
    ({"remote": 7}, "token", 400, "remote"),
    ({}, "token", 400, "remote"),
])
def test_bad_fetches_are_refused(console: Console, body: dict[str, object], token: str | None, status: int,
                                 field: str) -> None:
    got, answer = console.post("/api/files", body, token=console.token if token else None)
    assert (got, answer["field"]) == (status, field)


@pytest.mark.parametrize(("method", "path", "status", "field"), [
    ("GET", "/api/nothing", 404, "path"),
    ("DELETE", "/api/commands", 405, "method"),
    ("PUT", "/api/files", 405, "method"),
])
def test_unknown_paths_and_methods_are_json_refusals_too(console: Console, method: str, path: str, status: int,
                                                         field: str) -> None:
    got, body = console.request(method, path)
    assert (got, body["field"]) == (status, field)


def test_an_oversized_request_is_refused_unread(console: Console) -> None:
    got, body = console.post("/api/commands", None, token=console.token, raw=b"{" + b" " * 70_000 + b"}")
    assert (got, body["field"]) == (413, "body")


def test_status_reports_the_station_and_the_console_counts(console: Console) -> None:
    console.get("/api/events?severity=LOUD")
    status, body = console.get("/api/status")
    assert status == 200 and body["station_reachable"] is True and "in_contact" in body["station"]
    assert body["counters"]["web.refused_400"] == 1


def test_the_page_and_its_modules_are_served(console: Console) -> None:
    import urllib.request

    with urllib.request.urlopen(console.url + "/", timeout=10) as response:
        assert b"<title>Zenith console</title>" in response.read()
    for asset in ("console.js", "plot.js", "console.css"):
        with urllib.request.urlopen(f"{console.url}/static/{asset}", timeout=10) as response:
            assert response.status == 200 and response.read()
