"""The "Neural network frameworks" lesson's TensorFlow and Keras notebooks (IntroKerasTF.ipynb, IntroKeras.ipynb),
cell by cell after ``import tensorflow as tf`` / ``from tensorflow import keras`` became
``import ember.tensorflow as tf`` / ``from ember import keras``. The lesson draws its classification data with
scikit-learn's ``make_classification``; here two Gaussian blobs of the same size stand in for it."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import ember
import ember.tensorflow as tf
from ember import keras

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def blobs(n=100, seed=0):
    """Two classes of 2-d points, split 70/15/15 as the lesson splits them."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.5).astype(np.int32)
    features = (rng.standard_normal((n, 2)) + np.where(labels[:, None] == 1, 1.5, -1.5)).astype(np.float32)
    return np.split(features, [70, 85]), np.split(labels, [70, 85])


def normalized(train_x, *others):
    low, high = np.min(train_x, axis=0), np.max(train_x, axis=0)
    return [(x - low) / (high - low) for x in (train_x, *others)]


def plot_dataset(features, labels, W=None, b=None):  # noqa: N803 - the lesson's names
    """The lesson's helper: the points, and with ``W, b`` the line ``W·x + b = 0.5``."""
    fig, ax = plt.subplots(1, 1)
    ax.scatter(features[:, 0], features[:, 1], marker="o", c=["r" if label else "b" for label in labels], s=100)
    if W is not None:
        cx = np.array([min(features[:, 0]), max(features[:, 1])], dtype=np.float32)
        cy = (0.5 - W[0] * cx - b) / W[1]
        ax.plot(cx, cy, "g")
    plt.close(fig)
    return cy if W is not None else None


# ---------------------------------------------------------------------------------------- IntroKerasTF
def test_tensor_variable_and_tape_cells():
    assert tf.__version__.startswith("2.")
    a = tf.constant([[1, 2], [3, 4]])
    assert str(a) == "tf.Tensor(\n[[1 2]\n [3 4]], shape=(2, 2), dtype=int32)"
    a = tf.random.normal(shape=(10, 3))
    assert str(a - a[0]).endswith("shape=(10, 3), dtype=float32)")
    assert tf.exp(a)[0].numpy().shape == (3,)
    s = tf.Variable(tf.zeros_like(a[0]))
    for row in a:
        s.assign_add(row)
    assert repr(s).startswith("<tf.Variable 'Variable:0' shape=(3,) dtype=float32, numpy=array([")
    total = tf.reduce_sum(a, axis=0)
    assert repr(total).startswith("<tf.Tensor: shape=(3,), dtype=float32, numpy=array([")
    np.testing.assert_allclose(s.numpy(), total.numpy(), rtol=1e-5)
    a, b = tf.random.normal(shape=(2, 2)), tf.random.normal(shape=(2, 2))
    with tf.GradientTape() as tape:
        tape.watch(a)
        c = tf.sqrt(tf.square(a) + tf.square(b))
        dc_da = tape.gradient(c, a)
    np.testing.assert_allclose(dc_da.numpy(), a.numpy() / c.numpy(), rtol=1e-5)


def test_linear_regression_cells_print_the_lessons_numbers():
    """Variables updated by ``assign_sub`` from a tape, then a ``@tf.function`` step fed by a shuffled dataset:
    the printed losses and weights are the lesson's (TensorFlow prints w = 1.8616779, b = 1.0710956)."""
    np.random.seed(13)
    train_x = np.linspace(0, 3, 120)
    train_labels = 2 * train_x + 0.9 + np.random.randn(*train_x.shape) * 0.5
    w = tf.Variable([[100.0]])
    b = tf.Variable(tf.zeros(shape=(1,)))

    def train_on_batch(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(y - (tf.matmul(x, w) + b)))
            dloss_dw, dloss_db = tape.gradient(loss, [w, b])
        w.assign_sub(0.1 * dloss_dw)
        b.assign_sub(0.1 * dloss_db)
        return loss

    indices = np.random.permutation(len(train_x))
    features = tf.constant(train_x[indices], dtype=tf.float32)
    labels = tf.constant(train_labels[indices], dtype=tf.float32)
    for epoch in range(10):
        for i in range(0, len(features), 4):
            loss = train_on_batch(tf.reshape(features[i:i + 4], (-1, 1)), tf.reshape(labels[i:i + 4], (-1, 1)))
        if epoch == 0:
            assert "Epoch %d: last batch loss = %.4f" % (epoch, float(loss)) == "Epoch 0: last batch loss = 94.5247"  # noqa: UP031
    assert "%.4f" % float(loss) == "0.3382"  # noqa: UP031
    assert repr(b) == "<tf.Variable 'Variable:0' shape=(1,) dtype=float32, numpy=array([1.0710956], dtype=float32)>"
    assert w.numpy()[0, 0] == pytest.approx(1.8616779, abs=2e-7)
    y = w.numpy()[0, 0] * np.array([0.0, 3.0]) + b.numpy()[0]
    assert y.shape == (2,)

    train_step = tf.function(train_on_batch)
    w.assign([[10.0]])
    b.assign([0.0])
    dataset = tf.data.Dataset.from_tensor_slices((train_x.astype(np.float32), train_labels.astype(np.float32)))
    dataset = dataset.shuffle(buffer_size=1024).batch(256)
    for _epoch in range(10):
        for _step, (x, y) in enumerate(dataset):
            loss = train_step(tf.reshape(x, (-1, 1)), tf.reshape(y, (-1, 1)))
    assert float(loss) == pytest.approx(2.3508, abs=2e-4)  # the lesson's last line; one batch holds all 120 points


