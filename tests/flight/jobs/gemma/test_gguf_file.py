"""The GGUF reader: agreement with gguf.GGUFReader, lazy arrays, speed, and typed errors on bad files."""

from __future__ import annotations

import contextlib
import struct
import tempfile
from pathlib import Path

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.jobs.gemma.gguf_file import LAZY_ARRAY_THRESHOLD, GGUFFile, GGUFFormatError, LazyArray


def write_small(path: Path, alignment: int | None = None) -> Path:
    """A small GGUF with every value type, nested and lazy arrays, and tensors of two types."""
    writer = gguf.GGUFWriter(str(path), arch="test")
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    writer.add_uint8("t.u8", 200)
    writer.add_int8("t.i8", -5)
    writer.add_uint16("t.u16", 60000)
    writer.add_int16("t.i16", -3000)
    writer.add_uint32("t.u32", 4_000_000_000)
    writer.add_int32("t.i32", -7)
    writer.add_float32("t.f32", 1.5)
    writer.add_bool("t.bool", True)
    writer.add_string("t.str", "h\u00e9llo \u2581 \U0001f680")
    writer.add_uint64("t.u64", 2**63 + 5)
    writer.add_int64("t.i64", -(2**62))
    writer.add_float64("t.f64", 0.1)
    writer.add_array("t.nested", [[1, 2, 3], [4, 5]])
    writer.add_array("t.strs", ["x", "yy", ""])
    writer.add_array("t.floats", [0.5, -2.25])
    writer.add_array("t.big", list(range(LAZY_ARRAY_THRESHOLD + 1)))
    writer.add_array("t.bigstrs", [f"s{i}\u00e9" for i in range(LAZY_ARRAY_THRESHOLD + 7)])
    writer.add_tensor("w.f32", np.arange(12, dtype=np.float32).reshape(3, 4))
    writer.add_tensor("w.f16", np.arange(6, dtype=np.float16).reshape(2, 3))
    writer.add_tensor("w.vec", np.arange(5, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def small_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_small(tmp_path_factory.mktemp("gguf") / "small.gguf").read_bytes()


def open_bytes(data: bytes) -> GGUFFile:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.gguf"
        path.write_bytes(data)
        gguf_file = GGUFFile.open(path)
        # touch everything lazy too: decoding must not be where a bad file first breaks
        for value in gguf_file.metadata.values():
            if isinstance(value, LazyArray):
                value.decode()
        return gguf_file


def test_small_file_values(tmp_path: Path) -> None:
    f = GGUFFile.open(write_small(tmp_path / "s.gguf"))
    m = f.metadata
    assert f.version == 3
    assert m["general.architecture"] == "test"
    assert (m["t.u8"], m["t.i8"], m["t.u16"], m["t.i16"]) == (200, -5, 60000, -3000)
    assert (m["t.u32"], m["t.i32"], m["t.u64"], m["t.i64"]) == (4_000_000_000, -7, 2**63 + 5, -(2**62))
    assert m["t.f32"] == 1.5 and m["t.f64"] == 0.1 and m["t.bool"] is True
    assert m["t.str"] == "h\u00e9llo \u2581 \U0001f680"
    assert m["t.nested"] == [[1, 2, 3], [4, 5]]  # gguf.GGUFReader flattens this; the file nests it
    assert m["t.strs"] == ["x", "yy", ""]
    assert m["t.floats"] == [0.5, -2.25]
    assert isinstance(m["t.big"], LazyArray) and isinstance(m["t.bigstrs"], LazyArray)
    assert f.array("t.big").tolist() == list(range(LAZY_ARRAY_THRESHOLD + 1))
    assert f.array("t.bigstrs") == [f"s{i}\u00e9" for i in range(LAZY_ARRAY_THRESHOLD + 7)]
    w = f.tensors["w.f32"]
    assert w.shape == (3, 4) and w.ggml_type == gguf.GGMLQuantizationType.F32
    assert w.data.dtype == np.uint8 and not w.data.flags.writeable
    np.testing.assert_array_equal(w.data.view(np.float32).reshape(w.shape), np.arange(12).reshape(3, 4))
    h = f.tensors["w.f16"]
    assert h.shape == (2, 3) and h.ggml_type == gguf.GGMLQuantizationType.F16
    np.testing.assert_array_equal(h.data.view(np.float16), np.arange(6))
    assert f.tensors["w.vec"].shape == (5,)
    assert f.data_offset % f.alignment == 0


def test_custom_alignment(tmp_path: Path) -> None:
    f = GGUFFile.open(write_small(tmp_path / "a.gguf", alignment=64))
    assert f.alignment == 64 and f.data_offset % 64 == 0
    np.testing.assert_array_equal(f.tensors["w.vec"].data.view(np.float32), np.arange(5))


def test_tensor_data_is_a_view_not_a_copy(tmp_path: Path) -> None:
    f = GGUFFile.open(write_small(tmp_path / "v.gguf"))
    data = f.tensors["w.f32"].data
    assert isinstance(data.base, np.ndarray) or isinstance(data, np.memmap)
    assert np.shares_memory(data, f._memmap)


def test_gemma_matches_gguf_reader(gemma_path: Path) -> None:
    """Every key, every big array in full, and every tensor's name, shape, type and bytes (slow: GGUFReader)."""
    path = gemma_path
    ours = GGUFFile.open(path)
    reference = gguf.GGUFReader(path)
    keys = [k for k in reference.fields if not k.startswith("GGUF.")]
    assert sorted(keys) == sorted(ours.metadata)
    for key in keys:
        field = reference.fields[key]
        expected = field.contents()
        value = ours.metadata[key]
        if isinstance(value, LazyArray):
            value = value.decode()
            value = value.tolist() if isinstance(value, np.ndarray) else value
        if isinstance(expected, list) and expected and isinstance(expected[0], float):
            np.testing.assert_array_equal(np.float32(value), np.float32(expected), err_msg=key)
        else:
            assert value == expected, key
    assert len(reference.tensors) == len(ours.tensors)
    for t in reference.tensors:
        mine = ours.tensors[t.name]
        assert mine.shape == tuple(int(n) for n in reversed(t.shape)), t.name
        assert mine.ggml_type == int(t.tensor_type), t.name
        assert mine.data.nbytes == int(t.n_bytes), t.name
        assert np.array_equal(mine.data, np.asarray(t.data).reshape(-1).view(np.uint8)), t.name
    assert ours.tensors["token_embd.weight"].shape == (262144, 640)


def test_gemma_vocabulary_is_read_whole(gemma_path: Path) -> None:
    tokens, scores, types = GGUFFile.open(gemma_path).vocabulary()
    assert len(tokens) == len(scores) == len(types) == 262144
    assert scores.dtype == np.float32 and types.dtype == np.int32
    assert tokens[:3] == ["<pad>", "<eos>", "<bos>"] and tokens[106] == "<end_of_turn>"


# -- bad files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"GG", b"GGUF", b"GGUF\x03\x00\x00\x00", b"GGML" + bytes(20),
                                  b"GGUF" + struct.pack("<I", 1) + bytes(16),
                                  b"GGUF" + struct.pack(">I", 3) + bytes(16)])
