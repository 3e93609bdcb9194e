"""FARM-1 (CCSDS 232.1-B-2 section 6): every cell of the state table, windows, wrap-around, CLCW."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.clcw import Clcw
from flight.link.errors import ConfigError
from flight.link.farm import Farm, FarmConfig, FarmOutcome, FarmState
from flight.link.tcframe import FrameType, SetVr, TcFrame, Unlock

VC = 3
Out = FarmOutcome


def ad(ns: int) -> TcFrame:
    return TcFrame(0x2A, VC, FrameType.AD, ns & 0xFF, bytes([ns & 0xFF]))


def bd(tag: int = 0) -> TcFrame:
    return TcFrame(0x2A, VC, FrameType.BD, 0, bytes([tag]))


def unlock() -> TcFrame:
    return TcFrame.bc(0x2A, VC, Unlock())


def set_vr(value: int) -> TcFrame:
    return TcFrame.bc(0x2A, VC, SetVr(value))


def invalid_bc(data: bytes = b"\x01") -> TcFrame:
    return TcFrame(0x2A, VC, FrameType.BC, 0, data)


def make(state: FarmState, v_r: int = 10, width: int = 10, capacity: int = 4) -> Farm:
    """A FARM in ``state``, reached through events rather than by poking its fields."""
    farm = Farm(FarmConfig(VC, width, capacity), v_r=v_r)
    if state is FarmState.WAIT:
        for i in range(capacity):
            assert farm.receive(ad(v_r + i)) is Out.ACCEPTED_AD
        assert farm.receive(ad(v_r + capacity)) is Out.BUFFER_FULL  # E2 in Open
        assert farm.state is FarmState.WAIT
    elif state is FarmState.LOCKOUT:
        assert farm.receive(ad(v_r + 128)) is Out.LOCKOUT_AREA  # E5 in Open
        assert farm.state is FarmState.LOCKOUT
    farm.counters.reset()
    return farm


def snapshot(farm: Farm) -> tuple:
    return farm.state, farm.v_r, farm.retransmit, farm.farm_b_counter, len(farm.buffer)


STATES = [FarmState.OPEN, FarmState.WAIT, FarmState.LOCKOUT]


# --- E1 / E2: AD frame with N(S) = V(R) ----------------------------------------------------------

def test_e1_open_accepts_in_sequence():
    farm = make(FarmState.OPEN)
    farm.receive(ad(12))  # E3 sets Retransmit first
    assert farm.retransmit
    frame = ad(10)
    assert farm.receive(frame) is Out.ACCEPTED_AD
    assert (farm.state, farm.v_r, farm.retransmit) == (FarmState.OPEN, 11, False)
    assert farm.take() is frame
    assert Out.ACCEPTED_AD.accepted and Out.ACCEPTED_BD.accepted and not Out.POSITIVE_WINDOW.accepted


def test_e2_open_buffer_full_goes_to_wait():
    farm = make(FarmState.OPEN, capacity=2)
    assert farm.receive(ad(10)) is Out.ACCEPTED_AD
    assert farm.receive(ad(11)) is Out.ACCEPTED_AD
    assert farm.receive(ad(12)) is Out.BUFFER_FULL
    assert (farm.state, farm.v_r, farm.retransmit, len(farm.buffer)) == (FarmState.WAIT, 12, True, 2)
    assert farm.wait and not farm.lockout
    assert farm.counters["discarded_buffer_full"] == 1


def test_e1_e2_in_wait_discard():
    farm = make(FarmState.WAIT)  # V(R) = 14, buffer full
    before = snapshot(farm)
    assert farm.receive(ad(14)) is Out.IN_WAIT
    assert snapshot(farm) == before
    assert farm.retransmit  # still asking for the retransmission


@pytest.mark.parametrize("ns", [10, 11, 14, 200])
def test_any_ad_in_lockout_is_discarded(ns):
    farm = make(FarmState.LOCKOUT)
    before = snapshot(farm)
    assert farm.receive(ad(ns)) is Out.IN_LOCKOUT
    assert snapshot(farm) == before
    assert farm.counters["discarded_in_lockout"] == 1


# --- E3 / E4 / E5: AD frames in the windows ------------------------------------------------------------

def test_e3_positive_window():
    farm = make(FarmState.OPEN)
    assert farm.receive(ad(11)) is Out.POSITIVE_WINDOW
    assert (farm.state, farm.v_r, farm.retransmit, len(farm.buffer)) == (FarmState.OPEN, 10, True, 0)
    farm = make(FarmState.WAIT)
    before = snapshot(farm)
    assert farm.receive(ad(15)) is Out.POSITIVE_WINDOW
    assert snapshot(farm) == before


@pytest.mark.parametrize("state", STATES)
def test_e4_negative_window_is_a_silent_duplicate(state):
    farm = make(state)
    v_r = farm.v_r
    before = snapshot(farm)
    expected = Out.IN_LOCKOUT if state is FarmState.LOCKOUT else Out.NEGATIVE_WINDOW
    assert farm.receive(ad(v_r - 1)) is expected
    assert farm.receive(ad(v_r - 5)) is expected
    assert snapshot(farm) == before


@pytest.mark.parametrize("state", [FarmState.OPEN, FarmState.WAIT])
def test_e5_lockout_area(state):
    farm = make(state)
    v_r = farm.v_r
    assert farm.receive(ad(v_r + 5)) is Out.LOCKOUT_AREA  # PW = 5: V(R)+5 is outside
    assert farm.state is FarmState.LOCKOUT and farm.lockout
    assert farm.v_r == v_r
    assert farm.counters["lockouts"] == 1
    assert farm.counters["discarded_lockout_area"] == 1
    farm = make(state)
    assert farm.receive(ad(farm.v_r - 6)) is Out.LOCKOUT_AREA  # NW = 5: V(R)-6 is outside
    assert farm.lockout


# --- E6: BD frames ------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", STATES)
def test_e6_bd_accepted_in_every_state(state):
    farm = make(state)
    v_r, retransmit, size = farm.v_r, farm.retransmit, len(farm.buffer)
    frame = bd(7)
    assert farm.receive(frame) is Out.ACCEPTED_BD
    assert (farm.state, farm.v_r, farm.retransmit) == (state, v_r, retransmit)
    assert farm.farm_b_counter == 1
    assert len(farm.buffer) == size + 1 and farm.buffer[-1] is frame
    assert farm.counters["accepted_bd"] == 1


# --- E7: Unlock -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", STATES)
def test_e7_unlock(state):
    farm = make(state)
    if state is FarmState.OPEN:
        farm.receive(ad(farm.v_r + 1))  # E3: Retransmit set, so that Unlock has something to clear
    assert farm.retransmit or state is FarmState.LOCKOUT
    v_r = farm.v_r
    assert farm.receive(unlock()) is Out.UNLOCK
    assert (farm.state, farm.v_r, farm.retransmit, farm.farm_b_counter) == (FarmState.OPEN, v_r, False, 1)
    assert not farm.lockout and not farm.wait


# --- E8: Set V(R) ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", [FarmState.OPEN, FarmState.WAIT])
def test_e8_set_vr_open_and_wait(state):
    farm = make(state)
    farm.receive(ad(farm.v_r + 1))
    assert farm.receive(set_vr(200)) is Out.SET_VR
    assert (farm.state, farm.v_r, farm.retransmit, farm.farm_b_counter) == (FarmState.OPEN, 200, False, 1)
    assert farm.receive(ad(200)) in (Out.ACCEPTED_AD, Out.BUFFER_FULL)


def test_e8_set_vr_in_lockout_only_counts():
    farm = make(FarmState.LOCKOUT)
    assert farm.receive(set_vr(200)) is Out.SET_VR
    assert (farm.state, farm.v_r, farm.farm_b_counter) == (FarmState.LOCKOUT, 10, 1)
    assert farm.counters["set_vr"] == 1


# --- E9: invalid BC -----------------------------------------------------------------------------------

@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("data", [b"", b"\x01", b"\x00\x00", b"\x82\x00", b"\x82\x01\x05", b"\x82\x00\x05\x05"])
def test_e9_invalid_bc_is_discarded(state, data):
    farm = make(state)
    before = snapshot(farm)
    assert farm.receive(invalid_bc(data)) is Out.INVALID_BC
    assert snapshot(farm) == before
    assert farm.counters["discarded_invalid_bc"] == 1


# --- E10: buffer release ------------------------------------------------------------------------------

def test_e10_take_releases_wait():
    farm = make(FarmState.WAIT, v_r=250, capacity=4)  # accepted 250..253; V(R) = 254
    first = farm.take()
    assert first.frame_sequence_number == 250
    assert farm.state is FarmState.OPEN and not farm.wait
    assert farm.retransmit  # cleared by the next in-sequence frame, not by the release
    assert farm.receive(ad(254)) is Out.ACCEPTED_AD
    assert not farm.retransmit
    assert [farm.take().frame_sequence_number for _ in range(4)] == [251, 252, 253, 254]
    assert farm.take() is None


def test_e10_take_in_wait_while_bd_frames_overfill_the_buffer():
    farm = make(FarmState.WAIT, capacity=2)
    farm.receive(bd())
    farm.receive(bd())
    assert len(farm.buffer) == 4
    farm.take()
    assert farm.state is FarmState.WAIT  # still 3 >= 2 frames held
    farm.take()
    farm.take()
    assert farm.state is FarmState.OPEN


@pytest.mark.parametrize("state", [FarmState.OPEN, FarmState.LOCKOUT])
def test_e10_take_elsewhere_does_not_change_state(state):
    farm = make(state)
    held = bd(7)
    farm.receive(held)  # something to release (a BD frame is taken in every state)
    assert farm.take() == held
    assert farm.state is state


# --- E11: the CLCW --------------------------------------------------------------------------------------

def test_clcw_in_each_state():
    farm = make(FarmState.OPEN, v_r=0x2A)
    assert farm.clcw() == Clcw(VC, 0x2A)
    assert farm.clcw().pack() == bytes.fromhex("010c002a")  # COP-1, VC 3, V(R) 0x2A
    farm.receive(ad(0x2C))
    assert farm.clcw() == Clcw(VC, 0x2A, retransmit=True)
    farm = make(FarmState.WAIT, v_r=0x10, capacity=1)
    assert farm.clcw() == Clcw(VC, 0x11, wait=True, retransmit=True)
    farm = make(FarmState.LOCKOUT, v_r=0x10)
    assert farm.clcw(no_rf_available=True, no_bitlock=True) == Clcw(
        VC, 0x10, lockout=True, no_rf_available=True, no_bitlock=True)


def test_farm_b_counter_two_bits_in_the_clcw():
    farm = make(FarmState.OPEN)
    seen = []
    for i in range(9):
        if i % 3 == 0:
            farm.receive(bd())
        elif i % 3 == 1:
            farm.receive(unlock())
        else:
            farm.receive(set_vr(farm.v_r))
        seen.append(farm.clcw().farm_b_counter)
    assert seen == [1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert farm.farm_b_counter == 9


def test_set_vr_in_lockout_increments_farm_b():
    farm = make(FarmState.LOCKOUT)
    for i in range(1, 6):
        farm.receive(set_vr(i))
        assert farm.clcw().farm_b_counter == i & 0b11
        assert farm.clcw().lockout and farm.clcw().report_value == 10


# --- windows and wrap-around -------------------------------------------------------------------------

@pytest.mark.parametrize("width", [2, 4, 10, 64, 126, 254])
@pytest.mark.parametrize("v_r", [0, 1, 127, 128, 250, 255])
def test_window_classification_for_every_offset(width, v_r):
    half = width // 2
    for offset in range(256):
        farm = Farm(FarmConfig(VC, width), v_r=v_r)
        outcome = farm.receive(ad(v_r + offset))
        if offset == 0:
            assert outcome is Out.ACCEPTED_AD and farm.v_r == (v_r + 1) & 0xFF
        elif offset <= half - 1:  # V(R)+1 .. V(R)+PW-1
            assert outcome is Out.POSITIVE_WINDOW and farm.retransmit, offset
        elif offset >= 256 - half:  # V(R)-NW .. V(R)-1
            assert outcome is Out.NEGATIVE_WINDOW and not farm.retransmit, offset
        else:
            assert outcome is Out.LOCKOUT_AREA and farm.lockout, offset


def test_v_r_wraps_255_to_0():
    farm = Farm(FarmConfig(VC, buffer_capacity=1000), v_r=250)
    for i in range(600):
        assert farm.receive(ad(250 + i)) is Out.ACCEPTED_AD
        assert farm.v_r == (251 + i) & 0xFF
    assert farm.receive(ad(250 + 599)) is Out.NEGATIVE_WINDOW  # the last one again: a duplicate
    assert [f.frame_sequence_number for f in list(farm.buffer)[3:8]] == [253, 254, 255, 0, 1]


def test_windows_across_the_wrap():
    farm = Farm(FarmConfig(VC, 10), v_r=254)
    assert farm.receive(ad(2)) is Out.POSITIVE_WINDOW  # 254 + 4
    assert farm.receive(ad(250)) is Out.NEGATIVE_WINDOW  # 254 - 4
    farm = Farm(FarmConfig(VC, 10), v_r=1)
    assert farm.receive(ad(252)) is Out.NEGATIVE_WINDOW  # 1 - 5
    assert farm.receive(ad(251)) is Out.LOCKOUT_AREA  # 1 - 6


def test_go_back_n_recovery_in_order_without_duplicates():
    farm = Farm(FarmConfig(VC, 10))
    delivered = []
    sent = list(range(6))  # frames 3..5 stay inside the positive window (PW - 1 = 4) of V(R) = 2
    for ns in sent:  # first pass loses frame 2
        if ns != 2:
            farm.receive(ad(ns))
    assert farm.clcw().retransmit and farm.clcw().report_value == 2
    assert not farm.lockout
    for ns in range(farm.clcw().report_value, 6):  # go back to N(R) and resend
        farm.receive(ad(ns))
    farm.receive(ad(1))  # late duplicate
    while (frame := farm.take()) is not None:
        delivered.append(frame.frame_sequence_number)
    assert delivered == sent
    assert not farm.retransmit and farm.v_r == 6


@pytest.mark.parametrize("width", [0, 1, 3, 256, -2])
def test_window_width_must_be_even_in_2_254(width):
    with pytest.raises((ValueError, ConfigError)):
        FarmConfig(VC, width)


def test_buffer_capacity_at_least_one():
    with pytest.raises((ValueError, ConfigError)):
        FarmConfig(VC, 10, 0)


def test_state_dict_round_trip():
    farm = make(FarmState.LOCKOUT, v_r=77)
    farm.receive(bd())
    saved = farm.state_dict()
    other = Farm(FarmConfig(VC))
    other.load_state(saved)
    assert (other.state, other.v_r, other.retransmit, other.farm_b_counter) == (
        FarmState.LOCKOUT, 77, farm.retransmit, 1)
    assert other.clcw() == farm.clcw()


# --- model-based: random event sequences against the table ------------------------------------------

events = st.one_of(
    st.tuples(st.just("ad"), st.integers(0, 255)),
    st.tuples(st.just("ad_near"), st.integers(-8, 8)),
    st.tuples(st.just("bd"), st.just(0)),
    st.tuples(st.just("unlock"), st.just(0)),
    st.tuples(st.just("set_vr"), st.integers(0, 255)),
    st.tuples(st.just("invalid_bc"), st.just(0)),
    st.tuples(st.just("take"), st.just(0)),
)


@given(st.sampled_from([2, 4, 10, 254]), st.integers(1, 4), st.integers(0, 255),
       st.lists(events, max_size=80))
@settings(max_examples=400, deadline=None)
def test_random_events_follow_the_table(width, capacity, v_r0, seq):
    farm = Farm(FarmConfig(VC, width, capacity), v_r=v_r0)
    # The reference model, written from the table in the notes. Wait is a flag of its own: set by E2,
    # kept when E5 moves Wait to Lockout, cleared by Unlock, an effective Set V(R) or a freed buffer.
    state, v_r, retransmit, farm_b, buffer, wait = 1, v_r0, False, 0, [], False
    half = width // 2
    for kind, value in seq:
        if kind == "take":
            got = farm.take()
            want = buffer.pop(0) if buffer else None
            assert (got.data if got else None) == want
            if wait and len(buffer) < capacity:
                wait = False
                state = 1 if state == 2 else state
            continue
        if kind in ("ad", "ad_near"):
            ns = value if kind == "ad" else (v_r + value) & 0xFF
            outcome = farm.receive(ad(ns))
            offset = (ns - v_r) & 0xFF
            if state == 3:
                assert outcome is Out.IN_LOCKOUT
            elif offset == 0:
                if state == 2:
                    assert outcome is Out.IN_WAIT
                elif len(buffer) >= capacity:
                    assert outcome is Out.BUFFER_FULL
                    state, retransmit, wait = 2, True, True
                else:
                    assert outcome is Out.ACCEPTED_AD
                    buffer.append(bytes([ns]))
                    v_r, retransmit = (v_r + 1) & 0xFF, False
            elif offset < half:
                assert outcome is Out.POSITIVE_WINDOW
                retransmit = retransmit or state == 1
            elif offset >= 256 - half:
                assert outcome is Out.NEGATIVE_WINDOW
            else:
                assert outcome is Out.LOCKOUT_AREA
                state = 3
        elif kind == "bd":
            assert farm.receive(bd(0xBD)) is Out.ACCEPTED_BD
            buffer.append(b"\xbd")
            farm_b += 1
        elif kind == "unlock":
            assert farm.receive(unlock()) is Out.UNLOCK
            farm_b, retransmit, state, wait = farm_b + 1, False, 1, False
        elif kind == "set_vr":
            assert farm.receive(set_vr(value)) is Out.SET_VR
            farm_b += 1
            if state != 3:
                v_r, retransmit, state, wait = value, False, 1, False
        else:
            assert farm.receive(invalid_bc()) is Out.INVALID_BC
        assert (int(farm.state), farm.v_r, farm.retransmit, farm.farm_b_counter) == (state, v_r, retransmit,
                                                                                     farm_b)
        assert farm.clcw() == Clcw(VC, v_r, lockout=state == 3, wait=wait, retransmit=retransmit,
                                   farm_b_counter=farm_b & 3)


def test_wait_survives_lockout_until_unlock() -> None:
    """232.1-B-2: Lockout entered from Wait keeps the Wait flag; Unlock clears both."""
    farm = Farm(FarmConfig(0, buffer_capacity=1))
    assert farm.receive(ad(0)) is FarmOutcome.ACCEPTED_AD
    assert farm.receive(ad(1)) is FarmOutcome.BUFFER_FULL
    assert farm.receive(ad(100)) is FarmOutcome.LOCKOUT_AREA
    clcw = farm.clcw()
    assert clcw.lockout and clcw.wait
    farm.receive(TcFrame.bc(0, 0, Unlock()))
    assert not farm.clcw().wait and not farm.clcw().lockout


def test_bd_frames_are_bounded_even_though_they_bypass_flow_control() -> None:
    from flight.link.farm import BD_HEADROOM

    farm = Farm(FarmConfig(0, buffer_capacity=2))
    outcomes = [farm.receive(TcFrame(0, 0, FrameType.BD, 0, b"")) for _ in range(2 + BD_HEADROOM + 3)]
    assert outcomes.count(FarmOutcome.ACCEPTED_BD) == 2 + BD_HEADROOM
    assert outcomes.count(FarmOutcome.BD_BUFFER_FULL) == 3
    assert len(farm.buffer) == 2 + BD_HEADROOM
