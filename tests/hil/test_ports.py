"""Free bench ports: free now, and out of the kernel's way while the bench starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hil import ports
from hil.ports import free_base_port


def test_a_base_port_has_its_ports_free() -> None:
    base = free_base_port(8)
    for port in range(base, base + 8):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_bench_ports_stay_below_the_ephemeral_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local ports of outgoing connections come from that range; one could take a bench port
    # between the check and the bind.
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "range")
    (tmp_path / "range").write_text("32768\t60999\n")
    assert all(free_base_port(8) + 8 <= 32768 for _ in range(50))
    (tmp_path / "range").write_text("40000 50000\n")
    assert all(free_base_port(8) + 8 <= 40000 for _ in range(50))
    (tmp_path / "range").write_text("1024 65535\n")  # no room below it: anywhere will do
    assert 20000 <= free_base_port(8) < 60000
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "missing")
    assert free_base_port(8) + 8 <= 32768
