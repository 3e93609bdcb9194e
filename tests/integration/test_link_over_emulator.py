"""The whole link between real processes: ``hil link`` with faults, ``flight run``, and the ground's
GroundLink over real ZeroMQ sockets. Commands must arrive exactly once and in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flight.dictionary import load_dictionary
from flight.link.config import FopSettings, LinkConfig
from flight.link.pus import PacketHeader
from flight.link.transport import BenchPorts
from flight.link.uplink_sender import SenderEventKind
from ground.iv_state import new_key_file
from ground.link import GroundLink
from hil.ports import free_base_port
from hil.process_group import ProcessGroup

pytestmark = pytest.mark.integration

COMMANDS = [("PING", {}), ("NOOP", {}), ("RESET_COUNTERS", {"service": "FARM"})]


def _fly(tmp_path: Path, count: int, faults: list[str], seed: int,
         fop: FopSettings | None = None) -> tuple[list, list, dict, dict]:
    keys = tmp_path / "keys.json"
    new_key_file(keys)
    config = LinkConfig(keys_file=str(keys), fop=fop or FopSettings())
    base = free_base_port()
    stats = tmp_path / "link-stats.json"
    mission = tmp_path / "zenith.toml"
    mission.write_text(f'base_port = {base}\n[link]\nkeys_file = "keys.json"\n[flight]\nstate = "flight.db"\n')
    with ProcessGroup(tmp_path) as group:
        group.start("link", "hil.cli", ["link", "--base-port", str(base), "--seed", str(seed),
                                        "--stats", str(stats), "--stats-interval", "0.2", *faults])
        group.start("flight", "flight.cli", ["run", "--config", str(mission)])
        ports = BenchPorts(base)
        ground = GroundLink(config, load_dictionary(), ports.ground_uplink(), ports.ground_downlink())
        sent = []
        try:
            ground.start()
            for i in range(count):
                name, arguments = COMMANDS[i % len(COMMANDS)]
                packet = ground.command(name, arguments, tag=i)
                sent.append((name, PacketHeader.unpack(packet).sequence_count))
            confirmed: list[int] = []

            def done() -> bool:
                confirmed.extend(e.tag for e in ground.events if e.kind is SenderEventKind.CONFIRMED)
                ground.events.clear()
                return len(confirmed) == count

            assert ground.run_until(done, timeout=120), f"only {len(confirmed)} of {count} acknowledged"
            assert confirmed == list(range(count))
            ground.run_until(lambda: False, timeout=0.5)  # late duplicates get their chance to arrive
            ground_counters = ground.housekeeping()
        finally:
            ground.close()
    arrived = [json.loads(line.removeprefix("COMMAND ")) for line in (tmp_path / "flight.log").read_text().splitlines()
               if line.startswith("COMMAND ")]
    final = json.loads(stats.read_text())  # written once more as the emulator stopped
    assert final["running"] is False
    return sent, arrived, ground_counters, final["counters"]


def test_commands_arrive_exactly_once_and_in_order_through_a_faulty_link(tmp_path: Path) -> None:
    faults = ["--loss", "0.15", "--duplicate", "0.1", "--reorder", "0.1", "--delay", "0.005", "--jitter", "0.005",
              "--up-ber", "1e-4", "--up-bandwidth", "128000"]
    # One command a frame: 60 frames through the faults (blocked, the 60 would fit in two or three,
    # and the faults might miss them; the link soak mission flies blocked frames through worse).
    sent, arrived, ground, link = _fly(tmp_path, 60, faults, seed=11, fop=FopSettings(blocking=False))
    assert [(a["name"], a["sequence_count"]) for a in arrived] == sent
    assert all(a["failure"] is None for a in arrived)
    # The faults really happened, and COP-1 really worked around them.
    assert link["link.up.dropped_loss"] > 0 and link["link.up.duplicated"] > 0
    assert link["link.down.dropped_loss"] > 0
    assert ground["fop.ad_retransmitted"] > 0


def test_clean_link_needs_no_retransmission(tmp_path: Path) -> None:
    # T1 long enough that a loaded machine's slowness is never taken for a loss.
    sent, arrived, ground, _ = _fly(tmp_path, 20, [], seed=1, fop=FopSettings(t1=10.0))
    assert [(a["name"], a["sequence_count"]) for a in arrived] == sent
    assert ground.get("fop.ad_retransmitted", 0) == 0
