"""The link fault models: exact semantics on small cases, statistics on large ones, properties on all."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.link.errors import ConfigError
from hil.link.faults import (
    Channel,
    Delivery,
    Fate,
    FaultConfig,
    PassSchedule,
    fault_settings,
    flip_bits,
    parse_setting,
    parse_windows,
)


def frames(count: int, size: int = 100) -> list[bytes]:
    """Distinct frames: a big-endian index, padded."""
    return [i.to_bytes(4, "big") + bytes(size - 4) for i in range(count)]


def run(channel: Channel, inputs: list[bytes], spacing: float = 0.001) -> list[Delivery]:
    """Every delivery for frames arriving ``spacing`` apart, then everything still held."""
    out: list[Delivery] = []
    for i, frame in enumerate(inputs):
        out += channel.process(frame, i * spacing)
    out += channel.drain(len(inputs) * spacing)
    return out


def count(deliveries: list[Delivery], fate: Fate) -> int:
    return sum(d.fate is fate for d in deliveries)


def bit_errors(a: bytes, b: bytes) -> int:
    return sum((x ^ y).bit_count() for x, y in zip(a, b, strict=True))


# ---- configuration


def test_defaults_are_no_faults() -> None:
    channel = Channel(FaultConfig())
    out = run(channel, frames(50))
    assert [d.frame for d in out] == frames(50)
    assert all(d.fate is Fate.DELIVERED and d.at == i * 0.001 for i, d in enumerate(out))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"loss": 1.5}, "loss"),
        ({"ber": -0.1}, "ber"),
        ({"duplicate": math.nan}, "duplicate"),
        ({"delay": math.inf}, "delay"),
        ({"jitter": "1"}, "jitter"),
        ({"reorder_window": 0}, "reorder_window"),
        ({"reorder_window": 2.5}, "reorder_window"),
        ({"reorder_max_hold": 0.0}, "reorder_max_hold"),
        ({"queue_limit": True}, "queue_limit"),
        ({"passes": [(5, 1)]}, "passes[0]"),
        ({"passes": "0-60"}, "passes"),
        ({"pass_period": 10, "pass_duration": 11}, "pass_duration"),
        ({"pass_duration": 5}, "pass_duration"),
        ({"passes": [(0, 1)], "pass_period": 10, "pass_duration": 1}, "passes"),
        ({"bandwidth": 10**400}, "bandwidth"),
    ],
)
def test_bad_settings_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace("[", r"\[")):
        FaultConfig(**changes)  # type: ignore[arg-type]


def test_values_are_normalised() -> None:
    config = FaultConfig.from_mapping({"loss": 0, "passes": [[0, 60], [90, 150]], "delay": 1})
    assert config.loss == 0.0 and isinstance(config.delay, float)
    assert config.passes == ((0.0, 60.0), (90.0, 150.0))
    assert FaultConfig(passes="0:60, 90:150", delay=1.0) == config  # type: ignore[arg-type]


def test_unknown_settings_are_rejected() -> None:
    with pytest.raises(ConfigError, match="lost"):
        FaultConfig.from_mapping({"lost": 0.1})


def test_parse_setting_reads_command_line_text() -> None:
    assert parse_setting("loss", "0.25") == 0.25
    assert parse_setting("queue_limit", "7") == 7
    assert parse_setting("passes", "0:1,2:3") == ((0.0, 1.0), (2.0, 3.0))
    for name, text in (("loss", "lots"), ("queue_limit", "1.5"), ("passes", "0:x"), ("nope", "1")):
        with pytest.raises(ConfigError, match=name):
            parse_setting(name, text)


def test_every_setting_has_help() -> None:
    names = [s.name for s in fault_settings()]
    assert names == [f.name for f in dataclasses.fields(FaultConfig)]
    assert all(s.help and s.metavar for s in fault_settings())


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.one_of(st.floats(), st.integers(), st.lists(st.floats(), max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([f.name for f in dataclasses.fields(FaultConfig)]), junk, max_size=4))
def test_arbitrary_values_make_a_config_or_a_config_error(values: dict[str, object]) -> None:
    try:
        config = FaultConfig.from_mapping(values)
    except ConfigError:
        return
    Channel(config, seed=1).process(b"\x00" * 8, 0.0)  # and a valid config is usable


@given(st.text(max_size=30))
def test_window_text_parses_or_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_windows(text)


# ---- determinism


fault_configs = st.builds(
    FaultConfig,
    ber=st.sampled_from([0.0, 0.001, 0.01]),
    ge_p_good_to_bad=st.sampled_from([0.0, 0.1]),
    ge_p_bad_to_good=st.sampled_from([0.0, 0.3]),
    ge_ber_bad=st.sampled_from([0.0, 0.05]),
    loss=st.floats(0, 1),
    duplicate=st.floats(0, 1),
    reorder=st.floats(0, 1),
    reorder_window=st.integers(1, 5),
    reorder_max_hold=st.sampled_from([0.005, 1.0]),
    jitter=st.sampled_from([0.0, 0.01]),
    bandwidth=st.sampled_from([0.0, 1e5]),
    queue_limit=st.integers(0, 4),
)


@settings(max_examples=60, deadline=None)
@given(fault_configs, st.integers(0, 2**32), st.lists(st.binary(min_size=0, max_size=40), max_size=40))
def test_same_seed_same_outcome(config: FaultConfig, seed: int, inputs: list[bytes]) -> None:
    assert run(Channel(config, seed), inputs) == run(Channel(config, seed), inputs)


@settings(max_examples=60, deadline=None)
@given(fault_configs, st.integers(0, 2**32), st.integers(0, 60))
def test_counters_add_up(config: FaultConfig, seed: int, n: int) -> None:
    channel = Channel(config, seed)
    out = []
    for i, frame in enumerate(frames(n, 20)):
        out += channel.process(frame, i * 0.002)
    c = channel.counters
    fates = c["delivered"] + c["corrupted"] + c["delayed"]
    assert c["frames_in"] == n == fates + c["dropped"] + channel.held
    assert (
        c["dropped"]
        == c["dropped_loss"] + c["dropped_queue"] + c["dropped_link_down"]
        == count(out, Fate.DROPPED)
    )
    assert c["forwarded"] == fates + c["duplicated"] == sum(d.forwarded for d in out)
    for fate in Fate:
        if fate is not Fate.DROPPED:
            assert c[fate.value] == count(out, fate)


def test_different_seeds_differ() -> None:
    config = FaultConfig(loss=0.5)
    assert run(Channel(config, 1), frames(200)) != run(Channel(config, 2), frames(200))


def test_each_fault_draws_from_its_own_stream() -> None:
    """Switching duplication on must not change which frames are lost."""

    def lost(config: FaultConfig) -> set[bytes]:
        return {d.frame for d in run(Channel(config, 7), frames(500)) if d.fate is Fate.DROPPED}

    assert lost(FaultConfig(loss=0.3)) == lost(FaultConfig(loss=0.3, duplicate=0.5, jitter=0.01))


# ---- statistics: tolerances are several standard deviations wide


def test_loss_rate() -> None:
    channel = Channel(FaultConfig(loss=0.1), seed=3)
    out = run(channel, frames(20000, 8))
    assert abs(count(out, Fate.DROPPED) / 20000 - 0.1) < 0.01
    assert channel.counters["dropped_loss"] == count(out, Fate.DROPPED)


def test_bit_error_rate() -> None:
    ber, n, size = 1e-3, 2000, 100
    inputs = frames(n, size)
    channel = Channel(FaultConfig(ber=ber), seed=4)
    out = run(channel, inputs)
    flipped = sum(bit_errors(d.frame, f) for d, f in zip(out, inputs, strict=True))
    expected = ber * n * size * 8  # 1600, sigma 40
    assert abs(flipped - expected) < 0.1 * expected
    assert channel.counters["bits_flipped"] == flipped
    assert count(out, Fate.CORRUPTED) == sum(d.frame != f for d, f in zip(out, inputs, strict=True))


def test_flip_bits_edges() -> None:
    rng = random.Random(0)
    assert flip_bits(b"\x0f\xf0", 0.0, rng) == (b"\x0f\xf0", 0)
    assert flip_bits(b"\x0f\xf0", 1.0, rng) == (b"\xf0\x0f", 16)
    assert flip_bits(b"", 0.5, rng) == (b"", 0)
    assert flip_bits(b"\x00" * 100, 5e-324, rng) == (b"\x00" * 100, 0)


@given(st.binary(max_size=64), st.floats(0, 1), st.integers(0, 1000))
def test_flip_bits_reports_its_flips(data: bytes, ber: float, seed: int) -> None:
    out, flips = flip_bits(data, ber, random.Random(seed))
    assert len(out) == len(data) and bit_errors(out, data) == flips


def corrupted_sequence(config: FaultConfig, n: int = 20000) -> list[bool]:
    return [d.fate is Fate.CORRUPTED for d in run(Channel(config, seed=5), frames(n, 100))]


def clustering(hits: list[bool]) -> float:
    """P(next frame corrupted | this one is) / P(corrupted): 1 for independent errors, > 1 for bursts."""
    p = sum(hits) / len(hits)
    follows = sum(a and b for a, b in zip(hits, hits[1:], strict=False)) / max(1, sum(hits[:-1]))
    return follows / p


def test_gilbert_elliott_errors_come_in_bursts() -> None:
    p_gb, p_bg, ber_bad = 0.01, 0.1, 0.01
    burst = FaultConfig(ge_p_good_to_bad=p_gb, ge_p_bad_to_good=p_bg, ge_ber_bad=ber_bad)
    mean_ber = ber_bad * p_gb / (p_gb + p_bg)  # the bad state's share of frames in the long run
    ge_hits = corrupted_sequence(burst)
    flat_hits = corrupted_sequence(FaultConfig(ber=mean_ber))
    assert clustering(ge_hits) > 4
    assert 0.9 < clustering(flat_hits) < 1.1
    channel = Channel(burst, seed=5)
    run(channel, frames(20000, 100))
    assert abs(channel.counters["ge_bad_frames"] / 20000 - p_gb / (p_gb + p_bg)) < 0.03
    assert abs(channel.counters["bits_flipped"] / (20000 * 800) - mean_ber) < 0.25 * mean_ber


def test_duplication() -> None:
    out = run(Channel(FaultConfig(duplicate=0.2), seed=6), frames(10000, 8))
    copies = [d for d in out if d.fate is Fate.DUPLICATED]
    assert abs(len(copies) / 10000 - 0.2) < 0.02
    for i, d in enumerate(out[1:], start=1):
        if d.fate is Fate.DUPLICATED:  # right behind its original, identical, at the same time
            assert out[i - 1].frame == d.frame and out[i - 1].at == d.at


# ---- reordering


def arrival_index(frame: bytes) -> int:
    return int.from_bytes(frame[:4], "big")


def test_reordering_holds_frames_behind_later_ones() -> None:
    n = 5000
    channel = Channel(FaultConfig(reorder=0.1, reorder_window=3), seed=8)
    out = run(channel, frames(n, 8), spacing=0.0001)
    assert sorted(arrival_index(d.frame) for d in out) == list(range(n))  # each exactly once
    assert abs(channel.counters["reordered"] / n - 0.1) < 0.015
    assert count(out, Fate.DELAYED) == channel.counters["reordered"]
    # sorted() is stable, so frames due at the same instant keep the order the channel gave them.
    order = [arrival_index(d.frame) for d in sorted(out, key=lambda d: d.at)]
    overtaken = sum(a > b for a, b in zip(order, order[1:], strict=False))
    assert overtaken > 0.05 * n


@settings(max_examples=80, deadline=None)
@given(
    st.floats(0.01, 1),
    st.integers(1, 6),
    st.floats(0.001, 0.5),
    st.lists(st.floats(0, 0.3), min_size=1, max_size=50),
    st.integers(0, 1000),
)
def test_reorder_never_holds_a_frame_forever(
    reorder: float, window: int, max_hold: float, gaps: list[float], seed: int
) -> None:
    channel = Channel(FaultConfig(reorder=reorder, reorder_window=window, reorder_max_hold=max_hold), seed)
    arrived: dict[int, float] = {}
    released: dict[int, float] = {}
    now = 0.0
    for i, gap in enumerate(gaps):
        now += gap
        arrived[i] = now
        for d in channel.process(i.to_bytes(4, "big"), now):
            released[arrival_index(d.frame)] = d.at
        # A frame comes out after at most `window` later frames...
        assert all(j in released for j in arrived if j < i - window + 1)
    # ... or once its hold time has passed, at the latest by the next flush.
    for d in channel.flush(now + max_hold):
        released[arrival_index(d.frame)] = d.at
    assert channel.held == 0 and channel.next_release() is None
    assert released.keys() == arrived.keys()


def test_held_frame_released_by_time() -> None:
    channel = Channel(FaultConfig(reorder=1.0, reorder_window=5, reorder_max_hold=0.5), seed=1)
    assert channel.process(b"a", 0.0) == []
    assert channel.next_release() == 0.5
    assert channel.flush(0.4) == []
    assert channel.flush(0.6) == [Delivery(0.6, b"a", Fate.DELAYED)]
    assert channel.counters["reorder_timeouts"] == 1


# ---- delay, bandwidth and queueing


def test_delay_and_jitter_bounds() -> None:
    out = run(Channel(FaultConfig(delay=0.2, jitter=0.05), seed=2), frames(2000, 8), spacing=0.0)
    assert all(0.2 <= d.at <= 0.25 for d in out)
    assert max(d.at for d in out) - min(d.at for d in out) > 0.04  # jitter spreads them


def test_frames_serialize_at_the_link_rate() -> None:
    channel = Channel(FaultConfig(bandwidth=80_000, delay=0.01), seed=1)  # 1000 bytes = 0.1 s on air
    out = [d for i in range(5) for d in channel.process(bytes(1000), 0.0)]
    assert [d.at for d in out] == pytest.approx([0.11, 0.21, 0.31, 0.41, 0.51])
    assert channel.counters["queued"] == 4


def test_full_queue_drops() -> None:
    channel = Channel(FaultConfig(bandwidth=80_000, queue_limit=3), seed=1)
    out = [d for _ in range(5) for d in channel.process(bytes(1000), 0.0)]
    assert [d.fate for d in out] == [Fate.DELIVERED] * 3 + [Fate.DROPPED] * 2
    assert channel.counters["dropped_queue"] == 2
    # One frame has left by t = 0.15, so there is room for one more, behind the two still queued.
    assert [(d.at, d.fate) for d in channel.process(bytes(1000), 0.15)] == [
        (pytest.approx(0.4), Fate.DELIVERED)
    ]


def test_lost_frames_use_their_airtime() -> None:
    channel = Channel(FaultConfig(bandwidth=80_000, loss=1.0), seed=1)
    out = [d for _ in range(3) for d in channel.process(bytes(1000), 0.0)]
    assert [d.at for d in out] == pytest.approx([0.1, 0.2, 0.3])
    assert all(d.fate is Fate.DROPPED for d in out) and channel.counters["dropped_loss"] == 3


# ---- pass schedule


def test_windows_drop_frames_while_the_link_is_down() -> None:
    channel = Channel(FaultConfig(passes=((0, 1), (2, 3))))
    fates = [d.fate for t in (0.5, 1.0, 1.5, 2.0, 2.9, 3.0) for d in channel.process(b"x", t)]
    assert fates == [Fate.DELIVERED, Fate.DROPPED, Fate.DROPPED, Fate.DELIVERED, Fate.DELIVERED, Fate.DROPPED]
    assert channel.counters["dropped_link_down"] == 3


def test_periodic_passes() -> None:
    schedule = FaultConfig(pass_period=10, pass_duration=2, pass_offset=1).schedule
    assert [schedule.is_up(t) for t in (0.5, 1.0, 2.9, 3.0, 10.5, 11.5, 21.0)] == [
        False, True, True, False, False, True, True,
    ]  # fmt: skip
    assert PassSchedule().is_up(1e9)


def test_transmission_must_start_within_the_pass() -> None:
    # The second frame waits 0.1 s for the first, and by then the pass is over.
    channel = Channel(FaultConfig(bandwidth=80_000, passes=((0, 0.05),)))
    fates = [d.fate for _ in range(2) for d in channel.process(bytes(1000), 0.0)]
    assert fates == [Fate.DELIVERED, Fate.DROPPED]
    assert channel.counters["dropped_link_down"] == 1
