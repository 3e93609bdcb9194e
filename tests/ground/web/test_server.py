"""``ground web``: localhost unless told otherwise, and a clear word when told otherwise."""

from __future__ import annotations

from typing import Any

import pytest

import ground.web.server as server
from ground.cli import build_parser


def test_the_console_binds_to_localhost_by_default() -> None:
    args = build_parser().parse_args(["web"])
    assert (args.host, args.port) == ("127.0.0.1", server.DEFAULT_PORT)


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_serving_beyond_this_machine_is_said(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             host: str, warned: bool) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(server, "build_app", lambda mission: "app")
    monkeypatch.setattr(server.web, "run_app", lambda app, **options: served.update(app=app, **options))
    assert server.run_web(None, host, 8601) == 0  # type: ignore[arg-type]
    assert (served["app"], served["host"], served["port"]) == ("app", host, 8601)
    assert ("beyond this machine" in capsys.readouterr().err) == warned