def test_short_or_wrong_headers(data: bytes) -> None:
    with pytest.raises(GGUFFormatError):
        open_bytes(data)


def header(n_tensors: int, n_kv: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv)


def kv(key: str, vtype: int, payload: bytes) -> bytes:
    raw = key.encode()
    return struct.pack("<Q", len(raw)) + raw + struct.pack("<I", vtype) + payload


@pytest.mark.parametrize("data", [
    header(2**63, 0),  # absurd tensor count
    header(0, 2**40),  # absurd KV count
    header(0, 1) + struct.pack("<Q", 2**62),  # key length past the end
    header(0, 1) + kv("k", 99, b""),  # unknown value type
    header(0, 1) + kv("k", 9, struct.pack("<IQ", 4, 2**61)),  # array count past the end
    header(0, 1) + kv("k", 9, struct.pack("<IQ", 8, 3) + struct.pack("<Q", 2**40)),  # string elem too long
    header(0, 1) + kv("k", 9, struct.pack("<IQ", 77, 0)),  # unknown element type
    header(0, 1) + kv("k", 9, struct.pack("<IQ", 9, 1) * 40),  # arrays nested without end
    header(0, 1) + kv("k", 8, struct.pack("<Q", 2) + b"\xff\xfe"),  # invalid utf-8
    header(0, 2) + kv("k", 4, b"\x01\x00\x00\x00") * 2,  # duplicate key
    header(0, 1) + kv("general.alignment", 4, struct.pack("<I", 3)),  # alignment not a power of two
    header(0, 1) + kv("general.alignment", 8, struct.pack("<Q", 1) + b"x"),  # alignment of the wrong type
    header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<I", 9),  # too many dims
    header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<IQIQ", 1, 4, 12345, 0),  # unknown ggml type
    header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<IQIQ", 1, 100, 12, 0),  # ne0 not whole blocks
    header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<IQQIQ", 2, 2**40, 2**40, 0, 0),  # huge shape
    header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<IQIQ", 1, 4, 0, 0),  # data past the end
    header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<IQIQ", 1, 4, 0, 3) + bytes(64),  # misaligned
    header(2, 0) + (struct.pack("<Q", 1) + b"t" + struct.pack("<IQIQ", 1, 1, 0, 0)) * 2 + bytes(64),  # dup
])
def test_crafted_bad_files(data: bytes) -> None:
    with pytest.raises(GGUFFormatError):
        open_bytes(data)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GGUFFormatError):
        GGUFFile.open(tmp_path / "nope.gguf")


