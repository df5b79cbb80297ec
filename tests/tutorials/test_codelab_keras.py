"""The Keras MNIST codelab notebooks (keras_01 … keras_05, written for TensorFlow 1.14 in eager mode), cell by cell
after ``import tensorflow as tf`` became ``import ember.tensorflow as tf``: the tf.data cell, the cell that pulls a
batch of each dataset back to NumPy, the model cells of every step, ``fit`` with the training-curve and
learning-rate callbacks, and ``predict`` on rendered font digits. The notebooks read ``gs://mnist-public``; here
the same calls read small generated IDX files, or a slice of real MNIST where EMBER_DATA has it."""
from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

import ember.tensorflow as tf

BATCH_SIZE = 32


def write_idx(folder: Path, count: int, seed: int) -> tuple[str, str, np.ndarray]:
    """Gzipped IDX files of ``count`` digits whose class is the row of a bright horizontal band."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
    for index, label in enumerate(labels):
        images[index, 2 + 2 * label: 4 + 2 * label] = 250
    image_file, label_file = folder / f"images-{seed}.gz", folder / f"labels-{seed}.gz"
    image_file.write_bytes(gzip.compress(np.array([2051, count, 28, 28], ">i4").tobytes() + images.tobytes()))
    label_file.write_bytes(gzip.compress(np.array([2049, count], ">i4").tobytes() + labels.tobytes()))
    return str(image_file), str(label_file), labels


# ------------------------------------------------------------------ the notebooks' tf.data cell, in order
def read_label(tf_bytestring):
    label = tf.decode_raw(tf_bytestring, tf.uint8)  # the TensorFlow 1.x name the notebooks use
    label = tf.reshape(label, [])
    return tf.one_hot(label, 10)


def read_image(tf_bytestring):
    image = tf.decode_raw(tf_bytestring, tf.uint8)
    image = tf.cast(image, tf.float32) / 256.0
    return tf.reshape(image, [28 * 28])


def load_dataset(image_file, label_file, limit=None):
    images = tf.data.FixedLengthRecordDataset(image_file, 28 * 28, header_bytes=16, compression_type="GZIP")
    images = images.map(read_image, num_parallel_calls=16)
    labels = tf.data.FixedLengthRecordDataset(label_file, 1, header_bytes=8, compression_type="GZIP")
    labels = labels.map(read_label, num_parallel_calls=16)
    dataset = tf.data.Dataset.zip((images, labels))
    return dataset if limit is None else dataset.take(limit)


def get_training_dataset(image_file, label_file, batch_size, limit=None):
    dataset = load_dataset(image_file, label_file, limit).cache()
    dataset = dataset.shuffle(5000, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.prefetch(tf.data.experimental.AUTOTUNE)


def get_validation_dataset(image_file, label_file, size, limit=None):
    dataset = load_dataset(image_file, label_file, limit).cache()
    return dataset.batch(size, drop_remainder=True).repeat()


def dataset_to_numpy_util(training_dataset, validation_dataset, n):
    """The notebooks' helper: one validation batch and ``n`` training digits as NumPy, labels as class numbers."""
    batch_train_ds = training_dataset.apply(tf.data.experimental.unbatch()).batch(n)
    assert tf.executing_eagerly()
    for validation_digits, validation_labels in validation_dataset:
        validation_digits, validation_labels = validation_digits.numpy(), validation_labels.numpy()
        break
    for training_digits, training_labels in batch_train_ds:
        training_digits, training_labels = training_digits.numpy(), training_labels.numpy()
        break
    return (training_digits, np.argmax(training_labels, axis=1),
            validation_digits, np.argmax(validation_labels, axis=1))


def lr_decay(epoch):
    return 0.01 * math.pow(0.6, epoch)


