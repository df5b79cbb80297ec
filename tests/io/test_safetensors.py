"""ember.io.safetensors: the file layout, every dtype, and clear errors for truncated or malformed files."""
from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest

from ember.io import load_file, save_file
from ember.io.safetensors import dumps, loads

DTYPES = {
    "F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8, "I16": np.int16, "I32": np.int32,
    "I64": np.int64, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
}


def handmade_file(header: dict, data: bytes) -> bytes:
    """A safetensors file written from the format's description, without Ember."""
    encoded = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(encoded)) + encoded + data


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "weights.safetensors"
    save_file({"weight": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.array(7, dtype=np.int64)}, path)
    return path


@pytest.mark.parametrize("code", sorted(DTYPES))
def test_every_dtype_round_trips_with_its_shape_and_values(tmp_path, rng, code):
    dtype = np.dtype(DTYPES[code])
    values = rng.normal(size=(3, 4)) * 50 if dtype.kind == "f" else rng.integers(0, 100, size=(3, 4))
    array = (values > 0 if dtype.kind == "b" else values).astype(dtype)
    save_file({"x": array, "empty": np.zeros((0, 5), dtype), "scalar": array[1, 2]}, tmp_path / "t.safetensors")
    loaded, metadata = load_file(tmp_path / "t.safetensors")
    assert metadata == {}
    assert set(loaded) == {"x", "empty", "scalar"}
    for name, expected in (("x", array), ("empty", np.zeros((0, 5), dtype)), ("scalar", np.asarray(array[1, 2]))):
        assert loaded[name].dtype == dtype and loaded[name].shape == expected.shape
        np.testing.assert_array_equal(loaded[name], expected)


def test_layout_follows_the_format(rng):
    """8-byte little-endian header length, a JSON header padded to 8 bytes, then the raw little-endian data."""
    first = rng.normal(size=(2, 3)).astype(np.float32)
    second = np.array([1, -2, 3], dtype=np.int64)
    payload = dumps({"first": first, "second": second}, metadata={"format": "pt", "epoch": 3})
    (length,) = struct.unpack("<Q", payload[:8])
    assert (8 + length) % 8 == 0
    header = json.loads(payload[8:8 + length])
    assert header["__metadata__"] == {"format": "pt", "epoch": "3"}  # metadata values are strings
    assert header["first"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["second"] == {"dtype": "I64", "shape": [3], "data_offsets": [24, 48]}
    data = payload[8 + length:]
    assert data == first.astype("<f4").tobytes() + second.astype("<i8").tobytes()


def test_reads_a_file_written_by_hand():
    weights = np.array([[1.5, -2.0], [0.25, 4.0]], dtype="<f4")
    counts = np.array([3, 9], dtype="<i2")
    header = {"counts": {"dtype": "I16", "shape": [2], "data_offsets": [16, 20]},
              "weights": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
              "__metadata__": {"source": "by hand"}}
    tensors, metadata = loads(handmade_file(header, weights.tobytes() + counts.tobytes()))
    assert metadata == {"source": "by hand"}
    np.testing.assert_array_equal(tensors["weights"], weights)
    np.testing.assert_array_equal(tensors["counts"], counts)
    assert tensors["weights"].dtype == np.float32 and tensors["counts"].dtype == np.int16


def test_non_contiguous_and_big_endian_arrays_are_written_as_their_values(tmp_path):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    arrays = {"transposed": base.T, "strided": base[::2, 1::2], "big_endian": base.astype(">f8"),
              "fortran": np.asfortranarray(base)}
    save_file(arrays, tmp_path / "t.safetensors")
    loaded, _ = load_file(tmp_path / "t.safetensors")
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == np.float64 and loaded[name].dtype.byteorder in "=<"


def test_loaded_arrays_are_writable_copies(good_file):
    loaded, _ = load_file(good_file)
    loaded["weight"] += 1  # optimizers update loaded state in place
    again, _ = load_file(good_file)
    np.testing.assert_array_equal(again["weight"], np.arange(6, dtype=np.float32).reshape(2, 3))


def test_unsupported_dtype_names_the_tensor_and_leaves_an_existing_file_alone(good_file):
    before = good_file.read_bytes()
    with pytest.raises(TypeError, match=r"tensor 'z' has unsupported dtype complex64"):
        save_file({"z": np.zeros(2, np.complex64)}, good_file)
    assert good_file.read_bytes() == before
    assert [p.name for p in good_file.parent.iterdir()] == [good_file.name]  # no temporary file left


@pytest.mark.parametrize("keep", [0, 5, 8, 20, -1, -8], ids=lambda n: f"keep{n}")
def test_a_truncated_file_raises_a_value_error_naming_the_file(good_file, keep):
    payload = good_file.read_bytes()
    good_file.write_bytes(payload[:keep] if keep >= 0 else payload[:len(payload) + keep])
    with pytest.raises(ValueError, match=r"truncated") as raised:
        load_file(good_file)
    assert str(good_file) in str(raised.value)


MALFORMED = {
    "not json": (b"{not json", r"header is not valid JSON"),
    "not an object": (b"[1, 2, 3]", r"header is not a JSON object"),
    "no dtype": (json.dumps({"x": {"shape": [1], "data_offsets": [0, 4]}}).encode(), r"entry 'x' is malformed"),
    "unknown dtype": (json.dumps({"x": {"dtype": "C64", "shape": [1], "data_offsets": [0, 4]}}).encode(),
                      r"entry 'x' is malformed"),
    "size mismatch": (json.dumps({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}).encode(),
                      r"tensor 'x' of shape \(2,\) float32 needs 8 bytes, the header gives 4"),
    "offsets reversed": (json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}).encode(),
                         r"tensor 'x' spans bytes 4\.\.0"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_header_raises_a_value_error_naming_the_file(tmp_path, case):
    header, message = MALFORMED[case]
    path = tmp_path / "broken.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(ValueError, match=message) as raised:
        load_file(path)
    assert f"safetensors file '{path}'" in str(raised.value)


def test_a_pickle_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weight": np.ones(3)}))
    with pytest.raises(ValueError, match=str(path)):
        load_file(path)


def test_reading_never_unpickles(good_file, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    loaded, _ = load_file(good_file)
    assert loaded["step"] == 7
