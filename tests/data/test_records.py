"""FixedLengthRecordDataset, and the MNIST codelab's tf.data input pipeline written for Ember."""
from __future__ import annotations

import gzip
import types
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

from ember.data.pipeline import AUTOTUNE, Pipeline
from ember.data.records import FixedLengthRecordDataset


def write(path: Path, contents: bytes, compression: str = "") -> str:
    if compression == "GZIP":
        contents = gzip.compress(contents)
    elif compression == "ZLIB":
        contents = zlib.compress(contents)
    path.write_bytes(contents)
    return str(path)


def test_records_of_a_raw_file_with_header_and_footer(tmp_path):
    body = bytes(range(12))
    path = write(tmp_path / "data.bin", b"HEAD" + body + b"FT")
    dataset = FixedLengthRecordDataset(path, 3, header_bytes=4, footer_bytes=2)
    records = list(dataset)
    assert records == [body[0:3], body[3:6], body[6:9], body[9:12]]
    assert all(type(record) is bytes for record in records)
    assert dataset.cardinality() == 4 and len(dataset) == 4
    assert list(dataset) == records  # a second pass reads the same records
    assert list(FixedLengthRecordDataset(tmp_path / "data.bin", 6, header_bytes=4, footer_bytes=2)) == \
        [body[:6], body[6:]]


@pytest.mark.parametrize("compression", ["GZIP", "ZLIB"])
def test_records_of_a_compressed_file(tmp_path, compression):
    body = np.arange(40, dtype=np.uint8).tobytes()
    path = write(tmp_path / "data.gz", b"\x00" * 8 + body, compression)
    records = list(FixedLengthRecordDataset(path, 10, header_bytes=8, compression_type=compression))
    assert records == [body[0:10], body[10:20], body[20:30], body[30:40]]
    gzip_lower = FixedLengthRecordDataset(path, 10, header_bytes=8, compression_type=compression.lower())
    assert list(gzip_lower) == records


def test_several_files_in_sequence_and_interleaved(tmp_path):
    paths = [write(tmp_path / f"{name}.bin", b"".join(f"{name}{index}".encode() for index in range(count)))
             for name, count in (("a", 3), ("b", 1), ("c", 2))]
    sequential = FixedLengthRecordDataset(paths, 2)
    assert list(sequential) == [b"a0", b"a1", b"a2", b"b0", b"c0", b"c1"] and sequential.cardinality() == 6
    # tf.data's interleave: one record from each of 2 open files in turn; a finished file's slot opens the next
    interleaved = FixedLengthRecordDataset(paths, 2, num_parallel_reads=2)
    assert list(interleaved) == [b"a0", b"b0", b"a1", b"a2", b"c0", b"c1"]
    wide = FixedLengthRecordDataset(paths, 2, num_parallel_reads=3)
    assert list(wide) == [b"a0", b"b0", b"c0", b"a1", b"c1", b"a2"]
    assert sorted(FixedLengthRecordDataset(paths, 2, num_parallel_reads=AUTOTUNE)) == sorted(sequential)


