"""Free TCP ports for a bench, so that two benches (or two test runs) can run side by side."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from flight.link.errors import ConfigError
from flight.link.transport import BenchPorts

LOWEST = 20000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    """Where the kernel starts picking the local ports of outgoing connections (ZMQ connects)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_base_port(count: int = BenchPorts.SPAN, host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A base port such that ``count`` consecutive ports are free right now."""
    rng = random.Random()
    # Below the ephemeral range: a port free now could otherwise become the local end of some
    # connection before the bench binds it ("Address already in use" at start).
    top = _ephemeral_start()
    top = top if top > LOWEST + 1000 + count else 60000
    for _ in range(attempts):
        base = rng.randrange(LOWEST, top - count)
        if all(_free(base + i, host) for i in range(count)):
            return base
    raise ConfigError(f"no {count} consecutive free ports found on {host}")
