"""The safetensors format, read and written with NumPy (no pickle, no extra dependency).

Layout: an 8-byte little-endian header length ``n``, ``n`` bytes of JSON (``{name: {"dtype", "shape",
"data_offsets": [begin, end]}, "__metadata__": {str: str}}``), then the raw little-endian tensor bytes.
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np

from ..backend.files import atomic_writer

_CODES = {
    "F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8, "I16": np.int16, "I32": np.int32,
    "I64": np.int64, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
}
_NAMES = {np.dtype(dtype): code for code, dtype in _CODES.items()}
_MAX_HEADER = 100 * 1024 * 1024


def dumps(tensors: dict, metadata: dict | None = None) -> bytes:
    """Serialise ``{name: array}`` (NumPy arrays) to safetensors bytes."""
    header = {}
    chunks = []
    offset = 0
    for name, array in tensors.items():
        array = np.asarray(array)
        dtype = array.dtype.newbyteorder("=")  # a big-endian array is written as its values
        if dtype not in _NAMES:
            raise TypeError(f"safetensors: tensor {name!r} has unsupported dtype {array.dtype}")
        # C order, little-endian; the shape is the array's own (ascontiguousarray makes a 0-d array 1-d)
        data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _NAMES[dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # align the data buffer to 8 bytes
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list) -> dict:
    """``object_pairs_hook`` for ``json.loads``: a key given twice makes the header ambiguous, so refuse it."""
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number the format allows")


def _preview(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_size(value) -> bool:
    """A JSON integer >= 0 (``usize`` in the reference implementation); not a bool, float or string."""
    return type(value) is int and value >= 0


def _header_length(prefix: bytes, file_size: int, fail) -> int:
    """The header length from the first 8 bytes, checked against the file size and a 100 MB bound."""
    if len(prefix) < 8:
        raise fail(f"expected at least 8 bytes, found {len(prefix)} (file truncated?)")
    (length,) = struct.unpack("<Q", prefix)
    if length > _MAX_HEADER:
        raise fail(f"header claims {length} bytes, more than the {_MAX_HEADER} the format allows")
    if 8 + length > file_size:
        raise fail(f"header claims {length} bytes but the file has {file_size - 8} after the length (truncated?)")
    return length


def _parse_header(raw: bytes, data_size: int, fail) -> tuple[list, dict]:
    """Validate the JSON header against a data section of ``data_size`` bytes, as the reference library does.

    Returns ``([(name, dtype, shape, begin, end), ...], metadata)``. Tensor entries need a known ``dtype``, a
    ``shape`` of integers >= 0 and ``data_offsets`` ``[begin, end]`` with ``end - begin`` equal to the
    shape's size times the dtype's; the ranges, sorted, must tile the data section exactly (no overlap, no
    gap, nothing after the last). ``__metadata__``, when present, maps strings to strings.
    """
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except RecursionError:
        raise fail("header is not valid JSON (nested too deeply)") from None
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError included
        raise fail(f"header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise fail(f"header is not a JSON object, found {type(header).__name__}")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        raise fail(f"__metadata__ must map strings to strings, found {_preview(metadata)}")
    entries = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
            raise fail(f"entry {name!r} is malformed: expected dtype, shape and data_offsets, found {_preview(entry)}")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(code, str) or code not in _CODES:
            raise fail(f"entry {name!r} is malformed: dtype {_preview(code)} is not one of {', '.join(_CODES)}")
        if not isinstance(shape, list) or not all(_is_size(size) for size in shape):
            raise fail(f"entry {name!r} is malformed: shape {_preview(shape)} is not a list of integers >= 0")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_size(v) for v in offsets):
            raise fail(f"entry {name!r} is malformed: data_offsets {_preview(offsets)} is not [begin, end]")
        dtype = np.dtype(_CODES[code])
        expected = dtype.itemsize
        for size in shape:
            expected *= size
            if expected >= 2**64:  # the reference library's ValidationOverflow: no file holds this much
                raise fail(f"tensor {name!r} of shape {_preview(shape)} {dtype} overflows 64-bit sizes")
        begin, end = offsets
        if not begin <= end <= data_size:
            raise fail(f"tensor {name!r} spans bytes {begin}..{end} but the data section has {data_size} (truncated?)")
        if end - begin != expected:
            raise fail(f"tensor {name!r} of shape {tuple(shape)} {dtype} needs {expected} bytes, "
                       f"the header gives {end - begin}")
        entries.append((name, dtype, tuple(shape), begin, end))
    covered = 0
    for name, _, _, begin, end in sorted(entries, key=lambda item: (item[3], item[4])):
        if begin < covered:
            raise fail(f"tensor {name!r} at bytes {begin}..{end} overlaps the tensor before it, "
                       f"which ends at {covered}")
        if begin > covered:
            raise fail(f"bytes {covered}..{begin} of the data section, before tensor {name!r}, are a gap")
        covered = end
    if covered != data_size:
        raise fail(f"the tensors cover {covered} bytes but the data section has {data_size} (trailing data?)")
    return entries, metadata


def _arrays(entries: list, data) -> dict:
    return {name: np.frombuffer(data[begin:end], dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
            for name, dtype, shape, begin, end in entries}


def _failure(source: str):
    def fail(message: str) -> ValueError:
        return ValueError(f"safetensors file '{source}': {message}")
    return fail


def loads(buffer: bytes, source: str = "<bytes>") -> tuple[dict, dict]:
    """Parse safetensors bytes into ``({name: array}, metadata)``; a clear ValueError names ``source`` on any
    inconsistency (truncation, bad header, overlapping or missing byte ranges, dtype/shape mismatch)."""
    fail = _failure(source)
    length = _header_length(buffer[:8], len(buffer), fail)
    entries, metadata = _parse_header(buffer[8:8 + length], len(buffer) - 8 - length, fail)
    return _arrays(entries, memoryview(buffer)[8 + length:]), metadata


def atomic_write(path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file in the same folder, then rename."""
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
    with atomic_writer(path) as stream:
        stream.write(payload)


def save_file(tensors: dict, path, metadata: dict | None = None) -> None:
    atomic_write(path, dumps(tensors, metadata))


def load_file(path) -> tuple[dict, dict]:
    """Read a safetensors file into ``({name: array}, metadata)``.

    The length and the header are read and checked first, so a hostile header is refused without reading
    the data section; every failure is a ValueError naming the file."""
    fail = _failure(os.fspath(path))
    with open(path, "rb") as stream:
        file_size = os.fstat(stream.fileno()).st_size
        length = _header_length(stream.read(8), file_size, fail)
        header = stream.read(length)
        if len(header) < length:
            raise fail(f"header claims {length} bytes, found {len(header)} (truncated?)")
        data_size = file_size - 8 - length
        entries, metadata = _parse_header(header, data_size, fail)
        data = stream.read(data_size + 1)
    if len(data) != data_size:
        raise fail(f"expected {data_size} bytes of data, found {len(data)} (file changed while read?)")
    return _arrays(entries, data), metadata
