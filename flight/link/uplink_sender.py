"""The ground end of the uplink: packets → FOP-1 (with SDLS ApplySecurity) → TC frames → CLTUs.

FOP-1 holds one FDU in its Wait_Queue; this class keeps the operator's queue behind it and feeds it
as FOP-1 accepts. It also recovers from COP-1 alerts without losing or repeating a command:

* the FDUs an Alert purges keep the frame, and so the N(S), they were sent with ("limbo");
* the service is re-initiated: with CLCW check, adopting V(S) from the first fresh CLCW (FOP-1 refuses
  one older than the acknowledged point), or, when FARM-1 reports Lockout, Retransmit or Wait, with
  Unlock after Set V(S) to the V(R) it reports;
* once the spacecraft has confirmed its V(R) (the initiation completes), the limbo FDUs below it were
  delivered (only their acknowledgement was lost); the others are sent again, first, with the same
  N(S) as before, so a late copy of an old frame and its resend are the same frame to FARM-1, which
  takes exactly one of them.
"""

from __future__ import annotations

import enum
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flight.counters import Counters
from flight.link.clcw import COP_1, Clcw
from flight.link.cltu import CltuCodec, CltuConfig
from flight.link.config import LinkConfig
from flight.link.errors import ConfigError, TcFrameError
from flight.link.fop import (
    AlertReason,
    Fop,
    FopState,
    InitiateMode,
    Notice,
    NoticeKind,
    sequence_distance,
)
from flight.link.sdls import Sdls
from flight.link.tcframe import FECF_LEN, MAX_FRAME_LEN, PRIMARY_HEADER_LEN, SegmentHeader


class SenderEventKind(enum.Enum):
    ACCEPTED = "accepted"  # FOP-1 took the packet into a frame
    CONFIRMED = "confirmed"  # a CLCW acknowledged it: FARM-1 has it
    ALERT = "alert"  # COP-1 alert; recovery follows when enabled
    SUSPENDED = "suspended"
    SYNCHRONISED = "synchronised"  # the AD service is (again) active


@dataclass(frozen=True, slots=True)
class SenderEvent:
    kind: SenderEventKind
    tag: Any = None
    detail: str = ""


@dataclass(slots=True)
class _Fdu:
    """One frame's data: a packet, or several blocked together (CCSDS 232.0 2.3.3), each with its tag."""
    packets: list[bytes]
    tags: list[Any]
    prepared: bytes | None = None  # the frame it last went out in, to resend bit-identically

    @property
    def data(self) -> bytes:
        return b"".join(self.packets)

    @property
    def length(self) -> int:
        return sum(len(p) for p in self.packets)


