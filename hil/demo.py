"""``hil demo`` (``make run`` for now): commands through COP-1 over a faulty emulated link.

It starts the real processes, ``hil link`` with seeded faults and ``flight link``, and runs the ground
station's link in this process. It sends a stream of dictionary commands through FOP-1 with SDLS,
shows each one leave the ground, arrive on board and be acknowledged, lets an attacker without the
key try a forged command, and ends with a summary that checks every command arrived exactly once and
in order. Every number it prints comes from the running processes' counters.
"""

from __future__ import annotations

import argparse
import json
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight.dictionary import encode_command, load_dictionary
from flight.link.config import LinkConfig
from flight.link.keys import KeyRing
from flight.link.pus import PacketHeader
from flight.link.sdls import Sdls
from flight.link.tcframe import FrameType, TcFrame
from flight.link.transport import BenchPorts
from flight.link.uplink_sender import SenderEventKind
from ground.iv_state import new_key_file
from ground.link import GroundLink
from hil.ports import free_base_port
from hil.process_group import ProcessGroup

# The faults the demo flies through, as ``hil link`` options.
DEMO_FAULTS = {
    "loss": "0.1",
    "duplicate": "0.05",
    "reorder": "0.1",
    "delay": "0.02",
    "jitter": "0.01",
    "up-ber": "1e-4",
    "up-bandwidth": "64000",
}
FORGERIES = 3  # the attacker tries a few times: the faulty link may lose an attempt
# RESET_COUNTERS zeroes only the command counters: the summary reads the link's counters at the end.
COMMAND_CYCLE: list[tuple[str, dict[str, Any]]] = [
    ("PING", {}),
    ("NOOP", {}),
    ("RESET_COUNTERS", {"service": "COMMANDS"}),
]


def add_demo_command(commands: argparse._SubParsersAction[Any]) -> None:
    demo = commands.add_parser(
        "demo", help="fly commands through COP-1 and SDLS over the faulty emulated link (make run)",
        description="Start the link emulator with faults and the flight link process, send commands from the "
                    "ground through COP-1 with SDLS, and show them arrive exactly once and in order.")
    demo.add_argument("--commands", type=int, default=40, help="how many commands to send (default 40)")
    demo.add_argument("--interval", type=float, default=0.1,
                      help="seconds between commands the operator sends (default 0.1)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the link faults (default 7)")
    demo.add_argument("--base-port", type=int, help="first of four bench ports (default: any free ones)")
    demo.add_argument("--out", type=Path, default=Path("out/demo"),
                      help="directory for keys, capture, logs and summary (default out/demo)")
    demo.add_argument("--timeout", type=float, default=240.0, help="give up after this many seconds (default 240)")
    demo.add_argument("--fault", action="append", default=[], metavar="OPTION=VALUE",
                      help="override a `hil link` fault option, e.g. --fault loss=0.2 (repeatable)")
    demo.set_defaults(handler=run_demo)


@dataclass
class _Show:
    """Timestamped lines on the console."""

    start: float = field(default_factory=time.monotonic)

    def __call__(self, who: str, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.2f}s] {who:<8} {text}", flush=True)


def _faults(overrides: list[str]) -> dict[str, str]:
    faults = dict(DEMO_FAULTS)
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"hil demo: --fault {item!r} is not OPTION=VALUE")
        faults[name.strip().lstrip("-")] = value.strip()
    return faults


