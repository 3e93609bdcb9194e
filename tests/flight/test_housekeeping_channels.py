"""The dictionary's channels are what the running supervisor really keeps.

Housekeeping reports channels by the dictionary's names; a channel that nothing feeds would report
zero forever. This drives a supervisor through every case the channels count, over the real uplink
stack with SDLS, and checks each channel turns up in its sample with a non-zero value (the gauges
that are legitimately zero here are named).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import msgpack

from flight.dictionary import encode_command, load_dictionary
from flight.link.cltu import CltuCodec
from flight.link.config import LinkConfig, SdlsSettings, TcChannel, TcSettings
from flight.link.farm import Farm, FarmConfig
from flight.link.keys import KeyRing
from flight.link.pus import build_tc
from flight.link.sdls import Sdls, SecurityAssociation
from flight.link.tcframe import FrameType, SetVr, TcFrame, Unlock
from flight.supervisor.clock import ManualClock
from flight.supervisor.state_db import StateDb
from flight.supervisor.supervisor import Supervisor

DICTIONARY = load_dictionary()
# Gauges whose true value in this run is zero (a mode code, an empty queue): present, not fed by counts.
ZERO_GAUGES = {"health.mode", "power.mode", "schedule.pending", "store.playback_pending", "health.loop_lag_ms",
               "health.recent_restarts"}


def test_every_channel_is_fed(tmp_path: Path) -> None:
    sas = (SecurityAssociation(1, "tc-0", (0,)), SecurityAssociation(2, "tc-1", (1,)))
    channels = (TcChannel(0, accept_set_vr=True), TcChannel(1), TcChannel(2))
    config = LinkConfig(tc=TcSettings(channels=channels), sdls=SdlsSettings(sas))
    keys = KeyRing.generate(["tc-0", "tc-1"])
    ground = Sdls(list(sas), keys)
    clock = ManualClock()
    beat_clock = ManualClock(0.0)
    path = tmp_path / "flight.db"

    def boot() -> Supervisor:
        return Supervisor(config, DICTIONARY, StateDb(path), clock, Sdls(list(sas), keys), monotonic=beat_clock.now)

    node = boot()
    codec = CltuCodec()
    scid = config.spacecraft_id
    n_s = 0

    def send(frame: TcFrame, protect: Sdls | None = ground, flip: int | None = None) -> bytes:
        raw = codec.encode(protect.protect(frame) if protect else frame.pack())
        if flip is not None:
            raw = raw[:flip] + bytes([raw[flip] ^ 0x01]) + raw[flip + 1 :]
        node.on_uplink(raw)
        return raw

    def command(name: str, arguments: dict | None = None) -> None:
        nonlocal n_s
        send(TcFrame(scid, 0, FrameType.AD, n_s, encode_command(DICTIONARY, name, arguments, seq_count=n_s)))
        n_s += 1

    ping = encode_command(DICTIONARY, "PING")
    good = send(TcFrame(scid, 0, FrameType.AD, 0, ping), flip=4)  # one bit error, corrected
    n_s = 1
    node.on_uplink(good)  # the same CLTU again: a replay
    bad_argument = build_tc(16, 8, 1, b"\x00\x02" + msgpack.packb([99]), seq_count=1)  # RESET_COUNTERS, no such service
    send(TcFrame(scid, 0, FrameType.AD, 1, bad_argument))
    n_s = 2
    command("PARAM_SET", {"name": "events.flood_limit", "value": 10000})
    command("PARAM_SET", {"name": "store.max_packets", "value": 1000})
    command("TEST_EVENTS", {"count": 1200})  # fills the store past its bound: the oldest are evicted
    command("EVENT_DISABLE", {"event": DICTIONARY.event("TEST_EVENT").id})  # type: ignore[union-attr]
    command("TEST_EVENTS", {"count": 1})
    command("PARAM_SET", {"name": "events.flood_limit", "value": 1})
    command("EVENT_ENABLE", {"event": DICTIONARY.event("TEST_EVENT").id})  # type: ignore[union-attr]
    command("TEST_EVENTS", {"count": 3})  # two suppressed
    command("SCHEDULE_INSERT", {"time": clock.t + 1, "command": encode_command(DICTIONARY, "NOOP", seq_count=99)})
    command("SCHEDULE_INSERT", {"time": clock.t + 9, "command": encode_command(DICTIONARY, "NOOP", seq_count=98)})
    command("SCHEDULE_DELETE", {"activity": 2})
    command("STORE_PLAYBACK_TIME", {"start": 0.0, "end": clock.t + 1})
    node.heartbeat("worker")
    beat_clock.advance(60.0)
    for _ in range(30):
        clock.advance(1.0)
        node.tick()
        node.next_frame()
    command("PARAM_SET", {"name": "health.max_restarts", "value": 1})
    node.db.close()
    node = boot()
    node.db.close()
    node = boot()  # the second restart within the window: a restart loop
    command("SAFE_MODE_EXIT")  # refused while the restart loop holds safe mode: an execution failure
    command("TEST_EVENTS", {"count": 1})  # not essential: not allowed in safe mode
    node.run_journal()
    for _ in range(12):
        command("LINK_TEST", {"payload": b"\x00" * 16})
    # A crash between journaling and running: the next start resumes the command.
    node.db.conn.execute("INSERT INTO journal (received, source, packet) VALUES (0, 'ground', ?)",
                         (encode_command(DICTIONARY, "NOOP", seq_count=77),))
    node.db.close()
    node = boot()
    node.run_journal()
    command("RESTARTS_CLEAR")
    command("SAFE_MODE_EXIT")
    n_s_vc0 = n_s
    send(TcFrame(scid, 0, FrameType.AD, n_s_vc0, ping), protect=Sdls(list(sas), KeyRing.generate(["tc-0", "tc-1"])))
    send(TcFrame(scid, 0, FrameType.AD, n_s_vc0, (9).to_bytes(2, "big") + bytes(40)), protect=None)  # unknown SPI
    send(TcFrame(scid, 0, FrameType.AD, n_s_vc0, b"\x00"), protect=None)  # truncated
    spi1_on_vc1 = ground.protect(TcFrame(scid, 0, FrameType.AD, 0, ping))
    node.on_uplink(codec.encode(TcFrame(scid, 1, FrameType.AD, 0, TcFrame.unpack(spi1_on_vc1).data).pack()))
    send(TcFrame(scid, 2, FrameType.AD, 0, ping), protect=None)  # VC 2 has no security association
    send(TcFrame(scid, 0, FrameType.BD, 0, ping))
    send(TcFrame(scid, 0, FrameType.AD, n_s_vc0 + 2, ping))  # ahead, in the positive window
    send(TcFrame(scid, 0, FrameType.AD, n_s_vc0 - 1, ping))  # behind: a duplicate
    send(TcFrame(scid, 0, FrameType.AD, (n_s_vc0 + 120) % 256, ping))  # far away: Lockout
    send(TcFrame(scid, 0, FrameType.AD, n_s_vc0, ping))  # discarded in Lockout
    send(TcFrame.bc(scid, 0, Unlock()))
    send(TcFrame.bc(scid, 0, SetVr(n_s_vc0)))
    send(TcFrame.bc(scid, 1, SetVr(5)))  # VC 1 refuses Set V(R): it travels in clear
    send(TcFrame(scid, 0, FrameType.BC, 0, b"\x01\x02"), protect=None)  # neither Unlock nor Set V(R)
    for _ in range(3):
        node.next_frame()
    clock.advance(1.0)  # the last supervisor has been up a while

    # Wait cannot happen behind the supervisor, which empties FARM-1's buffer at once: show it on a FARM.
    farm = Farm(FarmConfig(0, buffer_capacity=1))
    for frame_number in (0, 1, 1):
        farm.receive(TcFrame(scid, 0, FrameType.AD, frame_number, b""))

    sample = node.sample()
    counted = Counter({k: v for k, v in sample.items() if isinstance(v, int | float)})
    counted.update(farm.counters.snapshot())
    for channel in DICTIONARY.telemetry:
        if channel.name.startswith("files."):
            continue  # fed by CFDP traffic: tests/flight/files/test_service.py checks every one
        if channel.name.startswith(("job.", "jobs.", "seu.")):
            continue  # fed by job workers: tests/flight/supervisor/services/test_jobs.py checks every one
        if channel.name.startswith("ecc."):
            continue  # fed by the GPU's errors: tests/flight/supervisor/services/test_ecc.py checks every one
        if channel.name.startswith("power."):
            continue  # fed by the bus: tests/flight/supervisor/services/test_power.py checks every one
        if channel.name.startswith("faults."):
            continue  # fed by the bench: tests/flight/supervisor/services/test_bench_faults.py checks every one
        if channel.name in ZERO_GAUGES or channel.type.name == "enum":
            assert channel.name in sample, f"gauge {channel.name} is not in the supervisor's sample"
            continue
        assert counted.get(channel.name, 0) > 0, f"dictionary channel {channel.name} is fed by nothing"
