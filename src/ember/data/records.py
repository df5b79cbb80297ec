"""``FixedLengthRecordDataset``: the records of binary files (such as MNIST's IDX files) as ``bytes``."""
from __future__ import annotations

import os
import warnings
import zlib
from collections.abc import Iterator

import numpy as np

from .pipeline import AUTOTUNE, Pipeline, PipelineMethods

_COMPRESSIONS = ("", "GZIP", "ZLIB")
MAX_EXPANSION = 64  # decompressed bytes per compressed byte allowed beyond EXTRA_BYTES (MNIST's gzip: about 5)
EXTRA_BYTES = 64 * 2**20
_GZIP_MAGIC = b"\x1f\x8b"
_SLOT_DONE = object()


def _inflate(contents: bytes, compression: str, path: str) -> bytes:
    """``contents`` decompressed (every member of a gzip file, as ``gzip.decompress``), refusing with a
    ValueError naming ``path`` a damaged stream and output beyond ``MAX_EXPANSION`` times the compressed size
    plus ``EXTRA_BYTES`` (a small file must not cost gigabytes), found before that much is allocated."""
    limit = MAX_EXPANSION * len(contents) + EXTRA_BYTES
    pieces, total, data = [], 0, contents
    try:
        while data:
            inflater = zlib.decompressobj(31 if compression == "GZIP" else 15)
            piece = inflater.decompress(data, limit - total + 1)
            total += len(piece)
            if total > limit:
                raise ValueError(f"FixedLengthRecordDataset: {path!r} would decompress to more than {limit} bytes "
                                 f"({MAX_EXPANSION}x its {len(contents)} bytes plus {EXTRA_BYTES >> 20} MiB); "
                                 "refused as a decompression bomb")
            if not inflater.eof:
                raise ValueError(f"FixedLengthRecordDataset: could not decompress {path!r} as {compression}: the "
                                 "stream is truncated")
            pieces.append(piece)
            data = inflater.unused_data
            if data and compression == "ZLIB":
                raise ValueError(f"FixedLengthRecordDataset: could not decompress {path!r} as ZLIB: "
                                 f"{len(data)} bytes follow the end of the stream")
    except zlib.error as error:
        raise ValueError(f"FixedLengthRecordDataset: could not decompress {path!r} as {compression}: "
                         f"{error}") from None
    return b"".join(pieces)


def _filenames(filenames) -> list:
    if isinstance(filenames, (str, bytes, os.PathLike)):
        filenames = [filenames]
    elif isinstance(filenames, PipelineMethods):
        filenames = list(filenames.as_numpy_iterator())
    elif isinstance(filenames, np.ndarray):
        filenames = filenames.reshape(-1).tolist()
    elif not isinstance(filenames, (list, tuple)):
        raise TypeError(f"FixedLengthRecordDataset: filenames must be a path or a list of paths, received "
                        f"{type(filenames).__name__}")
    paths = []
    for name in filenames:
        if not isinstance(name, (str, bytes, os.PathLike)):
            raise TypeError(f"FixedLengthRecordDataset: each filename must be a path, received {name!r}")
        paths.append(os.fsdecode(name))
    if not paths:
        raise ValueError("FixedLengthRecordDataset: filenames is empty; expected at least one file")
    return paths


def _size(value, name: str, minimum: int) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"FixedLengthRecordDataset: {name} must be an integer >= {minimum}, received {value!r}")
    return int(value)


