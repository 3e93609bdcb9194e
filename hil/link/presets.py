"""Named fault presets of the link emulator, as ``hil link`` options: what ``--faults`` picks."""

from __future__ import annotations

from flight.link.errors import ConfigError
from hil.link.faults import fault_settings, parse_setting

FAULT_PRESETS: dict[str, dict[str, str]] = {
    "none": {},
    # A typical pass: frames lost, doubled and reordered, a little delay; bit errors the CLTU corrects.
    "lossy": {"loss": "0.1", "duplicate": "0.05", "reorder": "0.1", "delay": "0.02", "jitter": "0.01",
              "up-ber": "1e-4"},
    # The same, plus a loss of signal every 30 s for 8 s.
    "passes": {"loss": "0.1", "duplicate": "0.05", "reorder": "0.1", "delay": "0.02", "jitter": "0.01",
               "pass-period": "30", "pass-duration": "22", "pass-offset": "0"},
    "harsh": {"loss": "0.2", "duplicate": "0.1", "reorder": "0.2", "delay": "0.05", "jitter": "0.03",
              "up-ber": "3e-4", "down-ber": "1e-5"},
}


def fault_options(preset: str, overrides: list[str]) -> dict[str, str]:
    """A preset's options with OPTION=VALUE overrides applied; ValueError names a bad one."""
    if preset not in FAULT_PRESETS:
        raise ValueError(f"unknown fault preset {preset!r} (one of {', '.join(FAULT_PRESETS)})")
    faults = dict(FAULT_PRESETS[preset])
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"fault override {item!r} is not OPTION=VALUE")
        name, value = name.strip().lstrip("-"), value.strip()
        setting = setting_of(name)
        if setting is None:
            raise ValueError(f"fault override {item!r}: `hil link` has no fault option --{name}")
        try:  # named now, rather than by a link emulator that fails to start
            parse_setting(setting, value)
        except ConfigError as exc:
            raise ValueError(f"fault override {item!r}: {exc}") from None
        faults[name] = value
    return faults


def setting_of(option: str) -> str | None:
    """The fault setting that a `hil link` option (``loss``, ``up-ber``, ``pass``...) sets."""
    flags = {("pass" if s.name == "passes" else s.name.replace("_", "-")): s.name for s in fault_settings()}
    for prefix in ("up-", "down-"):
        if option.startswith(prefix):
            option = option[len(prefix):]
            break
    return flags.get(option)
