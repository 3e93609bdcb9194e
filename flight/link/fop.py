"""FOP-1, the ground half of COP-1 (CCSDS 232.1-B-2 section 5), as a pure state machine.

FOP-1 numbers Type-AD frames, keeps a copy of each until a CLCW acknowledges it, and goes back N
(retransmits every unacknowledged frame, bit-identical) when FARM-1 reports Retransmit or when timer
T1 runs out. The state table is implemented cell by cell; events carry the standard's numbers (E1…E46,
E101…E104) in comments. Where the standard's text leaves room:

* purging the Sent_Queue sets NN(R) := V(S), so that the "not applicable" events of S4/S5 really
  cannot occur after an Alert with frames outstanding (as yamcs does);
* "Initiate AD with CLCW check" adopts V(S) from the first fresh CLCW: the initial
  synchronisation a ground station needs when it starts without knowing the spacecraft's V(R) (as
  yamcs does). After an Alert it refuses a CLCW whose V(R) is behind what was acknowledged (a late
  copy of an old report), until consistent evidence shows FARM-1 has really moved;
* a CLCW for another virtual channel or another COP is filtered before the table (232.1-B-2 5.3.2)
  rather than raising E15.

Nothing here touches a socket or reads a clock of its own: time comes from the injected ``clock`` and
T1 is checked by :meth:`Fop.poll_timer`. Frames go out through :meth:`Fop.take_frame`, notices to the
user (accept, confirm, alert…) through :meth:`Fop.take_notices`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flight.counters import Counters
from flight.link.clcw import COP_1, Clcw
from flight.link.config import FopSettings
from flight.link.tcframe import FrameType, SegmentHeader, SetVr, TcFrame, Unlock

MOVED_EVIDENCE = 5  # identical "stale" CLCWs, with T1 run out, that show FARM-1 has really moved


class FopState(enum.IntEnum):
    ACTIVE = 1
    RETRANSMIT_WITHOUT_WAIT = 2
    RETRANSMIT_WITH_WAIT = 3
    INITIALISING_WITHOUT_BC = 4
    INITIALISING_WITH_BC = 5
    INITIAL = 6


class AlertReason(enum.Enum):
    LIMIT = "limit"  # retransmission requested but the transmission limit is 1
    T1 = "t1"  # timer expired and the transmission limit was reached
    LOCKOUT = "lockout"  # the CLCW shows FARM-1 in Lockout
    SYNCH = "synch"  # the CLCW contradicts what FOP-1 knows
    NNR = "nn_r"  # N(R) outside [NN(R), V(S)]
    CLCW = "clcw"  # inconsistent CLCW flags
    LLIF = "llif"  # the lower layer rejected a frame
    TERM = "term"  # Terminate AD Service


class InitiateMode(enum.Enum):
    WITHOUT_CLCW_CHECK = "without_clcw_check"  # E23
    WITH_CLCW_CHECK = "with_clcw_check"  # E24
    WITH_UNLOCK = "with_unlock"  # E25/E26
    WITH_SET_VR = "with_set_vr"  # E27/E28


class NoticeKind(enum.Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    POSITIVE_CONFIRM = "positive_confirm"
    NEGATIVE_CONFIRM = "negative_confirm"
    ALERT = "alert"
    SUSPEND = "suspend"


@dataclass(frozen=True, slots=True)
class Notice:
    """A response to the user: about an FDU request ("fdu"), a directive ("directive"), or the service."""

    kind: NoticeKind
    subject: str
    tag: Any = None
    reason: AlertReason | None = None
    frame: bytes | None = None  # for confirms of AD FDUs: the frame as sent, to resend bit-identically

    @property
    def n_s(self) -> int | None:
        """The frame sequence number the FDU was sent with (octet 4 of the frame)."""
        return self.frame[4] if self.frame is not None else None


@dataclass(slots=True)
class _Sent:
    frame_type: FrameType  # AD or BC
    n_s: int
    raw: bytes
    tag: Any
    to_be_retransmitted: bool = False


def sequence_distance(a: int, b: int) -> int:
    """How far sequence number ``a`` is ahead of ``b``, modulo 256 (N(S), V(S), N(R), NN(R))."""
    return (a - b) & 0xFF


class Fop:
    def __init__(self, settings: FopSettings, spacecraft_id: int, clock: Callable[[], float],
                 protect: Callable[[TcFrame], bytes] | None = None, segment: SegmentHeader | None = None) -> None:
        """``settings`` are the managed parameters (the initial K, T1, limit and timeout type; the
        directives E36-E39 change them later). ``protect`` packs a frame through SDLS ApplySecurity; it
        runs once per frame, so that retransmissions are bit-identical. ``segment`` is set when the
        virtual channel uses MAP IDs."""
        self.virtual_channel_id = settings.vcid
        self.spacecraft_id = spacecraft_id
        self.segment = segment
        self.clock = clock
        self.protect = protect
        self.state = FopState.INITIAL
        self.v_s = 0
        self.nn_r = 0
        self.k = settings.window
        self.t1_initial = settings.t1
        self.transmission_limit = settings.transmission_limit
        self.timeout_type = settings.timeout_type
        self.transmission_count = 1
        self.suspend_state = 0
        self.wait_queue: tuple[bytes, Any, bytes | None] | None = None
        self.sent_queue: deque[_Sent] = deque()
        self.ad_out_ready = True
        self.bc_out_ready = True
        self.bd_out_ready = True
        self.timer_deadline: float | None = None
        self._directive_pending = False  # an Initiate AD awaits its confirm (E24, E25, E27)
        self._directive_tag: Any = None
        # After an Alert: NN(R) then, the last point acknowledged. A CLCW adopted by "with CLCW check"
        # must not report a V(R) behind it, or it is a stale report.
        self._sync_floor: int | None = None
        # The N(R)s of the CLCWs refused as stale since the floor was set, across re-initiations. When
        # T1 runs out with nothing else heard and they all report one same V(R), FARM-1 has really moved
        # (a restart, another ground station): the floor is dropped rather than waited on forever. Late
        # copies of old CLCWs report a spread of values, and fresh ones end the initialisation at once.
        self._stale_reports: list[int] = []
        self._outbox: deque[tuple[FrameType, bytes]] = deque()
        self._notices: deque[Notice] = deque()
        self.last_alert: AlertReason | None = None
        self.counters = Counters("fop")

    # --- outputs -------------------------------------------------------------------------------

    def take_frame(self) -> tuple[FrameType, bytes] | None:
        """The next frame for the lower layer; report its fate with :meth:`lower_layer`."""
        return self._outbox.popleft() if self._outbox else None

    def take_notices(self) -> list[Notice]:
        notices = list(self._notices)
        self._notices.clear()
        return notices

    @property
    def can_accept_ad(self) -> bool:
        """True when a new AD request would be queued rather than rejected (E19, not E20)."""
        return self.wait_queue is None and self.state in (
            FopState.ACTIVE, FopState.RETRANSMIT_WITHOUT_WAIT, FopState.RETRANSMIT_WITH_WAIT)

    @property
    def outstanding(self) -> int:
        return sequence_distance(self.v_s, self.nn_r)

    # --- higher-layer requests (E19-E22) -------------------------------------------------------

    def request_ad(self, fdu: bytes, tag: Any = None, prepared: bytes | None = None) -> None:
        """E19/E20. ``prepared`` is this FDU's frame as sent before an Alert purged it: when it goes out
        again under the same N(S) it is reused as it is, so its IV is never replaced by a new one."""
        if self.wait_queue is not None or self.state in (
                FopState.INITIALISING_WITHOUT_BC, FopState.INITIALISING_WITH_BC, FopState.INITIAL):
            self._notify(NoticeKind.REJECT, "fdu", tag)  # E20, or E19 in S4-S6
            return
        self.wait_queue = (fdu, tag, prepared)  # E19
        if self.state is not FopState.RETRANSMIT_WITH_WAIT:
            self._look_for_fdu()

    def request_bd(self, fdu: bytes, tag: Any = None) -> None:
        if not self.bd_out_ready:  # E22
            self._notify(NoticeKind.REJECT, "fdu", tag)
            return
        raw = self._pack(TcFrame(self.spacecraft_id, self.virtual_channel_id, FrameType.BD, 0, fdu,
                                 self.segment))  # first: if it cannot be built, nothing has changed
        self._notify(NoticeKind.ACCEPT, "fdu", tag)  # E21, in every state
        self.bd_out_ready = False
        self._emit(FrameType.BD, raw)

    # --- directives (E23-E40) ------------------------------------------------------------------

    def initiate_ad(self, mode: InitiateMode, tag: Any = None, v_r: int | None = None) -> None:
        if self.state is not FopState.INITIAL:
            self._notify(NoticeKind.REJECT, "directive", tag)
            return
        bc_modes = (InitiateMode.WITH_UNLOCK, InitiateMode.WITH_SET_VR)
        if mode in bc_modes and not self.bc_out_ready:  # E26, E28
            self._notify(NoticeKind.REJECT, "directive", tag)
            return
        if mode is InitiateMode.WITH_SET_VR and (v_r is None or not 0 <= v_r <= 0xFF):
            self._notify(NoticeKind.REJECT, "directive", tag)  # E40
            return
        self._notify(NoticeKind.ACCEPT, "directive", tag)
        self._initialise()
        if mode is InitiateMode.WITHOUT_CLCW_CHECK:  # E23
            self._notify(NoticeKind.POSITIVE_CONFIRM, "directive", tag)
            self.state = FopState.ACTIVE
            return
        self._directive_pending, self._directive_tag = True, tag
        if mode is InitiateMode.WITH_CLCW_CHECK:  # E24
            self._start_timer()
            self.state = FopState.INITIALISING_WITHOUT_BC
            return
        if mode is InitiateMode.WITH_SET_VR:  # E27
            assert v_r is not None
            self.v_s = self.nn_r = v_r
            self._set_floor(None)
            command: Unlock | SetVr = SetVr(v_r)
        else:  # E25
            command = Unlock()
        self._transmit_bc(command)
        self.state = FopState.INITIALISING_WITH_BC

    def terminate(self, tag: Any = None) -> None:
        """E29: stop the AD service, negatively confirming everything outstanding."""
        self._notify(NoticeKind.ACCEPT, "directive", tag)
        if self.state is not FopState.INITIAL:
            self._alert(AlertReason.TERM)
        self._notify(NoticeKind.POSITIVE_CONFIRM, "directive", tag)

    def resume(self, tag: Any = None) -> None:
        """E30-E34: resume a suspended AD service in the state it was suspended from."""
        if self.state is not FopState.INITIAL or self.suspend_state == 0:
            self._notify(NoticeKind.REJECT, "directive", tag)
            return
        self._notify(NoticeKind.ACCEPT, "directive", tag)
        resumed = FopState(self.suspend_state)
        self._start_timer()
        self.suspend_state = 0
        self.state = resumed
        self._notify(NoticeKind.POSITIVE_CONFIRM, "directive", tag)

    def set_v_s(self, value: int, tag: Any = None) -> None:
        """E35: only in S6 and not suspended."""
        if self.state is not FopState.INITIAL or self.suspend_state != 0 or not 0 <= value <= 0xFF:
            self._notify(NoticeKind.REJECT, "directive", tag)
            return
        self._notify(NoticeKind.ACCEPT, "directive", tag)
        self.v_s = self.nn_r = value
        self._notify(NoticeKind.POSITIVE_CONFIRM, "directive", tag)

    def set_window(self, k: int, tag: Any = None) -> None:  # E36
        self._set("k", k, 1 <= k <= 255, tag)

    def set_t1(self, seconds: float, tag: Any = None) -> None:  # E37
        self._set("t1_initial", seconds, seconds > 0, tag)

    def set_transmission_limit(self, limit: int, tag: Any = None) -> None:  # E38
        self._set("transmission_limit", limit, limit >= 1, tag)

    def set_timeout_type(self, timeout_type: int, tag: Any = None) -> None:  # E39
        self._set("timeout_type", timeout_type, timeout_type in (0, 1), tag)

    def _set(self, name: str, value: Any, valid: bool, tag: Any) -> None:
        if not valid:  # out-of-range values are invalid directives (E40)
            self._notify(NoticeKind.REJECT, "directive", tag)
            return
        self._notify(NoticeKind.ACCEPT, "directive", tag)
        setattr(self, name, value)
        self._notify(NoticeKind.POSITIVE_CONFIRM, "directive", tag)

    # --- CLCW (E1-E15, E101-E103) --------------------------------------------------------------

    def on_clcw(self, clcw: Clcw) -> None:
        if clcw.virtual_channel_id != self.virtual_channel_id or clcw.cop_in_effect != COP_1:
            return  # another channel's report: not for this FOP (5.3.2)
        self.counters.inc("clcw")
        s = self.state
        if s is FopState.INITIAL:
            return  # every CLCW event is ignored in S6
        if clcw.lockout:  # E14
            if s is not FopState.INITIALISING_WITH_BC:
                self._alert(AlertReason.LOCKOUT)
            return
        if s is FopState.INITIALISING_WITHOUT_BC and not self._adopt(clcw.report_value):
            self.counters.inc("stale_clcw_ignored")
            self._stale_reports.append(clcw.report_value)
            return
        n_r = clcw.report_value
        if n_r == self.v_s:
            self._all_acknowledged(clcw)
        elif sequence_distance(n_r, self.nn_r) < sequence_distance(self.v_s, self.nn_r):
            self._some_outstanding(clcw)
        elif s is not FopState.INITIALISING_WITH_BC:  # E13
            self._alert(AlertReason.NNR)

    def _all_acknowledged(self, clcw: Clcw) -> None:
        s = self.state
        if clcw.retransmit:  # E4
            if s is not FopState.INITIALISING_WITH_BC:
                self._alert(AlertReason.SYNCH)
            return
        if clcw.wait:  # E3
            self._alert(AlertReason.CLCW)
            return
        if clcw.report_value == self.nn_r:  # E1
            if s in (FopState.RETRANSMIT_WITHOUT_WAIT, FopState.RETRANSMIT_WITH_WAIT):
                self._alert(AlertReason.SYNCH)
            elif s in (FopState.INITIALISING_WITHOUT_BC, FopState.INITIALISING_WITH_BC):
                if s is FopState.INITIALISING_WITH_BC:
                    self._release_bc()
                self._cancel_timer()
                self._confirm_directive()
                self.state = FopState.ACTIVE
            return
        if s in (FopState.INITIALISING_WITHOUT_BC, FopState.INITIALISING_WITH_BC):
            self.counters.inc("not_applicable")  # E2 cannot occur in S4/S5
            return
        self._remove_acknowledged(clcw.report_value)  # E2
        self._cancel_timer()
        self.state = FopState.ACTIVE
        self._look_for_fdu()

    def _some_outstanding(self, clcw: Clcw) -> None:
        s = self.state
        if s in (FopState.INITIALISING_WITHOUT_BC, FopState.INITIALISING_WITH_BC):
            self.counters.inc("not_applicable")  # E5-E12, E101-E103 cannot occur in S4/S5
            return
        n_r = clcw.report_value
        new_acks = n_r != self.nn_r
        if not clcw.retransmit:
            if clcw.wait:  # E7
                self._alert(AlertReason.CLCW)
            elif not new_acks:  # E5
                if s is not FopState.ACTIVE:
                    self._alert(AlertReason.SYNCH)
            else:  # E6
                self._remove_acknowledged(n_r)
                self.state = FopState.ACTIVE
                self._look_for_fdu()
            return
        if self.transmission_limit == 1:  # E101, E102
            if new_acks:
                self._remove_acknowledged(n_r)
            self._alert(AlertReason.LIMIT)
            return
        if new_acks:
            self._remove_acknowledged(n_r)
            if clcw.wait:  # E9
                self.state = FopState.RETRANSMIT_WITH_WAIT
            else:  # E8
                self._initiate_retransmission(FrameType.AD)
                self.state = FopState.RETRANSMIT_WITHOUT_WAIT
                self._look_for_fdu()
            return
        if clcw.wait:  # E11, E103
            self.state = FopState.RETRANSMIT_WITH_WAIT
            return
        if self.transmission_count < self.transmission_limit:  # E10
            if s is not FopState.RETRANSMIT_WITHOUT_WAIT:
                self._initiate_retransmission(FrameType.AD)
                self.state = FopState.RETRANSMIT_WITHOUT_WAIT
                self._look_for_fdu()
            return
        self.state = FopState.RETRANSMIT_WITHOUT_WAIT  # E12: wait for T1 to decide

    # --- timer (E16-E18, E104) -----------------------------------------------------------------

    def poll_timer(self) -> None:
        """Call regularly: handles the expiry of T1 if its deadline has passed."""
        if self.timer_deadline is None or self.clock() < self.timer_deadline:
            return
        self.timer_deadline = None
        self.counters.inc("t1_expired")
        s = self.state
        reports = self._stale_reports
        if s is FopState.INITIALISING_WITHOUT_BC and len(reports) >= MOVED_EVIDENCE and len(set(reports)) == 1:
            self._set_floor(None)
            self.counters.inc("sync_floor_dropped")
        if s is FopState.INITIAL:
            return
        if self.transmission_count < self.transmission_limit:
            if s in (FopState.ACTIVE, FopState.RETRANSMIT_WITHOUT_WAIT):  # E16, E104
                self._initiate_retransmission(FrameType.AD)
                self._look_for_fdu()
            elif s is FopState.INITIALISING_WITHOUT_BC:
                if self.timeout_type == 0:
                    self._alert(AlertReason.T1)
                else:
                    self._suspend(4)
            elif s is FopState.INITIALISING_WITH_BC:
                self._initiate_retransmission(FrameType.BC)
                self._look_for_directive()
            return  # S3 ignores it: FARM has no buffer, retransmitting is pointless
        if self.timeout_type == 0 or s is FopState.INITIALISING_WITH_BC:  # E17, and E18 in S5
            self._alert(AlertReason.T1)
        else:  # E18
            self._suspend(int(s))

    # --- lower layer (E41-E46) -----------------------------------------------------------------

    def lower_layer(self, frame_type: FrameType, accepted: bool) -> None:
        if not accepted:  # E42, E44, E46
            self._alert(AlertReason.LLIF)
            return
        if frame_type is FrameType.AD:  # E41
            self.ad_out_ready = True
            if self.state in (FopState.ACTIVE, FopState.RETRANSMIT_WITHOUT_WAIT):
                self._look_for_fdu()
        elif frame_type is FrameType.BC:  # E43
            self.bc_out_ready = True
            if self.state is FopState.INITIALISING_WITH_BC:
                self._look_for_directive()
        else:  # E45
            self.bd_out_ready = True

    # --- actions (5.2) -------------------------------------------------------------------------

    def _look_for_fdu(self) -> None:
        if not self.ad_out_ready or self._retransmit_first_flagged(FrameType.AD):
            return
        if self.wait_queue is not None and self.outstanding < self.k:
            fdu, tag, prepared = self.wait_queue
            raw = self._ad_frame(fdu, prepared)  # first: if it cannot be built, the FDU stays queued
            self.wait_queue = None
            self._notify(NoticeKind.ACCEPT, "fdu", tag)
            self._transmit_ad(raw, tag)

    def _look_for_directive(self) -> None:
        if self.bc_out_ready:
            self._retransmit_first_flagged(FrameType.BC)

    def _retransmit_first_flagged(self, frame_type: FrameType) -> bool:
        """Hand down the first frame of this type marked To_Be_Retransmitted; True if there was one."""
        for sent in self.sent_queue:
            if sent.frame_type is frame_type and sent.to_be_retransmitted:
                sent.to_be_retransmitted = False
                if frame_type is FrameType.AD:
                    self.ad_out_ready = False
                    self.counters.inc("ad_retransmitted")
                else:
                    self.bc_out_ready = False
                self._emit(frame_type, sent.raw)
                return True
        return False

    def _ad_frame(self, fdu: bytes, prepared: bytes | None) -> bytes:
        """The next AD frame, N(S) = V(S): the prepared copy when it carries that N(S), else a new one."""
        if prepared is not None and len(prepared) > 4 and prepared[4] == self.v_s:
            return prepared
        return self._pack(TcFrame(self.spacecraft_id, self.virtual_channel_id, FrameType.AD,
                                  self.v_s, fdu, self.segment))

    def _transmit_ad(self, raw: bytes, tag: Any) -> None:
        if not self.sent_queue:
            self.transmission_count = 1
        self.sent_queue.append(_Sent(FrameType.AD, self.v_s, raw, tag))
        self.v_s = (self.v_s + 1) & 0xFF
        self._start_timer()
        self.ad_out_ready = False
        self.counters.inc("ad_sent")
        self._emit(FrameType.AD, raw)

    def _transmit_bc(self, command: Unlock | SetVr) -> None:
        raw = TcFrame.bc(self.spacecraft_id, self.virtual_channel_id, command).pack()  # in clear
        self.sent_queue.append(_Sent(FrameType.BC, 0, raw, None))
        self.transmission_count = 1
        self._start_timer()
        self.bc_out_ready = False
        self.counters.inc("bc_sent")
        self._emit(FrameType.BC, raw)

    def _pack(self, frame: TcFrame) -> bytes:
        return self.protect(frame) if self.protect else frame.pack()

    def _initiate_retransmission(self, frame_type: FrameType) -> None:
        """Initiate AD (or BC) retransmission: mark every such frame on the Sent_Queue for resending."""
        self.transmission_count += 1
        self._start_timer()
        for sent in self.sent_queue:
            if sent.frame_type is frame_type:
                sent.to_be_retransmitted = True

    def _remove_acknowledged(self, n_r: int) -> None:
        acknowledged = sequence_distance(n_r, self.nn_r)
        while self.sent_queue and self.sent_queue[0].frame_type is FrameType.AD and \
                sequence_distance(self.sent_queue[0].n_s, self.nn_r) < acknowledged:
            sent = self.sent_queue.popleft()
            self.counters.inc("ad_confirmed")
            self._notify(NoticeKind.POSITIVE_CONFIRM, "fdu", sent.tag, frame=sent.raw)
        self.nn_r = n_r
        self.transmission_count = 1

    def _release_bc(self) -> None:
        self.sent_queue = deque(s for s in self.sent_queue if s.frame_type is not FrameType.BC)

    def _purge_sent_queue(self) -> None:
        for sent in self.sent_queue:
            if sent.frame_type is FrameType.AD:
                self._notify(NoticeKind.NEGATIVE_CONFIRM, "fdu", sent.tag, frame=sent.raw)
        self.sent_queue.clear()
        self.nn_r = self.v_s

    def _purge_wait_queue(self) -> None:
        if self.wait_queue is not None:
            self._notify(NoticeKind.REJECT, "fdu", self.wait_queue[1])
            self.wait_queue = None

    def _initialise(self) -> None:
        self._purge_sent_queue()
        self._purge_wait_queue()
        self.transmission_count = 1
        self.suspend_state = 0

    def _adopt(self, n_r: int) -> bool:
        """Initial synchronisation: take V(S) from a CLCW unless it predates what we know.

        A V(R) behind the floor is a late copy of an old report. One ahead of every frame we sent is
        not: FARM-1 took frames of another session (this ground before a restart, another station).
        """
        if self._sync_floor is not None and 0 < sequence_distance(self._sync_floor, n_r) < 128:
            return False
        self.v_s = self.nn_r = n_r
        return True

    def _set_floor(self, floor: int | None) -> None:
        self._sync_floor = floor
        self._stale_reports = []

    def _leave_service(self) -> None:
        """Leaving S1-S3 for S6 (an Alert or a suspension): remember what FARM-1's V(R) may be."""
        if self.state in (FopState.ACTIVE, FopState.RETRANSMIT_WITHOUT_WAIT, FopState.RETRANSMIT_WITH_WAIT):
            self._set_floor(self.nn_r)

    def _alert(self, reason: AlertReason) -> None:
        self._leave_service()
        self._cancel_timer()
        self._purge_sent_queue()
        self._purge_wait_queue()
        if self._directive_pending:
            self._notify(NoticeKind.NEGATIVE_CONFIRM, "directive", self._directive_tag)
            self._directive_pending = False
        self.last_alert = reason
        self.counters.inc(f"alert_{reason.value}")
        self._notify(NoticeKind.ALERT, "service", reason=reason)
        self.state = FopState.INITIAL

    def _suspend(self, from_state: int) -> None:
        self._leave_service()
        self.suspend_state = from_state
        self.counters.inc("suspended")
        self._notify(NoticeKind.SUSPEND, "service")
        self.state = FopState.INITIAL

    def _confirm_directive(self) -> None:
        self._set_floor(None)  # synchronised: the next Alert sets a floor of its own
        if self._directive_pending:
            self._notify(NoticeKind.POSITIVE_CONFIRM, "directive", self._directive_tag)
            self._directive_pending = False

    def _start_timer(self) -> None:
        self.timer_deadline = self.clock() + self.t1_initial

    def _cancel_timer(self) -> None:
        self.timer_deadline = None

    def _emit(self, frame_type: FrameType, raw: bytes) -> None:
        self._outbox.append((frame_type, raw))

    def _notify(self, kind: NoticeKind, subject: str, tag: Any = None, reason: AlertReason | None = None,
                frame: bytes | None = None) -> None:
        self._notices.append(Notice(kind, subject, tag, reason, frame))

