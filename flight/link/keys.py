"""SDLS key files: JSON data (never code), kept out of git, readable only by their owner.

Format: ``{"keys": {"<key id>": "<64 hex digits>", ...}}``, AES-256 keys. ``ground keygen`` writes
one; tests generate their own.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from flight.atomic_file import write_json_atomic
from flight.link.errors import ConfigError, StorageError

KEY_LEN = 32


class KeyRing:
    def __init__(self, keys: dict[str, bytes]) -> None:
        for key_id, key in keys.items():
            if len(key) != KEY_LEN:
                raise ConfigError(f"key {key_id!r} is {len(key)} octets, AES-256 needs {KEY_LEN}")
        self._keys = dict(keys)

    def get(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise ConfigError(f"key {key_id!r} is not in the key file") from None

    def ids(self) -> list[str]:
        return sorted(self._keys)

    @classmethod
    def generate(cls, key_ids: list[str]) -> KeyRing:
        return cls({key_id: secrets.token_bytes(KEY_LEN) for key_id in key_ids})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyRing:
        try:
            doc = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"key file {path} is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict):
            raise ConfigError(f"key file {path} must hold an object with a \"keys\" object")
        keys: dict[str, bytes] = {}
        for key_id, text in doc["keys"].items():
            try:
                keys[key_id] = bytes.fromhex(text)
            except (TypeError, ValueError):
                raise ConfigError(f"key {key_id!r} in {path} is not hex") from None
        return cls(keys)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically with mode 0600: a key file is never world-readable, never half-written."""
        try:
            write_json_atomic(path, {"keys": {k: v.hex() for k, v in self._keys.items()}}, mode=0o600)
        except StorageError as exc:
            raise ConfigError(f"key file: {exc}") from None
