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


def loads(buffer: bytes, source: str = "<bytes>") -> tuple[dict, dict]:
    """Parse safetensors bytes into ``({name: array}, metadata)``; a clear ValueError names ``source`` on any
    inconsistency (truncation, bad header, offsets out of range, dtype/shape mismatch)."""
    def fail(message):
        return ValueError(f"safetensors file '{source}': {message}")

    if len(buffer) < 8:
        raise fail(f"expected at least 8 bytes, found {len(buffer)} (file truncated?)")
    (length,) = struct.unpack("<Q", buffer[:8])
    if length > _MAX_HEADER or 8 + length > len(buffer):
        raise fail(f"header claims {length} bytes but the file has {len(buffer) - 8} after the length (truncated?)")
    try:
        header = json.loads(buffer[8:8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise fail(f"header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise fail("header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    data = memoryview(buffer)[8 + length:]
    tensors = {}
    for name, entry in header.items():
        try:
            dtype = np.dtype(_CODES[entry["dtype"]])
            shape = tuple(int(s) for s in entry["shape"])
            begin, end = (int(v) for v in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise fail(f"entry {name!r} is malformed: {entry!r}") from None
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not 0 <= begin <= end <= len(data):
            raise fail(f"tensor {name!r} spans bytes {begin}..{end} but the data section has {len(data)} (truncated?)")
        if end - begin != expected:
            raise fail(
                f"tensor {name!r} of shape {shape} {dtype} needs {expected} bytes, the header gives {end - begin}"
            )
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    return tensors, metadata


def atomic_write(path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file in the same folder, then rename."""
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
    with atomic_writer(path) as stream:
        stream.write(payload)


def save_file(tensors: dict, path, metadata: dict | None = None) -> None:
    atomic_write(path, dumps(tensors, metadata))


def load_file(path) -> tuple[dict, dict]:
    with open(path, "rb") as stream:
        return loads(stream.read(), os.fspath(path))
