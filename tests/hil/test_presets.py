"""Fault presets: each is a valid set of ``hil link`` options; overrides merge, and bad ones are named."""

from __future__ import annotations

import pytest

from hil.cli import build_parser, link_config
from hil.link.faults import FaultConfig
from hil.link.presets import FAULT_PRESETS, fault_options


def _as_link_options(faults: dict[str, str]) -> list[str]:
    return [a for name, value in faults.items() for a in (f"--{name}", value)]


@pytest.mark.parametrize("preset", sorted(FAULT_PRESETS))
def test_every_preset_is_accepted_by_hil_link(preset: str) -> None:
    args = build_parser().parse_args(["link", *_as_link_options(fault_options(preset, []))])
    config = link_config(args)
    if preset == "none":
        assert config.up == config.down == FaultConfig()
    else:
        assert config.up != FaultConfig() and config.down != FaultConfig()


def test_a_preset_is_returned_as_a_copy() -> None:
    faults = fault_options("lossy", [])
    assert faults == FAULT_PRESETS["lossy"]
    faults["loss"] = "0.9"
    assert FAULT_PRESETS["lossy"]["loss"] == "0.1"


def test_overrides_replace_and_add_options() -> None:
    faults = fault_options("lossy", ["loss=0.3", "--delay=0.5", " bandwidth = 9600 ", "down-loss=0", "pass=0:5"])
    assert faults == {**FAULT_PRESETS["lossy"], "loss": "0.3", "delay": "0.5", "bandwidth": "9600",
                      "down-loss": "0", "pass": "0:5"}
    assert fault_options("none", ["loss=0.2", "loss=0.4"]) == {"loss": "0.4"}  # the last one wins
    config = link_config(build_parser().parse_args(["link", *_as_link_options(faults)]))
    assert (config.up.loss, config.down.loss, config.up.passes) == (0.3, 0.0, ((0.0, 5.0),))


@pytest.mark.parametrize("option", ["up-ber=1e-5", "pass-period=30", "reorder-window=2", "queue-limit=8",
                                    "ge-p-good-to-bad=0.01", "down-pass=0:10,20:30"])
def test_every_kind_of_hil_link_fault_option_is_accepted(option: str) -> None:
    name, _, value = option.partition("=")
    assert fault_options("none", [option]) == {name: value}


@pytest.mark.parametrize(("preset", "overrides", "named"), [
    ("gentle", [], "unknown fault preset 'gentle'"),
    ("none", ["loss"], "'loss' is not OPTION=VALUE"),
    ("none", ["loss=much"], "loss = 'much' is not a probability"),
    ("none", ["nonsense=1"], "no fault option --nonsense"),
    ("none", ["pass_period=30"], "no fault option --pass_period"),  # hil link spells it --pass-period
    ("none", ["passes=0:5"], "no fault option --passes"),  # ... and --pass
    ("none", ["up-down-loss=0.1"], "no fault option --up-down-loss"),
    ("none", ["=0.1"], "no fault option --"),
    ("lossy", ["pass=soon"], "passes = 'soon'"),
    ("none", ["reorder-window=1.5"], "reorder_window"),
])
def test_bad_presets_and_overrides_are_named(preset: str, overrides: list[str], named: str) -> None:
    with pytest.raises(ValueError) as caught:
        fault_options(preset, overrides)
    assert named in str(caught.value)