def test_vocabulary_missing_is_typed(tmp_path: Path) -> None:
    with pytest.raises(GGUFFormatError):
        GGUFFile.open(write_small(tmp_path / "s.gguf")).vocabulary()


def test_truncations_are_typed(small_bytes: bytes) -> None:
    whole = open_bytes(small_bytes)
    # the writer pads after the last tensor; cutting only that padding leaves a valid file
    base = whole._memmap.ctypes.data
    data_end = max(t.data.ctypes.data - base + t.data.nbytes for t in whole.tensors.values())
    cuts = sorted(set(range(0, 800)) | set(range(800, data_end, 97)) | {data_end - 1})
    for cut in cuts:
        with pytest.raises(GGUFFormatError):
            open_bytes(small_bytes[:cut])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=512))
def test_garbage_is_typed(data: bytes) -> None:
    for blob in (data, b"GGUF" + data, b"GGUF\x03\x00\x00\x00" + data):
        with contextlib.suppress(GGUFFormatError):
            open_bytes(blob)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=6),
       header_only=st.booleans())
def test_mutated_files_parse_or_raise_typed(small_bytes: bytes, edits: list[tuple[int, int]],
                                            header_only: bool) -> None:
    data = bytearray(small_bytes)
    span = 700 if header_only else len(data)  # most edits should land in the header, where parsing happens
    for position, value in edits:
        data[position % span] = value
    with contextlib.suppress(GGUFFormatError):
        open_bytes(bytes(data))


def write_vocab(path: Path, tokens: list[str], scores: list[float], types: list[int]) -> Path:
    writer = gguf.GGUFWriter(str(path), arch="test")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_small_vocabulary(tmp_path: Path) -> None:
    tokens, scores, types = GGUFFile.open(write_vocab(tmp_path / "v.gguf", ["a", "b\u2581"], [0.0, -1.5],
                                                      [1, 4])).vocabulary()
    assert tokens == ["a", "b\u2581"] and scores.tolist() == [0.0, -1.5] and types.tolist() == [1, 4]
    assert scores.dtype == np.float32 and types.dtype == np.int32


def test_vocabulary_arrays_must_agree(tmp_path: Path) -> None:
    with pytest.raises(GGUFFormatError, match="do not match"):
        GGUFFile.open(write_vocab(tmp_path / "v.gguf", ["a", "b"], [0.0], [1, 1])).vocabulary()
