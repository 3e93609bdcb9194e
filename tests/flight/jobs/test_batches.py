"""Training batches: a pure function of (seed, split, step), next-token targets, windows inside the data,
rank shares that add up to the global batch, and token files that are refused when they cannot serve."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.jobs.batches import BatchError, TokenData, batch, offsets

VOCAB = "".join(chr(c) for c in range(32, 32 + 64))


def synthetic(tokens: int = 5000, seed: int = 0) -> TokenData:
    """Token data held in memory: random tokens of a 64-symbol vocabulary."""
    rng = np.random.default_rng(seed)
    train = rng.integers(0, len(VOCAB), size=tokens).astype("<u2")
    val = rng.integers(0, len(VOCAB), size=tokens // 5).astype("<u2")
    return TokenData(train, val, VOCAB)


DATA = synthetic()


def test_the_same_step_and_seed_give_the_same_batch() -> None:
    x1, y1 = batch(DATA, "train", 17, 1337, 8, 32)
    x2, y2 = batch(DATA, "train", 17, 1337, 8, 32)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == y1.shape == (8, 32) and x1.dtype == y1.dtype == torch.int64


def test_another_step_or_seed_gives_another_batch() -> None:
    x, _ = batch(DATA, "train", 17, 1337, 8, 32)
    assert not torch.equal(x, batch(DATA, "train", 18, 1337, 8, 32)[0])
    assert not torch.equal(x, batch(DATA, "train", 17, 1338, 8, 32)[0])


def test_the_train_and_val_batches_of_one_step_differ() -> None:
    data = TokenData(DATA.train, DATA.train.copy(), VOCAB)  # the same tokens in both: only the key differs
    assert not np.array_equal(offsets(len(data.train), 32, 8, 1, "train", 3),
                              offsets(len(data.val), 32, 8, 1, "val", 3))
    assert not torch.equal(batch(data, "train", 3, 1, 8, 32)[0], batch(data, "val", 3, 1, 8, 32)[0])


def test_the_targets_are_the_inputs_shifted_by_one() -> None:
    x, y = batch(DATA, "val", 5, 1, 4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])
    starts = offsets(len(DATA.val), 16, 4, 1, "val", 5)
    for row, start in enumerate(starts):
        assert y[row, -1].item() == DATA.val[start + 16]


@settings(max_examples=60, deadline=None)
@given(step=st.integers(0, 2**40), seed=st.integers(0, 2**31), batch_size=st.integers(1, 16),
       block_size=st.integers(1, 64), tokens=st.integers(70, 400))
def test_every_window_is_a_slice_of_the_data(step: int, seed: int, batch_size: int, block_size: int,
                                             tokens: int) -> None:
    data = TokenData(np.arange(tokens, dtype="<u2"), np.arange(tokens, dtype="<u2"), VOCAB)  # token = position
    starts = offsets(tokens, block_size, batch_size, seed, "train", step)
    assert len(starts) == batch_size
    assert all(s >= 0 and s + block_size + 1 <= tokens for s in starts)
    x, y = batch(data, "train", step, seed, batch_size, block_size)
    assert x.shape == (batch_size, block_size)
    expected = torch.as_tensor(starts, dtype=torch.int64)[:, None] + torch.arange(block_size)
    assert torch.equal(x, expected) and torch.equal(y, expected + 1)


@pytest.mark.parametrize("world", [1, 2, 4, 8])
def test_the_rank_shares_make_up_the_global_batch(world: int) -> None:
    x, y = batch(DATA, "train", 9, 42, 8, 24)
    shares = [batch(DATA, "train", 9, 42, 8, 24, rank, world) for rank in range(world)]
    assert all(share[0].shape == (8 // world, 24) for share in shares)
    assert torch.equal(torch.cat([s[0] for s in shares]), x) and torch.equal(torch.cat([s[1] for s in shares]), y)


def test_a_batch_that_does_not_split_over_the_ranks_is_refused() -> None:
    with pytest.raises(BatchError, match="does not split over 3 ranks"):
        batch(DATA, "train", 0, 1, 8, 16, rank=0, world=3)


@pytest.mark.parametrize("tokens", [0, 10, 17])
def test_data_too_short_for_one_window_is_refused(tokens: int) -> None:
    data = TokenData(np.zeros(tokens, dtype="<u2"), np.zeros(tokens, dtype="<u2"), VOCAB)
    with pytest.raises(BatchError, match="cannot give a window"):
        batch(data, "train", 0, 1, 2, 16)


def test_a_negative_step_or_seed_is_refused() -> None:
    with pytest.raises(BatchError, match="must not be negative"):
        batch(DATA, "train", -1, 1, 2, 16)
    with pytest.raises(BatchError, match="must not be negative"):
        batch(DATA, "train", 1, -1, 2, 16)


def test_prepared_files_open_memory_mapped(tiny_prepared: Path) -> None:
    data = TokenData.open(tiny_prepared)
    meta = json.loads((tiny_prepared / "meta.json").read_text())
    assert data.vocab == meta["vocab"]
    assert (len(data.train), len(data.val)) == (meta["train_tokens"], meta["val_tokens"])
    assert isinstance(data.train, np.memmap) and data.split("val") is data.val
    x, y = batch(data, "train", 0, 1, 4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="cannot open the token files"):
        TokenData.open(tmp_path / "nowhere")


def test_token_files_of_another_dtype_are_refused(tiny_prepared: Path) -> None:
    meta = json.loads((tiny_prepared / "meta.json").read_text())
    (tiny_prepared / "meta.json").write_text(json.dumps({**meta, "dtype": "uint32-le"}))
    with pytest.raises(BatchError, match="dtype 'uint32-le'"):
        TokenData.open(tiny_prepared)


def test_a_token_outside_the_vocabulary_is_refused(tiny_prepared: Path) -> None:
    meta = json.loads((tiny_prepared / "meta.json").read_text())
    (tiny_prepared / "meta.json").write_text(json.dumps({**meta, "vocab": meta["vocab"][:5]}))
    with pytest.raises(BatchError, match="outside the 5-symbol vocabulary"):
        TokenData.open(tiny_prepared)


def test_a_token_file_cut_in_the_middle_of_a_token_is_refused(tiny_prepared: Path) -> None:
    with (tiny_prepared / "val.bin").open("ab") as out:
        out.write(b"\x00")
    with pytest.raises(BatchError, match="cannot open the token files"):
        TokenData.open(tiny_prepared)


def test_a_meta_file_without_a_vocabulary_is_refused(tiny_prepared: Path) -> None:
    (tiny_prepared / "meta.json").write_text(json.dumps({"dtype": "uint16-le"}))
    with pytest.raises(BatchError):
        TokenData.open(tiny_prepared)


def test_text_encodes_and_decodes_back(tiny_prepared: Path) -> None:
    data = TokenData.open(tiny_prepared)
    text = "To be, or not to be"
    ids = data.encode(text)
    assert all(0 <= i < len(data.vocab) for i in ids) and data.decode(ids) == text
    assert data.decode([*ids, len(data.vocab), -1]) == text  # ids outside the vocabulary are dropped


def test_characters_outside_the_vocabulary_are_refused(tiny_prepared: Path) -> None:
    data = TokenData.open(tiny_prepared)
    with pytest.raises(BatchError, match="outside the vocabulary: 'Z~'"):
        data.encode("To be ~ Z")
