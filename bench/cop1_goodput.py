"""COP-1 goodput through the real link emulator, at uplink frame error rates of 0, 1% and 10%.

The emulator limits the uplink to a bandwidth and loses frames at the given rate; the flight
supervisor runs FARM-1 and SDLS and executes every command; the ground sends LINK_TEST commands that fill
a TC frame (1017 octets, SDLS-protected, CLTU-encoded) as fast as FOP-1 allows. Goodput is the number
of commands acknowledged by the CLCW per second, as a fraction of what a perfect protocol would carry
through the same lossy link: (1 - FER) x link capacity, the capacity being the bandwidth over the CLTU
size (framing overhead is not COP-1's doing, so it is not counted against it).

COP-1's window K and timer T1 are managed parameters, set for each link from its round trip and frame
time. The judged figures use K=2, T1=0.12 s, what this bench link (a few milliseconds of round trip,
18.5 ms per frame at 512 kbit/s) calls for; the shipped defaults (K=3, T1=0.5 s, sized for slower
links) are measured too, for information.
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.harness import Record
from flight.dictionary import encode_command, load_dictionary
from flight.link.config import DEFAULT_ASSOCIATION, FopSettings, LinkConfig
from flight.link.tcframe import FECF_LEN, PRIMARY_HEADER_LEN
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
PAYLOAD = 960  # LINK_TEST's largest payload: the frames are 1017 octets, near the 1024 maximum
# K covers the bandwidth-delay product (the emulator forwards within milliseconds); T1 a few frame times.
TUNED = FopSettings(window=2, t1=0.12, transmission_limit=20)
DEFAULTS = FopSettings()


def _frame_length() -> int:
    """The TC frame that carries one benchmark command: header, SDLS, packet, MAC, FECF."""
    packet = encode_command(load_dictionary(), "LINK_TEST", {"payload": bytes(PAYLOAD)})
    return PRIMARY_HEADER_LEN + DEFAULT_ASSOCIATION.overhead + len(packet) + FECF_LEN


def _cltu_length(frame_length: int) -> int:
    blocks = -(-frame_length // 7)
    return 2 + 8 * blocks + 8


def _measure(fer: float, seed: int, workdir: Path, fop: FopSettings) -> float:
    """Commands per second acknowledged, FRAMES of them, each filling a TC frame."""
    keys = workdir / "keys.json"
    new_key_file(keys)
    config = LinkConfig(keys_file=str(keys), fop=fop)
    base = free_base_port()
    ports = BenchPorts(base)
    dictionary = load_dictionary()
    with ProcessGroup(workdir) as group:
        group.start("link", "hil.cli", ["link", "--base-port", str(base), "--seed", str(seed),
                                        "--up-bandwidth", str(BANDWIDTH), "--up-loss", str(fer),
                                        "--up-queue-limit", "64"])
        mission = workdir / "zenith.toml"
        mission.write_text(f'base_port = {base}\n[link]\nkeys_file = "keys.json"\n[flight]\nstate = "flight.db"\n')
        group.start("flight", "flight.cli", ["run", "--config", str(mission)])
        ground = GroundLink(config, dictionary, ports.ground_uplink(), ports.ground_downlink())
        try:
            ground.start()
            if not ground.run_until(lambda: ground.sender.fop.state.value == 1, timeout=20):
                raise RuntimeError("COP-1 did not synchronise with the flight supervisor")
            for i in range(FRAMES):
                packet = encode_command(dictionary, "LINK_TEST", {"payload": bytes(PAYLOAD)}, seq_count=i)
                ground.sender.send(packet, i)
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
    return FRAMES / elapsed


def run() -> list[Record]:
    capacity = BANDWIDTH / (8 * _cltu_length(_frame_length()))  # frames per second
    records = []
    runs = [(fer, TUNED, TARGET, "") for fer in FERS] + [(0.10, DEFAULTS, "", ", shipped defaults")]
    with TemporaryDirectory(prefix="zenith-bench-") as tmp:
        for i, (fer, fop, target, label) in enumerate(runs):
            run_dir = Path(tmp) / f"run-{i}"
            run_dir.mkdir()
            goodput = _measure(fer, seed=100 + i, workdir=run_dir, fop=fop)
            ideal = (1 - fer) * capacity
            name = f"COP-1 goodput, FER {fer:.0%}, {BANDWIDTH // 1000} kbit/s, K={fop.window} T1={fop.t1}s{label}"
            records.append(Record(name, goodput, "frames/s", ideal, goodput / ideal, target))
    return records
