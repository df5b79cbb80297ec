"""Hostile and malformed files: every loader refuses them early and cheaply with a ValueError naming the file.

One explicit test per rule, then Hypothesis fuzzing of each loader (byte flips, truncations, insertions and
random headers) asserting that the only exception ever raised is a ValueError naming the file, and that
valid files still round-trip.

Ember has no text dataset loader (``ember.datasets`` reads IDX files, ``ember.data`` fixed-length binary
records), so there are no text rules to test here.
"""
from __future__ import annotations

import gzip
import json
import math
import struct
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
from ember.datasets.idx import read_idx, write_idx
from ember.io import load_file, save_file
from ember.io.safetensors import dumps

SAFETENSORS_CODES = ["F16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL"]


def safetensors_bytes(header, data: bytes = b"") -> bytes:
    """A safetensors file from a header (a dict, or raw JSON text/bytes) and a data section."""
    if isinstance(header, dict):
        header = json.dumps(header)
    if isinstance(header, str):
        header = header.encode("utf-8")
    return struct.pack("<Q", len(header)) + header + data


def refused(loader, path, match: str | None = None) -> str:
    """Call ``loader(path)``; it must raise a ValueError naming ``path``. Returns the message."""
    with pytest.raises(ValueError, match=match) as raised:
        loader(path)
    message = str(raised.value)
    assert str(path) in message, message
    return message


