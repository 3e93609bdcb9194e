"""The ground's AES-GCM counters on stable storage: no IV is ever used twice with a key.

IVs are reserved in blocks: the end of a block is written (atomically, fsynced) before its first IV is
used, and a restarted ground station starts after the last reserved block. The state file is created
with the keys (``ground keygen``); a key file without it is refused, because nothing would then say
which IVs the key has already used.
"""

from __future__ import annotations

from pathlib import Path

from flight.atomic_file import read_json, write_json_atomic
from flight.link.errors import StorageError
from flight.link.keys import KeyRing
from flight.link.sdls import Sdls

FORMAT = "zenith-ground-iv-state"


def iv_state_path(keys_path: Path) -> Path:
    """Where the IV state of a key file lives: beside it."""
    return keys_path.with_name(f"{keys_path.stem}.iv-state.json")


class IvReservations:
    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise StorageError(f"no IV state at {path}: it is created with the keys (ground keygen); using a key "
                               "without it could repeat AES-GCM nonces")
        doc = read_json(path)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("reserved"), dict):
            raise StorageError(f"{path} is not a ground IV state file")
        self.path = path
        self._reserved: dict[str, dict[str, int]] = doc["reserved"]

    @staticmethod
    def create(path: Path) -> None:
        """The IV state of brand-new keys: nothing used yet."""
        write_json_atomic(path, {"format": FORMAT, "reserved": {}}, mode=0o600)

    def attach(self, sdls: Sdls) -> None:
        """Start ``sdls`` past every IV reserved before, and make it reserve through this file."""
        try:
            sdls.load_state({spi: {"next_iv": r["next_iv"], "next_sn": r["next_sn"], "highest_ad": -1,
                                   "highest_bd": -1} for spi, r in self._reserved.items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"{self.path} is not a ground IV state file ({exc})") from None
        sdls.on_reserve = self._reserve

    def _reserve(self, spi: int, iv_limit: int, sn_limit: int) -> None:
        self._reserved[str(spi)] = {"next_iv": iv_limit, "next_sn": sn_limit}
        write_json_atomic(self.path, {"format": FORMAT, "reserved": self._reserved}, mode=0o600)


def new_key_file(path: Path, key_ids: tuple[str, ...] = ("tc-0",)) -> KeyRing:
    """Generate keys and write them (mode 0600) together with their empty IV state."""
    keys = KeyRing.generate(list(key_ids))
    IvReservations.create(iv_state_path(path))
    keys.save(path)
    return keys