def test_classification_cells_with_sigmoid_cross_entropy_and_a_keras_optimizer():
    (train_x, valid_x, test_x), (train_labels, valid_labels, test_labels) = blobs()
    train_x_norm, _valid_x_norm, test_x_norm = normalized(train_x, valid_x, test_x)
    W = tf.Variable(tf.random.normal(shape=(2, 1)), dtype=tf.float32)
    b = tf.Variable(tf.zeros(shape=(1,), dtype=tf.float32))

    @tf.function
    def train_on_batch(x, y):
        with tf.GradientTape() as tape:
            z = tf.matmul(x, W) + b
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z))
        dloss_dw, dloss_db = tape.gradient(loss, [W, b])
        W.assign_sub(0.1 * dloss_dw)
        b.assign_sub(0.1 * dloss_db)
        return loss

    dataset = tf.data.Dataset.from_tensor_slices((train_x_norm.astype(np.float32), train_labels.astype(np.float32)))
    dataset = dataset.shuffle(128).batch(2)
    for _epoch in range(10):
        for _step, (x, y) in enumerate(dataset):
            loss = train_on_batch(x, tf.expand_dims(y, 1))
    assert np.isfinite(float(loss))
    plot_dataset(train_x, train_labels, W.numpy(), b.numpy())
    pred = tf.matmul(test_x_norm, W) + b
    fig, ax = plt.subplots(1, 2)
    ax[0].scatter(test_x[:, 0], test_x[:, 1], c=pred[:, 0] > 0.5)
    ax[1].scatter(test_x[:, 0], test_x[:, 1], c=valid_labels)
    plt.close(fig)
    accuracy = tf.reduce_mean(tf.cast(((pred[0] > 0.5) == test_labels), tf.float32))  # the lesson's own cell
    assert accuracy.shape == () and float(accuracy) == pytest.approx(np.mean((pred.numpy()[0] > 0.5) == test_labels))
    assert float(tf.reduce_mean(tf.cast(((pred[:, 0] > 0.5) == test_labels), tf.float32))) > 0.9

    optimizer = tf.keras.optimizers.Adam(0.01)
    W = tf.Variable(tf.random.normal(shape=(2, 1)))
    b = tf.Variable(tf.zeros(shape=(1,), dtype=tf.float32))

    @tf.function
    def train_with_optimizer(x, y):
        variables = [W, b]
        with tf.GradientTape() as tape:
            z = tf.sigmoid(tf.matmul(x, W) + b)
            loss = tf.reduce_mean(tf.keras.losses.binary_crossentropy(z, y))  # arguments swapped, as in the lesson
            acc = tf.reduce_mean(tf.cast(tf.equal(tf.round(y), tf.round(z)), tf.float32))
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
        return loss, acc

    for _epoch in range(3):
        for _step, (x, y) in enumerate(dataset):
            loss, acc = train_with_optimizer(tf.reshape(x, (-1, 2)), tf.reshape(y, (-1, 1)))
    line = "last batch loss = %.4f, acc = %.4f" % (float(loss), acc)  # noqa: UP031 - a tensor formatted by %
    assert line.startswith("last batch loss = ")


def test_keras_functional_and_sequential_cells():
    (train_x, _valid_x, test_x), (train_labels, _valid_labels, test_labels) = blobs()
    train_x_norm, test_x_norm = normalized(train_x, test_x)
    inputs = tf.keras.Input(shape=(2,))
    z = tf.keras.layers.Dense(1, kernel_initializer="glorot_uniform", activation="sigmoid")(inputs)
    model = tf.keras.models.Model(inputs, z)
    model.compile(tf.keras.optimizers.Adam(0.1), "binary_crossentropy", ["accuracy"])
    assert model.count_params() == 3
    h = model.fit(train_x_norm, train_labels, batch_size=8, epochs=15, verbose=0)
    assert len(h.history["accuracy"]) == 15 and h.history["accuracy"][-1] > 0.9
    plt.plot(h.history["accuracy"])
    plt.close("all")

    model = tf.keras.models.Sequential()
    model.add(tf.keras.layers.Dense(5, activation="sigmoid", input_shape=(2,)))
    model.add(tf.keras.layers.Dense(1, activation="sigmoid"))
    model.compile(tf.keras.optimizers.Adam(0.1), "binary_crossentropy", ["accuracy"])
    assert model.count_params() == 21
    h = model.fit(train_x_norm, train_labels, validation_data=(test_x_norm, test_labels), batch_size=8, epochs=15,
                  verbose=0)
    assert h.history["val_accuracy"][-1] > 0.9


