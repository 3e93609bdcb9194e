"""A fast, validating reader for GGUF v2/v3 files: metadata, tensor infos, and zero-copy tensor data.

``gguf.GGUFReader`` builds a numpy object per field part and spends 10-25 s on the 262,144 vocabulary
strings of Gemma 3. Here the header is walked once with ``struct``; big arrays (the vocabulary) are only
located during that walk and decoded on demand, numeric ones with a single ``np.frombuffer``, strings with
one tight loop. Every count, length and offset is checked against the file size before it is used, so a
truncated or garbage file raises :class:`GGUFFormatError` instead of IndexError, struct.error or MemoryError.

Layout (little-endian): magic ``GGUF``, u32 version, u64 tensor count, u64 KV count, the KVs (string key,
u32 value type, value), the tensor infos (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64
offset), padding to ``general.alignment``, then the tensor data.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES

from flight.link.errors import ZenithError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)  # v1 used 32-bit counts and lengths; nothing we load is that old
DEFAULT_ALIGNMENT = 32
LAZY_ARRAY_THRESHOLD = 4096  # top-level arrays longer than this stay undecoded until asked for
MAX_DIMS = 4  # GGML_MAX_DIMS: ggml itself cannot hold a tensor with more
MAX_ARRAY_DEPTH = 8  # nesting beyond this is garbage, and unbounded recursion would be a crash


class GGUFFormatError(ZenithError):
    """The file is not a well-formed GGUF; the message names the field and the byte offset."""


class ValueType(IntEnum):
    """GGUF metadata value types (gguf.GGUFValueType)."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


