"""Checkpoints: a snapshot of a model, its optimizer and the RNG survives encoding exactly, a restore
continues training bit for bit, a damaged or foreign file (pickles included) is refused without being
run, and a store keeps its newest generations and falls back past one that does not verify."""

from __future__ import annotations

import functools
import io
import pickle
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load as safetensors_load

from flight.jobs.checkpoint import (
    CheckpointError,
    CheckpointStore,
    Snapshot,
    capture,
    decode,
    encode,
    load_file,
    restore,
    tensor_crc,
)
from flight.jobs.gpt import GPT, GPTConfig, TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.1)
TRAIN = TrainConfig(learning_rate=1e-2)


def fresh(seed: int = 0) -> tuple[GPT, torch.optim.AdamW]:
    torch.manual_seed(seed)
    model = GPT(CONFIG)
    return model, model.optimizer(TRAIN, "cpu")


def step(model: GPT, optimizer: torch.optim.Optimizer, seed: int) -> None:
    """One training step on a batch of its own (dropout draws from the global RNG)."""
    batch = torch.randint(0, CONFIG.vocab_size, (4, CONFIG.block_size + 1),
                          generator=torch.Generator().manual_seed(seed))
    model.train()
    _, loss = model(batch[:, :-1], batch[:, 1:])
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def trained(steps: int = 3) -> tuple[GPT, torch.optim.AdamW]:
    model, optimizer = fresh()
    for i in range(steps):
        step(model, optimizer, i)
    return model, optimizer


@functools.cache
def valid() -> bytes:
    """A checkpoint file of step 3 (made once, when a test first needs it)."""
    model, optimizer = trained()
    return encode(capture(model, optimizer, {"step": 3}))


def header_length(data: bytes) -> int:
    return 8 + struct.unpack_from("<Q", data)[0]


def test_a_snapshot_survives_encoding_exactly() -> None:
    model, optimizer = trained()
    snapshot = capture(model, optimizer, {"step": 3, "note": "hello"})
    back = decode(encode(snapshot))
    assert back.step == 3 and back.meta["note"] == "hello"
    assert back.tensors.keys() == snapshot.tensors.keys()
    assert all(torch.equal(back.tensors[k], v) and back.tensors[k].dtype == v.dtype for k, v in snapshot.tensors.items())
    assert any(k.startswith("optim.") for k in back.tensors) and "rng.cpu" in back.tensors


def test_the_tied_weight_is_stored_once_and_restored_tied() -> None:
    model, optimizer = trained()
    snapshot = decode(encode(capture(model, optimizer, {"step": 3})))
    assert snapshot.meta["aliases"] == {"lm_head.weight": "wte.weight"} and "lm_head.weight" not in snapshot.tensors
    other, other_optimizer = fresh(seed=99)
    restore(snapshot, other, other_optimizer)
    assert other.lm_head.weight is other.wte.weight
    assert torch.equal(other.wte.weight, model.wte.weight)


def test_a_restore_continues_training_bit_for_bit() -> None:
    model, optimizer = trained()
    snapshot = decode(encode(capture(model, optimizer, {"step": 3})))
    step(model, optimizer, 3)  # the original goes on (with its dropout drawn from the RNG captured above)
    other, other_optimizer = fresh(seed=99)
    restore(snapshot, other, other_optimizer)
    step(other, other_optimizer, 3)
    original, restored = dict(model.named_parameters()), dict(other.named_parameters())
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[name], restored[name]) for name in original)
    a, b = optimizer.state_dict()["state"], other_optimizer.state_dict()["state"]
    assert all(torch.equal(a[i][k], b[i][k]) for i in a for k in a[i])


def test_the_rng_state_is_restored() -> None:
    model, optimizer = trained()
    snapshot = decode(encode(capture(model, optimizer, {"step": 3})))
    expected = torch.rand(5)
    torch.rand(100)  # the RNG moves on
    restore(snapshot, *fresh(seed=5))
    assert torch.equal(torch.rand(5), expected)


def test_a_snapshot_that_does_not_fit_the_model_is_refused() -> None:
    model, optimizer = trained()
    snapshot = decode(encode(capture(model, optimizer, {"step": 3})))
    bigger = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        restore(snapshot, bigger, bigger.optimizer(TRAIN, "cpu"))


def test_a_snapshot_needs_its_step() -> None:
    with pytest.raises(CheckpointError, match="needs its step"):
        encode(Snapshot({"a": torch.zeros(2)}, {}))


