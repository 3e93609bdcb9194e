"""Link configuration (TOML): defaults, every table, path-naming ConfigErrors, and build_sdls."""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.config import (
    DEFAULT_ASSOCIATION,
    FopSettings,
    LinkConfig,
    SdlsSettings,
    TcChannel,
    TcSettings,
    TmSettings,
    build_sdls,
    from_table,
    load_link_config,
)
from flight.link.errors import ConfigError
from flight.link.keys import KeyRing
from flight.link.sdls import Sdls, SecurityAssociation, ServiceType
from flight.link.uplink_receiver import UplinkReceiver

FULL = """
spacecraft_id = 77
keys_file = "keys/zenith-keys.json"

[tc]
cltu = false
randomize = false
correct_errors = false
[[tc.channels]]
vcid = 0
farm_window = 20
farm_buffer = 8
[[tc.channels]]
vcid = 3
segmented = true
farm_window = 14

[fop]
vcid = 3
window = 7
t1 = 2
transmission_limit = 3
timeout_type = 1

[tm]
frame_length = 512
fecf = false
ocf = true

[[sdls.associations]]
spi = 1
key_id = "tc-0"
virtual_channel_ids = [0]

[[sdls.associations]]
spi = 9
key_id = "tc-3"
virtual_channel_ids = [3]
service = "authentication"
iv_len = 12
transmitted_iv_len = 12
sn_len = 4
transmitted_sn_len = 2
mac_len = 8
abm = "ffff00ff"
replay_window = 128
"""