# fixed-size scalar types: struct format and the numpy dtype for whole arrays of them
_SCALARS: dict[ValueType, tuple[struct.Struct, np.dtype]] = {
    ValueType.UINT8: (struct.Struct("<B"), np.dtype("<u1")),
    ValueType.INT8: (struct.Struct("<b"), np.dtype("<i1")),
    ValueType.UINT16: (struct.Struct("<H"), np.dtype("<u2")),
    ValueType.INT16: (struct.Struct("<h"), np.dtype("<i2")),
    ValueType.UINT32: (struct.Struct("<I"), np.dtype("<u4")),
    ValueType.INT32: (struct.Struct("<i"), np.dtype("<i4")),
    ValueType.FLOAT32: (struct.Struct("<f"), np.dtype("<f4")),
    ValueType.BOOL: (struct.Struct("<?"), np.dtype("?")),
    ValueType.UINT64: (struct.Struct("<Q"), np.dtype("<u8")),
    ValueType.INT64: (struct.Struct("<q"), np.dtype("<i8")),
    ValueType.FLOAT64: (struct.Struct("<d"), np.dtype("<f8")),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_MIN_STRING = 8  # a string is at least its u64 length
_MIN_TENSOR_INFO = 8 + 4 + 4 + 8  # empty name, n_dims, type, offset (a zero-dim tensor has no ne[])
_MIN_KV = 8 + 4 + 1  # empty key, value type, smallest value


@dataclass(frozen=True)
class GGUFTensor:
    """One tensor: ``shape`` in numpy (row-major) order, the reverse of ggml's ``ne[]``."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int  # a gguf.GGMLQuantizationType value
    data: np.ndarray  # the raw bytes: a uint8 view into the read-only memmap, never a copy


@dataclass(frozen=True)
class LazyArray:
    """A big metadata array located in the file but not decoded; ``decode()`` does it on demand.

    String arrays keep the byte offsets of every string (found while skipping over them during the header
    walk), so decoding is one slice and one utf-8 decode per element.
    """

    key: str
    element_type: ValueType
    count: int
    offset: int  # of the first element
    end: int  # one past the last byte
    _source: GGUFFile = field(repr=False, compare=False)
    _string_spans: np.ndarray | None = field(default=None, repr=False, compare=False)  # (count, 2), strings

    def decode(self) -> list | np.ndarray:
        """Strings as a list of str; numbers as a read-only numpy array in native byte order."""
        if self.element_type == ValueType.STRING:
            return self._source._decode_strings(self.key, self._string_spans)
        _, dtype = _SCALARS[self.element_type]
        return np.frombuffer(self._source._buffer, dtype=dtype, count=self.count, offset=self.offset)


class _Cursor:
    """A bounds-checked reader over the file buffer; every failure becomes GGUFFormatError."""

    def __init__(self, buffer: memoryview, size: int) -> None:
        self.buffer = buffer
        self.size = size
        self.pos = 0

    def need(self, nbytes: int, what: str) -> None:
        if nbytes < 0 or self.pos + nbytes > self.size:
            raise GGUFFormatError(f"{what}: needs {nbytes} bytes at offset {self.pos}, "
                                  f"but the file ends at {self.size}")

    def unpack(self, fmt: struct.Struct, what: str) -> object:
        self.need(fmt.size, what)
        (value,) = fmt.unpack_from(self.buffer, self.pos)
        self.pos += fmt.size
        return value

    def u32(self, what: str) -> int:
        return self.unpack(_U32, what)  # type: ignore[return-value]

    def u64(self, what: str) -> int:
        return self.unpack(_U64, what)  # type: ignore[return-value]

    def count(self, what: str, min_element: int) -> int:
        """A u64 element count, capped by what the rest of the file could hold."""
        start = self.pos
        n = self.u64(what)
        if n * min_element > self.size - self.pos:
            raise GGUFFormatError(f"{what}: count {n} at offset {start} cannot fit in the "
                                  f"{self.size - self.pos} bytes left")
        return n

    def string(self, what: str) -> str:
        start = self.pos
        n = self.u64(f"{what} length")
        self.need(n, what)
        raw = bytes(self.buffer[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GGUFFormatError(f"{what}: invalid utf-8 in the string at offset {start}: {exc.reason}") from None

    def value_type(self, what: str) -> ValueType:
        start = self.pos
        code = self.u32(what)
        try:
            return ValueType(code)
        except ValueError:
            raise GGUFFormatError(f"{what}: unknown value type {code} at offset {start}") from None

    def skip_strings(self, n: int, what: str) -> np.ndarray:
        """Walk ``n`` length-prefixed strings without decoding them; returns their (start, end) spans."""
        # grown as strings prove valid, so a garbage count costs nothing before the walk fails
        spans = array("q")
        append = spans.append
        buffer, size, pos, unpack = self.buffer, self.size, self.pos, _U64.unpack_from
        for i in range(n):
            if pos + 8 > size:
                raise GGUFFormatError(f"{what}[{i}] length: the file ends at {size}, before offset {pos + 8}")
            (length,) = unpack(buffer, pos)
            pos += 8
            end = pos + length
            if end > size:
                raise GGUFFormatError(f"{what}[{i}]: {length} bytes at offset {pos} run past the end ({size})")
            append(pos)
            append(end)
            pos = end
        self.pos = pos
        return np.frombuffer(spans, dtype=np.int64).reshape(n, 2)


class GGUFFile:
    """A parsed GGUF file; tensor data and big arrays stay in the memory-mapped file until used."""

    def __init__(self, path: Path, memmap: np.ndarray) -> None:
        self.path = path
        self._memmap = memmap
        self._buffer = memoryview(memmap) if memmap.size else memoryview(b"")
        self.version = 0
        self.alignment = DEFAULT_ALIGNMENT
        self.data_offset = 0
        self.metadata: dict[str, object] = {}
        self.tensors: dict[str, GGUFTensor] = {}

    @classmethod
    def open(cls, path: str | Path) -> GGUFFile:
        """Map ``path`` read-only and parse its header; GGUFFormatError if it is not a valid GGUF."""
        path = Path(path)
        try:
            size = path.stat().st_size
            # np.memmap refuses an empty file; an empty array still lets the header check say what is wrong
            memmap = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)
        except OSError as exc:
            raise GGUFFormatError(f"cannot open {path}: {exc}") from None
        gguf = cls(path, memmap)
        gguf._parse()
        return gguf

    # -- parsing --------------------------------------------------------------------------------------

    def _parse(self) -> None:
        cur = _Cursor(self._buffer, len(self._buffer))
        cur.need(4, "magic")
        magic = bytes(self._buffer[0:4])
        if magic != MAGIC:
            raise GGUFFormatError(f"magic: expected {MAGIC!r} at offset 0, found {magic!r}")
        cur.pos = 4
        self.version = cur.u32("version")
        if self.version not in SUPPORTED_VERSIONS:
            # a big-endian file shows up here too, as a byte-swapped version
            raise GGUFFormatError(f"version: {self.version} at offset 4 is not one of {SUPPORTED_VERSIONS}")
        n_tensors = cur.count("tensor_count", _MIN_TENSOR_INFO)
        n_kv = cur.count("kv_count", _MIN_KV)
        for i in range(n_kv):
            key = cur.string(f"kv[{i}].key")
            if key in self.metadata:
                raise GGUFFormatError(f"kv[{i}].key: duplicate key {key!r} ending at offset {cur.pos}")
            vtype = cur.value_type(f"{key}.type")
            self.metadata[key] = self._read_value(cur, vtype, key, top_level=True)
        self.alignment = self._alignment()
        infos = []
        names: set[str] = set()
        for i in range(n_tensors):
            info = self._read_tensor_info(cur, i)
            if info[0] in names:
                raise GGUFFormatError(f"tensor[{i}].name: duplicate tensor {info[0]!r}")
            names.add(info[0])
            infos.append(info)
        self.data_offset = -(-cur.pos // self.alignment) * self.alignment
        if self.data_offset > cur.size:
            raise GGUFFormatError(f"data offset {self.data_offset} (aligned to {self.alignment}) is past the end "
                                  f"of the file ({cur.size})")
        for name, shape, ggml_type, offset, nbytes in infos:
            start = self.data_offset + offset
            if offset % self.alignment:
                raise GGUFFormatError(f"tensor {name!r}.offset: {offset} is not a multiple of {self.alignment}")
            if start + nbytes > cur.size:
                raise GGUFFormatError(f"tensor {name!r}: {nbytes} bytes at offset {start} run past the end of "
                                      f"the file ({cur.size})")
            data = self._memmap[start:start + nbytes]
            self.tensors[name] = GGUFTensor(name=name, shape=shape, ggml_type=ggml_type, data=data)

    def _read_value(self, cur: _Cursor, vtype: ValueType, what: str, top_level: bool = False,
                    depth: int = 0) -> object:
        if vtype == ValueType.STRING:
            return cur.string(what)
        if vtype != ValueType.ARRAY:
            return cur.unpack(_SCALARS[vtype][0], what)
        if depth >= MAX_ARRAY_DEPTH:
            raise GGUFFormatError(f"{what}: arrays nested deeper than {MAX_ARRAY_DEPTH} at offset {cur.pos}")
        etype = cur.value_type(f"{what}.element_type")
        if etype == ValueType.ARRAY:
            n = cur.count(f"{what}.count", 4 + 8)  # each element is at least its type and count
            return [self._read_value(cur, ValueType.ARRAY, f"{what}[{i}]", depth=depth + 1)
                    for i in range(n)]
        if etype == ValueType.STRING:
            n = cur.count(f"{what}.count", _MIN_STRING)
            start = cur.pos
            spans = cur.skip_strings(n, what)
            if top_level and n > LAZY_ARRAY_THRESHOLD:
                return LazyArray(what, etype, n, start, cur.pos, self, spans)
            return self._decode_strings(what, spans)
        fmt, dtype = _SCALARS[etype]
        n = cur.count(f"{what}.count", fmt.size)
        start = cur.pos
        cur.pos += n * fmt.size  # count() checked that this fits
        if top_level and n > LAZY_ARRAY_THRESHOLD:
            return LazyArray(what, etype, n, start, cur.pos, self)
        if n == 0:  # np.frombuffer rejects an offset at the very end of the buffer
            return []
        return np.frombuffer(self._buffer, dtype=dtype, count=n, offset=start).tolist()

    def _decode_strings(self, what: str, spans: np.ndarray | None) -> list[str]:
        if spans is None or not len(spans):
            return []
        # one copy of the whole region, then plain bytes slicing: far cheaper than a memoryview per string
        base = int(spans[0, 0])
        region = bytes(self._buffer[base:int(spans[-1, 1])])
        local = (spans - base).tolist()
        try:
            return [region[a:b].decode("utf-8") for a, b in local]
        except UnicodeDecodeError:
            for i, (a, b) in enumerate(local):  # only on failure: find which element to name
                try:
                    region[a:b].decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise GGUFFormatError(f"{what}[{i}]: invalid utf-8 at offset {base + a}: {exc.reason}") from None
            raise

    def _alignment(self) -> int:
        alignment = self.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0 \
                or alignment & (alignment - 1):
            raise GGUFFormatError(f"general.alignment: {alignment!r} is not a positive power of two")
        return alignment

    def _read_tensor_info(self, cur: _Cursor, i: int) -> tuple[str, tuple[int, ...], int, int, int]:
        name = cur.string(f"tensor[{i}].name")
        n_dims = cur.u32(f"tensor {name!r}.n_dims")
        if n_dims > MAX_DIMS:
            raise GGUFFormatError(f"tensor {name!r}.n_dims: {n_dims} > {MAX_DIMS} at offset {cur.pos - 4}")
        ne = [cur.u64(f"tensor {name!r}.ne[{d}]") for d in range(n_dims)]
        type_at = cur.pos
        ggml_type = cur.u32(f"tensor {name!r}.type")
        if ggml_type not in _QUANT_SIZES:
            raise GGUFFormatError(f"tensor {name!r}.type: unknown ggml type {ggml_type} at offset {type_at}")
        offset = cur.u64(f"tensor {name!r}.offset")
        block, type_size = _QUANT_SIZES[ggml_type]
        if ne and ne[0] % block:
            raise GGUFFormatError(f"tensor {name!r}.ne[0]: {ne[0]} is not a multiple of the block size {block}")
        elements = 1
        for n in ne:
            elements *= n
            if elements > cur.size * block:  # cap before the product grows without bound
                raise GGUFFormatError(f"tensor {name!r}: shape {ne} cannot fit in a file of {cur.size} bytes")
        nbytes = elements // block * type_size
        return name, tuple(reversed(ne)), ggml_type, offset, nbytes

    # -- big arrays -----------------------------------------------------------------------------------

    def array(self, key: str) -> list | np.ndarray:
        """A metadata array decoded in full, whether or not it was kept lazy."""
        value = self.metadata.get(key)
        if isinstance(value, LazyArray):
            return value.decode()
        if isinstance(value, list):
            return value
        raise GGUFFormatError(f"{key}: expected an array, found {type(value).__name__}")

    def _numbers(self, key: str, dtype: type) -> np.ndarray:
        values = self.array(key)
        if isinstance(values, list) and not all(type(v) in (int, float) for v in values):
            raise GGUFFormatError(f"{key}: expected an array of numbers")
        try:
            return np.asarray(values, dtype=dtype)
        except (OverflowError, ValueError) as exc:  # a short list holding a value the dtype cannot
            raise GGUFFormatError(f"{key}: {exc}") from None

    def vocabulary(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``tokenizer.ggml.tokens``, ``.scores`` (float32) and ``.token_type`` (int32), checked to agree."""
        tokens = self.array("tokenizer.ggml.tokens")
        if not isinstance(tokens, list) or not all(type(t) is str for t in tokens):
            raise GGUFFormatError("tokenizer.ggml.tokens: expected an array of strings")
        scores = self._numbers("tokenizer.ggml.scores", np.float32)
        types = self._numbers("tokenizer.ggml.token_type", np.int32)
        if not (len(tokens) == len(scores) == len(types)):
            raise GGUFFormatError(f"tokenizer.ggml: {len(tokens)} tokens, {len(scores)} scores and "
                                  f"{len(types)} token types do not match")
        return tokens, scores, types


_QUANT_SIZES: dict[int, tuple[int, int]] = {int(k): v for k, v in GGML_QUANT_SIZES.items()}
