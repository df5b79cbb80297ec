"""GradientTape as TensorFlow 2 defines it: what it watches, what it returns, nesting and persistence."""
from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.tensorflow as tf


def test_variables_are_watched_and_constants_are_not():
    w = tf.Variable([[1.0], [2.0]])
    x = tf.constant([[3.0, 4.0]])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(x @ w)
    dw, dx = tape.gradient(y, [w, x])
    np.testing.assert_allclose(dw.numpy(), [[3.0], [4.0]])
    assert dx is None  # an unwatched constant
    assert isinstance(dw, tf.Tensor) and dw.dtype == tf.float32


def test_watch_constant_and_non_scalar_target_is_summed():
    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x  # non-scalar: the gradient of sum(y)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [2.0, 4.0, 6.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y1, y2 = x * 2.0, x * x
    np.testing.assert_allclose(tape.gradient([y1, y2], x).numpy(), [4.0, 6.0, 8.0])  # a list of targets: summed


def test_nested_structure_of_sources():
    a, b = tf.Variable(2.0), tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = a * b
    gradients = tape.gradient(y, {"a": a, "pair": (b, a)})
    assert set(gradients) == {"a", "pair"} and isinstance(gradients["pair"], tuple)
    assert gradients["a"].numpy() == 3.0 and gradients["pair"][0].numpy() == 2.0


def test_non_persistent_tape_refuses_a_second_gradient():
    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="non-persistent GradientTape can only be used to compute one set"):
        tape.gradient(y, x)


def test_persistent_tape():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    assert tape.gradient(z, x).numpy() == 108.0  # 4 x^3
    assert tape.gradient(y, x).numpy() == 6.0
    assert tape.gradient(z, y).numpy() == 18.0  # with respect to an intermediate tensor


def test_nested_tapes_give_second_derivatives():
    x = tf.Variable(1.5)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = x ** 3
        dy_dx = inner.gradient(y, x)
    d2y_dx2 = outer.gradient(dy_dx, x)
    np.testing.assert_allclose(dy_dx.numpy(), 3 * 1.5**2, rtol=1e-6)
    np.testing.assert_allclose(d2y_dx2.numpy(), 6 * 1.5, rtol=1e-6)
    c = tf.constant([0.3, -0.7], tf.float64)
    with tf.GradientTape() as outer:
        outer.watch(c)
        with tf.GradientTape() as inner:
            inner.watch(c)
            y = tf.reduce_sum(tf.sin(c) * c)
        grad = inner.gradient(y, c)
    np.testing.assert_allclose(outer.gradient(grad, c).numpy(), 2 * np.cos(c.numpy()) - c.numpy() * np.sin(c.numpy()))


def test_watch_accessed_variables_false_and_untrainable_variables():
    a, b = tf.Variable(2.0), tf.Variable(3.0)
    frozen = tf.Variable(5.0, trainable=False)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(a)
        y = a * b
    da, db = tape.gradient(y, [a, b])
    assert da.numpy() == 3.0 and db is None
    with tf.GradientTape() as tape:
        y = a * frozen
    assert tape.gradient(y, frozen) is None
    assert [v.name for v in tape.watched_variables()] == [a.name]


def test_stop_recording_and_unconnected_gradients():
    x = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = x * x
        with tape.stop_recording():
            z = x * x * x
        total = y + z
    assert tape.gradient(total, x).numpy() == 4.0  # z was not recorded
    unused = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as tape:
        y = x * 2.0
    zeros = tape.gradient(y, [unused], unconnected_gradients=tf.UnconnectedGradients.ZERO)[0]
    np.testing.assert_array_equal(zeros.numpy(), [0.0, 0.0])


def test_ops_after_the_tape_are_not_recorded():
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
    y = x * x  # outside the tape
    assert tape.gradient(y, x) is None


def test_integer_sources_give_none_and_output_gradients_weight_the_target():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * 3.0
    np.testing.assert_allclose(tape.gradient(y, x, output_gradients=tf.constant([1.0, 10.0])).numpy(), [3.0, 30.0])
    n = tf.constant(2)
    with tf.GradientTape() as tape:
        tape.watch(n)
        m = n * 2
    assert tape.gradient(m, n) is None


def test_keras_model_trained_with_a_tape():
    ember.manual_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(3,)), tf.keras.layers.Dense(1)])
    x = tf.random.normal((64, 3))
    y = tf.matmul(x, tf.constant([[1.0], [-2.0], [0.5]]))
    first = None
    for _ in range(100):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_weights)
        assert all(g is not None for g in grads)
        for variable, gradient in zip(model.trainable_weights, grads):
            with ember.no_grad():
                variable.array -= 0.1 * gradient.array
        first = float(loss) if first is None else first
    assert float(loss) < 0.01 * first
