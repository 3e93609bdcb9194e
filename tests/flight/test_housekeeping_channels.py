"""The dictionary's link channels are the counters the running services really keep.

Housekeeping (next issue) reports counters by the dictionary's channel names; a channel that no
counter feeds would report zero forever. This drives the payload's link end through every case the
channels count and checks each channel's name turns up with a non-zero count.
"""

from __future__ import annotations

from collections import Counter

import msgpack

from flight.dictionary import encode_command, load_dictionary
from flight.link.cltu import CltuCodec
from flight.link.config import LinkConfig, SdlsSettings, TcChannel, TcSettings
from flight.link.farm import Farm, FarmConfig
from flight.link.keys import KeyRing
from flight.link.pus import build_tc
from flight.link.sdls import Sdls, SecurityAssociation
from flight.link.tcframe import FrameType, SetVr, TcFrame, Unlock
from flight.link_node import LinkNode

DICTIONARY = load_dictionary()
STATE_CHANNELS = {"farm.v_r", "farm.state"}  # values, not counters


def test_every_link_channel_is_fed_by_a_counter() -> None:
    sas = (SecurityAssociation(1, "tc-0", (0,)), SecurityAssociation(2, "tc-1", (1,)))
    channels = (TcChannel(0, accept_set_vr=True), TcChannel(1), TcChannel(2))
    config = LinkConfig(tc=TcSettings(channels=channels), sdls=SdlsSettings(sas))
    keys = KeyRing.generate(["tc-0", "tc-1"])
    ground = Sdls(list(sas), keys)
    node = LinkNode(config, DICTIONARY, Sdls(list(sas), keys), lambda: 1.0e9)
    codec = CltuCodec()
    scid = config.spacecraft_id

    def send(frame: TcFrame, protect: Sdls | None = ground, flip: int | None = None) -> bytes:
        raw = codec.encode(protect.protect(frame) if protect else frame.pack())
        if flip is not None:
            raw = raw[:flip] + bytes([raw[flip] ^ 0x01]) + raw[flip + 1 :]
        node.on_uplink(raw)
        return raw

    ping = encode_command(DICTIONARY, "PING")
    good = send(TcFrame(scid, 0, FrameType.AD, 0, ping), flip=4)  # one bit error, corrected
    node.on_uplink(good)  # the same CLTU again: a replay
    bad_argument = build_tc(16, 8, 1, b"\x00\x02" + msgpack.packb([99]), seq_count=1)  # RESET_COUNTERS, no such service
    send(TcFrame(scid, 0, FrameType.AD, 1, bad_argument))
    send(TcFrame(scid, 0, FrameType.AD, 2, ping), protect=Sdls(list(sas), KeyRing.generate(["tc-0", "tc-1"])))
    send(TcFrame(scid, 0, FrameType.AD, 2, (9).to_bytes(2, "big") + bytes(40)), protect=None)  # unknown SPI
    send(TcFrame(scid, 0, FrameType.AD, 2, b"\x00"), protect=None)  # truncated
    spi1_on_vc1 = ground.protect(TcFrame(scid, 0, FrameType.AD, 0, ping))
    node.on_uplink(codec.encode(TcFrame(scid, 1, FrameType.AD, 0, TcFrame.unpack(spi1_on_vc1).data).pack()))
    send(TcFrame(scid, 2, FrameType.AD, 0, ping), protect=None)  # VC 2 has no security association
    send(TcFrame(scid, 0, FrameType.BD, 0, ping))
    send(TcFrame(scid, 0, FrameType.AD, 4, ping))  # V(R) is 2: ahead, in the positive window
    send(TcFrame(scid, 0, FrameType.AD, 1, ping))  # behind: a duplicate
    send(TcFrame(scid, 0, FrameType.AD, 120, ping))  # far away: Lockout
    send(TcFrame(scid, 0, FrameType.AD, 2, ping))  # discarded in Lockout
    send(TcFrame.bc(scid, 0, Unlock()))
    send(TcFrame.bc(scid, 0, SetVr(2)))
    send(TcFrame.bc(scid, 1, SetVr(5)))  # VC 1 refuses Set V(R): it travels in clear
    send(TcFrame(scid, 0, FrameType.BC, 0, b"\x01\x02"), protect=None)  # neither Unlock nor Set V(R)
    for _ in range(3):
        node.next_frame()  # telemetry, then idle frames

    # Wait cannot happen behind LinkNode, which empties FARM-1's buffer at once: show it on a FARM.
    farm = Farm(FarmConfig(0, buffer_capacity=1))
    for n_s in (0, 1, 1):
        farm.receive(TcFrame(scid, 0, FrameType.AD, n_s, b""))

    counted = Counter(node.housekeeping()) + Counter(farm.counters.snapshot())
    for channel in DICTIONARY.telemetry:
        if channel.name in STATE_CHANNELS:
            continue
        assert counted.get(channel.name, 0) > 0, f"dictionary channel {channel.name} is fed by no counter"
