"""The payload's link state survives a restart: no replay runs, V(R) does not fall back to 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flight.dictionary import encode_command, load_dictionary
from flight.link.cltu import CltuCodec
from flight.link.config import LinkConfig
from flight.link.errors import StorageError
from flight.link.keys import KeyRing
from flight.link.sdls import Sdls
from flight.link.tcframe import FrameType, TcFrame
from flight.link_node import LinkNode
from flight.link_state import LinkStateFile

DICTIONARY = load_dictionary()
CONFIG = LinkConfig()


def _node(keys: KeyRing, state: Path) -> LinkNode:
    return LinkNode(CONFIG, DICTIONARY, Sdls(list(CONFIG.sdls.associations), keys), lambda: 1e9, LinkStateFile(state))


def _cltus(keys: KeyRing, count: int) -> list[bytes]:
    ground = Sdls(list(CONFIG.sdls.associations), keys)
    codec = CltuCodec()
    return [codec.encode(ground.protect(TcFrame(CONFIG.spacecraft_id, 0, FrameType.AD, n,
                                                encode_command(DICTIONARY, "NOOP", seq_count=n))))
            for n in range(count)]


def test_a_restarted_payload_refuses_replays_and_keeps_its_v_r(tmp_path: Path) -> None:
    keys = KeyRing.generate(["tc-0"])
    state = tmp_path / "state.json"
    cltus = _cltus(keys, 6)
    node = _node(keys, state)
    assert not node.restored
    executed = [a for raw in cltus[:4] for a in node.on_uplink(raw)]
    assert len(executed) == 4

    node = _node(keys, state)  # SIGKILL and restart: only the state file remains
    assert node.restored
    assert node.receiver.farms[0].v_r == 4
    assert [a for raw in cltus[:4] for a in node.on_uplink(raw)] == []  # recorded frames: refused
    assert node.receiver.counters["rejected_sdls_replay"] == 4
    assert len([a for raw in cltus[4:] for a in node.on_uplink(raw)]) == 2  # and the link goes on


def test_the_state_is_on_disk_before_the_command_is_acted_on(tmp_path: Path) -> None:
    keys = KeyRing.generate(["tc-0"])
    state = tmp_path / "state.json"
    node = _node(keys, state)
    seen_on_disk = []

    def noop(apid: int, arguments: dict) -> None:  # when the command runs, the file already holds V(R)=1
        seen_on_disk.append(json.loads(state.read_text())["farms"]["0"]["v_r"])

    node.handlers["NOOP"] = noop
    node.on_uplink(_cltus(keys, 1)[0])
    assert seen_on_disk == [1]


def test_new_keys_start_a_fresh_replay_window(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    old = KeyRing.generate(["tc-0"])
    node = _node(old, state)
    for raw in _cltus(old, 3):
        node.on_uplink(raw)
    new = KeyRing.generate(["tc-0"])  # rekeyed: the new key's IVs start at 1 again
    node = _node(new, state)
    assert len([a for raw in _cltus(new, 1) for a in node.on_uplink(raw)]) == 0  # N(S) 0 < V(R) 3: FARM-1
    assert node.receiver.sdls is not None
    assert node.receiver.sdls.counters["verified"] == 1  # ... but SDLS took it as fresh
    assert node.receiver.farms[0].counters["discarded_negative_window"] == 1


def test_a_damaged_state_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(StorageError, match="not valid JSON"):
        _node(KeyRing.generate(["tc-0"]), state)
    state.write_text('{"format": "something else"}')
    with pytest.raises(StorageError, match="not a flight link state file"):
        _node(KeyRing.generate(["tc-0"]), state)


def test_a_command_accepted_but_not_yet_run_at_a_crash_runs_after_the_restart(tmp_path: Path) -> None:
    keys = KeyRing.generate(["tc-0"])
    state = tmp_path / "state.json"
    node = _node(keys, state)

    def crash(apid: int, arguments: dict) -> None:
        raise KeyboardInterrupt("power cut")  # the process dies as the command starts

    node.handlers["NOOP"] = crash
    with pytest.raises(KeyboardInterrupt):
        node.on_uplink(_cltus(keys, 1)[0])
    restarted = _node(keys, state)
    assert restarted.receiver.farms[0].v_r == 1  # the CLCW says it arrived ...
    assert [a.name for a in restarted.resume()] == ["NOOP"]  # ... and so it runs, once
    assert restarted.resume() == []
    assert json.loads(state.read_text())["journal"] == []
