"""The ground never reuses an AES-GCM nonce, across restarts too."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from flight.link.config import LinkConfig
from flight.link.errors import StorageError
from flight.link.keys import KeyRing
from flight.link.sdls import IV_BLOCK, Sdls
from flight.link.tcframe import FrameType, TcFrame
from ground.cli import main
from ground.iv_state import IvReservations, iv_state_path, new_key_file

CONFIG = LinkConfig()


def _ground(keys: KeyRing, state: Path) -> Sdls:
    """One ground session: it holds the IV state until it closes (here: until it is collected)."""
    sdls = Sdls(list(CONFIG.sdls.associations), keys)
    reservations = IvReservations(state)
    reservations.attach(sdls)
    sdls.session = reservations  # type: ignore[attr-defined]
    return sdls


def _end(sdls: Sdls) -> None:
    sdls.session.close()  # type: ignore[attr-defined]


def _iv(sdls: Sdls) -> int:
    return int.from_bytes(sdls.apply(TcFrame(42, 0, FrameType.AD, 0, b"x")).data[2:14], "big")


def test_a_restarted_ground_starts_past_every_iv_it_may_have_used(tmp_path: Path) -> None:
    keys = new_key_file(tmp_path / "keys.json")
    state = iv_state_path(tmp_path / "keys.json")
    first = _ground(keys, state)
    used = [_iv(first) for _ in range(10)]
    assert used == list(range(1, 11))
    _end(first)  # killed: the lock goes with the process, the reservation stays on disk
    second = _ground(keys, state)
    assert _iv(second) > max(used)
    for _ in range(IV_BLOCK + 5):  # crossing a block boundary reserves the next block first
        last = _iv(second)
    _end(second)
    third = _ground(keys, state)
    assert last < _iv(third) <= last + IV_BLOCK + 1  # past all it used, well inside the flight's window
    _end(third)


def test_two_ground_sessions_cannot_share_the_keys(tmp_path: Path) -> None:
    keys = new_key_file(tmp_path / "keys.json")
    first = _ground(keys, iv_state_path(tmp_path / "keys.json"))
    with pytest.raises(StorageError, match="in use by another ground session"):
        _ground(keys, iv_state_path(tmp_path / "keys.json"))
    _end(first)


def test_a_key_file_with_another_keys_state_is_refused(tmp_path: Path) -> None:
    new_key_file(tmp_path / "keys.json")
    other = KeyRing.generate(["tc-0"])  # e.g. keygen died after writing new keys, before their state
    with pytest.raises(StorageError, match="no IV state for key"):
        _ground(other, iv_state_path(tmp_path / "keys.json"))


def test_keys_without_their_iv_state_are_refused(tmp_path: Path) -> None:
    keys = KeyRing.generate(["tc-0"])
    with pytest.raises(StorageError, match="no IV state"):
        _ground(keys, tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"format": "x"}')
    with pytest.raises(StorageError, match="not a ground IV state file"):
        _ground(keys, tmp_path / "bad.json")


def test_keygen_writes_the_keys_and_their_iv_state_private(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "zenith-keys.json"
    assert main(["keygen", str(path)]) == 0
    for written in (path, iv_state_path(path)):
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
    _end(_ground(KeyRing.load(path), iv_state_path(path)))


def test_the_payload_accepts_a_restarted_grounds_first_frames(tmp_path: Path) -> None:
    """After a restart the ground skips what was left of its reserved block: still inside the window."""
    keys = new_key_file(tmp_path / "keys.json")
    state = iv_state_path(tmp_path / "keys.json")
    flight = Sdls(list(CONFIG.sdls.associations), keys)
    for frame_type in (FrameType.AD, FrameType.BD):
        ground = _ground(keys, state)
        for _ in range(3):
            raw = ground.apply(TcFrame(42, 0, frame_type, 0, b"x")).pack()
            flight.commit(flight.process(TcFrame.unpack(raw)))
        _end(ground)
        restarted = _ground(keys, state)
        raw = restarted.apply(TcFrame(42, 0, frame_type, 0, b"y")).pack()
        assert flight.process(TcFrame.unpack(raw)).frame.data == b"y"
        _end(restarted)