class PlotTraining(tf.keras.callbacks.Callback):
    """The notebooks' training-curve callback, minus the drawing: it never calls ``Callback.__init__`` and reads
    the per-batch and per-epoch logs."""

    def __init__(self, sample_rate=1):
        self.sample_rate = sample_rate
        self.step = 0

    def on_train_begin(self, logs={}):  # noqa: B006 - the notebooks' own signature
        self.batch_history, self.epoch_history = {}, {}

    def on_batch_end(self, batch, logs={}):  # noqa: B006
        if batch % self.sample_rate == 0:
            for key, value in logs.items():
                self.batch_history.setdefault(key, []).append(value)
        self.step += 1

    def on_epoch_end(self, epoch, logs={}):  # noqa: B006
        for key, value in logs.items():
            if key.startswith("val_"):
                self.epoch_history.setdefault(key, []).append(value)


def codelab_models():
    """The model cell of each notebook (keras_02 has a sigmoid and a ReLU variant)."""
    layers = tf.keras.layers
    return {
        "keras_01": ([layers.Input(shape=(28 * 28,)), layers.Dense(10, activation="softmax")], "sgd"),
        "keras_02": ([layers.Input(shape=(28 * 28,)), layers.Dense(200, activation="relu"),
                      layers.Dense(60, activation="relu"), layers.Dense(10, activation="softmax")], "adam"),
        "keras_03": ([layers.Input(shape=(28 * 28,)), layers.Dense(200, activation="relu"), layers.Dropout(0.25),
                      layers.Dense(100, activation="relu"), layers.Dropout(0.25),
                      layers.Dense(10, activation="softmax")], "adam"),
        "keras_04": ([layers.Reshape(input_shape=(28 * 28,), target_shape=(28, 28, 1)),
                      layers.Conv2D(kernel_size=3, filters=12, activation="relu", padding="same"),
                      layers.Conv2D(kernel_size=6, filters=24, activation="relu", padding="same", strides=2),
                      layers.Conv2D(kernel_size=6, filters=32, activation="relu", padding="same", strides=2),
                      layers.Flatten(), layers.Dense(200, activation="relu"),
                      layers.Dense(10, activation="softmax")], "adam_lr"),
        "keras_05": ([layers.Reshape(input_shape=(28 * 28,), target_shape=(28, 28, 1)),
                      layers.Conv2D(filters=24, kernel_size=6, padding="same", use_bias=False),
                      layers.BatchNormalization(center=True, scale=False), layers.Activation("relu"),
                      layers.Conv2D(filters=48, kernel_size=5, padding="same", use_bias=False, strides=2),
                      layers.BatchNormalization(center=True, scale=False), layers.Activation("relu"),
                      layers.Flatten(), layers.Dense(200, use_bias=False),
                      layers.BatchNormalization(center=True, scale=False), layers.Activation("relu"),
                      layers.Dropout(0.3), layers.Dense(10, activation="softmax")], "adam"),
    }


# ----------------------------------------------------------------------------------------------- tests
def test_tensorflow_1_names_the_notebooks_call():
    assert tf.enable_eager_execution() is None and tf.executing_eagerly()
    record = tf.constant(np.frombuffer(bytes([3, 250]), np.uint8).tobytes())
    np.testing.assert_array_equal(tf.decode_raw(record, tf.uint8).numpy(), [3, 250])
    np.testing.assert_array_equal(tf.decode_raw(record, tf.uint8).numpy(), tf.io.decode_raw(record, tf.uint8).numpy())


def test_dataset_apply_takes_the_experimental_unbatch_transformation():
    dataset = tf.data.Dataset.from_tensor_slices(np.arange(12.0).reshape(6, 2)).batch(4)
    rows = list(dataset.apply(tf.data.experimental.unbatch()).as_numpy_iterator())
    assert len(rows) == 6 and rows[5].tolist() == [10.0, 11.0]
    assert [batch.shape for batch in dataset.apply(lambda ds: ds.unbatch().batch(3))] == [(3, 2), (3, 2)]
    with pytest.raises(TypeError, match="must return a Dataset, got int"):
        dataset.apply(lambda ds: 3)


