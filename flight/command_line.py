"""What the ``flight``, ``ground`` and ``hil`` commands share: one way to run a subcommand and fail.

A mistake the user can fix (a bad option, an unreadable file, a port in use) comes back as a
ZenithError and is printed as one line, ``PROG COMMAND: error: ...``, with exit code 2, never as a
traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

from flight.link.errors import ZenithError
from flight.link.transport import Endpoint


def endpoint_argument(text: str) -> Endpoint:
    """argparse type for an endpoint option: a bad one is a usage error, like any other bad option."""
    try:
        return Endpoint.parse(text)
    except ZenithError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_subcommand(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ZenithError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `ground decode ... | head`: the reader has what it wanted
        sys.stderr.close()
        return 0


class StopRequest:
    """What ends a long-lived process's loop: SIGINT, SIGTERM, or ``duration`` seconds gone by."""

    def __init__(self, duration: float | None = None) -> None:
        self._signalled = False
        self._end = time.monotonic() + duration if duration else None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self._signalled = True

    def __bool__(self) -> bool:
        return self._signalled or (self._end is not None and time.monotonic() >= self._end)
