"""The character vocabulary of the NanoGPT jobs: a string whose i-th symbol is token i."""

from __future__ import annotations

from flight.link.errors import ZenithError


def encode_chars(vocab: str, text: str, error: type[ZenithError] = ZenithError) -> list[int]:
    """Token ids of ``text``; ``error`` names the characters the vocabulary lacks."""
    index = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted(set(text) - index.keys())
    if unknown:
        raise error(f"characters outside the vocabulary: {''.join(unknown)[:20]!r}")
    return [index[ch] for ch in text]


def decode_chars(vocab: str, ids: list[int]) -> str:
    """The text of ``ids``; ids outside the vocabulary are left out."""
    return "".join(vocab[i] for i in ids if 0 <= i < len(vocab))
