"""The IDX reader and writer: formats, gzip detection by content, and every kind of broken file."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import ember
from ember.datasets.idx import IDXFormatError, read_idx, write_idx


def idx_bytes(code: int, shape: tuple, payload: bytes) -> bytes:
    """An IDX file built by hand from the format's definition."""
    return struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload


@pytest.mark.parametrize(
    "dtype, code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D),
                    (np.float64, 0x0E)],
)
def test_write_matches_the_format_and_reads_back(tmp_path, rng, dtype, code):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal((3, 4, 5)).astype(dtype)
    path = write_idx(tmp_path / "data-idx3", array)
    big_endian = array.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    assert path.read_bytes() == idx_bytes(code, (3, 4, 5), big_endian)
    result = read_idx(path)
    assert result.dtype == np.dtype(dtype) and result.dtype.isnative
    assert result.shape == (3, 4, 5)
    np.testing.assert_array_equal(result, array)


def test_reads_a_hand_built_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(0x0B, (2, 3), struct.pack(">6h", 1, -2, 300, -400, 5, 32767)))
    result = read_idx(path)
    assert result.dtype == np.int16
    np.testing.assert_array_equal(result, [[1, -2, 300], [-400, 5, 32767]])


def test_gzip_round_trip_and_detection_by_content(tmp_path, rng):
    array = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    gz_path = write_idx(tmp_path / "images-idx3-ubyte.gz", array)
    assert gz_path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(gz_path), array)
    # gzip content under a plain name, plain content under a .gz name: both read by their bytes
    disguised_gz = tmp_path / "images-idx3-ubyte"
    disguised_gz.write_bytes(gz_path.read_bytes())
    np.testing.assert_array_equal(read_idx(disguised_gz), array)
    disguised_raw = tmp_path / "raw.gz"
    disguised_raw.write_bytes(gzip.decompress(gz_path.read_bytes()))
    np.testing.assert_array_equal(read_idx(disguised_raw), array)


def test_write_accepts_tensor_and_is_atomic(tmp_path):
    target = tmp_path / "x-idx1-ubyte"
    write_idx(target, ember.tensor(np.array([1, 2, 3], dtype=np.uint8)))
    write_idx(target, np.array([7, 8], dtype=np.uint8))  # replaces the file
    np.testing.assert_array_equal(read_idx(target), [7, 8])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-idx1-ubyte"]  # no temporary file left


def test_write_rejects_types_idx_cannot_store(tmp_path):
    with pytest.raises(TypeError, match=r"write_idx: IDX cannot store dtype int64"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="bool"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match=r"1 to 255 dimensions, received an array of shape \(\)"):
        write_idx(tmp_path / "a", np.uint8(3))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------- broken files
def test_truncated_payload_names_file_shape_and_counts(tmp_path):
    payload = bytes(2 * 28 * 28 - 1000)
    for name, content in (("t-idx3-ubyte", idx_bytes(8, (2, 28, 28), payload)),
                          ("t-idx3-ubyte.gz", gzip.compress(idx_bytes(8, (2, 28, 28), payload)))):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(IDXFormatError) as info:
            read_idx(path)
        message = str(info.value)
        assert f"IDX file '{path}'" in message
        assert "expected 1568 payload bytes for shape (2, 28, 28) uint8, found 568 (file truncated?)" in message


def test_trailing_garbage(tmp_path):
    content = idx_bytes(8, (3,), b"\x01\x02\x03") + b"junk"
    # a raw file's size is known; a gzip stream is read one byte past the payload, not to its end
    cases = (("a-idx1-ubyte", content, "7"), ("a-idx1-ubyte.gz", gzip.compress(content), "at least 4"))
    for name, data, found in cases:
        path = tmp_path / name
        path.write_bytes(data)
        expected = rf"expected 3 payload bytes for shape \(3,\) uint8, found {found} \(trailing"
        with pytest.raises(IDXFormatError, match=expected):
            read_idx(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x00", r"too short for an IDX header: expected at least 4 bytes, found 2"),
        (b"", r"too short for an IDX header: expected at least 4 bytes, found 0"),
        (b"\x00\x01\x08\x01\x00\x00\x00\x01\x05", r"bad magic number: expected .*0x00 0x00, found 0x00 0x01"),
        (b"PK\x03\x04rest", r"bad magic number: .*found 0x50 0x4B"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x05", r"unknown data type code 0x0A; expected one of 0x08 \(uint8\)"),
        (b"\x00\x00\x08\x00", r"declares 0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00",
         r"header truncated: expected 12 bytes for 3 dimension sizes, found 6"),
    ],
)
def test_bad_headers(tmp_path, content, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(IDXFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_corrupt_gzip_streams(tmp_path, rng):
    array = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    good = write_idx(tmp_path / "good.gz", array).read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(IDXFormatError, match=r"IDX file '.*cut.gz': corrupt gzip stream"):
        read_idx(cut)
    scrambled = bytearray(good)
    scrambled[len(good) // 2: len(good) // 2 + 64] = bytes(64)
    bad = tmp_path / "scrambled.gz"
    bad.write_bytes(bytes(scrambled))
    with pytest.raises(IDXFormatError, match=r"scrambled.gz': corrupt gzip stream"):
        read_idx(bad)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")
