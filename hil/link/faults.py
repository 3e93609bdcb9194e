"""Seeded fault models for one direction of the emulated radio link: pure, no I/O, no wall clock.

A :class:`Channel` takes each frame with the time it reached the link (seconds since the emulator
started, passed in) and answers with :class:`Delivery` records: when the frame comes out, what it
looks like then, and its fate. The stages, in order, for every frame:

1. **pass schedule**: a frame arriving while the link is down is dropped (``dropped_link_down``);
2. **queue**: with a ``bandwidth``, frames serialize one after another at the link rate
   (``8 * len / bandwidth`` seconds each). The queue holds the frame on the air and the ones waiting
   behind it; a frame arriving to ``queue_limit`` of them is dropped (``dropped_queue``). A frame
   whose transmission would start after the pass has ended is dropped too (``dropped_link_down``);
3. **Gilbert-Elliott**: the good/bad state steps once per frame that goes on the air (after 2);
4. **loss**: the frame is lost (``dropped_loss``) but has already used its airtime;
5. **bit errors**: each bit flips independently with ``1 - (1 - ber) * (1 - ge_ber_state)``;
6. **delay**: the frame comes out ``delay`` plus a uniform draw in ``[0, jitter]`` seconds after its
   transmission ended (never earlier; jitter may reorder frames, as a real path would);
7. **duplication**: one extra copy, identical to the frame as delivered, at the same instant;
8. **reordering**: the frame (with its copy) is held back until 1..``reorder_window`` later frames
   have arrived, or until ``reorder_max_hold`` seconds have passed (released by the next
   :meth:`Channel.process` or :meth:`Channel.flush`), whichever comes first; never longer.

Fates, one per delivery: ``dropped`` (not forwarded; reported so the capture can record it),
``corrupted`` (at least one bit flipped, still forwarded), ``delayed`` (intact but held back by
reordering, so it comes out after frames that arrived after it), ``duplicated`` (the extra copy)
and ``delivered`` (everything else). Fixed delay, jitter and queueing are properties of the path,
not faults, so they alone do not make a frame ``delayed``.

Every model draws from its own ``random.Random`` seeded from (seed, channel name, model), so a run
replays exactly for a given seed and input, and switching one fault on does not change which frames
another one hits.
"""

from __future__ import annotations

import enum
import math
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from flight.counters import Counters
from flight.link.errors import ConfigError

Windows = tuple[tuple[float, float], ...]


class Fate(enum.StrEnum):
    DELIVERED = "delivered"
    DROPPED = "dropped"
    CORRUPTED = "corrupted"
    DUPLICATED = "duplicated"
    DELAYED = "delayed"


# ---- validation of one field: every rule normalises the value or raises ConfigError naming the field