def test_a_flipped_bit_in_a_tensor_is_caught_by_its_crc() -> None:
    snapshot = decode(valid())
    name = "wte.weight"
    data = bytearray(valid())
    # Find the tensor's bytes in the data region and flip one bit in the middle of them.
    raw = snapshot.tensors[name].reshape(-1).view(torch.uint8).numpy().tobytes()
    start = bytes(data).index(raw, header_length(valid()))
    data[start + len(raw) // 2] ^= 0x10
    with pytest.raises(CheckpointError, match=f"tensor {name} fails its CRC-32C"):
        decode(bytes(data))
    tensors = safetensors_load(bytes(data))  # the file is still well formed: only the CRC tells
    assert tensor_crc(tensors[name]) != tensor_crc(snapshot.tensors[name])


def test_a_flipped_bit_in_the_metadata_is_caught() -> None:
    data = bytearray(valid())
    at = bytes(data).index(b'\\"step\\": 3', 0, header_length(valid()))
    digit = at + len(b'\\"step\\": ')
    data[digit] ^= 0x01  # "3" becomes "2"
    with pytest.raises(CheckpointError):
        assert decode(bytes(data)).step == 2


def test_every_sampled_single_bit_flip_anywhere_in_the_file_is_refused() -> None:
    """What ``hil seu inject checkpoint`` does to a generation on disk: a bit anywhere, header or data,
    and the file no longer loads (the CRCs guard the data and the metadata; the layout guards the rest)."""
    data = valid()
    rng = random.Random(5)
    header = header_length(data)
    places = [rng.randrange(header) for _ in range(1500)] + [rng.randrange(header, len(data)) for _ in range(500)]
    missed = []
    for offset in places:
        bit = rng.randrange(8)
        damaged = bytearray(data)
        damaged[offset] ^= 1 << bit
        try:
            decode(bytes(damaged))
        except CheckpointError:
            continue
        missed.append((offset, bit, data[offset:offset + 1]))
    assert missed == []


@pytest.mark.parametrize("cut", [0, 4, 8, 100, -1, -500])
def test_a_truncated_file_is_refused(cut: int) -> None:
    with pytest.raises(CheckpointError):
        decode(valid()[:cut] if cut else b"")


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a checkpoint was unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def torch_save_file() -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": trained()[0].state_dict(), "step": 3}, buffer)
    return buffer.getvalue()


class Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


@pytest.mark.parametrize("make", [
    lambda: b"",
    lambda: valid()[:7],
    torch_save_file,
    lambda: pickle.dumps({"step": 3, "weights": [1.0, 2.0]}),
    lambda: pickle.dumps(Payload(), protocol=2),
    lambda: pickle.dumps(Payload(), protocol=0),
], ids=["empty", "seven-bytes", "torch-save", "pickle", "pickle-protocol-2", "pickle-protocol-0"])
def test_pickles_and_stubs_are_not_safetensors_files(make: Callable[[], bytes], no_unpickling: None) -> None:
    data = make()
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        decode(data)


def test_a_safetensors_file_that_is_not_a_checkpoint_is_refused() -> None:
    from safetensors.torch import save

    with pytest.raises(CheckpointError, match="no checkpoint metadata"):
        decode(save({"a": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match="format 'other'"):
        decode(save({"a": torch.zeros(2)}, metadata={"format": "other"}))


def test_a_deeply_nested_header_is_refused() -> None:
    depth = 100_000
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        decode(struct.pack("<Q", depth) + b"[" * depth)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_ever_raise_checkpoint_error(data: bytes) -> None:
    with pytest.raises(CheckpointError):
        decode(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_checkpoints_decode_or_raise_checkpoint_error(data: st.DataObject) -> None:
    mutated = bytearray(valid())
    kind = data.draw(st.sampled_from(["flip", "byte", "cut", "splice"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            mutated[data.draw(st.integers(0, len(mutated) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "byte":
        where = data.draw(st.integers(0, header_length(valid()) - 1))  # the header: JSON, lengths, offsets
        mutated[where] = data.draw(st.integers(0, 255))
    elif kind == "cut":
        del mutated[data.draw(st.integers(0, len(mutated) - 1)):]
    else:
        where = data.draw(st.integers(0, len(mutated)))
        mutated[where:where] = data.draw(st.binary(min_size=1, max_size=64))
    try:
        snapshot = decode(bytes(mutated))
    except CheckpointError:
        return
    assert isinstance(snapshot, Snapshot)  # a mutation the checks cannot see (e.g. in unused padding)


def write_generations(store: CheckpointStore, steps: list[int]) -> list[Path]:
    model, optimizer = trained(1)
    return [store.save(capture(model, optimizer, {"step": s})) for s in steps]


def test_the_store_keeps_the_newest_generations(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ckpt", keep=2)
    paths = write_generations(store, [10, 20, 30, 40])
    assert store.generations() == [paths[3], paths[2]]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["step-000000030.safetensors",
                                                                      "step-000000040.safetensors"]
    snapshot, path, rejected = store.latest()
    assert snapshot is not None and snapshot.step == 40 and path == paths[3] and rejected == []


def test_an_empty_store_has_no_latest(tmp_path: Path) -> None:
    assert CheckpointStore(tmp_path / "none").latest() == (None, None, [])


def test_a_corrupt_newest_generation_falls_back_to_the_one_before(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=3)
    paths = write_generations(store, [10, 20, 30])
    data = bytearray(paths[2].read_bytes())
    data[-3] ^= 0x01  # the last tensor's bytes
    paths[2].write_bytes(bytes(data))
    snapshot, path, rejected = store.latest()
    assert snapshot is not None and snapshot.step == 20 and path == paths[1]
    assert [r.path for r in rejected] == [paths[2]] and "fails its CRC-32C" in rejected[0].reason


def test_a_store_of_corrupt_generations_has_no_latest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=3)
    paths = write_generations(store, [10, 20])
    paths[1].write_bytes(b"")
    paths[0].write_bytes(paths[0].read_bytes()[:-10])
    snapshot, path, rejected = store.latest()
    assert snapshot is None and path is None
    assert [r.path for r in rejected] == [paths[1], paths[0]]
    assert "not a safetensors file" in rejected[0].reason


def test_other_files_and_temporary_leftovers_are_ignored(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=2)
    (first,) = write_generations(store, [5])
    for name in [".step-000000099.safetensors.1234.tmp", "step-99.safetensors", "step-000000099.safetensors.bak",
                 "notes.txt", "step-0000000990.safetensors"]:
        (tmp_path / name).write_bytes(b"junk")
    write_generations(store, [6, 7])
    assert [p.name for p in store.generations()] == ["step-000000007.safetensors", "step-000000006.safetensors"]
    assert (tmp_path / ".step-000000099.safetensors.1234.tmp").exists()  # never pruned either
    snapshot, _, rejected = store.latest()
    assert snapshot is not None and snapshot.step == 7 and rejected == []
    assert not first.exists()


def test_at_least_one_generation_must_be_kept(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="at least one generation"):
        CheckpointStore(tmp_path, keep=0)


def test_a_write_that_fails_raises_checkpoint_error(tmp_path: Path) -> None:
    (tmp_path / "step-000000005.safetensors").mkdir()  # a directory where the file should go
    (tmp_path / "step-000000005.safetensors" / "x").write_text("x")
    with pytest.raises(CheckpointError, match="cannot write"):
        CheckpointStore(tmp_path).write([b"data"], 5)


def test_load_file_verifies_one_file(tmp_path: Path) -> None:
    (tmp_path / "c.safetensors").write_bytes(valid())
    assert load_file(tmp_path / "c.safetensors").step == 3
    with pytest.raises(CheckpointError, match="cannot read"):
        load_file(tmp_path / "missing.safetensors")


def test_a_capture_into_staging_buffers_reuses_them_and_equals_a_fresh_capture() -> None:
    gpt, optimizer = trained()
    staging: dict[str, torch.Tensor] = {}
    first = capture(gpt, optimizer, {"step": 1}, staging)
    buffers = {name: tensor.data_ptr() for name, tensor in staging.items()}
    step(gpt, optimizer, seed=9)
    second = capture(gpt, optimizer, {"step": 2}, staging)
    fresh = capture(gpt, optimizer, {"step": 2})
    assert {name: staging[name].data_ptr() for name in buffers} == buffers  # the same memory, refilled
    assert all(torch.equal(second.tensors[name], fresh.tensors[name]) for name in fresh.tensors)
    assert decode(encode(second)).step == 2 and first.tensors.keys() == second.tensors.keys()


def test_the_streamed_file_is_what_the_safetensors_library_reads_and_writes() -> None:
    snapshot = capture(*trained(), {"step": 3})
    snapshot.tensors["mask"] = torch.tensor([True, False, True])
    snapshot.tensors["half"] = torch.arange(5, dtype=torch.bfloat16)
    ours = encode(snapshot)
    assert (8 + struct.unpack_from("<Q", ours)[0]) % 8 == 0  # the data starts aligned
    loaded = safetensors_load(ours)
    reference = safetensors_load(safetensors.torch.save(snapshot.tensors))
    assert loaded.keys() == reference.keys() == snapshot.tensors.keys()
    assert all(torch.equal(loaded[name], reference[name]) and loaded[name].dtype == reference[name].dtype
               for name in loaded)
    assert decode(ours).step == 3


def test_a_tensor_that_is_not_a_host_tensor_is_refused() -> None:
    snapshot = capture(*trained(), {"step": 3})
    snapshot.tensors["strided"] = torch.arange(10.0)[::2]
    with pytest.raises(CheckpointError, match="contiguous host tensor"):
        encode(snapshot)
