"""tf.data in the TensorFlow dialect: map functions receive tensors, iteration yields tensors."""
from __future__ import annotations

import numpy as np
import pytest

import ember.tensorflow as tf


def test_from_tensor_slices_takes_tensorflow_dtypes_and_yields_tensors():
    dataset = tf.data.Dataset.from_tensor_slices(([1, 2, 3], [0.5, 1.5, 2.5]))
    first_int, first_float = next(iter(dataset))
    assert isinstance(first_int, tf.Tensor) and first_int.dtype == tf.int32 and first_float.dtype == tf.float32
    assert first_int.numpy() == 1 and len(dataset) == 3 and dataset.cardinality() == 3
    assert [int(x) for x, _ in dataset] == [1, 2, 3]
    numpy_items = list(dataset.as_numpy_iterator())
    assert isinstance(numpy_items[0][0], (np.ndarray, np.generic))
    images = tf.random.normal((4, 2, 2))
    assert next(iter(tf.data.Dataset.from_tensor_slices(images))).shape == (2, 2)


def test_map_receives_tensors_and_filter_takes_bool_tensors():
    seen = []

    def scale(x, y):
        seen.append((type(x), type(y)))
        return x * 2, tf.cast(y, tf.float32) / 2

    dataset = tf.data.Dataset.from_tensor_slices((np.arange(6, dtype=np.float32), np.arange(6)))
    dataset = dataset.map(scale).filter(lambda x, y: x > 4.0).batch(2)
    batches = list(dataset)
    assert all(kind == (tf.Tensor, tf.Tensor) for kind in seen)
    np.testing.assert_array_equal(batches[0][0].numpy(), [6.0, 8.0])
    np.testing.assert_array_equal(batches[1][1].numpy(), [2.5])
    assert batches[0][1].dtype == tf.float32


def test_records_are_string_tensors(tmp_path):
    path = tmp_path / "records.bin"
    path.write_bytes(b"HEAD" + bytes(range(12)))
    records = tf.data.FixedLengthRecordDataset(str(path), 4, header_bytes=4)
    kinds = []

    def decode(record):
        kinds.append(record.dtype)
        return tf.io.decode_raw(record, tf.uint8)

    decoded = [r.numpy() for r in records.map(decode, num_parallel_calls=tf.data.AUTOTUNE)]
    assert kinds == [tf.string] * 3
    np.testing.assert_array_equal(decoded[2], [8, 9, 10, 11])


def test_zip_shuffle_repeat_take_and_enumerate():
    numbers = tf.data.Dataset.range(5)
    letters = tf.data.Dataset.from_tensor_slices([b"a", b"b", b"c", b"d", b"e"])
    pairs = list(tf.data.Dataset.zip((numbers, letters)).shuffle(5, seed=1).repeat(2).take(7))
    assert len(pairs) == 7 and pairs[0][1].dtype == tf.string
    assert sorted(int(n) for n, _ in pairs[:5]) == [0, 1, 2, 3, 4]
    assert [int(i) for i, _ in tf.data.Dataset.range(3).enumerate(start=10)] == [10, 11, 12]
    with pytest.raises(TypeError, match="infinite"):
        len(numbers.repeat())
