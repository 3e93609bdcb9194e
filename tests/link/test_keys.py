"""SDLS key files: generation, atomic 0600 save, load, and every kind of bad file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from flight.link.errors import ConfigError
from flight.link.keys import KEY_LEN, KeyRing


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generate():
    ring = KeyRing.generate(["b", "a", "c"])
    assert ring.ids() == ["a", "b", "c"]
    keys = [ring.get(k) for k in ring.ids()]
    assert all(len(k) == KEY_LEN == 32 for k in keys)
    assert len(set(keys)) == 3
    assert KeyRing.generate(["a"]).get("a") != ring.get("a")


def test_save_load_round_trip(tmp_path):
    ring = KeyRing.generate(["uplink", "downlink"])
    path = tmp_path / "keys.json"
    ring.save(path)
    loaded = KeyRing.load(path)
    assert loaded.ids() == ring.ids()
    for key_id in ring.ids():
        assert loaded.get(key_id) == ring.get(key_id)
    doc = json.loads(path.read_text())
    assert doc == {"keys": {k: ring.get(k).hex() for k in ring.ids()}}
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temporary file left behind
    KeyRing.load(str(path))  # str paths work too


def test_saved_file_is_0600_even_with_a_permissive_umask(tmp_path):
    path = tmp_path / "keys.json"
    old = os.umask(0)
    try:
        KeyRing.generate(["a"]).save(path)
    finally:
        os.umask(old)
    assert mode(path) == 0o600


def test_overwriting_a_world_readable_file_leaves_0600(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("{}")
    path.chmod(0o644)
    KeyRing.generate(["a"]).save(path)
    assert mode(path) == 0o600
    assert KeyRing.load(path).ids() == ["a"]


def test_stale_temporary_file_does_not_leak_its_mode(tmp_path):
    path = tmp_path / "keys.json"
    stale = tmp_path / f".keys.json.{os.getpid()}.tmp"  # the temporary name this process would use
    stale.write_text("")
    stale.chmod(0o644)
    KeyRing.generate(["a"]).save(path)
    assert mode(path) == 0o600
    assert not stale.exists()


@pytest.mark.parametrize("content", [
    b"",
    b"not json",
    b"{\"keys\": ",
    b"\xff\xfe\x00garbage",  # not UTF-8
    b"[]",
    b"null",
    b"{}",
    b"{\"keys\": []}",
    b"{\"keys\": \"00\"}",
    b"{\"keys\": {\"a\": \"zz\"}}",
    b"{\"keys\": {\"a\": 42}}",
    b"{\"keys\": {\"a\": null}}",
    b"{\"keys\": {\"a\": [1, 2]}}",
    b"{\"keys\": {\"a\": \"00\"}}",  # one octet, not 32
    ("{\"keys\": {\"a\": \"" + "00" * 33 + "\"}}").encode(),
    ("{\"keys\": {\"a\": \"" + "0" * 63 + "\"}}").encode(),  # odd number of hex digits
])
def test_bad_files_raise_config_error(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        KeyRing.load(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError):
        KeyRing.load(tmp_path / "absent.json")
    with pytest.raises(ConfigError):
        KeyRing.load(tmp_path)


def test_empty_key_table_is_allowed_but_lookups_fail(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text('{"keys": {}}')
    ring = KeyRing.load(path)
    assert ring.ids() == []
    with pytest.raises(ConfigError):
        ring.get("a")


def test_constructor_checks_key_length():
    with pytest.raises(ConfigError):
        KeyRing({"a": bytes(16)})
    assert KeyRing({"a": bytes(32)}).get("a") == bytes(32)


def test_uppercase_hex_loads(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {"a": "AB" * 32}}))
    assert KeyRing.load(path).get("a") == b"\xab" * 32
