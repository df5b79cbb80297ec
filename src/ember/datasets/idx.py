"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST, raw or gzipped.

An IDX file is a 4-byte magic number (two zero bytes, a data type code, the number of dimensions), one
big-endian uint32 per dimension, then the items in C order, big-endian.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..autograd.tensor import Tensor
from ..backend.files import atomic_writer

__all__ = ["IDXFormatError", "read_idx", "write_idx", "IDX_DTYPES"]

# IDX data type code -> NumPy dtype of the items as stored (big-endian)
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dtype.kind, dtype.itemsize): code for code, dtype in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# deflate expands at most 1032:1 (zlib's documented limit): a gzip file of n bytes holds at most 1032 n
_MAX_DEFLATE_RATIO = 1032


class IDXFormatError(ValueError):
    """An IDX file that cannot be read: bad header, truncated or oversized payload, corrupt gzip stream."""


def _describe_codes() -> str:
    return ", ".join(f"0x{code:02X} ({dtype.newbyteorder('=').name})" for code, dtype in IDX_DTYPES.items())


def _read_exactly(stream, count: int) -> bytes:
    """Read up to ``count`` bytes, looping because a gzip stream may return fewer than asked."""
    parts = []
    remaining = count
    while remaining > 0:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _readinto_full(stream, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``stream``; returns the count read (short at end of file).

    Chunked because a gzip stream's ``readinto`` builds a bytes object as large as the request: asking for
    the whole payload at once would hold it twice."""
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled:filled + _CHUNK])
        if not count:
            break
        filled += count
    return filled


def _parse(stream, where: str, payload_available: int | None, payload_limit: int | None = None) -> np.ndarray:
    """Parse an IDX stream, reading exactly the header, the payload it declares and one byte more.

    ``payload_available`` is the byte count after the magic when known (raw files); ``payload_limit`` bounds
    what a compressed stream can hold, so an absurd header is refused before the array is allocated."""
    magic = _read_exactly(stream, 4)
    if len(magic) < 4:
        raise IDXFormatError(f"{where}: too short for an IDX header: expected at least 4 bytes, found {len(magic)}")
    if magic[0] != 0 or magic[1] != 0:
        raise IDXFormatError(
            f"{where}: bad magic number: expected the first two bytes to be 0x00 0x00, "
            f"found 0x{magic[0]:02X} 0x{magic[1]:02X} (not an IDX file?)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        raise IDXFormatError(f"{where}: unknown data type code 0x{code:02X}; expected one of {_describe_codes()}")
    if ndim == 0:
        raise IDXFormatError(f"{where}: header declares 0 dimensions; expected at least 1")
    dims_bytes = _read_exactly(stream, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise IDXFormatError(
            f"{where}: header truncated: expected {4 * ndim} bytes for {ndim} dimension sizes, "
            f"found {len(dims_bytes)}"
        )
    shape = tuple(int(size) for size in np.frombuffer(dims_bytes, dtype=">u4"))
    stored = IDX_DTYPES[code]
    native = stored.newbyteorder("=")
    expected = math.prod(shape) * stored.itemsize
    description = f"{expected} payload bytes for shape {shape} {native.name}"
    if payload_available is not None:
        found = payload_available - 4 * ndim
        if found != expected:
            hint = "file truncated?" if found < expected else "trailing data after the payload?"
            raise IDXFormatError(f"{where}: expected {description}, found {found} ({hint})")
    if payload_limit is not None and expected > payload_limit:
        raise IDXFormatError(
            f"{where}: header declares {description}, more than the file can hold once decompressed "
            f"(at most {payload_limit})"
        )
    try:
        array = np.empty(shape, dtype=stored)
    except (MemoryError, ValueError) as error:
        raise IDXFormatError(f"{where}: header declares {description}, which cannot be allocated ({error})") from None
    filled = _readinto_full(stream, memoryview(array.reshape(-1).view(np.uint8)))
    if filled < expected:
        raise IDXFormatError(f"{where}: expected {description}, found {filled} (file truncated?)")
    if stream.read(1):  # one byte is enough to know: the rest is never decompressed
        raise IDXFormatError(
            f"{where}: expected {description}, found at least {expected + 1} (trailing data after the payload?)"
        )
    if not array.dtype.isnative:
        array.byteswap(inplace=True)  # in place: no second copy of a large payload
        array = array.view(native)
    return array


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzipped, detected from its first bytes) into a native-endian NumPy array.

    Returns an array of the stored dtype (uint8, int8, int16, int32, float32 or float64) and the shape the
    header declares, e.g. ``(60000, 28, 28)`` uint8 for ``train-images-idx3-ubyte.gz``. Raises
    ``IDXFormatError`` (a ``ValueError``) naming the file, the expectation and what was found when the
    header, the payload length or the gzip stream is wrong.
    """
    path = Path(path)
    where = f"IDX file '{path}'"
    with open(path, "rb") as handle:
        head = handle.read(2)
        handle.seek(0)
        if head != _GZIP_MAGIC:
            size = os.fstat(handle.fileno()).st_size
            return _parse(handle, where, payload_available=size - 4 if size >= 4 else None)
        limit = os.fstat(handle.fileno()).st_size * _MAX_DEFLATE_RATIO
        try:
            with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
                return _parse(stream, where, payload_available=None, payload_limit=limit)
        except (OSError, EOFError, zlib.error) as error:
            raise IDXFormatError(f"{where}: corrupt gzip stream: {error}") from None


def write_idx(path: str | os.PathLike, array) -> Path:
    """Write ``array`` as an IDX file at ``path`` (gzipped when the name ends with ``.gz``); returns the path.

    The dtype must be one IDX stores: uint8, int8, int16, int32, float32 or float64. The file is written to a
    temporary name in the same folder, flushed to disk and renamed, so a reader never sees half a file.
    """
    if isinstance(array, Tensor):
        array = array.numpy()
    array = np.asarray(array)
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise TypeError(
            f"write_idx: IDX cannot store dtype {array.dtype}; expected one of uint8, int8, int16, int32, "
            f"float32, float64"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: IDX stores 1 to 255 dimensions, received an array of shape {array.shape}")
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"write_idx: IDX dimension sizes must be below 2**32, received shape {array.shape}")
    path = Path(path)
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    with atomic_writer(path) as handle:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as stream:
                stream.write(header)
                stream.write(payload)
        else:
            handle.write(header)
            handle.write(payload)
    return path