def run_demo(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    keys_path = out / "demo-keys.json"
    new_key_file(keys_path)  # fresh keys each run: keys are never committed
    config = LinkConfig(keys_file=str(keys_path))
    dictionary = load_dictionary()
    base = args.base_port or free_base_port()
    ports = BenchPorts(base)
    faults = _faults(args.fault)
    show = _Show()
    arrivals: queue.Queue[dict[str, Any]] = queue.Queue()

    def on_line(name: str, line: str) -> None:
        if line.startswith("ARRIVED "):
            arrivals.put(json.loads(line.removeprefix("ARRIVED ")))

    fault_args = [a for name, value in faults.items() for a in (f"--{name}", value)]
    show("bench", f"ports {base}..{base + 3}, faults: " + ", ".join(f"{k}={v}" for k, v in faults.items()))
    with ProcessGroup(out) as group:
        group.start("link", "hil.cli", ["link", "--base-port", str(base), "--seed", str(args.seed),
                                        "--capture", str(out / "capture.jsonl"), "--stats", str(out / "link-stats.json"),
                                        *fault_args], on_line)
        group.start("flight", "flight.cli", ["link", "--base-port", str(base), "--keys", str(keys_path),
                                             "--arrivals", str(out / "arrivals.jsonl"),
                                             "--state", str(out / "flight-link-state.json")], on_line)
        ground = GroundLink(config, dictionary, ports.ground_uplink(), ports.ground_downlink())
        try:
            result = _fly(ground, args.commands, args.interval, arrivals, show, args.timeout, config)
        finally:
            ground.close()
        codes = group.stop_all()
    summary = _summary(out, result, codes)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(summary, out)
    return 0 if summary["exactly_once_in_order"] else 1


@dataclass
class _Flight:
    sent: list[tuple[str, int]] = field(default_factory=list)
    arrived: list[tuple[str, int]] = field(default_factory=list)
    confirmed: int = 0
    alerts: list[str] = field(default_factory=list)
    forged_sent: int = 0
    wall_s: float = 0.0
    ground: dict[str, int] = field(default_factory=dict)


def _fly(ground: GroundLink, count: int, interval: float, arrivals: queue.Queue[dict[str, Any]], show: _Show,
         timeout: float, config: LinkConfig) -> _Flight:
    started = time.monotonic()
    flight = _Flight()
    ground.start()
    show("ground", f"{count} commands, one every {interval} s, through COP-1 (AD) with SDLS authenticated encryption")

    def send_due() -> None:
        while len(flight.sent) < count and time.monotonic() >= started + interval * len(flight.sent):
            number = len(flight.sent) + 1
            name, arguments = COMMAND_CYCLE[len(flight.sent) % len(COMMAND_CYCLE)]
            packet = ground.command(name, arguments, tag=(number, name))
            flight.sent.append((name, PacketHeader.unpack(packet).sequence_count))
            show("ground", f"#{number:<3} {name:<15} sent {_args(arguments)}")

    forged_at = {count // 4, count // 2, 3 * count // 4}

    def drain() -> None:
        send_due()
        for event in ground.events:
            if event.kind is SenderEventKind.CONFIRMED:
                flight.confirmed += 1
                number, name = event.tag
                show("ground", f"#{number:<3} {name:<15} acknowledged by the CLCW")
            elif event.kind is SenderEventKind.ALERT:
                flight.alerts.append(event.detail)
                show("ground", f"COP-1 alert ({event.detail}): recovering without loss or repeats")
            elif event.kind is SenderEventKind.SYNCHRONISED:
                show("ground", f"COP-1 AD service active, {event.detail}")
        ground.events.clear()
        while not arrivals.empty():
            record = arrivals.get()
            flight.arrived.append((record["name"], record["sequence_count"]))
            show("flight", f"#{len(flight.arrived):<3} {record['name']:<15} arrived on board "
                           f"(apid {record['apid']}, seq {record['sequence_count']})")
            if len(flight.arrived) in forged_at and flight.forged_sent < FORGERIES:
                _forge(ground, config)
                flight.forged_sent += 1
                show("attacker", "sends a NOOP in a frame protected with the wrong key")

    def all_done() -> bool:
        drain()
        return len(flight.arrived) >= count and flight.confirmed >= count

    def never() -> bool:
        drain()
        return False

    ground.run_until(all_done, timeout)
    ground.run_until(never, 1.0)  # let late duplicates arrive (they must be discarded) before judging
    flight.wall_s = time.monotonic() - started
    flight.ground = ground.housekeeping()
    return flight


def _args(arguments: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in arguments.items())


def _forge(ground: GroundLink, config: LinkConfig) -> None:
    """An attacker who knows the protocol but not the key: a well-formed, wrongly keyed frame."""
    attacker = Sdls(list(config.sdls.associations), KeyRing.generate(["tc-0"]))
    tc = encode_command(ground.dictionary, "NOOP")
    raw = attacker.apply(TcFrame(config.spacecraft_id, 0, FrameType.BD, 0, tc)).pack()
    ground.tx.send(ground.sender.cltu.encode(raw) if ground.sender.cltu else raw)


def _summary(out: Path, flight: _Flight, codes: dict[str, int | None]) -> dict[str, Any]:
    flight_counters: dict[str, int] = {}
    log = out / "flight.log"
    if log.exists():
        for line in log.read_text().splitlines():
            if line.startswith('{"counters"'):
                flight_counters = json.loads(line)["counters"]
    link_stats: dict[str, Any] = {}
    if (out / "link-stats.json").exists():
        link_stats = json.loads((out / "link-stats.json").read_text())
    return {
        "commands_sent": len(flight.sent),
        "commands_arrived": len(flight.arrived),
        "commands_acknowledged": flight.confirmed,
        "exactly_once_in_order": flight.arrived == flight.sent,
        "duplicates_on_board": len(flight.arrived) - len(set(flight.arrived)),
        "cop1_alerts": flight.alerts,
        "forged_frames_sent": flight.forged_sent,
        "forged_frames_rejected": flight_counters.get("sdls.rejected_bad_mac", 0),
        "forged_frames_executed": sum(1 for name, _ in flight.arrived if (name, _) not in flight.sent),
        "wall_s": round(flight.wall_s, 2),
        "exit_codes": codes,
        "ground": flight.ground,
        "flight": flight_counters,
        "link": link_stats,
    }


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    g, f = summary["ground"], summary["flight"]
    rows = [
        ("commands sent / arrived / acknowledged",
         f"{summary['commands_sent']} / {summary['commands_arrived']} / {summary['commands_acknowledged']}"),
        ("exactly once, in order", "yes" if summary["exactly_once_in_order"] else "NO"),
        ("AD frames sent / retransmitted", f"{g.get('fop.ad_sent', 0)} / {g.get('fop.ad_retransmitted', 0)}"),
        ("COP-1 alerts (recovered)", str(len(summary["cop1_alerts"]))),
        ("FARM-1 discarded (window) ", str(f.get("farm.discarded_positive_window", 0)
                                           + f.get("farm.discarded_negative_window", 0))),
        ("uplink frames rejected on board", str(f.get("tc.rejected", 0))),
        ("BCH bits corrected", str(f.get("cltu.corrected_bits", 0))),
        ("forged frames: sent / rejected (bad MAC) / executed",
         f"{summary['forged_frames_sent']} / {summary['forged_frames_rejected']} / {summary['forged_frames_executed']}"
         "   (the link may lose or duplicate some)"),
        ("downlink frame gaps seen by ground", str(g.get("tm_demux.vc_gaps", 0))),
        ("wall time", f"{summary['wall_s']} s"),
    ]
    width = max(len(r[0]) for r in rows)
    print("\nZenith link demo: summary")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print(f"\n  files: {out}/summary.json, capture.jsonl (try: ground decode --capture {out}/capture.jsonl "
          f"--keys {out}/demo-keys.json), link.log, flight.log")