def test_bool_tensor_equals_int_labels_by_value():
    """``(pred > 0.5) == labels`` with int32 NumPy labels compares by value, element by element (the lesson prints
    an accuracy from it); tensors of two dtypes stay simply unequal."""
    predicted = tf.constant([0.9, 0.1, 0.7]) > 0.5
    labels = np.array([1, 0, 0], np.int32)
    np.testing.assert_array_equal((predicted == labels).numpy(), [True, True, False])
    np.testing.assert_array_equal((predicted != labels).numpy(), [False, False, True])
    assert float(tf.reduce_mean(tf.cast(predicted == labels, tf.float32))) == pytest.approx(2 / 3)
    assert (predicted == np.zeros(4)) is False  # shapes that do not broadcast
    assert (tf.constant([1]) == tf.constant([1.0])) is False


# ------------------------------------------------------------------------------------------- IntroKeras
def test_keras_values_computed_from_weights_convert_to_numpy_and_pytorch_ones_do_not():
    """The lesson plots ``(0.5 - W[0]*x - b) / W[1]`` with Keras weights: Keras values convert to NumPy. A
    value computed from a PyTorch-style parameter still has to be detached first, as in PyTorch."""
    dense = keras.layers.Dense(1)
    dense.build((None, 2))
    kernel, bias = dense.weights
    line = (0.5 - kernel[0] * np.array([0.0, 1.0], np.float32) - bias) / kernel[1]
    assert line.requires_grad
    np.testing.assert_allclose(np.asarray(line), line.detach().numpy())
    linear = ember.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(linear.weight * 2)
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(kernel[0] * linear.bias[0])  # one PyTorch-style leaf is enough to keep PyTorch's rule
    loss = (kernel * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(loss)  # the graph is freed by backward: nothing left to tell where the value came from


def test_intro_keras_cells():
    assert keras.__version__ and tf.__version__
    (train_x, _valid_x, test_x), (train_labels, _valid_labels, test_labels) = blobs(seed=1)
    train_x_norm, test_x_norm = normalized(train_x, test_x)
    model = keras.models.Sequential()
    model.add(keras.Input(shape=(2,)))
    model.add(keras.layers.Dense(1))
    model.add(keras.layers.Activation(keras.activations.sigmoid))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Activation"]
    assert model.count_params() == 3

    model = keras.models.Sequential()
    model.add(keras.layers.Dense(1, input_shape=(2,), activation="sigmoid"))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.2), loss="binary_crossentropy", metrics=["acc"])
    model.fit(x=train_x_norm, y=train_labels, validation_data=(test_x_norm, test_labels), epochs=4, batch_size=1,
              verbose=0)
    cy = plot_dataset(train_x, train_labels, model.layers[0].weights[0], model.layers[0].weights[1])
    kernel, bias = model.get_weights()
    cx = np.array([min(train_x[:, 0]), max(train_x[:, 1])], dtype=np.float32)
    np.testing.assert_allclose(np.asarray(cy), (0.5 - kernel[0] * cx - bias) / kernel[1], rtol=1e-5)

    model = keras.models.Sequential([keras.layers.Dense(1, input_shape=(2,), activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="binary_crossentropy", metrics=["acc"])
    hist = model.fit(x=train_x_norm, y=train_labels, validation_data=(test_x_norm, test_labels), epochs=4,
                     batch_size=1, verbose=0)
    assert sorted(hist.history) == ["acc", "loss", "val_acc", "val_loss"]
    plt.plot(hist.history["acc"])
    plt.plot(hist.history["val_acc"])
    plt.close("all")

    model = keras.models.Sequential([keras.layers.Dense(5, input_shape=(2,), activation="relu"),
                                     keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy", ["acc"])
    train_labels_onehot = keras.utils.to_categorical(train_labels)
    test_labels_onehot = np.eye(2)[test_labels]
    hist = model.fit(x=train_x_norm, y=train_labels_onehot, validation_data=[test_x_norm, test_labels_onehot],
                     batch_size=1, epochs=4, verbose=0)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["acc"])
    hist = model.fit(x=train_x_norm, y=train_labels, validation_data=[test_x_norm, test_labels], batch_size=1,
                     epochs=2, verbose=0)
    assert hist.history["val_acc"][-1] > 0.9
