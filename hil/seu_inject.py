"""``hil seu inject`` and ``hil seu keygen``: the bench's side of the supervisor's keyed fault interface.

Each request is signed with the bench key (``[flight] bench_key_file`` of the mission file, which
also says where the supervisor listens) and numbered with the clock in nanoseconds, so a supervisor
that heard it once will not carry it out again. The reply is printed as JSON; the exit code is 0
when the supervisor carried it out, 1 when it refused (the reason says why), 2 on a usage error or
when no reply came.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

from flight.link.errors import ConfigError, ZenithError
from flight.link.keys import KeyRing
from flight.mission_config import load_mission
from flight.seu.bit_class import BIT_CLASSES
from flight.supervisor.fault_request import KEY_ID, seal

TARGETS = "param, optim, weights, any, or one tensor's name (param.blocks.0.attn.weight)"


class NoReply(ZenithError):
    """The supervisor did not answer (not running, or its fault interface is off)."""


class FaultClient:
    """Signed requests to one supervisor, each answered before the next goes."""

    def __init__(self, address: str, key: bytes, timeout_s: float = 5.0, ctx: zmq.Context | None = None) -> None:
        self.address = address
        self.key = key
        self.timeout_ms = int(timeout_s * 1000)
        self.ctx = ctx or zmq.Context.instance()
        self._seq = 0
        self.socket = self._connect()

    def _connect(self) -> zmq.Socket:
        socket = self.ctx.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(self.address)
        return socket

    def send(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The supervisor's reply, {"ok", "reason", "detail"}; NoReply when none comes in time."""
        self._seq = max(time.time_ns(), self._seq + 1)  # grows across runs of this client, and within one
        self.socket.send(seal(self.key, kind, self._seq, **fields))
        if not self.socket.poll(self.timeout_ms):
            self.socket.close()
            self.socket = self._connect()  # a REQ socket that got no reply can send nothing more
            raise NoReply(f"no reply from {self.address} in {self.timeout_ms / 1000:g} s: is the supervisor "
                          "running, with a bench_key_file?")
        answer = msgpack.unpackb(self.socket.recv(), raw=False)
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            raise NoReply(f"{self.address} answered something that is not a fault reply")
        return answer

    def close(self) -> None:
        self.socket.close()


def client_for(mission_path: Path | None, timeout_s: float) -> FaultClient:
    """A client for the supervisor of a mission file: its bench key and fault endpoint."""
    mission = load_mission(mission_path)
    settings = mission.flight()
    if not settings.bench_key_file:
        raise ConfigError("the mission file names no [flight] bench_key_file: the fault interface is off")
    key = KeyRing.load(mission.resolve(settings.bench_key_file)).get(KEY_ID)
    endpoint = mission.endpoint(settings.faults, mission.ports.faults())
    return FaultClient(endpoint.address, key, timeout_s)


def add_inject_actions(actions: argparse._SubParsersAction[Any]) -> None:
    inject = actions.add_parser("inject", help="flip a bit in a running job or a checkpoint, or count ECC errors, "
                                "through the supervisor's keyed fault interface", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    inject.add_argument("--mission", type=Path, metavar="FILE.toml",
                        help="the mission file: bench key and ports (default: the bench defaults, no key)")
    inject.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for the reply")
    kinds = inject.add_subparsers(title="faults", dest="fault", metavar="FAULT", required=True)
    flip = kinds.add_parser("flip", help="one bit of a running job's memory, at its next step", allow_abbrev=False)
    flip.add_argument("--job", type=int, required=True, help="the job (it must be running)")
    flip.add_argument("--target", default="any", help=f"what to hit: {TARGETS} (default any)")
    flip.add_argument("--bits", choices=BIT_CLASSES, default="any",
                      help="uniform over an element's bits, or only its sign, exponent or mantissa (default any)")
    flip.add_argument("--seed", type=int, default=0, help="draws the element and bit (default 0)")
    flip.add_argument("--at", metavar="ELEMENT,BIT", help="this element and bit instead (needs a tensor's name)")
    checkpoint = kinds.add_parser("checkpoint", help="one random bit of a job's newest checkpoint file",
                                  allow_abbrev=False)
    checkpoint.add_argument("--job", type=int, required=True)
    checkpoint.add_argument("--seed", type=int, default=0, help="draws the byte and bit (default 0)")
    ecc = kinds.add_parser("ecc", help="errors the simulated GPU counts (as NVML would report them)",
                           allow_abbrev=False)
    ecc.add_argument("--corrected", type=int, default=0, help="corrected (single-bit) errors to add")
    ecc.add_argument("--uncorrected", type=int, default=0, help="uncorrected errors to add: the job restarts")
    ecc.add_argument("--xid", type=int, default=0, help="an Xid event (48, 79, 94, 95 are fatal; default none)")
    inject.set_defaults(handler=run_inject)

    keygen = actions.add_parser("keygen", help="write a new bench key file (mode 0600)", allow_abbrev=False)
    keygen.add_argument("file", type=Path, help="where to write it; name it in [flight] bench_key_file")
    keygen.set_defaults(handler=run_keygen)


def request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request's fields from the options, checked here so that a typo never reaches the spacecraft."""
    numbers = {name: getattr(args, name) for name in ("job", "seed", "corrected", "uncorrected", "xid")
               if hasattr(args, name)}
    outside = [name for name, value in numbers.items() if not 0 <= value < 1 << 32]
    if outside:
        raise ConfigError(f"--{outside[0]} {numbers[outside[0]]}: must be in [0, 2^32)")
    if args.fault != "flip":
        return numbers  # ecc: its three counts; checkpoint: job and seed
    at: list[int] = []
    if args.at is not None:
        try:
            at = [int(part) for part in args.at.split(",")]
        except ValueError:
            at = []
        if len(at) != 2 or min(at) < 0:
            raise ConfigError(f"--at {args.at!r}: ELEMENT,BIT, two integers ≥ 0")
    return {"job": args.job, "target": args.target, "bits": args.bits, "seed": args.seed, "at": at}


def run_inject(args: argparse.Namespace) -> int:
    fields = request_fields(args)
    client = client_for(args.mission, args.timeout)
    try:
        answer = client.send(args.fault, **fields)
    finally:
        client.close()
    print(json.dumps(answer))
    return 0 if answer["ok"] else 1


def run_keygen(args: argparse.Namespace) -> int:
    if args.file.exists():
        raise ConfigError(f"{args.file} exists: a key is never overwritten (remove it first)")
    KeyRing.generate([KEY_ID]).save(args.file)
    print(f"bench key written to {args.file}; name it in the mission file as [flight] bench_key_file")
    return 0
