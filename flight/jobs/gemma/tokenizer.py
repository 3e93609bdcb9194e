"""Gemma 3's SentencePiece BPE tokenizer, rebuilt offline from the vocabulary in the GGUF.

The GGUF (``tokenizer.ggml.model == "llama"``) carries pieces, scores and token types but no merges and no
SentencePiece model proto. Encoding is:

1. Split out *added* tokens, matched leftmost-longest on the raw text before anything else: every control
   token (``<bos>``, ``<start_of_turn>``, ``<unused17>``...) and every user-defined one (runs of newlines,
   ``<table>``-like tags, ``[multimodal]``). Matching control tokens in text is what llama.cpp (with special
   parsing) and transformers do, so a chat template written as text works; ``special=False`` leaves their
   text as text (plain SentencePiece), for input that must not inject them.
2. Replace every space with "▁" (U+2581). Gemma adds no dummy prefix (``add_space_prefix`` is false).
3. Take runs of "▁" whole, longest user-defined run first (2..31 spaces), as SentencePiece's prefix
   matcher does: the GGUF spells these pieces with real spaces, the original model with "▁".
4. BPE between them, from single code points: repeatedly merge the adjacent pair whose concatenation is
   the best vocabulary piece, leftmost on ties. SentencePiece ranks by score; Gemma's normal pieces' scores
   fall strictly with their ids (checked at load), so the rank is simply the token id.
5. A piece left that is not in the vocabulary (a character Gemma never saw) becomes its UTF-8 bytes as
   ``<0xNN>`` tokens (byte fallback).

Checked on 465 strings (``tests/flight/jobs/gemma/fixtures/tokenizer_reference.json``) against the
sentencepiece library running a model proto rebuilt from the GGUF, and against transformers' GGUF
converter. The one difference from transformers is by design: it builds runs of 32 or more spaces by BPE
(16 + 16) where SentencePiece takes 31 + the rest.

The merge loop is a heap over adjacent pairs with a doubly linked list of symbols, so a text of n
characters costs O(n log n), not the O(n^2) of rescanning for the best pair after every merge.
"""

from __future__ import annotations

import heapq
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from flight.jobs.gemma.gguf_file import GGUFFile, GGUFFormatError
from flight.link.errors import ZenithError

SPACE = "\u2581"  # SentencePiece's visible space
_SPACE_RUN = re.compile(SPACE + "{2,}")


class TokenizerError(ZenithError):
    """The vocabulary is not one this tokenizer can reproduce, or an id is out of range."""


class TokenType:
    """``tokenizer.ggml.token_type`` values (llama.cpp's LLAMA_TOKEN_TYPE_*)."""

    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


@dataclass(frozen=True)
class _AddedTokens:
    """Tokens matched whole in raw text: by string, with the lengths to try longest first."""

    ids: dict[str, int]
    lengths: tuple[int, ...]  # distinct lengths, longest first
    first_chars: frozenset[str]

    @classmethod
    def build(cls, ids: dict[str, int]) -> _AddedTokens:
        return cls(ids, tuple(sorted({len(t) for t in ids}, reverse=True)), frozenset(t[0] for t in ids))

    def split(self, text: str) -> list[str | int]:
        """``text`` as plain segments (str) and matched token ids (int), leftmost-longest."""
        out: list[str | int] = []
        ids, lengths, first = self.ids, self.lengths, self.first_chars
        start = i = 0
        n = len(text)
        while i < n:
            if text[i] in first:
                for length in lengths:
                    token_id = ids.get(text[i:i + length]) if i + length <= n else None
                    if token_id is not None:
                        if start < i:
                            out.append(text[start:i])
                        out.append(token_id)
                        i += length
                        start = i
                        break
                else:
                    i += 1
            else:
                i += 1
        if start < n:
            out.append(text[start:])
        return out