def test_buffer_size_warns_that_it_has_no_effect(tmp_path):
    path = write(tmp_path / "data.bin", bytes(range(6)))
    with pytest.warns(UserWarning, match="FixedLengthRecordDataset: buffer_size=4096 has no effect in Ember"):
        dataset = FixedLengthRecordDataset(path, 3, buffer_size=4096)
    assert list(dataset) == [bytes([0, 1, 2]), bytes([3, 4, 5])]
    with pytest.raises(ValueError, match="buffer_size"):
        FixedLengthRecordDataset(path, 3, buffer_size=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FixedLengthRecordDataset(path, 3, buffer_size=None)


def test_errors_name_the_file(tmp_path):
    path = write(tmp_path / "odd.bin", bytes(17))
    with pytest.raises(ValueError, match=r"odd\.bin.*17 bytes.*16-byte header.*not a multiple of record_bytes=4"):
        FixedLengthRecordDataset(path, 4, header_bytes=16)
    with pytest.raises(ValueError, match=r"odd\.bin.*not a multiple of record_bytes=5"):
        FixedLengthRecordDataset(path, 5, header_bytes=4, footer_bytes=4)
    with pytest.raises(ValueError, match=r"missing\.bin.*does not exist"):
        FixedLengthRecordDataset(str(tmp_path / "missing.bin"), 4)
    with pytest.raises(ValueError, match=r"odd\.bin.*GZIP"):
        FixedLengthRecordDataset(path, 1, compression_type="GZIP")
    gzipped = write(tmp_path / "labels.gz", bytes(range(10)), "GZIP")
    with pytest.raises(ValueError, match=r"labels\.gz.*gzip-compressed.*compression_type='GZIP'"):
        FixedLengthRecordDataset(gzipped, 1)
    with pytest.raises(ValueError, match="compression_type.*'BZIP2'"):
        FixedLengthRecordDataset(path, 1, compression_type="BZIP2")
    with pytest.raises(ValueError, match="record_bytes.*>= 1"):
        FixedLengthRecordDataset(path, 0)
    with pytest.raises(TypeError, match="filenames"):
        FixedLengthRecordDataset(17, 1)


# ------------------------------------------------------------------------------------ the codelab
# "TensorFlow, Keras and deep learning, without a PhD": tf.data replaced by Ember's, the map functions in NumPy.
data = types.SimpleNamespace(Dataset=Pipeline, FixedLengthRecordDataset=FixedLengthRecordDataset)
COMPRESSION = {"compression_type": None}


def read_label(tf_bytestring):
    label = np.frombuffer(tf_bytestring, np.uint8)
    label = np.reshape(label, [])
    label = label.astype(np.int32)
    return np.eye(10, dtype=np.float32)[label]


def read_image(tf_bytestring):
    image = np.frombuffer(tf_bytestring, np.uint8)
    image = image.astype(np.float32) / np.float32(256.0)
    image = np.reshape(image, [28 * 28])
    return image


def load_dataset(image_file, label_file):
    imagedataset = data.FixedLengthRecordDataset(image_file, 28 * 28, header_bytes=16, **COMPRESSION)
    imagedataset = imagedataset.map(read_image, num_parallel_calls=16)
    labelsdataset = data.FixedLengthRecordDataset(label_file, 1, header_bytes=8, **COMPRESSION)
    labelsdataset = labelsdataset.map(read_label, num_parallel_calls=16)
    dataset = data.Dataset.zip((imagedataset, labelsdataset))
    return dataset


def get_training_dataset(image_file, label_file, batch_size):
    dataset = load_dataset(image_file, label_file)
    dataset = dataset.cache()  # this small dataset can be entirely cached in RAM
    dataset = dataset.shuffle(5000, reshuffle_each_iteration=True)
    dataset = dataset.repeat()  # Mandatory for Keras for now
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.prefetch(-1)  # fetch next batches while training on the current one
    return dataset


def get_validation_dataset(image_file, label_file):
    dataset = load_dataset(image_file, label_file)
    dataset = dataset.cache()
    dataset = dataset.batch(10000, drop_remainder=True)
    dataset = dataset.repeat()
    return dataset


@pytest.fixture
def idx_files(tmp_path, rng):
    """A small MNIST look-alike in the IDX layout: 250 images and their labels."""
    count = 250
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    image_header = np.array([2051, count, 28, 28], dtype=">i4").tobytes()
    label_header = np.array([2049, count], dtype=">i4").tobytes()
    image_file = write(tmp_path / "images-idx3-ubyte", image_header + images.tobytes())
    label_file = write(tmp_path / "labels-idx1-ubyte", label_header + labels.tobytes())
    return image_file, label_file, images, labels


def test_codelab_load_dataset(idx_files):
    image_file, label_file, images, labels = idx_files
    dataset = load_dataset(image_file, label_file)
    assert dataset.cardinality() == 250
    elements = list(dataset)
    assert len(elements) == 250
    image, label = elements[7]
    assert image.shape == (784,) and image.dtype == np.float32
    np.testing.assert_array_equal(image, images[7].reshape(784).astype(np.float32) / 256.0)
    assert label.shape == (10,) and label.dtype == np.float32 and label.argmax() == labels[7] and label.sum() == 1


def test_codelab_training_dataset(idx_files):
    image_file, label_file, images, labels = idx_files
    training = get_training_dataset(image_file, label_file, batch_size=100)
    assert training.cardinality() == -1
    flat_images = images.reshape(250, 784).astype(np.float32) / 256.0
    seen = []
    for step, (batch_images, batch_labels) in enumerate(training):
        assert batch_images.shape == (100, 784) and batch_images.dtype == np.float32
        assert batch_labels.shape == (100, 10) and batch_labels.dtype == np.float32
        # each image still carries its own label: find it by content
        matches = np.nonzero((batch_images[:, None, :] == flat_images[None, :, :]).all(axis=2))[1]
        assert matches.shape == (100,)
        np.testing.assert_array_equal(batch_labels.argmax(axis=1), labels[matches])
        seen.extend(matches.tolist())
        if step == 4:
            break
    # 500 draws over two passes of 250: the first pass holds every image once, and it is shuffled
    assert sorted(seen[:250]) == list(range(250)) and seen[:250] != list(range(250))


def test_codelab_validation_dataset(tmp_path, rng):
    count = 10000
    images = rng.integers(0, 256, size=(count, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    image_file = write(tmp_path / "val-images", bytes(16) + images.tobytes())
    label_file = write(tmp_path / "val-labels", bytes(8) + labels.tobytes())
    validation = get_validation_dataset(image_file, label_file)
    iterator = iter(validation)
    for _ in range(2):  # repeated: the same single batch each time
        batch_images, batch_labels = next(iterator)
        assert batch_images.shape == (10000, 784) and batch_images.dtype == np.float32
        assert batch_labels.shape == (10000, 10)
        np.testing.assert_array_equal(batch_labels.argmax(axis=1), labels)
        np.testing.assert_array_equal(batch_images[123], images[123].astype(np.float32) / 256.0)


def _mnist_file(root: Path, name: str) -> tuple[str, str | None]:
    folder = root / "mnist"
    if (folder / f"{name}.gz").exists():
        return str(folder / f"{name}.gz"), "GZIP"
    if (folder / name).exists():
        return str(folder / name), None
    pytest.skip(f"{name}(.gz) not found in {folder}")


def test_codelab_validation_dataset_on_real_mnist(mnist_data_root, monkeypatch):
    image_file, compression = _mnist_file(mnist_data_root, "t10k-images-idx3-ubyte")
    label_file, _ = _mnist_file(mnist_data_root, "t10k-labels-idx1-ubyte")
    monkeypatch.setitem(COMPRESSION, "compression_type", compression)
    batch_images, batch_labels = next(iter(get_validation_dataset(image_file, label_file)))
    assert batch_images.shape == (10000, 784) and batch_images.dtype == np.float32
    assert batch_labels.shape == (10000, 10)
    raw_labels = Path(label_file).read_bytes()
    if compression == "GZIP":
        raw_labels = gzip.decompress(raw_labels)
    np.testing.assert_array_equal(batch_labels.argmax(axis=1), np.frombuffer(raw_labels, np.uint8, offset=8))
    assert 0.0 <= batch_images.min() and batch_images.max() < 1.0 and batch_images.mean() > 0.05
