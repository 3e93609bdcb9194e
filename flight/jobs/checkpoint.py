"""Training checkpoints: safetensors files with a CRC-32C of every tensor, in verified generations.

A checkpoint holds the model, the optimizer state, the RNG states, the data position (the step: the
batches are a function of it) and the configs. It is data only: safetensors, never pickle, so a file
that arrives by uplink or from a damaged disk can be refused but can never run code. The CRC-32C of
every tensor (the SSE4.2 instruction, through ``crc32c``) sits in the file's metadata and is checked
on load, which catches the bit flips that a well-formed file can still carry.

Files are written atomically (temporary file, fsync, rename, fsync of the directory) and the newest
``keep`` generations are kept; when the newest does not verify, the one before it is used and the
caller is told why, to raise an event.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crc32c
import safetensors.torch
import torch

from flight.atomic_file import write_atomic_parts
from flight.jobs.checkpoint_names import file_name, generation_step, generations
from flight.link.errors import ZenithError

FORMAT = "zenith-checkpoint/1"
MAX_HEADER = 16 << 20  # a safetensors header is JSON naming each tensor: megabytes at the very most
OPTIM = "optim."
RNG_CPU = "rng.cpu"
RNG_CUDA = "rng.cuda."
DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL"}


class CheckpointError(ZenithError):
    """A checkpoint that cannot be written, or one that is not a verified Zenith checkpoint."""


@dataclass
class Snapshot:
    """A checkpoint in host memory: what is written, and what a load gives back."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def tensor_crc(tensor: torch.Tensor) -> int:
    """CRC-32C of a tensor's bytes as stored (little-endian, row-major)."""
    return crc32c.crc32c(tensor.reshape(-1).view(torch.uint8).numpy())


def _host_copy(name: str, tensor: torch.Tensor, staging: dict[str, torch.Tensor] | None) -> torch.Tensor:
    """``tensor`` copied to host memory, into the staging buffer kept for ``name`` when there is one.

    Reusing the buffers of the last checkpoint spares the allocation and the page faults of a fresh
    copy (most of a capture's time on a CPU); on CUDA they are pinned, so the copy is a DMA.
    """
    if staging is None:
        return tensor.detach().to("cpu", copy=True).contiguous()
    buffer = staging.get(name)
    if buffer is None or buffer.shape != tensor.shape or buffer.dtype != tensor.dtype:
        buffer = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=tensor.is_cuda)
        staging[name] = buffer
    buffer.copy_(tensor.detach(), non_blocking=tensor.is_cuda)
    return buffer


def rng_states() -> dict[str, torch.Tensor]:
    """The RNG states, to be taken at the step boundary (the next step's dropout draws from them)."""
    states = {RNG_CPU: torch.get_rng_state()}
    if torch.cuda.is_available():
        for device, rng in enumerate(torch.cuda.get_rng_state_all()):
            states[f"{RNG_CUDA}{device}"] = rng
    return states


def set_rng_states(states: dict[str, torch.Tensor]) -> None:
    """Put back what ``rng_states`` took; CUDA states only when this process sees the same devices."""
    torch.set_rng_state(states[RNG_CPU])
    if torch.cuda.is_available():
        cuda = {int(name[len(RNG_CUDA):]): t for name, t in states.items() if name.startswith(RNG_CUDA)}
        if sorted(cuda) == list(range(torch.cuda.device_count())):
            for device, state in cuda.items():
                torch.cuda.set_rng_state(state, device)


