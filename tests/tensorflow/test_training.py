"""Training programs written for TensorFlow 2's low-level API, run after ``import ember.tensorflow as tf``:
the beginners' lesson's linear and logistic regressions, a softmax classifier on MNIST trained with a tape, and
the MNIST codelab's tf.data pipeline (FixedLengthRecordDataset, decode_raw, one_hot) feeding Keras ``fit``."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import ember
import ember.tensorflow as tf


def test_linear_regression_with_variables_converges_to_known_weights():
    tf.random.set_seed(0)
    x = tf.random.normal((200, 1))
    y = 3.0 * x + 2.0 + tf.random.normal((200, 1), stddev=0.01)
    w = tf.Variable(tf.random.normal((1, 1)))
    b = tf.Variable(tf.zeros((1,), dtype=tf.float32))
    learning_rate = 0.1
    for _ in range(200):
        with tf.GradientTape() as tape:
            predictions = tf.matmul(x, w) + b
            loss = tf.reduce_mean(tf.square(predictions - y))
        dw, db = tape.gradient(loss, [w, b])
        w.assign_sub(learning_rate * dw)
        b.assign_sub(learning_rate * db)
    np.testing.assert_allclose(w.numpy(), [[3.0]], atol=0.01)
    np.testing.assert_allclose(b.numpy(), [2.0], atol=0.01)
    assert float(loss) < 1e-3 and w.dtype == tf.float32


def two_blobs(count: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    features = rng.normal(0.0, 1.0, (count, 2)) + np.where(labels[:, None] == 1, 2.0, -2.0)
    return features.astype(np.float32), labels.astype(np.float32)


def test_logistic_classifier_with_sigmoid_cross_entropy():
    features, labels = two_blobs(400, seed=1)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).shuffle(400, seed=0).batch(32)
    w = tf.Variable(tf.zeros((2, 1)))
    b = tf.Variable(tf.zeros((1,)))
    for _epoch in range(5):
        for x_batch, y_batch in dataset:
            with tf.GradientTape() as tape:
                logits = tf.matmul(x_batch, w) + b
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=tf.reshape(y_batch, [-1, 1]), logits=logits))
            dw, db = tape.gradient(loss, [w, b])
            w.assign_sub(0.5 * dw)
            b.assign_sub(0.5 * db)
    test_features, test_labels = two_blobs(400, seed=2)
    predictions = tf.cast(tf.sigmoid(tf.matmul(test_features, w) + b) > 0.5, tf.float32)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.reshape(predictions, [-1]), test_labels), tf.float32))
    assert accuracy.numpy() > 0.97


def _mnist_file(root: Path, name: str) -> tuple[str, str | None]:
    folder = root / "mnist"
    if (folder / f"{name}.gz").exists():
        return str(folder / f"{name}.gz"), "GZIP"
    if (folder / name).exists():
        return str(folder / name), None
    pytest.skip(f"{name}(.gz) not found in {folder}")


def test_softmax_classifier_on_an_mnist_slice(mnist_data_root):
    (x_train, y_train), (x_test, y_test) = ember.datasets.mnist.load_data(str(mnist_data_root))
    tf.random.set_seed(0)
    x_train = x_train[:3000].reshape(-1, 784).astype(np.float32) / 255.0
    dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train[:3000])).shuffle(3000).batch(100)
    w = tf.Variable(tf.zeros([784, 10]))
    b = tf.Variable(tf.zeros([10]))
    for _epoch in range(5):
        for images, labels in dataset:
            with tf.GradientTape() as tape:
                logits = tf.matmul(images, w) + b
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
            dw, db = tape.gradient(loss, [w, b])
            w.assign_sub(0.5 * dw)
            b.assign_sub(0.5 * db)
    test_images = tf.constant(x_test[:2000].reshape(-1, 784).astype(np.float32) / 255.0)
    predicted = tf.argmax(tf.nn.softmax(tf.matmul(test_images, w) + b), axis=1)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(predicted, y_test[:2000].astype(np.int64)), tf.float32))
    assert accuracy.numpy() > 0.85


# ----------------------------------------------------------------------- the codelab's tf.data pipeline
COMPRESSION = {"compression_type": "GZIP"}


def read_label(tf_bytestring):
    label = tf.io.decode_raw(tf_bytestring, tf.uint8)
    label = tf.reshape(label, [])
    label = tf.one_hot(label, 10)
    return label


def read_image(tf_bytestring):
    image = tf.io.decode_raw(tf_bytestring, tf.uint8)
    image = tf.cast(image, tf.float32) / 256.0
    image = tf.reshape(image, [28 * 28])
    return image


def load_dataset(image_file, label_file):
    imagedataset = tf.data.FixedLengthRecordDataset(image_file, 28 * 28, header_bytes=16, **COMPRESSION)
    imagedataset = imagedataset.map(read_image, num_parallel_calls=16)
    labelsdataset = tf.data.FixedLengthRecordDataset(label_file, 1, header_bytes=8, **COMPRESSION)
    labelsdataset = labelsdataset.map(read_label, num_parallel_calls=16)
    return tf.data.Dataset.zip((imagedataset, labelsdataset))


def get_training_dataset(image_file, label_file, batch_size, limit=None):
    dataset = load_dataset(image_file, label_file)
    if limit is not None:
        dataset = dataset.take(limit)
    dataset = dataset.cache()
    dataset = dataset.shuffle(5000, reshuffle_each_iteration=True)
    dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.experimental.AUTOTUNE)


def write_idx(folder: Path, count: int, seed: int) -> tuple[Path, Path, np.ndarray]:
    """Gzipped IDX files of ``count`` 28x28 digits whose class is a bright horizontal band's position."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
    for index, label in enumerate(labels):
        images[index, 2 + 2 * label: 4 + 2 * label] = 250
    image_file, label_file = folder / f"images-{seed}.gz", folder / f"labels-{seed}.gz"
    header = np.array([2051, count, 28, 28], dtype=">i4").tobytes()
    image_file.write_bytes(gzip.compress(header + images.tobytes()))
    label_file.write_bytes(gzip.compress(np.array([2049, count], dtype=">i4").tobytes() + labels.tobytes()))
    return image_file, label_file, labels