def test_the_data_cells_pull_batches_back_to_numpy(tmp_path):
    image_file, label_file, labels = write_idx(tmp_path, 96, seed=1)
    training = get_training_dataset(image_file, label_file, BATCH_SIZE)
    validation = get_validation_dataset(image_file, label_file, 64)
    digits, digit_labels, validation_digits, validation_labels = dataset_to_numpy_util(training, validation, 24)
    assert digits.shape == (24, 784) and digits.dtype == np.float32 and digit_labels.shape == (24,)
    assert validation_digits.shape == (64, 784)
    np.testing.assert_array_equal(validation_labels, labels[:64])  # the validation batch is not shuffled
    assert digits.min() >= 0.0 and digits.max() < 1.0


@pytest.mark.parametrize("notebook", ["keras_01", "keras_03", "keras_05"])
def test_model_fit_with_callbacks_and_predict_cells(tmp_path, notebook):
    """3 epochs of 4 steps on generated digits: the learning rate follows ``lr_decay``, the callbacks see the
    logs, and ``predict(..., steps=1)`` returns one probability row per digit."""
    image_file, label_file, _ = write_idx(tmp_path, 160, seed=2)
    training = get_training_dataset(image_file, label_file, BATCH_SIZE)
    validation = get_validation_dataset(image_file, label_file, 64)
    layers, optimizer = codelab_models()[notebook]
    model = tf.keras.Sequential(layers)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    assert model.output_shape == (None, 10)
    plot_training = PlotTraining(sample_rate=2)
    lr_decay_callback = tf.keras.callbacks.LearningRateScheduler(lr_decay, verbose=True)
    history = model.fit(training, steps_per_epoch=4, epochs=3, validation_data=validation, validation_steps=1,
                        callbacks=[plot_training, lr_decay_callback], verbose=0)
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.006, 0.0036])
    assert plot_training.step == 12 and len(plot_training.batch_history["loss"]) == 6
    assert sorted(plot_training.epoch_history) == ["val_accuracy", "val_loss"]
    assert all(len(values) == 3 for values in plot_training.epoch_history.values())
    font_digits = np.random.default_rng(3).random((24, 784), dtype=np.float32)
    probabilities = model.predict(font_digits, steps=1, verbose=0)
    assert probabilities.shape == (24, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("notebook", ["keras_02", "keras_04"])
def test_other_model_cells_build(notebook):
    layers, optimizer = codelab_models()[notebook]
    model = tf.keras.Sequential(layers)
    if optimizer == "adam_lr":  # keras_04 writes TensorFlow 1.x's keyword: Adam(lr=0.01)
        with pytest.warns(UserWarning, match="lr"):
            optimizer = tf.keras.optimizers.Adam(lr=0.01)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    assert model.output_shape == (None, 10) and model.count_params() > 0


def test_keras_01_learns_on_a_real_mnist_slice(mnist_data_root):
    """The first notebook's softmax layer and plain SGD, 8 epochs of 40 steps of 32 on 1,280 real digits."""
    folder = Path(mnist_data_root) / "mnist"
    names = {name: str(folder / (name + ".gz")) if (folder / (name + ".gz")).exists() else str(folder / name)
             for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    if not names["train-images-idx3-ubyte"].endswith(".gz"):
        pytest.skip("this test reads the gzipped IDX files")
    training = get_training_dataset(names["train-images-idx3-ubyte"], names["train-labels-idx1-ubyte"], BATCH_SIZE,
                                    limit=1280)
    validation = get_validation_dataset(names["t10k-images-idx3-ubyte"], names["t10k-labels-idx1-ubyte"], 1000,
                                        limit=1000)
    layers, _ = codelab_models()["keras_01"]
    model = tf.keras.Sequential(layers)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(training, steps_per_epoch=40, epochs=8, validation_data=validation, validation_steps=1,
                        verbose=0)
    assert history.history["val_accuracy"][-1] > 0.65  # 0.708 measured (0.32 after the first epoch)