class FixedLengthRecordDataset(Pipeline):
    """The fixed-size records of one or more binary files, each yielded as ``bytes`` of ``record_bytes``.

    Each file is ``header_bytes`` (default 0), then N records, then ``footer_bytes`` (default 0). Files are
    read whole when the dataset is created (checking that they exist and that the body is a multiple of
    ``record_bytes``) and kept in memory. ``compression_type``: None or "" (raw), "GZIP" or "ZLIB".
    ``num_parallel_reads`` > 1 (or AUTOTUNE) interleaves the records of that many files, one record from
    each in turn, as tf.data does; None reads the files one after another. A ``buffer_size`` warns that it
    has no effect (the files are in memory already).

    Example (MNIST)::

        images = FixedLengthRecordDataset("train-images-idx3-ubyte.gz", 28 * 28, header_bytes=16,
                                          compression_type="GZIP")
        images = images.map(lambda record: np.frombuffer(record, np.uint8).astype(np.float32) / 256.0)
    """

    def __init__(self, filenames, record_bytes: int, header_bytes: int | None = None,
                 footer_bytes: int | None = None, buffer_size: int | None = None,
                 compression_type: str | None = None, num_parallel_reads: int | None = None):
        self._record_bytes = _size(record_bytes, "record_bytes", 1)
        self._header_bytes = _size(header_bytes, "header_bytes", 0)
        self._footer_bytes = _size(footer_bytes, "footer_bytes", 0)
        if buffer_size is not None:
            _size(buffer_size, "buffer_size", 1)
            warnings.warn(f"FixedLengthRecordDataset: buffer_size={buffer_size!r} has no effect in Ember: the files "
                          "are read whole into memory", UserWarning, stacklevel=2)
        compression = (compression_type or "").upper()
        if compression not in _COMPRESSIONS:
            raise ValueError(f"FixedLengthRecordDataset: compression_type must be None, '', 'GZIP' or 'ZLIB', "
                             f"received {compression_type!r}")
        if num_parallel_reads is None or num_parallel_reads == 1:
            self._cycle_length = 1
        elif num_parallel_reads == AUTOTUNE:
            self._cycle_length = os.cpu_count() or 1
        else:
            self._cycle_length = _size(num_parallel_reads, "num_parallel_reads (or AUTOTUNE)", 1)
        self._files = [self._read(path, compression) for path in _filenames(filenames)]

    def _read(self, path: str, compression: str) -> tuple[bytes, int]:
        """The contents of ``path`` and its number of records, after checking its size."""
        try:
            with open(path, "rb") as file:
                contents = file.read()
        except FileNotFoundError:
            raise ValueError(f"FixedLengthRecordDataset: file {path!r} does not exist") from None
        except IsADirectoryError:
            raise ValueError(f"FixedLengthRecordDataset: {path!r} is a directory, expected a file") from None
        if not compression and path.endswith(".gz") and contents.startswith(_GZIP_MAGIC):
            # tf.data never guesses either; but reading the compressed bytes as records would be silently wrong
            raise ValueError(f"FixedLengthRecordDataset: file {path!r} is gzip-compressed; pass "
                             "compression_type='GZIP'")
        if compression:
            contents = _inflate(contents, compression, path)
        body = len(contents) - self._header_bytes - self._footer_bytes
        if body < 0 or body % self._record_bytes:
            raise ValueError(f"FixedLengthRecordDataset: file {path!r} has {len(contents)} bytes; excluding the "
                             f"{self._header_bytes}-byte header and {self._footer_bytes}-byte footer, its body of "
                             f"{body} bytes is not a multiple of record_bytes={self._record_bytes}")
        return contents, body // self._record_bytes

    def _records(self, contents: bytes, count: int) -> Iterator[bytes]:
        size = self._record_bytes
        starts = range(self._header_bytes, self._header_bytes + count * size, size)
        return (contents[start:start + size] for start in starts)

    def __iter__(self) -> Iterator[bytes]:
        files = (self._records(contents, count) for contents, count in self._files)
        if self._cycle_length == 1:
            return (record for records in files for record in records)
        return _interleave(files, self._cycle_length)

    def cardinality(self) -> int:
        return sum(count for _, count in self._files)


def _interleave(inputs: Iterator[Iterator], cycle_length: int) -> Iterator:
    """Items in tf.data's ``interleave(cycle_length, block_length=1)`` order.

    One item from each of ``cycle_length`` open inputs in turn; the slot of an exhausted input takes the next
    input when the cycle comes back to it.
    """
    slots: list = [None] * cycle_length
    open_count = 0
    inputs_left = True
    index = 0
    while inputs_left or open_count:
        current = slots[index]
        if current is not None:
            item = next(current, _SLOT_DONE)
            if item is not _SLOT_DONE:
                index = (index + 1) % cycle_length
                yield item
                continue
            slots[index] = None
            open_count -= 1
            index = (index + 1) % cycle_length
        elif inputs_left:
            new_input = next(inputs, None)
            if new_input is None:
                inputs_left = False
            else:
                slots[index] = new_input
                open_count += 1
        else:
            index = (index + 1) % cycle_length


__all__ = ["FixedLengthRecordDataset"]