def _real(
    name: str, value: object, low: float = 0.0, high: float = math.inf, open_low: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise ConfigError(f"{name} is too large") from None
    if not math.isfinite(number) or number < low or number > high or (open_low and number == low):
        bounds = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        raise ConfigError(f"{name} = {value!r} is outside {bounds}")
    return number


def _integer(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, not {type(value).__name__}")
    if value < low:
        raise ConfigError(f"{name} = {value} must be at least {low}")
    return value


def parse_windows(text: str) -> Windows:
    """``"0:60,90:150"`` → ``((0.0, 60.0), (90.0, 150.0))``; an empty string is no window at all."""
    windows = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        start, sep, end = part.partition(":")
        if not sep:
            raise ValueError(f"window {part!r} is not START:END")
        windows.append((float(start), float(end)))
    return tuple(windows)


def _windows(name: str, value: object) -> Windows:
    if isinstance(value, str):
        try:
            value = parse_windows(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list of [start, end] windows, not {type(value).__name__}")
    windows = []
    for index, window in enumerate(value):
        if not isinstance(window, list | tuple) or len(window) != 2:
            raise ConfigError(f"{name}[{index}] must be a [start, end] pair")
        start = _real(f"{name}[{index}].start", window[0])
        end = _real(f"{name}[{index}].end", window[1])
        if end <= start:
            raise ConfigError(f"{name}[{index}] ends at {end:g} s, not after its start {start:g} s")
        windows.append((start, end))
    return tuple(windows)


@dataclass(frozen=True, slots=True)
class _Kind:
    """How a field is checked, how it is read from command-line text, and what to call its value."""

    describe: str
    metavar: str
    check: Callable[[str, object], object]
    parse: Callable[[str], object]


PROBABILITY = _Kind("a probability in [0, 1]", "P", lambda n, v: _real(n, v, 0.0, 1.0), float)
SECONDS = _Kind("seconds, >= 0", "S", _real, float)
POSITIVE_SECONDS = _Kind("seconds, > 0", "S", lambda n, v: _real(n, v, open_low=True), float)
RATE = _Kind("bits per second, >= 0", "BPS", _real, float)
FRAMES = _Kind("a number of frames, >= 0", "N", lambda n, v: _integer(n, v, 0), int)
WINDOW = _Kind("a number of frames, >= 1", "N", lambda n, v: _integer(n, v, 1), int)
WINDOWS = _Kind("START:END[,START:END...] windows in seconds", "WINDOWS", _windows, parse_windows)


def _option(default: Any, kind: _Kind, help: str) -> Any:
    return field(default=default, metadata={"kind": kind, "help": help})


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """The faults of one direction; every default is 'no fault'. See the module docstring for semantics."""

    ber: float = _option(0.0, PROBABILITY, "independent bit error rate: each bit flips with this probability")
    ge_p_good_to_bad: float = _option(
        0.0,
        PROBABILITY,
        "Gilbert-Elliott burst errors: per-frame probability of going from the good to the bad state",
    )
    ge_p_bad_to_good: float = _option(
        0.0,
        PROBABILITY,
        "Gilbert-Elliott: per-frame probability of going from the bad back to the good state",
    )
    ge_ber_good: float = _option(0.0, PROBABILITY, "Gilbert-Elliott: bit error rate in the good state")
    ge_ber_bad: float = _option(0.0, PROBABILITY, "Gilbert-Elliott: bit error rate in the bad state")
    loss: float = _option(0.0, PROBABILITY, "probability that a frame is lost (after using its airtime)")
    duplicate: float = _option(0.0, PROBABILITY, "probability that a frame is delivered twice")
    reorder: float = _option(0.0, PROBABILITY, "probability that a frame is held back behind later frames")
    reorder_window: int = _option(3, WINDOW, "a held-back frame is released after 1..N later frames")
    reorder_max_hold: float = _option(
        1.0, POSITIVE_SECONDS, "... or after at most this many seconds, whichever comes first"
    )
    delay: float = _option(0.0, SECONDS, "fixed propagation delay in seconds")
    jitter: float = _option(0.0, SECONDS, "extra delay drawn uniformly in [0, JITTER] seconds per frame")
    bandwidth: float = _option(
        0.0, RATE, "link rate in bit/s: frames serialize one after another (0 = unlimited)"
    )
    queue_limit: int = _option(
        0, FRAMES, "frames on the air or waiting for it (with --bandwidth); more are dropped (0 = unlimited)"
    )
    passes: Windows = _option(
        (), WINDOWS, "link-up windows START:END,... in s since start (none = always up)"
    )
    pass_period: float = _option(0.0, SECONDS, "periodic passes: one every PERIOD seconds (0 = none)")
    pass_duration: float = _option(0.0, SECONDS, "periodic passes: each lasts DURATION seconds")
    pass_offset: float = _option(0.0, SECONDS, "periodic passes: the first starts at OFFSET seconds")

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, f.metadata["kind"].check(f.name, getattr(self, f.name)))
        if self.passes and self.pass_period:
            raise ConfigError("passes and pass_period exclude each other: give windows or a period, not both")
        if self.pass_period and not 0 < self.pass_duration <= self.pass_period:
            raise ConfigError(f"pass_duration must be in (0, pass_period = {self.pass_period:g}] s")
        if not self.pass_period and (self.pass_duration or self.pass_offset):
            raise ConfigError("pass_duration and pass_offset need a pass_period")

    @classmethod
    def from_mapping(cls, values: Mapping[object, object]) -> FaultConfig:
        """From a TOML table or any mapping of field names; unknown names are a ConfigError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in values if key not in known)
        if unknown:
            raise ConfigError(
                f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**{str(key): value for key, value in values.items()})

    @property
    def schedule(self) -> PassSchedule:
        return PassSchedule(self.passes, self.pass_period, self.pass_duration, self.pass_offset)


@dataclass(frozen=True, slots=True)
class FaultSetting:
    """One field of :class:`FaultConfig` described for option parsers and documentation."""

    name: str
    help: str
    describe: str  # the values it takes, e.g. "a probability in [0, 1]"
    metavar: str
    default: object


def fault_settings() -> tuple[FaultSetting, ...]:
    return tuple(
        FaultSetting(
            f.name, f.metadata["help"], f.metadata["kind"].describe, f.metadata["kind"].metavar, f.default
        )
        for f in fields(FaultConfig)
    )


def parse_setting(name: str, text: str) -> object:
    """One setting's command-line text → its value (still to be checked by FaultConfig)."""
    kinds = {f.name: f.metadata["kind"] for f in fields(FaultConfig)}
    if name not in kinds:
        raise ConfigError(f"unknown fault setting {name!r}")
    try:
        return kinds[name].parse(text)
    except ValueError:
        raise ConfigError(f"{name} = {text!r} is not {kinds[name].describe}") from None


@dataclass(frozen=True, slots=True)
class PassSchedule:
    """When the link is up. Windows are [start, end); periodic passes start at offset + k * period
    (the link is down before the first one). No windows and no period: always up."""

    windows: Windows = ()
    period: float = 0.0
    duration: float = 0.0
    offset: float = 0.0

    def is_up(self, t: float) -> bool:
        if self.period:
            return t >= self.offset and (t - self.offset) % self.period < self.duration
        if self.windows:
            return any(start <= t < end for start, end in self.windows)
        return True


def flip_bits(data: bytes, ber: float, rng: random.Random) -> tuple[bytes, int]:
    """Flip each bit of ``data`` independently with probability ``ber``; returns (frame, flips).

    Draws the geometric gaps between flipped bits rather than one number per bit, so the cost is
    proportional to the number of flips, not to the frame length.
    """
    nbits = len(data) * 8
    if ber <= 0.0 or nbits == 0:
        return data, 0
    if ber >= 1.0:
        return bytes(b ^ 0xFF for b in data), nbits
    out = bytearray(data)
    log_keep = math.log1p(-ber)
    position, flips = -1, 0
    while True:
        # 1 - random() lies in (0, 1], so the log is finite; compare as float before int() in case
        # a vanishing ber makes the gap astronomically (or infinitely) large.
        gap = math.log(1.0 - rng.random()) / log_keep
        if gap >= nbits - position - 1:
            return bytes(out), flips
        position += 1 + int(gap)
        out[position >> 3] ^= 0x80 >> (position & 7)
        flips += 1


@dataclass(frozen=True, slots=True)
class Delivery:
    at: float
    frame: bytes
    fate: Fate

    @property
    def forwarded(self) -> bool:
        return self.fate is not Fate.DROPPED


@dataclass(slots=True)
class _Held:
    deliveries: list[Delivery]  # the frame, then its duplicate if any
    frames_left: int
    deadline: float


COUNTER_NAMES = (
    "frames_in", "bytes_in", "forwarded", "delivered", "corrupted", "delayed", "duplicated",
    "dropped", "dropped_loss", "dropped_queue", "dropped_link_down",
    "bits_flipped", "ge_bad_frames", "queued", "reordered", "reorder_timeouts",
)  # fmt: skip


class Channel:
    """One direction of the link. Invariants, at any time:
    ``frames_in == delivered + corrupted + delayed + dropped + held`` and
    ``forwarded == delivered + corrupted + delayed + duplicated``.
    """

    def __init__(self, config: FaultConfig, seed: int = 0, name: str = "link") -> None:
        self.config = config
        self.name = name
        self.counters = Counters(f"link.{name}")
        for counter in COUNTER_NAMES:
            self.counters.inc(counter, 0)  # so that snapshots show every counter, zeros included
        self._schedule = config.schedule
        self._rng = {
            model: random.Random(f"{seed}/{name}/{model}")
            for model in ("ge", "loss", "bits", "jitter", "duplicate", "reorder")
        }
        self._ge_bad = False
        self._busy_until = 0.0
        self._on_air: deque[float] = deque()  # transmission end times of the frames in the queue
        self._held: list[_Held] = []

    def reconfigure(self, config: FaultConfig) -> None:
        """Other faults from now on. Frames already in flight or held keep the fate they were given,
        and each model keeps its random stream, so a run with the same changes replays exactly."""
        self.config = config
        self._schedule = config.schedule

    @property
    def held(self) -> int:
        """Frames held back by reordering right now."""
        return len(self._held)

    def next_release(self) -> float | None:
        """The latest time by which :meth:`flush` must be called to release a held frame."""
        return min((h.deadline for h in self._held), default=None)

    def process(self, frame: bytes, now: float) -> list[Delivery]:
        """Every delivery decided by this frame's arrival at ``now``, dropped ones included."""
        out = self.flush(now)
        self.counters.inc("frames_in")
        self.counters.inc("bytes_in", len(frame))
        earlier, self._held = self._held, []
        fresh = self._transmit(frame, now)
        out.extend(fresh)
        # Held frames come out after the frame that releases them, never before it.
        anchor = max((d.at for d in fresh), default=now)
        released = []
        for held in earlier:
            held.frames_left -= 1
            (released if held.frames_left == 0 else self._held).append(held)
        self._held.sort(key=lambda h: h.deadline)
        out.extend(self._release(released, anchor))
        return out

    def flush(self, now: float) -> list[Delivery]:
        """Release the held frames whose maximum hold time has passed by ``now``."""
        due = [h for h in self._held if h.deadline <= now]
        if not due:
            return []
        self._held = [h for h in self._held if h.deadline > now]
        self.counters.inc("reorder_timeouts", len(due))
        return self._release(due, now)

    def drain(self, now: float) -> list[Delivery]:
        """Release every held frame at once (on shutdown)."""
        due, self._held = self._held, []
        return self._release(due, now)

    def _transmit(self, frame: bytes, now: float) -> list[Delivery]:
        if not self._schedule.is_up(now):
            return [self._drop(frame, now, "dropped_link_down")]
        if self._queue_full(now):
            return [self._drop(frame, now, "dropped_queue")]
        start = max(now, self._busy_until)
        if not self._schedule.is_up(start):
            return [self._drop(frame, now, "dropped_link_down")]
        if start > now:
            self.counters.inc("queued")
        end = self._occupy(start, len(frame))
        bad = self._step_gilbert_elliott()
        cfg = self.config
        if cfg.loss and self._rng["loss"].random() < cfg.loss:
            return [self._drop(frame, end, "dropped_loss")]
        ge_ber = cfg.ge_ber_bad if bad else cfg.ge_ber_good
        frame, flips = flip_bits(frame, 1.0 - (1.0 - cfg.ber) * (1.0 - ge_ber), self._rng["bits"])
        self.counters.inc("bits_flipped", flips)
        at = end + cfg.delay + (cfg.jitter * self._rng["jitter"].random() if cfg.jitter else 0.0)
        group = [Delivery(at, frame, Fate.CORRUPTED if flips else Fate.DELIVERED)]
        if cfg.duplicate and self._rng["duplicate"].random() < cfg.duplicate:
            group.append(Delivery(at, frame, Fate.DUPLICATED))
        if cfg.reorder and self._rng["reorder"].random() < cfg.reorder:
            frames_left = self._rng["reorder"].randint(1, cfg.reorder_window)
            self._held.append(_Held(group, frames_left, now + cfg.reorder_max_hold))
            self.counters.inc("reordered")
            return []
        return self._emit(group)

    def _queue_full(self, now: float) -> bool:
        while self._on_air and self._on_air[0] <= now:
            self._on_air.popleft()
        return 0 < self.config.queue_limit <= len(self._on_air)

    def _occupy(self, start: float, size: int) -> float:
        """Put the frame on the air from ``start``; returns when its last bit has left."""
        if not self.config.bandwidth:
            return start
        self._busy_until = start + 8 * size / self.config.bandwidth
        self._on_air.append(self._busy_until)
        return self._busy_until

    def _step_gilbert_elliott(self) -> bool:
        cfg = self.config
        if cfg.ge_p_good_to_bad or cfg.ge_p_bad_to_good:
            draw = self._rng["ge"].random()
            self._ge_bad = draw >= cfg.ge_p_bad_to_good if self._ge_bad else draw < cfg.ge_p_good_to_bad
        if self._ge_bad:
            self.counters.inc("ge_bad_frames")
        return self._ge_bad

    def _drop(self, frame: bytes, at: float, reason: str) -> Delivery:
        self.counters.inc("dropped")
        self.counters.inc(reason)
        return Delivery(at, frame, Fate.DROPPED)

    def _release(self, held: list[_Held], anchor: float) -> list[Delivery]:
        group = [
            Delivery(max(d.at, anchor), d.frame, Fate.DELAYED if d.fate is Fate.DELIVERED else d.fate)
            for h in held
            for d in h.deliveries
        ]
        return self._emit(group)

    def _emit(self, group: list[Delivery]) -> list[Delivery]:
        for delivery in group:
            self.counters.inc(delivery.fate.value)
            self.counters.inc("forwarded")
        return group
