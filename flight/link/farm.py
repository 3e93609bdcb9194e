"""FARM-1, the on-board half of COP-1 (CCSDS 232.1-B-2 section 6), as a pure state machine.

It accepts a Type-AD frame only when its N(S) equals V(R), so frames reach the upper layer in order,
exactly once. Frames ahead of V(R) set Retransmit so that FOP-1 goes back; frames far outside the
window mean the two ends have lost each other and put FARM in Lockout, which only an Unlock or a
Set V(R) from the ground clears. Its state goes down in the CLCW.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from flight.counters import Counters
from flight.link.clcw import Clcw
from flight.link.errors import ConfigError, TcFrameError
from flight.link.tcframe import FrameType, TcFrame, Unlock

BD_HEADROOM = 64  # BD frames FARM-1 holds beyond its AD buffer before it must drop them


class FarmState(enum.IntEnum):
    OPEN = 1
    WAIT = 2
    LOCKOUT = 3


class FarmOutcome(enum.Enum):
    """What FARM-1 did with a frame; the names are the counters' names."""

    ACCEPTED_AD = "accepted_ad"  # E1
    ACCEPTED_BD = "accepted_bd"  # E6
    UNLOCK = "unlock"  # E7
    SET_VR = "set_vr"  # E8
    BUFFER_FULL = "discarded_buffer_full"  # E2
    POSITIVE_WINDOW = "discarded_positive_window"  # E3: a frame was lost, ask for retransmission
    NEGATIVE_WINDOW = "discarded_negative_window"  # E4: a duplicate
    LOCKOUT_AREA = "discarded_lockout_area"  # E5
    IN_LOCKOUT = "discarded_in_lockout"  # any AD frame while locked out
    IN_WAIT = "discarded_in_wait"  # any AD frame while the buffer is full
    INVALID_BC = "discarded_invalid_bc"  # E9
    SET_VR_REFUSED = "discarded_set_vr_refused"  # Set V(R) on a channel configured to refuse it
    BD_BUFFER_FULL = "discarded_bd_buffer_full"  # our bound on E6: see BD_HEADROOM

    @property
    def accepted(self) -> bool:
        return self in (FarmOutcome.ACCEPTED_AD, FarmOutcome.ACCEPTED_BD)


@dataclass(frozen=True, slots=True)
class FarmConfig:
    virtual_channel_id: int
    window_width: int = 10  # W: even, 2..254; positive and negative windows are W/2 each
    buffer_capacity: int = 64  # frames FARM may hold for the upper layer before it signals Wait
    # BC frames travel in clear: anyone can send Set V(R), and a forged one makes FOP-1 confirm frames
    # FARM-1 never took. A mission whose ground recovers with Unlock alone refuses it (E9).
    accept_set_vr: bool = True

    def __post_init__(self) -> None:
        if self.window_width % 2 or not 2 <= self.window_width <= 254:
            raise ConfigError(f"FARM sliding window width {self.window_width} must be even, in 2..254")
        if self.buffer_capacity < 1:
            raise ConfigError("FARM buffer capacity must be at least one frame")