class GemmaTokenizer:
    """Encode text to Gemma 3 token ids and back; build with :meth:`from_gguf`."""

    def __init__(self, pieces: list[str], scores: np.ndarray, types: np.ndarray, bos_id: int, eos_id: int,
                 unk_id: int) -> None:
        n = len(pieces)
        if not (len(scores) == len(types) == n) or n == 0:
            raise TokenizerError(f"vocabulary: {n} pieces, {len(scores)} scores, {len(types)} types")
        for name, token_id in (("bos", bos_id), ("eos", eos_id), ("unk", unk_id)):
            if not 0 <= token_id < n:
                raise TokenizerError(f"{name}_id {token_id} is outside the vocabulary of {n}")
        _check_file_order_is_score_order(scores, types)
        self.pieces = pieces
        self.types = np.asarray(types, dtype=np.int32)
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.unk_id = unk_id
        type_list = self.types.tolist()
        # What BPE may build and look up: SentencePiece's normal, user-defined and unused pieces. Control,
        # unknown and byte tokens are never spelled out of text (control text is matched before BPE, or is
        # plain text with special=False). Runs of spaces are respelled as the "▁" runs BPE sees.
        self._vocab: dict[str, int] = {
            _respell(piece): token_id for token_id, (piece, t) in enumerate(zip(pieces, type_list, strict=True))
            if t in (TokenType.NORMAL, TokenType.USER_DEFINED, TokenType.UNUSED)
        }
        # matched whole in raw text; the runs of spaces are not (step 3 of the module docstring)
        control = {p: i for i, (p, t) in enumerate(zip(pieces, type_list, strict=True))
                   if t == TokenType.CONTROL and p}
        user = {p: i for i, (p, t) in enumerate(zip(pieces, type_list, strict=True))
                if t == TokenType.USER_DEFINED and p and _respell(p) == p}
        self._added_all = _AddedTokens.build({**control, **user})
        self._added_user = _AddedTokens.build(user)
        # user-defined runs of spaces, by length: matched greedily on the escaped text, as SentencePiece does
        self._space_runs = {len(p): i for i, (p, t) in enumerate(zip(pieces, type_list, strict=True))
                            if t == TokenType.USER_DEFINED and _respell(p) != p}
        self._space_run_lengths = sorted(self._space_runs, reverse=True)
        self._skip_in_decode = frozenset(i for i, t in enumerate(type_list) if t == TokenType.CONTROL)
        self._byte_ids = self._byte_table(pieces, type_list)
        self._decode_bytes: list[bytes] = [
            bytes([int(p[3:5], 16)]) if t == TokenType.BYTE else p.replace(SPACE, " ").encode("utf-8")
            for p, t in zip(pieces, type_list, strict=True)
        ]

    @classmethod
    def from_gguf(cls, gguf: GGUFFile) -> GemmaTokenizer:
        """The tokenizer a GGUF describes; TokenizerError unless it is a SentencePiece ("llama") vocabulary."""
        meta = gguf.metadata
        model = meta.get("tokenizer.ggml.model")
        if model != "llama":
            raise TokenizerError(f"tokenizer.ggml.model is {model!r}; only SentencePiece ('llama') is supported")
        if meta.get("tokenizer.ggml.add_space_prefix", False):
            raise TokenizerError("tokenizer.ggml.add_space_prefix is set; Gemma adds no dummy prefix and "
                                 "this tokenizer does not either")
        try:
            pieces, scores, types = gguf.vocabulary()
        except GGUFFormatError as exc:
            raise TokenizerError(f"cannot read the vocabulary: {exc}") from None
        ids = {}
        for name in ("bos", "eos", "unknown"):
            value = meta.get(f"tokenizer.ggml.{name}_token_id")
            if isinstance(value, bool) or not isinstance(value, int):
                raise TokenizerError(f"tokenizer.ggml.{name}_token_id is missing or not an integer: {value!r}")
            ids[name] = value
        return cls(pieces, scores, types, bos_id=ids["bos"], eos_id=ids["eos"], unk_id=ids["unknown"])

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def piece(self, token_id: int) -> str:
        """The vocabulary's spelling of one id."""
        return self.pieces[self._check_id(token_id)]

    # -- encoding -------------------------------------------------------------------------------------

    def encode(self, text: str, add_bos: bool = True, *, special: bool = True) -> list[int]:
        """Token ids for ``text``, BOS first when ``add_bos``; ``special=False`` leaves control-token text
        (``<start_of_turn>``) as plain text instead of matching it."""
        if not isinstance(text, str):
            raise TokenizerError(f"encode needs str, got {type(text).__name__}")
        ids = [self.bos_id] if add_bos else []
        added = self._added_all if special else self._added_user
        for part in added.split(text):
            if isinstance(part, int):
                ids.append(part)
            else:
                self._encode_plain(part.replace(" ", SPACE), ids)
        return ids

    def _encode_plain(self, text: str, ids: list[int]) -> None:
        """Escaped text without added tokens: space runs whole, greedy longest first, BPE between them.

        SentencePiece's prefix matcher takes the longest user-defined run at each position and freezes it,
        so 33 spaces are 31 + 2 and 32 spaces before a word are 31 + "▁word". A lone "▁" left over is not
        a user-defined piece: it stays with the text after it for BPE.
        """
        plain_from = 0
        for run in _SPACE_RUN.finditer(text):
            at, left = run.start(), run.end() - run.start()
            while left > 1:
                length = next((n for n in self._space_run_lengths if n <= left), 0)
                if not length:
                    break
                if plain_from < at:
                    ids.extend(self._bpe(text[plain_from:at]))
                ids.append(self._space_runs[length])
                at += length
                left -= length
                plain_from = at
        if plain_from < len(text):
            ids.extend(self._bpe(text[plain_from:]))

    def _bpe(self, text: str) -> list[int]:
        vocab = self._vocab
        symbols = list(text)  # SentencePiece and the reference both start from single code points
        n = len(symbols)
        if n <= 1:
            return self._ids_of(symbols)
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))
        nxt[-1] = -1
        heap: list[tuple[int, int, int, int]] = []  # (rank, left, right, merged length)
        for i in range(n - 1):
            token_id = vocab.get(symbols[i] + symbols[i + 1])
            if token_id is not None and symbols[i] in vocab and symbols[i + 1] in vocab:
                heap.append((token_id, i, i + 1, len(symbols[i]) + len(symbols[i + 1])))
        heapq.heapify(heap)
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            _, left, right, size = pop(heap)
            a, b = symbols[left], symbols[right]
            # stale entry: one side was merged away or grew since it was pushed (SentencePiece's same test)
            if not a or not b or len(a) + len(b) != size:
                continue
            # a neighbour outside the vocabulary (left for byte fallback) never merges: checked on push
            merged = a + b
            symbols[left] = merged
            symbols[right] = ""
            after = nxt[right]
            nxt[left] = after
            if after != -1:
                prev[after] = left
            before = prev[left]
            if before != -1:
                pair = symbols[before] + merged
                token_id = vocab.get(pair)
                if token_id is not None and symbols[before] in vocab:
                    push(heap, (token_id, before, left, len(pair)))
            if after != -1:
                pair = merged + symbols[after]
                token_id = vocab.get(pair)
                if token_id is not None and symbols[after] in vocab:
                    push(heap, (token_id, left, after, len(pair)))
        return self._ids_of(s for s in symbols if s)

    def _ids_of(self, symbols: Iterable[str]) -> list[int]:
        out: list[int] = []
        vocab, byte_ids = self._vocab, self._byte_ids
        for s in symbols:
            token_id = vocab.get(s)
            if token_id is not None:
                out.append(token_id)
            else:  # byte fallback; surrogates (not valid text) still get bytes instead of a crash
                out.extend(byte_ids[b] for b in s.encode("utf-8", "surrogatepass"))
        return out

    # -- decoding -------------------------------------------------------------------------------------

    def decode(self, ids: Iterable[int]) -> str:
        """Text for ``ids``: "▁" back to spaces, byte tokens back to bytes, control tokens skipped."""
        table, skip = self._decode_bytes, self._skip_in_decode
        out = b"".join(table[i] for i in map(self._check_id, ids) if i not in skip)
        return out.decode("utf-8", "replace")

    def _check_id(self, token_id: int) -> int:
        try:
            index = operator.index(token_id)
        except TypeError:
            raise TokenizerError(f"token id {token_id!r} is not an integer") from None
        if not 0 <= index < len(self.pieces):
            raise TokenizerError(f"token id {index} is outside the vocabulary of {len(self.pieces)}")
        return index

    # -- tables ---------------------------------------------------------------------------------------

    def _byte_table(self, pieces: list[str], types: list[int]) -> list[int]:
        """Id of ``<0xNN>`` for every byte value; the unknown id where the vocabulary lacks one."""
        table = [self.unk_id] * 256
        for token_id, (piece, token_type) in enumerate(zip(pieces, types, strict=True)):
            if token_type == TokenType.BYTE:
                if len(piece) != 6 or not piece.startswith("<0x") or not piece.endswith(">"):
                    raise TokenizerError(f"byte token {token_id} is spelled {piece!r}, not <0xNN>")
                try:
                    table[int(piece[3:5], 16)] = token_id
                except ValueError:
                    raise TokenizerError(f"byte token {token_id} is spelled {piece!r}, not <0xNN>") from None
        return table


def _respell(piece: str) -> str:
    """A run of spaces as BPE sees it after space escaping (the GGUF stores those with real spaces)."""
    return SPACE * len(piece) if " " in piece and not piece.strip() else piece


def _check_file_order_is_score_order(scores: np.ndarray, types: np.ndarray) -> None:
    """Ranking merges by token id is SentencePiece's rank by score only if normal pieces' scores fall."""
    normal = np.asarray(scores, dtype=np.float64)[np.asarray(types) == TokenType.NORMAL]
    if normal.size > 1 and not bool(np.all(np.diff(normal) < 0)):
        raise TokenizerError("normal pieces' scores do not fall with their ids; ranking merges by id would "
                             "not be SentencePiece's ranking by score for this vocabulary")