def test_codelab_pipeline_feeds_keras_fit(tmp_path):
    ember.manual_seed(0)
    image_file, label_file, labels = write_idx(tmp_path, 300, seed=3)
    images, one_hot = next(iter(load_dataset(str(image_file), str(label_file)).batch(300)))
    assert isinstance(images, tf.Tensor) and images.shape == (300, 784) and images.dtype == tf.float32
    assert one_hot.shape == (300, 10) and one_hot.dtype == tf.float32
    np.testing.assert_array_equal(np.argmax(one_hot.numpy(), axis=1), labels)
    assert images.numpy().min() >= 0.0 and images.numpy().max() < 1.0

    model = tf.keras.Sequential([tf.keras.Input(shape=(28 * 28,)), tf.keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    validation_file, validation_labels_file, validation_labels = write_idx(tmp_path, 100, seed=4)
    validation = load_dataset(str(validation_file), str(validation_labels_file)).batch(100).cache().repeat()
    training = get_training_dataset(str(image_file), str(label_file), 50)
    history = model.fit(training, steps_per_epoch=6, epochs=4, validation_data=validation, validation_steps=1,
                        verbose=0)
    assert history.history["accuracy"][-1] > 0.9 and history.history["val_accuracy"][-1] > 0.9

    # the codelab's helper that pulls a batch of each dataset back to NumPy to display digits
    assert tf.executing_eagerly()
    for digits, labels_one_hot in training.unbatch().batch(20):
        digits, labels_one_hot = digits.numpy(), labels_one_hot.numpy()
        break
    assert digits.shape == (20, 784) and labels_one_hot.shape == (20, 10)
    for digits, _labels in validation:
        predicted = np.argmax(model.predict(digits, verbose=0), axis=1)
        break
    assert np.mean(predicted == validation_labels) > 0.9


def test_codelab_pipeline_on_real_mnist(mnist_data_root, monkeypatch):
    image_file, compression = _mnist_file(mnist_data_root, "train-images-idx3-ubyte")
    label_file, _ = _mnist_file(mnist_data_root, "train-labels-idx1-ubyte")
    monkeypatch.setitem(COMPRESSION, "compression_type", compression)
    ember.manual_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(28 * 28,)), tf.keras.layers.Dense(200, activation="relu"),
                                 tf.keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(get_training_dataset(image_file, label_file, 100, limit=6000), steps_per_epoch=60,
                        epochs=2, verbose=0)
    assert history.history["accuracy"][-1] > 0.85


def test_beginners_lesson_calls():
    """The calls of a beginners' lesson on TensorFlow: tensors, a Variable summed row by row, a tape used inside
    its block, and a `@tf.function` training step fed by a shuffled, batched dataset."""
    a = tf.constant([[1, 2], [3, 4]])
    assert str(a) == "tf.Tensor(\n[[1 2]\n [3 4]], shape=(2, 2), dtype=int32)"
    a = tf.random.normal(shape=(10, 3))
    np.testing.assert_allclose((a - a[0]).numpy()[0], np.zeros(3))
    np.testing.assert_allclose(tf.exp(a)[0].numpy(), np.exp(a.numpy()[0]), rtol=1e-6)
    s = tf.Variable(tf.zeros_like(a[0]))
    for row in a:
        s.assign_add(row)
    np.testing.assert_allclose(s.numpy(), tf.reduce_sum(a, axis=0).numpy(), rtol=1e-5)

    a, b = tf.random.normal(shape=(2, 2)), tf.random.normal(shape=(2, 2))
    with tf.GradientTape() as tape:
        tape.watch(a)
        c = tf.sqrt(tf.square(a) + tf.square(b))
        dc_da = tape.gradient(c, a)  # inside the block, as the lesson does
    np.testing.assert_allclose(dc_da.numpy(), a.numpy() / c.numpy(), rtol=1e-5)

    features, labels = two_blobs(200, seed=4)
    W = tf.Variable(tf.random.normal(shape=(2, 1)), dtype=tf.float32)
    bias = tf.Variable(tf.zeros(shape=(1,), dtype=tf.float32))

    @tf.function
    def train_on_batch(x, y):
        with tf.GradientTape() as tape:
            z = tf.matmul(x, W) + bias
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z))
        dloss_dw, dloss_db = tape.gradient(loss, [W, bias])
        W.assign_sub(0.1 * dloss_dw)
        bias.assign_sub(0.1 * dloss_db)
        return loss

    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).shuffle(128).batch(16)
    for _epoch in range(10):
        for _step, (x, y) in enumerate(dataset):
            loss = train_on_batch(x, tf.expand_dims(y, 1))
    assert f"{float(loss):.4f}" == f"{loss:.4f}"  # a scalar tensor formats as its number
    predicted = tf.cast(tf.sigmoid(tf.matmul(features, W) + bias) > 0.5, tf.float32)
    assert tf.reduce_mean(tf.cast(tf.equal(tf.squeeze(predicted), labels), tf.float32)).numpy() > 0.97