class Farm:
    def __init__(self, config: FarmConfig, v_r: int = 0) -> None:
        self.config = config
        self.state = FarmState.OPEN
        self.v_r = v_r & 0xFF
        self.retransmit = False
        self.farm_b_counter = 0
        # A flag of its own, not the state: entering Lockout from Wait keeps it set (232.1-B-2 E5 in S2).
        self.wait = False
        self.buffer: deque[TcFrame] = deque()
        self.counters = Counters("farm")

    @property
    def lockout(self) -> bool:
        return self.state is FarmState.LOCKOUT

    def clcw(self, no_rf_available: bool = False, no_bitlock: bool = False) -> Clcw:
        """E11: the report FARM-1 sends down in every TM frame's OCF."""
        return Clcw(
            virtual_channel_id=self.config.virtual_channel_id,
            report_value=self.v_r,
            lockout=self.lockout,
            wait=self.wait,
            retransmit=self.retransmit,
            farm_b_counter=self.farm_b_counter & 0b11,
            no_rf_available=no_rf_available,
            no_bitlock=no_bitlock,
        )

    def receive(self, frame: TcFrame) -> FarmOutcome:
        """Run one valid frame of this virtual channel through FARM-1."""
        if frame.frame_type is FrameType.AD:
            outcome = self._ad(frame)
        elif frame.frame_type is FrameType.BD:
            if len(self.buffer) >= self.config.buffer_capacity + BD_HEADROOM:
                # E6 accepts BD frames whatever the buffer holds; memory is finite all the same.
                outcome = FarmOutcome.BD_BUFFER_FULL
            else:
                self.buffer.append(frame)  # E6: expedited frames bypass the checks and the Wait flow control
                self.farm_b_counter += 1
                outcome = FarmOutcome.ACCEPTED_BD
        else:
            outcome = self._bc(frame)
        self.counters.inc(outcome.value)
        return outcome

    def take(self) -> TcFrame | None:
        """The upper layer takes the oldest accepted frame; freeing space ends Wait (E10)."""
        frame = self.buffer.popleft() if self.buffer else None
        if self.wait and len(self.buffer) < self.config.buffer_capacity:
            self.wait = False
            if self.state is FarmState.WAIT:
                self.state = FarmState.OPEN
        return frame

    def _ad(self, frame: TcFrame) -> FarmOutcome:
        if self.state is FarmState.LOCKOUT:
            return FarmOutcome.IN_LOCKOUT
        half = self.config.window_width // 2
        offset = (frame.frame_sequence_number - self.v_r) & 0xFF
        if offset == 0:
            if self.state is FarmState.WAIT:
                return FarmOutcome.IN_WAIT
            if len(self.buffer) >= self.config.buffer_capacity:  # E2
                self.retransmit = True
                self.wait = True
                self.state = FarmState.WAIT
                return FarmOutcome.BUFFER_FULL
            self.buffer.append(frame)  # E1
            self.v_r = (self.v_r + 1) & 0xFF
            self.retransmit = False
            return FarmOutcome.ACCEPTED_AD
        if offset < half:  # E3: frames between V(R) and N(S) were lost
            if self.state is FarmState.OPEN:
                self.retransmit = True
            return FarmOutcome.POSITIVE_WINDOW
        if offset >= 256 - half:  # E4: already accepted
            return FarmOutcome.NEGATIVE_WINDOW
        self.state = FarmState.LOCKOUT  # E5
        self.counters.inc("lockouts")
        return FarmOutcome.LOCKOUT_AREA

    def _bc(self, frame: TcFrame) -> FarmOutcome:
        try:
            command = frame.control
        except TcFrameError:
            return FarmOutcome.INVALID_BC  # E9
        self.farm_b_counter += 1
        if isinstance(command, Unlock):  # E7
            self.retransmit = False
            self.wait = False
            self.state = FarmState.OPEN
            return FarmOutcome.UNLOCK
        if not self.config.accept_set_vr:
            self.farm_b_counter -= 1  # treated as an invalid directive: it does not count as accepted
            return FarmOutcome.SET_VR_REFUSED
        if self.state is not FarmState.LOCKOUT:  # E8; in Lockout it changes nothing but FARM-B
            self.retransmit = False
            self.wait = False
            self.v_r = command.value
            self.state = FarmState.OPEN
        return FarmOutcome.SET_VR

    def state_dict(self) -> dict[str, int | bool]:
        """What must survive a restart (the buffer is the upper layer's to journal)."""
        return {"state": int(self.state), "v_r": self.v_r, "retransmit": self.retransmit, "wait": self.wait,
                "farm_b_counter": self.farm_b_counter}

    def load_state(self, saved: dict[str, int | bool]) -> None:
        self.state = FarmState(int(saved["state"]))
        self.v_r = int(saved["v_r"]) & 0xFF
        self.retransmit = bool(saved["retransmit"])
        self.wait = bool(saved.get("wait", self.state is FarmState.WAIT))
        self.farm_b_counter = int(saved["farm_b_counter"])
