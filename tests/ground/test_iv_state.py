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
    sdls = Sdls(list(CONFIG.sdls.associations), keys)
    IvReservations(state).attach(sdls)
    return sdls


def _iv(sdls: Sdls) -> int:
    return int.from_bytes(sdls.apply(TcFrame(42, 0, FrameType.AD, 0, b"x")).data[2:14], "big")


def test_a_restarted_ground_starts_past_every_iv_it_may_have_used(tmp_path: Path) -> None:
    keys = new_key_file(tmp_path / "keys.json")
    state = iv_state_path(tmp_path / "keys.json")
    first = _ground(keys, state)
    used = [_iv(first) for _ in range(10)]
    assert used == list(range(1, 11))
    second = _ground(keys, state)  # killed and restarted
    assert _iv(second) > max(used)
    for _ in range(IV_BLOCK + 5):  # crossing a block boundary reserves the next block first
        last = _iv(second)
    third = _ground(keys, state)
    assert _iv(third) > last


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
    _ground(KeyRing.load(path), iv_state_path(path))
