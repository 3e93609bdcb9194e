"""``flight link``: the payload's link end as a process, over ZeroMQ.

Frames from the uplink go through :class:`~flight.link_node.LinkNode`; a TM frame goes down after
every uplink burst (so FOP-1 hears the CLCW at once), whenever telemetry is queued, and otherwise
every ``tm.frame_interval`` seconds, as a fixed-rate downlink would keep the CLCW fresh.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

import zmq

from flight.counters import merged
from flight.dictionary import Dictionary
from flight.link.config import LinkConfig, build_sdls
from flight.link.transport import Endpoint, FrameReceiver, FrameSender
from flight.link_node import Arrival, LinkNode
from flight.link_state import LinkStateFile


def run_link_node(config: LinkConfig, dictionary: Dictionary, uplink: Endpoint, downlink: Endpoint,
                  arrivals: Path | None = None, duration: float | None = None, out: TextIO = sys.stdout,
                  state: Path | None = None) -> int:
    sdls = build_sdls(config)
    state_file = LinkStateFile(state) if state else None
    if state_file is None:
        print("flight link: warning: no --state file: FARM-1 and anti-replay state will not survive a restart",
              file=sys.stderr)
    ctx = zmq.Context()
    rx = FrameReceiver(ctx, uplink, "radio_up")
    tx = FrameSender(ctx, downlink, "radio_down")
    node = LinkNode(config, dictionary, sdls, time.time, state_file)
    if node.restored:
        print(f"flight link: restored FARM-1 and SDLS state from {state}", file=out, flush=True)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log = arrivals.open("a", buffering=1) if arrivals else None

    def report(arrival: Arrival) -> None:
        line = json.dumps(arrival.as_dict())
        print(f"ARRIVED {line}", file=out, flush=True)
        if log:
            log.write(line + "\n")

    interval = config.tm.frame_interval
    end = time.monotonic() + duration if duration else None
    next_frame = time.monotonic()
    for arrival in node.resume():  # what a restart interrupted, before anything new
        report(arrival)
    try:
        while not stopping and (end is None or time.monotonic() < end):
            raw = rx.recv(max(0.0, next_frame - time.monotonic()))
            heard = raw is not None
            while raw is not None:
                for arrival in node.on_uplink(raw):
                    report(arrival)
                raw = rx.recv(0)
            if heard or node.mux.has_data() or time.monotonic() >= next_frame:
                tx.send(node.next_frame())
                next_frame = time.monotonic() + interval
    finally:
        counters = node.housekeeping() | merged(tx.counters, rx.counters)
        print(json.dumps({"counters": counters}), file=out, flush=True)
        if log:
            log.close()
        rx.close()
        tx.close()
        ctx.term()
    return 0