def write(tmp_path: Path, text: str, name: str = "link.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults() -> None:
    config = LinkConfig()
    assert config.spacecraft_id == 42
    assert config.keys_file == "" and config.keys_path() is None
    assert config.sdls.associations == (DEFAULT_ASSOCIATION,)
    (sa,) = config.sdls.associations
    assert (sa.spi, sa.key_id, sa.virtual_channel_ids) == (1, "tc-0", (0,))
    assert sa.service is ServiceType.AUTHENTICATED_ENCRYPTION
    assert config.tc.channels == (TcChannel(vcid=0),)
    assert config.tc.cltu and config.tc.randomize and config.tc.correct_errors
    assert config.fop.vcid == 0
    assert config.channel(0) == TcChannel() and config.channel(1) is None
    assert config.tm == TmSettings()


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_link_config(write(tmp_path, "")) == LinkConfig()


def test_every_table(tmp_path: Path) -> None:
    config = load_link_config(write(tmp_path, FULL))
    assert config.spacecraft_id == 77
    assert config.keys_file == str(tmp_path / "keys" / "zenith-keys.json")  # relative to the config file
    assert config.tc == TcSettings(cltu=False, randomize=False, correct_errors=False, channels=(
        TcChannel(vcid=0, farm_window=20, farm_buffer=8), TcChannel(vcid=3, segmented=True, farm_window=14)))
    assert config.fop == FopSettings(vcid=3, window=7, t1=2.0, transmission_limit=3, timeout_type=1)
    assert isinstance(config.fop.t1, float)
    assert config.tm == TmSettings(frame_length=512, fecf=False, ocf=True)
    first, second = config.sdls.associations
    assert first == SecurityAssociation(1, "tc-0", (0,))
    assert second == SecurityAssociation(9, "tc-3", (3,), ServiceType.AUTHENTICATION, 12, 12, 4, 2, 8,
                                         bytes.fromhex("ffff00ff"), 128)
    assert config.channel(3).segmented  # type: ignore[union-attr]


def test_absolute_keys_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "k.json"
    config = load_link_config(write(tmp_path, f'keys_file = "{target}"\n'))
    assert config.keys_file == str(target)
    assert config.keys_path(Path("/ignored")) == target


def test_keys_path_relative() -> None:
    config = LinkConfig(keys_file="k.json")
    assert config.keys_path() == Path("k.json")
    assert config.keys_path(Path("/etc/zenith")) == Path("/etc/zenith/k.json")


def test_no_associations(tmp_path: Path) -> None:
    config = load_link_config(write(tmp_path, "[sdls]\nassociations = []\n"))
    assert config.sdls == SdlsSettings(())
    assert build_sdls(config) is None


ERRORS = [
    ("colour = 1", "colour: unknown key"),
    ("spacecraft_id = '42'", "spacecraft_id: expected int, got str"),
    ("spacecraft_id = true", "spacecraft_id: expected int, got bool"),
    ("spacecraft_id = 4.2", "spacecraft_id: expected int, got float"),
    ("keys_file = 3", "keys_file: expected str, got int"),
    ("tc = 1", "tc: expected a table"),
    ("[tc]\ncltu = 1", "tc.cltu: expected bool, got int"),
    ("[tc]\nfec = true", "tc.fec: unknown key"),
    ("[tc]\nchannels = 5", "tc.channels: expected an array"),
    ("[tc]\nchannels = [1]", "tc.channels[0]: expected a table"),
    ("[[tc.channels]]\nvcid = 0\n[[tc.channels]]\nvcid = 'one'", "tc.channels[1].vcid: expected int, got str"),
    ("[[tc.channels]]\nmap = 1", "tc.channels[0].map: unknown key"),
    ("[[tc.channels]]\nsegmented = 'yes'", "tc.channels[0].segmented: expected bool"),
    ("[fop]\nt1 = '1s'", "fop.t1: expected float, got str"),
    ("[fop]\nt1 = true", "fop.t1: expected float, got bool"),
    ("[fop]\nwindow = 1.5", "fop.window: expected int, got float"),
    ("[fop]\nt2 = 1", "fop.t2: unknown key"),
    ("[tm]\nframe_length = '1115'", "tm.frame_length: expected int"),
    ("[tm]\nframe_length = 2024-01-01", "tm.frame_length: expected int, got date"),
    ("[tm]\nocf = [true]", "tm.ocf: expected bool, got list"),
    ("[sdls]\nkeys = 1", "sdls.keys: unknown key"),
    ("[sdls]\nassociations = {}", "sdls.associations: expected an array"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nservice = 'encryption'",
     "sdls.associations[0].service: one of authentication, authenticated_encryption"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nservice = 1", "sdls.associations[0].service: one of"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nabm = 'xyz'", "sdls.associations[0].abm: 'xyz' is not hex"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nabm = 255", "sdls.associations[0].abm: expected hex string"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nvirtual_channel_ids = 0",
     "sdls.associations[0].virtual_channel_ids: expected an array"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nvirtual_channel_ids = ['0']",
     "sdls.associations[0].virtual_channel_ids[0]: expected int, got str"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nmac = 16", "sdls.associations[0].mac: unknown key"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 7", "sdls.associations[0].key_id: expected str"),
    # invalid SA parameters: the association's own checks, under the association's path
    ("[[sdls.associations]]\nspi = 70000\nkey_id = 'tc-0'", "sdls.associations[0]: security association 70000: spi"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nmac_len = 3", "sdls.associations[0]: security association 1: mac_len 3"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nmac_len = 17", "sdls.associations[0]: security association 1: mac_len 17"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\niv_len = 16", "sdls.associations[0]: security association 1: AES-GCM"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\ntransmitted_iv_len = 0",
     "sdls.associations[0]: security association 1: with no sequence number"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nsn_len = 4",
     "sdls.associations[0]: security association 1: a sequence number must be (partly) transmitted"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nsn_len = 9\ntransmitted_sn_len = 9",
     "sdls.associations[0]: security association 1: sn_len must be 0..8"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nsn_len = 4\ntransmitted_sn_len = 4\ntransmitted_iv_len = 8",
     "sdls.associations[0]: security association 1: an SA with a sequence number must transmit its whole IV"),
    ("[[sdls.associations]]\nspi = 1\nkey_id = 'tc-0'\nreplay_window = 0",
     "sdls.associations[0]: security association 1: replay_window"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_link_config(write(tmp_path, text))
    assert message in str(info.value)


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_link_config(write(tmp_path, "[tc\ncltu = true"))
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_link_config(write(tmp_path, "spacecraft_id = 1\nspacecraft_id = 2\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read link config"):
        load_link_config(tmp_path / "nope.toml")


def test_from_table_top_level_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="^config: expected a table"):
        from_table(LinkConfig, [], "")
    with pytest.raises(ConfigError, match="^tc: expected a table"):
        from_table(TcSettings, "x", "tc")


def test_build_sdls_with_a_generated_key_file(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    KeyRing.generate(["tc-0", "tc-3"]).save(tmp_path / "keys" / "zenith-keys.json")
    assert os.stat(tmp_path / "keys" / "zenith-keys.json").st_mode & 0o777 == 0o600
    config = load_link_config(write(tmp_path, FULL))
    sdls = build_sdls(config)
    assert isinstance(sdls, Sdls)
    assert sdls.protects(0) and sdls.protects(3) and not sdls.protects(1)


def test_build_sdls_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keys_file is not set"):
        build_sdls(LinkConfig())
    with pytest.raises(ConfigError, match="cannot read key file"):
        build_sdls(LinkConfig(keys_file=str(tmp_path / "absent.json")))
    KeyRing.generate(["other"]).save(tmp_path / "k.json")
    with pytest.raises(ConfigError, match="'tc-0' is not in the key file"):
        build_sdls(LinkConfig(keys_file=str(tmp_path / "k.json")))
    KeyRing.generate(["tc-0", "tc-1"]).save(tmp_path / "k.json")
    keys_file = str(tmp_path / "k.json")
    two = SdlsSettings((SecurityAssociation(1, "tc-0", (0,)), SecurityAssociation(1, "tc-1", (1,))))
    with pytest.raises(ConfigError, match="SPI 1 is defined twice"):
        build_sdls(LinkConfig(keys_file=keys_file, sdls=two))
    shared = SdlsSettings((SecurityAssociation(1, "tc-0", (0,)), SecurityAssociation(2, "tc-1", (0,))))
    with pytest.raises(ConfigError, match="virtual channel 0 has two security associations"):
        build_sdls(LinkConfig(keys_file=keys_file, sdls=shared))
    same_key = SdlsSettings((SecurityAssociation(1, "tc-0", (0,)), SecurityAssociation(2, "tc-0", (1,))))
    with pytest.raises(ConfigError, match="share key 'tc-0'"):  # AES-GCM nonces would repeat
        build_sdls(LinkConfig(keys_file=keys_file, sdls=same_key))


def test_config_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        LinkConfig().spacecraft_id = 1  # type: ignore[misc]


# --- bugs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["[[sdls.associations]]\nspi = 1", "[[sdls.associations]]\nkey_id = 'tc-0'",
                                  "[sdls]\nassociations = [{}]"])
def test_association_missing_required_key(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"sdls\.associations\[0\]"):
        load_link_config(write(tmp_path, text))


def test_invalid_farm_window_is_a_config_error(tmp_path: Path) -> None:
    """Refused when loaded or at the latest when the receiver is built: a ConfigError, never a bare ValueError."""
    with pytest.raises(ConfigError, match=r"tc.channels\[0\].*farm_window"):
        UplinkReceiver(load_link_config(write(tmp_path, "[[tc.channels]]\nvcid = 0\nfarm_window = 3\n")), None)


@pytest.mark.parametrize(("text", "message"), [
    ("[fop]\nwindow = 6", "exceeds half of FARM-1's window"),
    ("[fop]\nvcid = 4", "not one of tc.channels"),
    ("[fop]\nwindow = 0", "window"),
    ("[fop]\nt1 = -1", "t1"),
    ("[fop]\ntransmission_limit = 0", "transmission_limit"),
    ("[fop]\ntimeout_type = 2", "timeout_type"),
    ("[tc]\nchannels = []", "at least one"),
    ("[[tc.channels]]\nvcid = 0\n[[tc.channels]]\nvcid = 0", "distinct"),
    ("[tm]\nframe_length = 4", "frame_length"),
    ("spacecraft_id = 1024", "spacecraft_id"),
])
def test_managed_parameters_are_range_checked_at_load(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_link_config(write(tmp_path, text))


# --- property ----------------------------------------------------------------------------------------

TOML_SCALARS = (st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.text(max_size=8)
                | st.floats(allow_nan=False) | st.dates() | st.datetimes() | st.times()
                | st.sampled_from(["authentication", "authenticated_encryption", "00ff", "tc-0"]))
_FIELD_NAMES = sorted({f.name for cls in (LinkConfig, TcSettings, TcChannel, FopSettings, TmSettings, SdlsSettings)
                       for f in dataclasses.fields(cls)}
                      | {f.name for f in dataclasses.fields(SecurityAssociation)})
KEY = st.sampled_from(_FIELD_NAMES) | st.text(max_size=6)
TOML = st.recursive(TOML_SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(KEY, c, max_size=4),
                    max_leaves=20)
ASSOCIATION = st.fixed_dictionaries({}, optional={"spi": st.integers(-5, 70000) | TOML_SCALARS,
                                                 "key_id": st.text(max_size=4), **{k: TOML for k in _FIELD_NAMES}})
DOC = st.dictionaries(KEY, TOML, max_size=5) | st.fixed_dictionaries({}, optional={
    "spacecraft_id": TOML, "keys_file": TOML,
    "tc": st.fixed_dictionaries({}, optional={"cltu": TOML, "channels": st.lists(st.dictionaries(KEY, TOML))}),
    "fop": st.dictionaries(KEY, TOML), "tm": st.dictionaries(KEY, TOML),
    "sdls": st.fixed_dictionaries({}, optional={"associations": st.lists(ASSOCIATION, max_size=2)}),
})


@settings(max_examples=300, deadline=None)
@given(DOC)
def test_random_tables_raise_only_config_error(doc: dict[str, Any]) -> None:
    try:
        config = from_table(LinkConfig, doc, "")
    except ConfigError:
        return
    assert isinstance(config, LinkConfig)
    assert isinstance(config.tc.channels, tuple)
    assert all(isinstance(sa, SecurityAssociation) for sa in config.sdls.associations)
    assert not isinstance(config.spacecraft_id, bool | datetime.date)
