"""CFDP over the real stack: a 20 MB class-2 downlink through 5% frame loss and a loss of signal,
an uplink into the payload's restricted area, and the operator commands, all over the emulator.

The downlink rate is raised for this test (PARAM_SET link.tm_frame_rate) so that 20 MB goes down in
well under a minute of link time; the file is not shrunk.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil.stack import Stack, StackOptions

pytestmark = pytest.mark.integration
SIZE = 20 * 1024 * 1024
RATE = 1500.0  # TM frames per second for this test: about 1.6 MB/s of file data
LOS = (12.0, 20.0)  # seconds after the emulator starts: the downlink is down in between
QUICK_GROUND = "gap_settle = 1.0\ngap_retry = 8.0\nlos_after = 1.5\n"
BENCH_FOP = "[link.fop]\nwindow = 5\nt1 = 0.2\n"


def _follow(gs, request_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = gs.control.call("files_status", id=request_id)["request"]
        if request["state"] != "active":
            return request
        time.sleep(0.5)
    raise AssertionError(f"file request {request_id} still active after {timeout:g} s: {request}")


def test_twenty_megabytes_down_through_loss_and_an_outage(tmp_path: Path) -> None:
    faults = {"loss": "0.05", "pass": f"0:{LOS[0]:g},{LOS[1]:g}:100000"}
    options = StackOptions(out=tmp_path, faults=faults, seed=11, ground_toml=QUICK_GROUND, link_toml=BENCH_FOP)
    data = random.Random(20).randbytes(SIZE)
    (tmp_path / "files" / "checkpoints").mkdir(parents=True)
    (tmp_path / "files" / "checkpoints" / "step-1000.safetensors").write_bytes(data)
    local = tmp_path / "received" / "step-1000.safetensors"
    with Stack(options) as stack, stack.client() as gs:
        gs.send("PARAM_SET", name="link.tm_frame_rate", value=RATE, timeout=30)
        started, epoch = time.monotonic(), stack.link_epoch()
        began = time.time() - epoch  # seconds into the emulator's pass schedule
        reply = gs.control.call("files_get", remote="checkpoints/step-1000.safetensors", local=str(local),
                                cfdp_class=2)
        request = _follow(gs, reply["request"]["id"], timeout=150)
        elapsed = time.monotonic() - started
        ended = time.time() - epoch
        events = [e.name for e in gs.events()]
        # The payload counts what it sent again; its LINK housekeeping reports it.
        gs.send("HK_REPORT_NOW", report=2, timeout=30)
        retransmitted = gs.await_tlm("files.retransmitted", lambda n: n > 0, timeout=15, since=0.0)
    print(f"\n20 MB class-2 downlink: {elapsed:.1f} s, {retransmitted} PDUs retransmitted, "
          f"{request['naks']} NAK PDUs, checksum {request['checksum_type']} {request['checksum']} verified")
    assert request["state"] == "finished", request
    assert request["verified"] and request["size"] == SIZE
    assert hashlib.sha256(local.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert request["naks"] > 0 and retransmitted > 0  # loss and outage cost PDUs; NAKs got them back
    assert "FILE_TRANSFER_FINISHED" in events
    assert began < LOS[0] and ended > LOS[1], "the loss of signal did not fall inside the transfer"
    link = json.loads((tmp_path / "link-stats.json").read_text())["counters"]
    assert link["link.down.dropped_link_down"] > 0 and link["link.down.dropped_loss"] > 0


def test_put_and_both_lists_through_the_command_line(tmp_path: Path) -> None:
    options = StackOptions(out=tmp_path, faults={"loss": "0.05"}, seed=3, ground_toml=QUICK_GROUND,
                           link_toml=BENCH_FOP)
    config = (tmp_path / "dataset.bin")
    data = random.Random(4).randbytes(30_000)
    config.write_bytes(data)
    with Stack(options):
        mission = str(tmp_path / "zenith.toml")
        put = subprocess.run([sys.executable, "-m", "ground.cli", "files", "put", str(config), "data/dataset.bin",
                              "--config", mission, "--json", "--timeout", "60"],
                             capture_output=True, text=True, timeout=90)
        refused = subprocess.run([sys.executable, "-m", "ground.cli", "files", "put", str(config), "../escape.bin",
                                  "--config", mission, "--json", "--timeout", "60"],
                                 capture_output=True, text=True, timeout=90)
        listing = subprocess.run([sys.executable, "-m", "ground.cli", "files", "list", "--config", mission, "--json"],
                                 capture_output=True, text=True, timeout=30)
        remote = subprocess.run([sys.executable, "-m", "ground.cli", "files", "list", "--remote", "uplink",
                                 "--config", mission, "--json"], capture_output=True, text=True, timeout=90)
    assert put.returncode == 0, put.stdout + put.stderr
    result = json.loads(put.stdout.splitlines()[-1])
    assert result["state"] == "finished" and result["verified"]
    assert (tmp_path / "files" / "uplink" / "data" / "dataset.bin").read_bytes() == data
    assert refused.returncode == 1
    assert "FILESTORE_REJECTION" in json.loads(refused.stdout.splitlines()[-1])["condition"]
    assert not (tmp_path / "files" / "escape.bin").exists()
    assert len(listing.stdout.splitlines()) == 2
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert [json.loads(line) for line in remote.stdout.splitlines()][0]["name"] == "uplink/data/dataset.bin"


def test_a_supervisor_killed_mid_transfer_fails_it_cleanly_with_an_event(tmp_path: Path) -> None:
    options = StackOptions(out=tmp_path, seed=5, ground_toml=QUICK_GROUND, link_toml=BENCH_FOP)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "samples.bin").write_bytes(bytes(8 * 1024 * 1024))
    with Stack(options) as stack, stack.client() as gs:
        gs.send("PARAM_SET", name="health.max_restarts", value=100, timeout=30)
        reply = gs.control.call("files_get", remote="samples.bin", local=str(tmp_path / "samples.bin"))
        request_id = reply["request"]["id"]
        deadline = time.monotonic() + 60
        while gs.control.call("files_status", id=request_id)["request"]["progress"] < 1_000_000:
            assert time.monotonic() < deadline, "the transfer never got going"
            time.sleep(0.1)
        stack.kill_flight()
        request = _follow(gs, request_id, timeout=60)  # well before the 600 s inactivity limit
        event = gs.assert_event("FILE_TRANSFER_FAILED", reason="supervisor restart", timeout=10)
    assert request["state"] == "failed" and "supervisor restart" in request["condition"]
    assert event.arguments["transaction"] == request["transaction"]
    assert not (tmp_path / "samples.bin").exists()


def test_a_class2_get_resumes_across_a_station_restart(tmp_path: Path) -> None:
    options = StackOptions(out=tmp_path, faults={"loss": "0.02"}, seed=6, ground_toml=QUICK_GROUND,
                           link_toml=BENCH_FOP)
    data = random.Random(7).randbytes(6 * 1024 * 1024)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "log.bin").write_bytes(data)
    local = tmp_path / "log.bin"
    with Stack(options) as stack, stack.client() as gs:
        gs.send("PARAM_SET", name="link.tm_frame_rate", value=RATE, timeout=30)
        request_id = gs.control.call("files_get", remote="log.bin", local=str(local))["request"]["id"]
        deadline = time.monotonic() + 60
        while gs.control.call("files_status", id=request_id)["request"]["progress"] < 1_000_000:
            assert time.monotonic() < deadline, "the transfer never got going"
            time.sleep(0.1)
        station = stack.group.child("ground")
        assert station is not None
        station.send_signal(signal.SIGKILL)  # the station dies mid-transfer, its CFDP handler with it
        station.wait()
        stack.group.start("ground", "ground.cli", ["station", "--config", str(stack.mission_path)], stack._line)
        gs.control.close()
        request = _follow(gs, request_id, timeout=120)
    assert request["state"] == "finished" and request["verified"], request
    assert local.read_bytes() == data
