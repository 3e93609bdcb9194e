"""Gemma 3's tokenizer against ids recorded from two independent implementations.

The fixture is written by ``record_tokenizer_reference.py`` with the reference venv: ``spm_ids`` from the
sentencepiece library (a BPE proto rebuilt from the GGUF, control tokens matched in text), ``spm_plain_ids``
from the same with control tokens left as control, and ``ids`` from transformers' GGUF converter.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.jobs.gemma.gguf_file import GGUFFile
from flight.jobs.gemma.tokenizer import SPACE, GemmaTokenizer, TokenizerError, TokenType

FIXTURE = Path(__file__).parent / "fixtures" / "tokenizer_reference.json"
CASES = json.loads(FIXTURE.read_text())["cases"]


@pytest.fixture(scope="module")
def tokenizer(gemma_path: Path) -> GemmaTokenizer:
    return GemmaTokenizer.from_gguf(GGUFFile.open(gemma_path))


def has_control_text(tok: GemmaTokenizer, text: str) -> bool:
    return any(tok.pieces[i] in text for i in tok._skip_in_decode) if "<" in text or "[" in text else False


def test_reference_has_the_cases_asked_for() -> None:
    texts = [c["text"] for c in CASES]
    assert len(texts) >= 300
    assert "" in texts and any(len(t) > 3000 for t in texts)
    assert any("<start_of_turn>" in t for t in texts) and any("\u4f60" in t for t in texts)


def mismatches(tokenizer: GemmaTokenizer, key: str, cases: list[dict], special: bool = True) -> list[tuple]:
    return [(c["text"], got, c[key]) for c in cases
            if (got := tokenizer.encode(c["text"], special=special)) != c[key]]


def test_matches_sentencepiece(tokenizer: GemmaTokenizer) -> None:
    # SentencePiece needs exactly one UNKNOWN piece and never matches its text; we match "<unk>" like the
    # other control tokens (as transformers does)
    cases = [c for c in CASES if "<unk>" not in c["text"]]
    assert len(cases) == len(CASES) - 1
    bad = mismatches(tokenizer, "spm_ids", cases)
    assert not bad, f"{len(bad)} of {len(cases)} differ, first: {bad[:3]!r}"


def test_special_off_matches_plain_sentencepiece(tokenizer: GemmaTokenizer) -> None:
    bad = mismatches(tokenizer, "spm_plain_ids", CASES, special=False)
    assert not bad, f"{len(bad)} of {len(CASES)} differ, first: {bad[:3]!r}"


def test_matches_transformers_except_long_space_runs(tokenizer: GemmaTokenizer) -> None:
    """transformers builds 32+ spaces by BPE merges (16 + 16); SentencePiece, and we, take 31 + the rest."""
    long_runs = [c for c in CASES if " " * 32 in c["text"]]
    others = [c for c in CASES if " " * 32 not in c["text"]]
    bad = mismatches(tokenizer, "ids", others)
    assert not bad, f"{len(bad)} of {len(others)} differ, first: {bad[:3]!r}"
    assert long_runs and all(c["ids"] != c["spm_ids"] for c in long_runs)
    assert tokenizer.encode(" " * 32 + "word") == [2, 167, tokenizer.encode("▁word", add_bos=False)[0]]


def test_special_ids_from_metadata(tokenizer: GemmaTokenizer) -> None:
    assert (tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id) == (2, 1, 3)
    assert tokenizer.vocab_size == 262144
    assert tokenizer.encode("") == [2] and tokenizer.encode("", add_bos=False) == []
    assert tokenizer.encode("Hello", add_bos=False) == tokenizer.encode("Hello")[1:]


def test_round_trip_on_reference_strings(tokenizer: GemmaTokenizer) -> None:
    # "▁" in the input decodes as a space, and control tokens are dropped by decode: both are not round trips
    texts = [c["text"] for c in CASES if SPACE not in c["text"] and not has_control_text(tokenizer, c["text"])]
    assert len(texts) > 300
    for text in texts:
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_decode_details(tokenizer: GemmaTokenizer) -> None:
    ids = tokenizer.encode("<start_of_turn>user\nhi  there<end_of_turn>")
    assert ids[:2] == [2, 105]
    assert tokenizer.decode(ids) == "user\nhi  there"
    assert tokenizer.decode([2, 1, 0]) == ""
    e_acute = [tokenizer._byte_ids[b] for b in "\U000e0100".encode()]  # a character only byte fallback spells
    assert tokenizer.decode(e_acute) == "\U000e0100"
    assert tokenizer.decode(e_acute[:1]) == "\ufffd"  # a cut sequence is replaced, not an exception
    assert tokenizer.piece(105) == "<start_of_turn>"


def test_special_off_treats_control_text_as_text(tokenizer: GemmaTokenizer) -> None:
    ids = tokenizer.encode("<start_of_turn>user<table>", special=False)
    assert 105 not in ids and 168 in ids  # control text is split; user-defined tags still match whole
    assert all(tokenizer.types[i] != TokenType.CONTROL for i in ids[1:])
    assert tokenizer.decode(ids) == "<start_of_turn>user<table>"


def test_out_of_range_ids_are_typed(tokenizer: GemmaTokenizer) -> None:
    for bad in ([262144], [-1], [2**70], ["5"], [1.0]):
        with pytest.raises(TokenizerError):
            tokenizer.decode(bad)
    with pytest.raises(TokenizerError):
        tokenizer.piece(262144)
    with pytest.raises(TokenizerError):
        tokenizer.encode(b"bytes")  # type: ignore[arg-type]


def test_surrogates_do_not_crash(tokenizer: GemmaTokenizer) -> None:
    ids = tokenizer.encode("a\ud800b")
    assert ids[0] == 2 and len(ids) == 6  # a, three fallback bytes, b
    assert tokenizer.decode(ids).startswith("a") and tokenizer.decode(ids).endswith("b")


def test_a_long_text_and_a_long_unbroken_run_encode_and_decode_back(tokenizer: GemmaTokenizer) -> None:
    # (their speed is the benchmark's business: timing never decides a test)
    text = (next(c["text"] for c in CASES if len(c["text"]) > 3000) * 2)[:5000]
    for sample in (text, "ab" * 10000):
        ids = tokenizer.encode(sample)
        assert tokenizer.decode(ids) == sample and len(ids) < len(sample)


def test_scores_fall_with_ids_so_rank_by_id_is_rank_by_score(gemma_path: Path) -> None:
    """The one assumption that lets the merge rank be the token id; from_gguf refuses a file breaking it."""
    import numpy as np

    pieces, scores, types = GGUFFile.open(gemma_path).vocabulary()
    normal = scores[types == TokenType.NORMAL]
    assert np.all(np.diff(normal) < 0)
    broken = scores.copy()
    broken[np.flatnonzero(types == TokenType.NORMAL)[:2]] = [-5.0, 5.0]
    with pytest.raises(TokenizerError):
        GemmaTokenizer(pieces, broken, types, bos_id=2, eos_id=1, unk_id=3)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_encode_never_crashes_and_round_trips(tokenizer: GemmaTokenizer, text: str) -> None:
    ids = tokenizer.encode(text)
    assert ids[0] == 2 and all(0 <= i < tokenizer.vocab_size for i in ids)
    if SPACE not in text and not has_control_text(tokenizer, text):
        assert tokenizer.decode(ids) == text
    assert tokenizer.decode(tokenizer.encode(text, special=False)) == text.replace(SPACE, " ")


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(["<", ">", "/", "b", "o", "s", " ", "\n", "\u2581", "t", "a", "_",
                                      "start_of_turn", "table", "x", "0", "é", "<bos>", "\t"]),
                     max_size=40).map("".join))
def test_markup_fragments_never_crash(tokenizer: GemmaTokenizer, text: str) -> None:
    assert tokenizer.encode(text)[0] == 2
    assert tokenizer.decode(tokenizer.encode(text, special=False)) == text.replace(SPACE, " ")


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.integers(min_value=0, max_value=262143), max_size=64))
def test_decode_never_crashes_on_valid_ids(tokenizer: GemmaTokenizer, ids: list[int]) -> None:
    assert isinstance(tokenizer.decode(ids), str)


def toy() -> GemmaTokenizer:
    """A tiny vocabulary where every rule shows: rank by id, leftmost ties, space runs, bytes, control text."""
    import numpy as np

    entries = [("<pad>", 3), ("<eos>", 3), ("<bos>", 3), ("<unk>", 3), ("<start_of_turn>", 3), ("  ", 4),
               ("   ", 4), ("<b>", 4)]
    entries += [(f"<0x{b:02X}>", 6) for b in range(256)]
    entries += [(p, 1) for p in ["ab", "bc", "aa", f"{SPACE}a", "a", "b", "c", SPACE, "x", "<", ">", "s"]]
    pieces = [p for p, _ in entries]
    types = np.array([t for _, t in entries], dtype=np.int32)
    scores = np.where(types == TokenType.NORMAL, -np.arange(len(entries), dtype=np.float32), 0).astype(np.float32)
    return GemmaTokenizer(pieces, scores, types, bos_id=2, eos_id=1, unk_id=3)


def test_toy_bpe_rules() -> None:
    tok = toy()
    ids = {p: i for i, p in enumerate(tok.pieces)}
    enc = lambda text, **kw: [tok.pieces[i] for i in tok.encode(text, add_bos=False, **kw)]  # noqa: E731
    assert enc("abc") == ["ab", "c"]  # "ab" outranks "bc"
    assert enc("bcab") == ["bc", "ab"]
    assert enc("aaa") == ["aa", "a"]  # equal rank: the leftmost pair merges first
    assert enc(" a") == [f"{SPACE}a"] and enc("a a") == ["a", f"{SPACE}a"]
    assert enc("  a") == ["  ", "a"]  # a user-defined run is taken whole and never merges on
    assert enc("      a") == ["   ", "   ", "a"] and enc("    a") == ["   ", f"{SPACE}a"]
    assert enc("\u00e9") == ["<0xC3>", "<0xA9>"]  # byte fallback
    assert enc("<b><start_of_turn>") == ["<b>", "<start_of_turn>"]
    plain = enc("<start_of_turn>", special=False)
    assert plain[:3] == ["<", "s", "<0x74>"] and plain[-1] == ">" and "<start_of_turn>" not in plain
    assert tok.decode(tok.encode("<start_of_turn>", special=False)) == "<start_of_turn>"
    assert tok.decode([ids["<bos>"], ids["  "], ids[f"{SPACE}a"], ids["<0xC3>"], ids["<0xA9>"]]) == "   a\u00e9"


def test_toy_rejects_bad_vocabularies() -> None:
    import numpy as np

    tok = toy()
    types = tok.types
    scores = np.zeros(len(types), dtype=np.float32)  # equal scores: rank by id would not be rank by score
    with pytest.raises(TokenizerError):
        GemmaTokenizer(tok.pieces, scores, types, bos_id=2, eos_id=1, unk_id=3)
    good = -np.arange(len(types), dtype=np.float32)
    with pytest.raises(TokenizerError):
        GemmaTokenizer(tok.pieces, good, types, bos_id=len(types), eos_id=1, unk_id=3)
    bad_bytes = list(tok.pieces)
    bad_bytes[tok._byte_ids[0]] = "<0xZZ>"
    with pytest.raises(TokenizerError):
        GemmaTokenizer(bad_bytes, good, types, bos_id=2, eos_id=1, unk_id=3)
