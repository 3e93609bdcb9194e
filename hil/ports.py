"""Free TCP ports for a bench, so that two benches (or two test runs) can run side by side."""

from __future__ import annotations

import random
import socket

from flight.link.errors import ConfigError


def _free(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_base_port(count: int = 8, host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A base port such that ``count`` consecutive ports are free right now."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(20000, 60000 - count)
        if all(_free(base + i, host) for i in range(count)):
            return base
    raise ConfigError(f"no {count} consecutive free ports found on {host}")