def f32(name_offsets: dict) -> dict:
    return {name: {"dtype": "F32", "shape": [(end - begin) // 4], "data_offsets": [begin, end]}
            for name, (begin, end) in name_offsets.items()}


# ------------------------------------------------------------------------------------ safetensors rules
@pytest.fixture
def st_path(tmp_path):
    return tmp_path / "hostile.safetensors"


@pytest.mark.parametrize("loader", [load_file, ember.load], ids=["load_file", "ember.load"])
@pytest.mark.parametrize("ranges", [
    {"a": (0, 8), "b": (4, 12)},            # overlap
    {"a": (0, 12), "b": (4, 8)},            # one inside the other
    {"a": (0, 4), "b": (8, 12)},            # gap between tensors
    {"a": (4, 12)},                         # gap before the first tensor
    {"a": (0, 8)},                          # trailing bytes after the last tensor
], ids=["overlap", "nested", "gap", "leading-gap", "trailing"])
def test_safetensors_ranges_must_tile_the_data_section_exactly(st_path, loader, ranges):
    st_path.write_bytes(safetensors_bytes(f32(ranges), bytes(12)))
    refused(loader, st_path, r"data section|overlap|gap")


def test_safetensors_offsets_past_the_file(st_path):
    st_path.write_bytes(safetensors_bytes(f32({"a": (0, 400)}), bytes(4)))
    refused(load_file, st_path, r"truncated")


@pytest.mark.parametrize("length", [2**64 - 1, 2**63, 100 * 1024 * 1024 + 1, 1000])
def test_safetensors_header_length_beyond_the_file_or_absurd(st_path, length):
    st_path.write_bytes(struct.pack("<Q", length) + b"{}" + bytes(30))
    refused(load_file, st_path, r"header")


def test_safetensors_bad_header_is_refused_without_reading_the_data(st_path):
    """A 256 MB file whose header is wrong is refused after reading the header, not the whole file."""
    with open(st_path, "wb") as stream:
        stream.write(safetensors_bytes(f32({"a": (0, 4)}) | {"b": 5}))
        stream.truncate(256 * 1024 * 1024)  # sparse: costs no disk
    tracemalloc.start()
    try:
        refused(load_file, st_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("shape, span", [
    ([2**40, 2**40, 2**40], 4),         # product wraps around 64 bits
    ([2**62, 4], 0),                     # product wraps to exactly 0
    ([2**70], 4),                        # larger than any int64
    ([-2, -3], 24),                      # negative sizes whose product looks right
    ([-1, 0], 0),
    ([2.5], 8),                          # not an integer
    ([2.0], 8),
    ([True, 2], 8),                      # a bool is not a size
    (["2"], 8),
    ([[2]], 8),
    ("22", 16),
    (None, 4),
], ids=lambda value: repr(value))
def test_safetensors_shape_values_must_be_non_negative_integers_without_overflow(st_path, shape, span):
    header = {"a": {"dtype": "F32", "shape": shape, "data_offsets": [0, span]}}
    st_path.write_bytes(safetensors_bytes(header, bytes(span)))
    refused(load_file, st_path, r"'a'")


@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN", "1e400"])
@pytest.mark.parametrize("field", ["shape", "offsets"])
def test_safetensors_non_finite_numbers_are_refused(st_path, text, field):
    shape, offsets = (f"[{text}]", "[0, 4]") if field == "shape" else ("[4]", f"[0, {text}]")
    header = '{"a": {"dtype": "U8", "shape": ' + shape + ', "data_offsets": ' + offsets + "}}"
    st_path.write_bytes(safetensors_bytes(header, bytes(4)))
    refused(load_file, st_path)


@pytest.mark.parametrize("offsets", [[0, 4.0], [0.0, 4], [-4, 0], [0], [0, 4, 8], "04", {"0": 4}, None])
def test_safetensors_offsets_must_be_a_pair_of_non_negative_integers(st_path, offsets):
    header = {"a": {"dtype": "U8", "shape": [4], "data_offsets": offsets}}
    st_path.write_bytes(safetensors_bytes(header, bytes(4)))
    refused(load_file, st_path, r"'a'")


def test_safetensors_shape_times_dtype_size_must_equal_the_range(st_path):
    header = {"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}
    st_path.write_bytes(safetensors_bytes(header, bytes(8)))
    refused(load_file, st_path, r"needs 16 bytes, the header gives 8")


@pytest.mark.parametrize("dtype", ["C64", "BF16", "f32", "", 4, None, ["F32"], {"F32": 1}])
def test_safetensors_unknown_dtypes(st_path, dtype):
    st_path.write_bytes(safetensors_bytes({"a": {"dtype": dtype, "shape": [1], "data_offsets": [0, 4]}}, bytes(4)))
    refused(load_file, st_path, r"'a'")


@pytest.mark.parametrize("header", ["[]", '"text"', "3", "null", "true", '{"a": 5}', '{"a": [1, 2]}'])
def test_safetensors_header_must_be_an_object_of_objects(st_path, header):
    st_path.write_bytes(safetensors_bytes(header))
    refused(load_file, st_path)


@pytest.mark.parametrize("loader", [load_file, ember.load], ids=["load_file", "ember.load"])
@pytest.mark.parametrize("header", ["[" * 100_000, '{"a":' * 100_000, '{"__metadata__": ' + "[" * 100_000],
                         ids=["lists", "objects", "in-metadata"])
def test_safetensors_deeply_nested_header_is_a_value_error(st_path, loader, header):
    st_path.write_bytes(safetensors_bytes(header))
    refused(loader, st_path)


@pytest.mark.parametrize("header", [
    '{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, '
    '"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}',
    '{"a": {"dtype": "U8", "dtype": "I8", "shape": [4], "data_offsets": [0, 4]}}',
    '{"__metadata__": {"k": "1", "k": "2"}, "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}',
], ids=["tensor", "field", "metadata"])
def test_safetensors_duplicate_keys_are_refused(st_path, header):
    st_path.write_bytes(safetensors_bytes(header, bytes(4)))
    refused(load_file, st_path, r"duplicate")


@pytest.mark.parametrize("loader", [load_file, ember.load], ids=["load_file", "ember.load"])
@pytest.mark.parametrize("metadata", [{"k": 1}, {"k": None}, {"k": ["v"]}, {"k": {"v": "w"}}, ["k", "v"], "kv", 5])
def test_safetensors_metadata_must_map_strings_to_strings(st_path, loader, metadata):
    st_path.write_bytes(safetensors_bytes({"__metadata__": metadata}))
    refused(loader, st_path, r"__metadata__")


@pytest.mark.parametrize("structure", [
    '{"dict": [["w"]]}',                                # an item that is not a pair
    '{"dict": [["w", {"tensor": "0"}, "extra"]]}',
    '{"dict": 5}',
    '{"list": [{"nothing": 1}]}',
    '{"tensor": ["0"]}',
    '[' * 100_000,                                      # nesting that would overflow the parser
    '{"list": [' * 2_000 + '{"value": 1}' + ']}' * 2_000,  # nesting that would overflow the decoder
], ids=["short-pair", "long-pair", "dict-not-list", "unknown-node", "unhashable", "deep-json", "deep-structure"])
def test_ember_load_refuses_a_hostile_structure_record(st_path, structure):
    save_file({"0": np.ones(2, np.float32)}, st_path, metadata={"ember.structure": structure})
    refused(ember.load, st_path, r"structure")


# --------------------------------------------------------------------------------------------- IDX rules
def idx_bytes(code: int, shape: tuple, payload: bytes) -> bytes:
    return struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_idx_gzip_trailing_data_is_found_without_decompressing_the_rest(tmp_path, monkeypatch):
    """Only the header, the payload and one byte more are decompressed: 32 MB of trailing zeros are not."""
    path = tmp_path / "trailing-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(8, (3,), b"\x01\x02\x03") + bytes(32 * 1024 * 1024)))
    decompressed = []
    original_read = gzip.GzipFile.read

    def counting_read(self, size=-1):
        data = original_read(self, size)
        decompressed.append(len(data))
        return data

    monkeypatch.setattr(gzip.GzipFile, "read", counting_read)
    refused(read_idx, path, r"expected 3 payload bytes for shape \(3,\) uint8, found at least 4 \(trailing")
    assert sum(decompressed) <= 4 + 4 + 3 + 1, f"decompressed {sum(decompressed)} bytes"


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_idx_truncated_payload_names_expected_and_found(tmp_path, compress):
    content = idx_bytes(8, (10, 10), bytes(60))
    path = tmp_path / ("cut-idx2-ubyte" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(content) if compress else content)
    refused(read_idx, path, r"expected 100 payload bytes for shape \(10, 10\) uint8, found 60 \(file truncated")


@pytest.mark.parametrize("shape", [(1 << 30,), (1 << 16, 1 << 16), (2**32 - 1,) * 8, (2**32 - 1,) * 255],
                         ids=["1GiB", "4GiB", "8dims", "255dims"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_idx_dims_beyond_what_the_file_can_hold_are_refused_before_allocating(tmp_path, shape, compress):
    content = idx_bytes(8, shape, bytes(16))
    path = tmp_path / ("huge-idx" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(content) if compress else content)
    tracemalloc.start()
    try:
        refused(read_idx, path, r"payload bytes for shape")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"peak {peak / 2**20:.1f} MiB before refusing"


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_idx_read_holds_one_copy_of_the_array(tmp_path, compress):
    """Reading a ~50 MB payload peaks near 1x the array, not 2x (no bytes object beside the array)."""
    array = (np.arange(50 * 1024 * 1024 // 4, dtype=np.int32) % 1000).reshape(-1, 1024)
    content = idx_bytes(0x0C, array.shape, array.astype(">i4").tobytes())
    path = tmp_path / ("big-idx2-int" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(content, compresslevel=1) if compress else content)
    del content
    tracemalloc.start()
    try:
        loaded = read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(loaded, array)
    assert peak < 1.1 * array.nbytes, f"peak {peak / array.nbytes:.2f}x the array"


# ------------------------------------------------------------------------------------------- fuzzing
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

mutations = st.lists(
    st.tuples(st.sampled_from(["flip", "truncate", "insert", "delete"]), st.integers(0, 1 << 16),
              st.binary(min_size=1, max_size=8)),
    min_size=1, max_size=4,
)


def mutate(content: bytes, edits) -> bytes:
    data = bytearray(content)
    for kind, where, blob in edits:
        position = where % (len(data) + 1)
        if kind == "flip" and data:
            data[position % len(data)] ^= blob[0] or 1
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = blob
        elif kind == "delete":
            del data[position:position + len(blob)]
    return bytes(data)


def only_value_errors_naming(loader, path: Path) -> None:
    try:
        loader(path)
    except ValueError as error:
        assert str(path) in str(error), str(error)


@pytest.fixture(scope="module")
def fuzz_dir():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


VALID_SAFETENSORS = dumps({"weight": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.array(7),
                           "mask": np.array([True, False]), "empty": np.zeros((0, 3), np.float16)},
                          metadata={"format": "np"})


@FUZZ
@given(edits=mutations)
def test_fuzz_safetensors_byte_mutations(fuzz_dir, edits):
    path = fuzz_dir / "mutated.safetensors"
    path.write_bytes(mutate(VALID_SAFETENSORS, edits))
    only_value_errors_naming(load_file, path)
    only_value_errors_naming(ember.load, path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
sizes = st.integers(-3, 6) | st.sampled_from([2**32, 2**62, 2**64, 2**70]) | json_values
entries = st.fixed_dictionaries({
    "dtype": st.sampled_from(SAFETENSORS_CODES) | json_values,
    "shape": st.lists(sizes, max_size=3) | json_values,
    "data_offsets": st.lists(sizes, min_size=2, max_size=2) | json_values,
}) | json_values
headers = st.dictionaries(st.text(max_size=4), entries, max_size=4) | json_values


@FUZZ
@given(header=headers, data=st.binary(max_size=64),
       metadata=st.none() | st.dictionaries(st.text(max_size=6), json_values | st.text(), max_size=3))
def test_fuzz_safetensors_random_headers(fuzz_dir, header, data, metadata):
    if isinstance(header, dict) and metadata is not None:
        header["__metadata__"] = metadata
    path = fuzz_dir / "random.safetensors"
    path.write_bytes(safetensors_bytes(json.dumps(header), data))
    only_value_errors_naming(load_file, path)
    only_value_errors_naming(ember.load, path)


arrays = st.tuples(
    st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_]),
    st.lists(st.integers(0, 4), max_size=3),
).map(lambda spec: (np.arange(math.prod(spec[1])) % 7).astype(spec[0]).reshape(spec[1]))


@FUZZ
@given(tensors=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda name: name != "__metadata__"),
                               arrays, max_size=4),
       metadata=st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3))
def test_fuzz_valid_safetensors_round_trip(fuzz_dir, tensors, metadata):
    path = fuzz_dir / "valid.safetensors"
    save_file(tensors, path, metadata=metadata)
    loaded, loaded_metadata = load_file(path)
    assert loaded_metadata == metadata
    assert set(loaded) == set(tensors)
    for name, array in tensors.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)
    state = {"weights": [ember.Tensor(array) for array in tensors.values() if array.dtype == np.float32],
             "names": list(tensors), "step": 3}
    ember.save(state, path)
    again = ember.load(path)
    assert again["names"] == state["names"] and again["step"] == 3
    assert len(again["weights"]) == len(state["weights"])


VALID_IDX = idx_bytes(0x0B, (3, 4), np.arange(12, dtype=">i2").tobytes())


@FUZZ
@given(edits=mutations, compress=st.booleans())
def test_fuzz_idx_byte_mutations(fuzz_dir, edits, compress):
    """Mutations of the IDX content (then gzipped, or not) and of the gzip stream itself."""
    path = fuzz_dir / ("mutated-idx" + (".gz" if compress else ""))
    content = mutate(VALID_IDX, edits)
    path.write_bytes(gzip.compress(content) if compress else content)
    only_value_errors_naming(read_idx, path)
    path.write_bytes(mutate(gzip.compress(VALID_IDX), edits))
    only_value_errors_naming(read_idx, path)


@FUZZ
@given(code=st.integers(0, 255), dims=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 5), max_size=6),
       payload=st.binary(max_size=64), compress=st.booleans())
def test_fuzz_idx_random_headers(fuzz_dir, code, dims, payload, compress):
    content = struct.pack(">BBBB", 0, 0, code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + payload
    path = fuzz_dir / ("random-idx" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(content) if compress else content)
    only_value_errors_naming(read_idx, path)


@FUZZ
@given(array=arrays.filter(lambda array: array.ndim >= 1),
       dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
       compress=st.booleans())
def test_fuzz_valid_idx_round_trip(fuzz_dir, array, dtype, compress):
    array = array.astype(dtype)
    path = write_idx(fuzz_dir / ("valid-idx" + (".gz" if compress else "")), array)
    loaded = read_idx(path)
    assert loaded.dtype == array.dtype.newbyteorder("=") and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)