def capture(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, meta: dict[str, Any],
            staging: dict[str, torch.Tensor] | None = None, rng: dict[str, torch.Tensor] | None = None) -> Snapshot:
    """Copy the training state into host memory (on CUDA: DMAs into pinned buffers, waited for here).

    With ``staging``, the copies go into those buffers (reused from one capture to the next): the
    caller must not capture again while the last snapshot is still being written. It may run on
    another thread while the model's forward and backward passes run, never while its optimizer steps.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, tuple[int, ...]], str] = {}
    devices = {p.device for p in model.parameters() if p.is_cuda}
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in seen:  # tied weights: safetensors stores each buffer once
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = _host_copy(name, tensor, staging)
    groups: list[dict[str, Any]] = []
    if optimizer is not None:
        state = optimizer.state_dict()
        for index, values in state["state"].items():
            for key, value in values.items():
                tensors[f"{OPTIM}{index}.{key}"] = _host_copy(f"{OPTIM}{index}.{key}", value, staging)
        groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in state["param_groups"]]
    for device in devices:  # the non-blocking copies must land before the writer reads them (on
        torch.cuda.synchronize(device)  # the model's devices: a writer thread's own current device is cuda:0)
    tensors.update(rng if rng is not None else rng_states())
    return Snapshot(tensors, {**meta, "aliases": aliases, "param_groups": groups})


def encode_parts(snapshot: Snapshot) -> list[bytes | memoryview]:
    """The safetensors file of a snapshot as parts to write one after another: the header, then each
    tensor's bytes in place (views, not copies), with the CRCs in the header's metadata.

    safetensors' own writer builds the whole file in one call that holds the GIL throughout (a quarter
    of a second for shakespeare_char's 126 MB), and the training loop, which launches the GPU's kernels
    from Python, stalls for as long: a supervised job measured 0.74 of a bare loop's speed on an H200
    with it. Here the heavy parts (CRC-32C, the writes) release the GIL. The layout is the format's
    (an 8-byte little-endian header length, a JSON header padded with spaces to 8 bytes, the data
    tensor after tensor), and files are read back with the safetensors library itself.
    """
    if "step" not in snapshot.meta:
        raise CheckpointError("a checkpoint needs its step")
    views: dict[str, memoryview] = {}
    header: dict[str, Any] = {}
    offset = 0
    for name in sorted(snapshot.tensors):
        tensor = snapshot.tensors[name]
        if tensor.dtype not in DTYPES or tensor.device.type != "cpu" or not tensor.is_contiguous():
            raise CheckpointError(f"tensor {name}: a contiguous host tensor of a storable dtype is needed")
        views[name] = memoryview(tensor.reshape(-1).view(torch.uint8).numpy())
        header[name] = {"dtype": DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(views[name])]}
        offset += len(views[name])
    crcs = {name: crc32c.crc32c(view) for name, view in views.items()}  # releases the GIL on large buffers
    meta, table = json.dumps(snapshot.meta), json.dumps(crcs)
    # The step, the optimizer's settings and the tied-weight aliases are metadata: a CRC guards them too.
    header["__metadata__"] = {"format": FORMAT, "meta": meta, "crc32c": table,
                              "meta_crc32c": str(_text_crc(meta, table))}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the data starts 8-byte aligned
    return [struct.pack("<Q", len(text)) + text, *views.values()]


def encode(snapshot: Snapshot) -> bytes:
    """The safetensors file of a snapshot, in one piece (for tests, tools and uplinks)."""
    return b"".join(encode_parts(snapshot))


def decode(data: bytes, source: str = "checkpoint") -> Snapshot:
    """Parse and verify a checkpoint file's bytes; anything else raises CheckpointError."""
    metadata = _metadata(data, source)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{source}: format {metadata.get('format')!r}, expected {FORMAT!r}")
    missing = [key for key in ("meta", "crc32c", "meta_crc32c") if not isinstance(metadata.get(key), str)]
    if missing:
        raise CheckpointError(f"{source}: the metadata lacks {missing[0]}")
    try:
        if int(metadata["meta_crc32c"]) != _text_crc(metadata["meta"], metadata["crc32c"]):
            raise CheckpointError(f"{source}: the metadata fails its CRC-32C")
        meta = json.loads(metadata["meta"])
        crcs = json.loads(metadata["crc32c"])
        tensors = safetensors.torch.load(data)
    except CheckpointError:
        raise
    except Exception as exc:  # the library raises its own error types for every malformed layout
        raise CheckpointError(f"{source}: unreadable: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(crcs, dict) or "step" not in meta:
        raise CheckpointError(f"{source}: metadata lacks the step or the CRC table")
    if set(crcs) != set(tensors):
        raise CheckpointError(f"{source}: the CRC table does not name exactly the stored tensors")
    for name, tensor in tensors.items():
        if tensor_crc(tensor) != crcs[name]:
            raise CheckpointError(f"{source}: tensor {name} fails its CRC-32C")
    return Snapshot(tensors, meta)


def _text_crc(*texts: str) -> int:
    return crc32c.crc32c("\0".join(texts).encode())


def _metadata(data: bytes, source: str) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors header, read before the library touches the file."""
    if len(data) < 8:
        raise CheckpointError(f"{source}: {len(data)} bytes is not a safetensors file")
    (length,) = struct.unpack_from("<Q", data)
    if length > min(MAX_HEADER, len(data) - 8):
        # a pickle (zip or protocol-2 stream) lands here: its first 8 bytes are no sane header length
        raise CheckpointError(f"{source}: not a safetensors file (header length {length})")
    try:
        header = json.loads(data[8:8 + length])
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: a deeply nested header
        raise CheckpointError(f"{source}: not a safetensors file (header is not JSON)") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{source}: no checkpoint metadata")
    return metadata


def restore(snapshot: Snapshot, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
            rng: bool = True) -> None:
    """Load a verified snapshot into a model (and optimizer, and the RNGs) built from its config."""
    state = {name: t for name, t in snapshot.tensors.items() if not name.startswith((OPTIM, "rng."))}
    for alias, original in snapshot.meta.get("aliases", {}).items():
        state[alias] = state[original]
    try:
        model.load_state_dict(state)
        if optimizer is not None:
            optimizer.load_state_dict(_optimizer_state(snapshot))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"checkpoint does not fit this model: {exc}") from None
    if rng:
        set_rng_states({name: t for name, t in snapshot.tensors.items() if name.startswith("rng.")})


def _optimizer_state(snapshot: Snapshot) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in snapshot.tensors.items():
        if name.startswith(OPTIM):
            index, key = name[len(OPTIM):].split(".", 1)
            state.setdefault(int(index), {})[key] = tensor
    return {"state": state, "param_groups": snapshot.meta["param_groups"]}


@dataclass(frozen=True)
class Rejected:
    path: Path
    reason: str


class CheckpointStore:
    """A directory of checkpoint generations, newest first; writes are atomic, loads verified."""

    def __init__(self, directory: Path, keep: int = 3) -> None:
        if keep < 1:
            raise CheckpointError(f"keep {keep}: at least one generation must be kept")
        self.directory = directory
        self.keep = keep

    def generations(self) -> list[Path]:
        return generations(self.directory)

    def path(self, step: int) -> Path:
        return self.directory / file_name(step)

    def write(self, parts: list[bytes | memoryview], step: int) -> Path:
        path = self.path(step)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomic_parts(path, parts)
        except (OSError, ZenithError) as exc:  # write_atomic raises StorageError, a ZenithError
            raise CheckpointError(f"cannot write {path}: {exc}") from None
        for old in self.generations()[self.keep:]:
            old.unlink(missing_ok=True)
        return path

    def save(self, snapshot: Snapshot) -> Path:
        return self.write(encode_parts(snapshot), snapshot.step)

    def latest(self, at_most: int | None = None) -> tuple[Snapshot | None, Path | None, list[Rejected]]:
        """The newest generation that verifies (of those at or before step ``at_most``), its path, and
        the newer ones refused (with why)."""
        rejected: list[Rejected] = []
        for path in self.generations():
            if at_most is not None and generation_step(path) > at_most:
                continue
            try:
                return decode(path.read_bytes(), path.name), path, rejected
            except (OSError, CheckpointError) as exc:
                rejected.append(Rejected(path, str(exc)))
        return None, None, rejected


def load_file(path: Path) -> Snapshot:
    """One checkpoint file, verified (for inference from a checkpoint, or a file that came by uplink)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    return decode(data, str(path))
