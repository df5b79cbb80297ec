"""FixedLengthRecordDataset on hostile compressed files: ValueError naming the file, bounded memory."""
from __future__ import annotations

import gzip
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from ember.data import FixedLengthRecordDataset

from .test_hostile_files import mutate, mutations

RECORDS = np.arange(4 * 6, dtype=np.uint8).tobytes()  # 4 records of 6 bytes after an 8-byte header
CONTENT = b"HEADER!!" + RECORDS


def _records(path, compression):
    return [bytes(record) for record in FixedLengthRecordDataset(str(path), 6, header_bytes=8,
                                                                 compression_type=compression)]


def test_a_decompression_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(b"\0" * (512 * 2**20), compresslevel=9))  # 512 MiB from about 0.5 MB
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb.gz.*decompression bomb"):
            _records(path, "GZIP")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20, f"peak {peak >> 20} MiB"


@pytest.mark.parametrize("compression, compress", [("GZIP", gzip.compress), ("ZLIB", zlib.compress)])
def test_truncated_and_trailing_streams_name_the_file(tmp_path, compression, compress):
    packed = compress(CONTENT)
    path = tmp_path / "records.bin"
    path.write_bytes(packed[:-5])
    with pytest.raises(ValueError, match=r"records.bin.*(truncated|decompress)"):
        _records(path, compression)
    if compression == "ZLIB":
        path.write_bytes(packed + b"junk")
        with pytest.raises(ValueError, match=r"records.bin.*4 bytes follow the end of the stream"):
            _records(path, compression)


def test_gzip_files_of_several_members_still_read_whole(tmp_path):
    path = tmp_path / "two-members.gz"
    path.write_bytes(gzip.compress(CONTENT[:11]) + gzip.compress(CONTENT[11:]))
    assert _records(path, "GZIP") == [RECORDS[i:i + 6] for i in range(0, len(RECORDS), 6)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=mutations)
def test_fuzz_compressed_record_files(tmp_path, edits):
    for compression, compress in (("GZIP", gzip.compress), ("ZLIB", zlib.compress)):
        path = tmp_path / f"mutated.{compression.lower()}"
        path.write_bytes(mutate(compress(CONTENT), edits))
        try:
            _records(path, compression)
        except ValueError as error:
            assert str(path) in str(error), str(error)
