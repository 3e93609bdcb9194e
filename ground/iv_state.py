"""The ground's AES-GCM counters on stable storage: no IV is ever used twice with a key.

IVs (and SDLS sequence numbers) are reserved in blocks: the end of a block is written (atomically,
fsynced) before its first value is used, and a restarted ground station starts after the last
reserved block. The state file is written with the keys (``ground keygen``) and names each key by a
fingerprint: a key file without its state, or with another key's state, is refused, because nothing
would then say which IVs the key has already used. One ground session at a time holds the file
(an exclusive lock), since two senders counting on their own would reuse IVs.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from flight.atomic_file import read_json, write_json_atomic
from flight.link.errors import StorageError
from flight.link.keys import KeyRing
from flight.link.sdls import Sdls, key_check

FORMAT = "zenith-ground-iv-state"
SEQUENCES = ("ad", "bd")


def iv_state_path(keys_path: Path) -> Path:
    """Where the IV state of a key file lives: beside it."""
    return keys_path.with_name(f"{keys_path.stem}.iv-state.json")


def _fresh_entry(key: bytes) -> dict[str, Any]:
    return {"key_check": key_check(key), **{name: {"next_iv": 1, "next_sn": 1} for name in SEQUENCES}}


def new_key_file(path: Path, key_ids: tuple[str, ...] = ("tc-0",)) -> KeyRing:
    """Generate keys and write them (mode 0600), then their IV state.

    Keys first: a crash in between leaves new keys whose fingerprints the old state does not match,
    which is refused; the other order could leave an old key with a fresh state, and reuse its IVs.
    """
    keys = KeyRing.generate(list(key_ids))
    keys.save(path)
    write_json_atomic(iv_state_path(path), {"format": FORMAT,
                                            "keys": {k: _fresh_entry(keys.get(k)) for k in keys.ids()}}, mode=0o600)
    return keys


class IvReservations:
    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise StorageError(f"no IV state at {path}: it is written with the keys (ground keygen); using a key "
                               "without it could repeat AES-GCM nonces")
        self.path = path
        self._lock = self._take_lock(path)
        try:
            doc = read_json(path)
            if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("keys"), dict):
                raise StorageError(f"{path} is not a ground IV state file")
        except StorageError:
            self.close()
            raise
        self._keys: dict[str, dict[str, Any]] = doc["keys"]
        self._key_of_spi: dict[int, str] = {}

    @staticmethod
    def _take_lock(path: Path) -> int:
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(f"{path} is in use by another ground session: two senders would reuse IVs") from None
        return fd

    def attach(self, sdls: Sdls) -> None:
        """Start ``sdls`` past every value reserved before, and make it reserve through this file."""
        saved = {}
        for sa in sdls.associations:
            entry = self._keys.get(sa.key_id)
            if not isinstance(entry, dict) or entry.get("key_check") != sdls.fingerprint(sa.spi):
                raise StorageError(f"{self.path} holds no IV state for key {sa.key_id!r} as it is now: "
                                   "keep each key file with the state written with it")
            try:
                saved[str(sa.spi)] = {"key_check": entry["key_check"],
                                      **{name: {"next_iv": int(entry[name]["next_iv"]),
                                                "next_sn": int(entry[name]["next_sn"]), "highest": -1}
                                         for name in SEQUENCES}}
            except (KeyError, TypeError, ValueError) as exc:
                raise StorageError(f"{self.path} is not a ground IV state file ({exc})") from None
            self._key_of_spi[sa.spi] = sa.key_id
        sdls.load_state(saved)
        sdls.on_reserve = self._reserve

    def _reserve(self, spi: int, expedited: bool, iv_limit: int, sn_limit: int) -> None:
        entry = self._keys[self._key_of_spi[spi]]
        entry[SEQUENCES[expedited]] = {"next_iv": iv_limit, "next_sn": sn_limit}
        write_json_atomic(self.path, {"format": FORMAT, "keys": self._keys}, mode=0o600)

    def close(self) -> None:
        if self._lock >= 0:
            os.close(self._lock)  # releases the lock
            self._lock = -1
