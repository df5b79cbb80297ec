"""Keras calls that tutorials make around a model: ``keras.datasets``, the old ``on_batch_*`` hooks,
``predict``/``evaluate`` with ``steps=``, ``trainable_variables`` and ``apply_gradients`` for loops written with a
``GradientTape``, optimizer arguments, ``keras.__version__``."""
import numpy as np
import pytest

import ember
import ember.tensorflow as tf
from ember import data, keras


def small_model(inputs: int = 4, outputs: int = 2) -> keras.Sequential:
    model = keras.Sequential([keras.Input(shape=(inputs,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(outputs)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def regression_data(count: int = 64, seed: int = 0):
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((count, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32) + 0.3).astype(np.float32)
    return x, y


def test_version_and_datasets_are_there():
    assert keras.__version__.startswith("3.")
    assert callable(keras.datasets.mnist.load_data) and callable(keras.datasets.fashion_mnist.load_data)
    assert callable(keras.datasets.cifar10.load_data)


# -------------------------------------------------------------------------------------- callbacks
class BatchRecorder(keras.callbacks.Callback):
    """A callback written against the old names only, as older tutorials write them."""

    def __init__(self):
        super().__init__()
        self.events = []

    def on_batch_begin(self, batch, logs={}):  # noqa: B006 - the tutorials' signature
        self.events.append(("begin", batch))

    def on_batch_end(self, batch, logs={}):  # noqa: B006
        self.events.append(("end", batch, sorted(logs)))


def test_on_batch_begin_and_end_are_called_for_every_training_batch():
    ember.manual_seed(0)
    x, y = regression_data(40)
    recorder = BatchRecorder()
    model = small_model(outputs=1)
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[recorder])
    begins = [event for event in recorder.events if event[0] == "begin"]
    ends = [event for event in recorder.events if event[0] == "end"]
    assert [batch for _, batch in begins] == [0, 1, 2, 3] * 2
    assert [batch for _, batch, _ in ends] == [0, 1, 2, 3] * 2
    assert all("loss" in keys for _, _, keys in ends)
    # evaluate and predict batches are not training batches: the old hooks stay silent, as in Keras
    recorder.events.clear()
    model.evaluate(x, y, verbose=0, callbacks=[recorder])
    model.predict(x, verbose=0, callbacks=[recorder])
    assert recorder.events == []


def test_overriding_on_train_batch_end_replaces_the_old_hook():
    class NewStyle(BatchRecorder):
        def on_train_batch_end(self, batch, logs=None):
            self.events.append(("new", batch))

    recorder = NewStyle()
    x, y = regression_data(20)
    small_model(outputs=1).fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[recorder])
    assert recorder.events == [("begin", 0), ("new", 0), ("begin", 1), ("new", 1)]


# ---------------------------------------------------------------------------------- predict steps
@pytest.mark.parametrize("steps, batch_size, rows, batches", [
    (1, None, 100, 1), (3, None, 100, 3), (7, None, 100, 7), (3, 10, 30, 3), (None, None, 100, 4),
])
def test_predict_and_evaluate_with_steps_on_arrays_use_keras_batches(steps, batch_size, rows, batches):
    model = small_model()
    x = np.random.default_rng(1).standard_normal((100, 4)).astype(np.float32)
    y = np.zeros((100, 2), np.float32)

    class Count(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.predict_batches = self.test_batches = 0

        def on_predict_batch_end(self, batch, logs=None):
            self.predict_batches += 1

        def on_test_batch_end(self, batch, logs=None):
            self.test_batches += 1

    counter = Count()
    predictions = model.predict(x, steps=steps, batch_size=batch_size, verbose=0, callbacks=[counter])
    assert predictions.shape == (rows, 2)
    np.testing.assert_allclose(predictions, model.predict(x, verbose=0)[:rows], rtol=1e-5, atol=1e-6)
    model.evaluate(x, y, steps=steps, batch_size=batch_size, verbose=0, callbacks=[counter])
    assert counter.predict_batches == counter.test_batches == batches


def test_predict_steps_on_a_dataset_takes_that_many_batches():
    model = small_model()
    x = np.zeros((50, 4), np.float32)
    batches = data.Dataset.from_tensor_slices(x).batch(20)
    assert model.predict(batches, steps=1, verbose=0).shape == (20, 2)  # the codelab's predict(digits, steps=1)


def test_bad_steps_is_an_error():
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        small_model().predict(np.zeros((4, 4), np.float32), steps=0, verbose=0)


# ----------------------------------------------------------------------------- variables and loops
def test_model_variables_name_the_weights():
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
    assert [tuple(v.shape) for v in model.trainable_variables] == [(3, 4), (4,), (4,), (4,)]
    assert [tuple(v.shape) for v in model.non_trainable_variables] == [(4,), (4,)]  # moving mean and variance
    assert len(model.variables) == 6
    assert all(a is b for a, b in zip(model.trainable_variables, model.trainable_weights))
    model.layers[0].trainable = False
    assert [tuple(v.shape) for v in model.trainable_variables] == [(4,), (4,)]


def test_keras_weights_convert_to_numpy_like_keras_variables():
    model = small_model()
    kernel = model.trainable_variables[0]
    np.testing.assert_array_equal(np.asarray(kernel), model.get_weights()[0])
    with pytest.raises(RuntimeError, match="requires grad"):  # a PyTorch-style parameter keeps PyTorch's rule
        np.asarray(ember.nn.Linear(2, 2).weight)


def test_gradient_tape_loop_with_a_keras_model_and_optimizer_matches_fit():
    x, y = regression_data()
    ember.manual_seed(3)
    looped = small_model(outputs=1)
    ember.manual_seed(3)
    fitted = small_model(outputs=1)
    fitted.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    fitted.fit(x, y, batch_size=64, epochs=5, shuffle=False, verbose=0)

    optimizer = keras.optimizers.SGD(learning_rate=0.05)
    loss_fn = keras.losses.MeanSquaredError()
    for _ in range(5):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, looped(x, training=True))
        gradients = tape.gradient(loss, looped.trainable_variables)
        assert optimizer.apply_gradients(zip(gradients, looped.trainable_variables)) == optimizer.iterations
    assert optimizer.iterations == 5
    for ours, theirs in zip(looped.get_weights(), fitted.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert all(v.grad is None for v in looped.trainable_variables)  # gradients were not left behind


def test_apply_gradients_trains_tf_variables_to_the_solution():
    x, y = regression_data()
    tf.random.set_seed(0)
    w = tf.Variable(tf.random.normal(shape=(4, 1)))
    b = tf.Variable(tf.zeros(shape=(1,)))
    optimizer = keras.optimizers.Adam(learning_rate=0.1)
    for _ in range(300):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
        dw, db = tape.gradient(loss, [w, b])
        optimizer.apply_gradients(zip([dw, db], [w, b]))
    np.testing.assert_allclose(w.numpy().ravel(), [1.0, -2.0, 0.5, 3.0], atol=1e-3)
    np.testing.assert_allclose(b.numpy(), [0.3], atol=1e-3)


def test_apply_gradients_skips_none_and_checks_its_input():
    model = small_model()
    kernel, bias = model.trainable_variables[:2]
    optimizer = keras.optimizers.SGD(learning_rate=1.0)
    before = bias.detach().numpy().copy()
    optimizer.apply_gradients([(ember.ones(kernel.shape), kernel), (None, bias)])
    np.testing.assert_array_equal(bias.detach().numpy(), before)
    with pytest.raises(ValueError, match=r"gradient 0 has shape \(3,\), its variable \(4, 8\)"):
        optimizer.apply_gradients([(ember.ones(3), kernel)])
    with pytest.raises(ValueError, match="not one this optimizer was built with"):
        optimizer.apply_gradients([(ember.ones(2), model.trainable_variables[-1])])
    with pytest.raises(ValueError, match="no gradients"):
        optimizer.apply_gradients([(None, kernel)])
    with pytest.raises(TypeError, match=r"expected \(gradient, variable\) pairs"):
        optimizer.apply_gradients([kernel])


# ------------------------------------------------------------------------------------ optimizers
def test_optimizers_take_lr_with_a_warning_and_reject_unknown_arguments():
    with pytest.warns(UserWarning, match="`lr` argument is deprecated"):
        optimizer = keras.optimizers.Adam(lr=0.01)
    assert optimizer.learning_rate == pytest.approx(0.01)
    for make in (keras.optimizers.SGD, keras.optimizers.Adam, keras.optimizers.RMSprop):
        with pytest.raises(TypeError, match="unexpected keyword arguments"):
            make(learning_rat=0.1)


class PlotTrainingLike(keras.callbacks.Callback):
    """The codelab's live-plot callback, reduced to its bookkeeping: it skips ``super().__init__()`` and
    records every batch's logs through the old ``on_batch_end`` name."""

    def __init__(self, sample_rate=1):
        self.sample_rate = sample_rate
        self.step = 0

    def on_train_begin(self, logs={}):  # noqa: B006 - the codelab's signature
        self.batch_history, self.epoch_history = {}, {}

    def on_batch_end(self, batch, logs={}):  # noqa: B006
        if batch % self.sample_rate == 0:
            for key, value in logs.items():
                self.batch_history.setdefault(key, []).append(value)
        self.step += 1

    def on_epoch_end(self, epoch, logs={}):  # noqa: B006
        for key, value in logs.items():
            self.epoch_history.setdefault(key, []).append(value)


def test_codelab_fit_predict_and_evaluate_cells_on_a_pipeline():
    ember.manual_seed(0)
    generator = np.random.default_rng(2)
    labels = generator.integers(0, 10, 600)
    images = generator.random((600, 784), dtype=np.float32) * 0.5
    for row, label in enumerate(labels):  # each class brightens its own band of 78 pixels
        images[row, label * 78:(label + 1) * 78] += 0.5
    one_hot = np.eye(10, dtype=np.float32)[labels]
    training = data.Dataset.from_tensor_slices((images[:500], one_hot[:500])).cache().shuffle(500) \
        .repeat().batch(50, drop_remainder=True).prefetch(-1)
    validation = data.Dataset.from_tensor_slices((images[500:], one_hot[500:])).cache().batch(100).repeat()
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    plot_training = PlotTrainingLike()
    history = model.fit(training, steps_per_epoch=10, epochs=8, validation_data=validation, validation_steps=1,
                        callbacks=[plot_training], verbose=0)
    assert plot_training.step == 80 and len(plot_training.batch_history["loss"]) == 80
    assert plot_training.epoch_history["val_accuracy"] == history.history["val_accuracy"]
    final_stats = model.evaluate(validation, steps=1, verbose=0)
    assert final_stats[1] == pytest.approx(history.history["val_accuracy"][-1])
    assert final_stats[1] > 0.9
    digits = data.Dataset.from_tensor_slices(images[500:]).batch(100)
    probabilities = model.predict(digits, steps=1, verbose=0)
    assert probabilities.shape == (100, 10)
    assert np.mean(np.argmax(probabilities, axis=1) == labels[500:]) == pytest.approx(final_stats[1])
