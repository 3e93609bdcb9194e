"""Where a TOML key is written: headers, arrays of tables, dotted keys, and what must not fool it."""

from __future__ import annotations

from hil.mission.toml_lines import key_lines, locate

TEXT = '''# a scenario
[mission]
name = "a [bracket] # and a hash"
rate = 90

[[command]]
at = 10
name = "PING"

[[command]]
at = """
name = "inside a string"
"""
args = { kind = "TRAIN", config = '{"a": [1, 2]}' }
list = [
  "x = 1",
  [2, 3],
]
name = "NOOP"

[bus]
eps.capacity_wh = 400
"quoted.key" = 1
'''


def test_each_key_is_found_at_its_line() -> None:
    lines = key_lines(TEXT)
    assert lines["mission"] == 2 and lines["mission.name"] == 3 and lines["mission.rate"] == 4
    assert lines["command[0]"] == 6 and lines["command[0].at"] == 7 and lines["command[0].name"] == 8
    assert lines["command[1]"] == 10 and lines["command[1].at"] == 11
    assert lines["command[1].args"] == 14 and lines["command[1].list"] == 15 and lines["command[1].name"] == 19
    assert lines["bus"] == 21 and lines["bus.eps.capacity_wh"] == 22 and lines["bus.quoted.key"] == 23


def test_nothing_inside_strings_or_multi_line_values_is_taken_for_a_key() -> None:
    lines = key_lines(TEXT)
    assert "command[1].x" not in lines and lines["command[1].name"] == 19  # not line 12, in the string


def test_a_path_not_written_down_falls_back_to_what_holds_it() -> None:
    lines = key_lines(TEXT)
    assert locate(lines, "command[1].args.kind") == 14
    assert locate(lines, "command[0].missing") == 6
    assert locate(lines, "command[7].name") == 6  # the array's first header
    assert locate(lines, "nowhere") is None


def test_tables_under_an_array_element_belong_to_it() -> None:
    lines = key_lines('[[fault]]\nkind = "seu"\n[fault.detail]\nx = 1\n[[fault]]\nkind = "ecc"\n')
    assert lines["fault[0].detail.x"] == 4 and lines["fault[1].kind"] == 6
