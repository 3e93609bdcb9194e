"""``flight tokenize``: token ids for a text, plain or as JSON with the pieces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flight.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "tokenizer_reference.json"


@pytest.fixture(scope="module")
def reference(gemma_path: Path) -> dict[str, list[int]]:
    return {c["text"]: c["spm_ids"] for c in json.loads(FIXTURE.read_text())["cases"]}


def test_plain_output_is_one_line_of_ids(reference: dict[str, list[int]],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    assert main(["tokenize", "--model", "gemma3-270m", text]) == 0
    out = capsys.readouterr().out
    assert out == " ".join(map(str, reference[text])) + "\n"


def test_json_output_has_ids_and_pieces(reference: dict[str, list[int]],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    text = "<start_of_turn>user\nHi  there<end_of_turn>"
    assert main(["tokenize", "--model", "gemma3-270m", "--json", text]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ids"][:2] == [2, 105] and result["ids"][-1] == 106
    assert result["tokens"][:2] == ["<bos>", "<start_of_turn>"] and "  " in result["tokens"]
    assert len(result["tokens"]) == len(result["ids"])
    assert main(["tokenize", "--model", "gemma3-270m", "--json", "Hello, world!"]) == 0
    assert json.loads(capsys.readouterr().out)["ids"] == reference["Hello, world!"]


def test_only_known_models_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tokenize", "--model", "gpt2", "hi"])
    assert exit_.value.code == 2
    assert "gemma3-270m" in capsys.readouterr().err


def test_help_explains_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tokenize", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--json" in out and "BOS" in out
