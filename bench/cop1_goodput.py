"""COP-1 goodput through the real link emulator, at uplink frame error rates of 0, 1% and 10%.

The emulator limits the uplink to a bandwidth and loses frames at the given rate; the flight link
process runs FARM-1 and SDLS; the ground sends maximum-size AD frames (1024 octets, SDLS-protected,
CLTU-encoded) as fast as FOP-1 allows. Goodput is the number of distinct frames FARM-1 accepted per
second (acknowledged by the CLCW), as a fraction of what a perfect protocol would carry through the
same lossy link: (1 - FER) x link capacity, the capacity being the bandwidth over the CLTU size.
Framing overhead is therefore not counted against COP-1; the bit-level figure is reported too.
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.harness import Record
from flight.dictionary import load_dictionary
from flight.link.config import FopSettings, LinkConfig
from flight.link.pus import build_tc
from flight.link.tcframe import MAX_FRAME_LEN
from flight.link.transport import BenchPorts
from flight.link.uplink_sender import SenderEventKind
from ground.iv_state import new_key_file
from ground.link import GroundLink
from hil.ports import free_base_port
from hil.process_group import ProcessGroup

FERS = (0.0, 0.01, 0.10)
BANDWIDTH = 512_000  # bits/s on the uplink
FRAMES = 300
TARGET = ">= 0.8"
SDLS_OVERHEAD = 2 + 12 + 16  # SPI, IV, MAC of the default security association
PUS_TC_OVERHEAD = 6 + 5 + 2  # primary header, PUS-C TC secondary header, CRC
# K covers the bandwidth-delay product (the emulator forwards within milliseconds); T1 a few frame times.
FOP = FopSettings(window=2, t1=0.12, transmission_limit=20)


def _cltu_length(frame_length: int) -> int:
    blocks = -(-frame_length // 7)
    return 2 + 8 * blocks + 8


def _measure(fer: float, seed: int, workdir: Path) -> tuple[float, float]:
    """Frames per second accepted, and the elapsed seconds, for FRAMES maximum-size frames."""
    keys = workdir / "keys.json"
    new_key_file(keys)
    config = LinkConfig(keys_file=str(keys), fop=FOP)
    base = free_base_port()
    ports = BenchPorts(base)
    app_data = bytes(MAX_FRAME_LEN - 5 - 2 - SDLS_OVERHEAD - PUS_TC_OVERHEAD)
    with ProcessGroup(workdir) as group:
        group.start("link", "hil.cli", ["link", "--base-port", str(base), "--seed", str(seed),
                                        "--up-bandwidth", str(BANDWIDTH), "--up-loss", str(fer),
                                        "--up-queue-limit", "64"])
        group.start("flight", "flight.cli", ["link", "--base-port", str(base), "--keys", str(keys),
                                             "--state", str(workdir / "flight-link-state.json")])
        ground = GroundLink(config, load_dictionary(), ports.ground_uplink(), ports.ground_downlink())
        try:
            ground.start()
            if not ground.run_until(lambda: ground.sender.fop.state.value == 1, timeout=20):
                raise RuntimeError("COP-1 did not synchronise with the flight link process")
            for i in range(FRAMES):
                ground.sender.send(build_tc(16, 17, 1, app_data, i), i)
            start = time.monotonic()
            confirmed = 0

            def done() -> bool:
                nonlocal confirmed
                confirmed += sum(e.kind is SenderEventKind.CONFIRMED for e in ground.events)
                ground.events.clear()
                return confirmed >= FRAMES

            if not ground.run_until(done, timeout=FRAMES * 0.5, tick=0.001):
                raise RuntimeError(f"only {confirmed} of {FRAMES} frames were acknowledged")
            elapsed = time.monotonic() - start
        finally:
            ground.close()
    return FRAMES / elapsed, elapsed


def run() -> list[Record]:
    capacity = BANDWIDTH / (8 * _cltu_length(MAX_FRAME_LEN))  # frames per second
    records = []
    with TemporaryDirectory(prefix="zenith-bench-") as tmp:
        for i, fer in enumerate(FERS):
            run_dir = Path(tmp) / f"fer-{i}"
            run_dir.mkdir()
            goodput, _ = _measure(fer, seed=100 + i, workdir=run_dir)
            ideal = (1 - fer) * capacity
            records.append(Record(f"COP-1 goodput, FER {fer:.0%}, {BANDWIDTH // 1000} kbit/s", goodput, "frames/s",
                                  ideal, goodput / ideal, TARGET))
    return records