class UplinkSender:
    def __init__(self, config: LinkConfig, clock: Callable[[], float], sdls: Sdls | None,
                 auto_recover: bool = True) -> None:
        if sdls is not None and not sdls.protects(config.fop.vcid):
            raise ConfigError(f"virtual channel {config.fop.vcid} has no security association: commands would go "
                              "out unauthenticated and the payload would refuse them")
        channel = config.channel(config.fop.vcid)
        segment = SegmentHeader() if channel is not None and channel.segmented else None
        self.fop = Fop(config.fop, config.spacecraft_id, clock, sdls.protect if sdls else None, segment)
        overhead = PRIMARY_HEADER_LEN + (segment is not None) + FECF_LEN
        if sdls is not None:
            overhead += sdls.overhead(config.fop.vcid)
        self.max_packet_length = MAX_FRAME_LEN - overhead
        self.cltu = CltuCodec(CltuConfig(config.tc.randomize, config.tc.correct_errors)) if config.tc.cltu else None
        self.auto_recover = auto_recover
        self.blocking = config.fop.blocking
        self.last_clcw: Clcw | None = None
        self._queue: deque[_Fdu] = deque()
        self._inflight: dict[int, _Fdu] = {}
        self._limbo: list[_Fdu] = []  # purged by an Alert, each with the frame it went out in
        self._unconfirmed = 0  # AD packets sent for and not yet confirmed: those in the three above
        self._expedited: deque[_Fdu] = deque()
        self._bypass: dict[int, _Fdu] = {}  # BD FDUs handed to FOP-1, until it accepts them
        self._ids = itertools.count()
        self._events: deque[SenderEvent] = deque()
        self._started = False
        self._clock = clock
        self._settle = config.fop.start_settle
        self._hold_until = 0.0
        self._heard_since_suspend = False
        self._stopped_by_operator = False  # the last Alert was a Terminate: no automatic recovery
        self.counters = Counters("uplink")

    # --- operator side -------------------------------------------------------------------------

    def start(self) -> None:
        """Initiate the AD service, synchronising V(S) from the spacecraft's first CLCW."""
        self._started = True
        self.fop.initiate_ad(InitiateMode.WITH_CLCW_CHECK, tag="initiate")
        self._service()

    def send(self, packet: bytes, tag: Any = None) -> None:
        """Queue a packet for sequence-controlled (AD) delivery: exactly once, in order."""
        self._check_fits(packet)
        last = self._queue[-1] if self._queue else None
        if self.blocking and last is not None and last.prepared is None and \
                last.length + len(packet) <= self.max_packet_length:
            # Waiting behind others anyway: it rides in the same frame as the one before it, so a
            # backlog moves as many commands per frame (and per COP-1 round trip) as fit.
            last.packets.append(packet)
            last.tags.append(tag)
            self.counters.inc("blocked")
        else:
            self._queue.append(_Fdu([packet], [tag]))
        self._unconfirmed += 1
        self.counters.inc("queued")
        self._service()

    def send_expedited(self, packet: bytes, tag: Any = None) -> None:
        """Send a packet in a BD frame: bypasses FARM-1 checks, even in Lockout; no retransmission.

        FOP-1 takes one BD frame at a time (until the lower layer accepts it); the rest wait here.
        """
        self._check_fits(packet)
        self._expedited.append(_Fdu([packet], [tag]))
        self._service()

    def _check_fits(self, packet: bytes) -> None:
        if len(packet) > self.max_packet_length:
            raise TcFrameError("frame_length", f"a {len(packet)}-octet packet does not fit a TC frame on this "
                                               f"channel (at most {self.max_packet_length} octets)")

    def take_events(self) -> list[SenderEvent]:
        events = list(self._events)
        self._events.clear()
        return events

    @property
    def pending(self) -> int:
        """AD packets not yet acknowledged by the spacecraft (FOP-1's Wait_Queue is in ``_inflight``).

        Kept as a count, not summed over a backlog that may hold thousands: callers ask every tick."""
        return self._unconfirmed

    # --- link side -----------------------------------------------------------------------------

    def on_clcw(self, clcw: Clcw) -> None:
        if clcw.virtual_channel_id == self.fop.virtual_channel_id and clcw.cop_in_effect == COP_1:
            self.last_clcw = clcw  # recovery reads it: it must be this channel's own report
            self._heard_since_suspend = True
        self.fop.on_clcw(clcw)
        self._service()

    def poll(self) -> None:
        self.fop.poll_timer()
        self._service()

    def take_frames(self) -> list[bytes]:
        """Frames ready for the radio, CLTU-encoded when configured; the lower layer accepts each."""
        out = []
        while (item := self.fop.take_frame()) is not None:
            kind, raw = item
            out.append(self.cltu.encode(raw) if self.cltu else raw)
            self.fop.lower_layer(kind, accepted=True)  # the ZMQ queue has taken it
            self._service()
        return out

    # --- internals -----------------------------------------------------------------------------

    def _service(self) -> None:
        """Handle FOP-1's notices, feed it from the queue, recover when it has stopped."""
        while True:
            notices = self.fop.take_notices()
            for notice in notices:
                self._handle(notice)
            fed = False
            if self._expedited and self.fop.bd_out_ready:
                fdu = self._expedited.popleft()
                fdu_id = next(self._ids)
                self._bypass[fdu_id] = fdu
                self.fop.request_bd(fdu.data, fdu_id)
                fed = True
            while self._queue and self.fop.can_accept_ad and self._clock() >= self._hold_until:
                fdu = self._queue.popleft()
                fdu_id = next(self._ids)
                self._inflight[fdu_id] = fdu
                self.fop.request_ad(fdu.data, fdu_id, fdu.prepared)
                fed = True
            if not notices and not fed:
                break
        self._recover()

    def _handle(self, notice: Notice) -> None:
        kind, tag = notice.kind, notice.tag
        if notice.subject == "fdu" and isinstance(tag, int) and tag in self._bypass:
            fdu = self._bypass.pop(tag)
            if kind is NoticeKind.ACCEPT:
                self.counters.inc("expedited")
                self._events_for(SenderEventKind.ACCEPTED, fdu)
            else:  # BD_Out was not ready after all: try again with the next frame
                self._expedited.appendleft(fdu)
        elif notice.subject == "fdu" and isinstance(tag, int) and tag in self._inflight:
            if kind is NoticeKind.ACCEPT:
                self._events_for(SenderEventKind.ACCEPTED, self._inflight[tag])
            elif kind is NoticeKind.POSITIVE_CONFIRM:
                self._confirmed(self._inflight.pop(tag))
            elif kind is NoticeKind.NEGATIVE_CONFIRM and notice.frame is not None:
                fdu = self._inflight.pop(tag)
                fdu.prepared = notice.frame
                self._limbo.append(fdu)
            elif kind is NoticeKind.REJECT:  # the Wait_Queue was purged: the FDU was never sent
                self._queue.appendleft(self._inflight.pop(tag))
        elif kind is NoticeKind.ALERT and notice.reason is not None:
            self._stopped_by_operator = notice.reason is AlertReason.TERM
            self.counters.inc(f"alert_{notice.reason.value}")
            self._event(SenderEventKind.ALERT, detail=notice.reason.value)
        elif kind is NoticeKind.SUSPEND:
            self._heard_since_suspend = False
            self._event(SenderEventKind.SUSPENDED)
        elif notice.subject == "directive" and kind is NoticeKind.POSITIVE_CONFIRM and tag in ("initiate", "recover"):
            if tag == "initiate":
                self._hold_until = self._clock() + self._settle
            self._reconcile(self.fop.v_s)
            self._event(SenderEventKind.SYNCHRONISED, detail=f"V(S)={self.fop.v_s}")

    def _confirmed(self, fdu: _Fdu) -> None:
        self._unconfirmed -= len(fdu.packets)
        self.counters.inc("confirmed", len(fdu.packets))
        self._events_for(SenderEventKind.CONFIRMED, fdu)

    def _reconcile(self, v_r: int) -> None:
        """Split limbo at the spacecraft's V(R): delivered below it, resent (first, same order) above."""
        if not self._limbo:
            return
        first = self._limbo[0].prepared
        assert first is not None  # limbo FDUs all went out, so each has its frame
        delivered = sequence_distance(v_r, first[4])  # octet 4: the N(S) it went out with
        if delivered > len(self._limbo):
            delivered = 0  # V(R) is outside what we sent: FARM took none of them
        for fdu in self._limbo[:delivered]:
            self.counters.inc("confirmed_by_resync")
            self._confirmed(fdu)
        for fdu in reversed(self._limbo[delivered:]):
            self.counters.inc("resent_after_alert")
            self._queue.appendleft(fdu)
        self._limbo.clear()

    def _recover(self) -> None:
        fop = self.fop
        if not (self._started and self.auto_recover) or fop.state is not FopState.INITIAL:
            return
        suspended = bool(fop.suspend_state)
        if suspended:
            # Timeout type 1 suspends instead of alerting. A plain Resume would only suspend again (the
            # transmission count stays at the limit), so once the spacecraft is heard again the service
            # is initiated anew (Initialise ends the suspension): limbo goes out again, bit-identical.
            if not self._heard_since_suspend:
                return
            self.counters.inc("restarted_after_suspend")
        elif self._stopped_by_operator:
            return  # the operator stopped the service on purpose
        self.counters.inc("recoveries")
        clcw = self.last_clcw
        if not suspended and clcw is not None and (clcw.lockout or clcw.retransmit or clcw.wait):
            # FARM-1 is not clean: a CLCW check would only alert again. Unlock clears its flags;
            # V(S) starts at the V(R) it reports, and limbo is settled once it confirms that V(R).
            # (Set V(S) is refused while suspended: then the CLCW check alerts, and the next try unlocks.)
            fop.set_v_s(clcw.report_value)
            fop.initiate_ad(InitiateMode.WITH_UNLOCK, tag="recover")
        else:
            fop.initiate_ad(InitiateMode.WITH_CLCW_CHECK, tag="recover")
        for notice in fop.take_notices():
            self._handle(notice)

    def _events_for(self, kind: SenderEventKind, fdu: _Fdu) -> None:
        for tag in fdu.tags:
            self._event(kind, tag)

    def _event(self, kind: SenderEventKind, tag: Any = None, detail: str = "") -> None:
        self._events.append(SenderEvent(kind, tag, detail))
