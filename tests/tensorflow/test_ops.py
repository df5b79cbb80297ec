"""TensorFlow-named ops: values against NumPy, gradients (through GradientTape) against central differences."""
from __future__ import annotations

import numpy as np
import pytest

import ember.tensorflow as tf

RNG = np.random.default_rng(0)


def numeric_gradient(function, arrays, index, step=1e-6):
    """d(sum(function(*arrays)))/d(arrays[index]) by central differences, in float64."""
    base = [np.array(a, dtype=np.float64) for a in arrays]
    gradient = np.zeros_like(base[index])
    for position in np.ndindex(base[index].shape):
        plus = [a.copy() for a in base]
        minus = [a.copy() for a in base]
        plus[index][position] += step
        minus[index][position] -= step
        value_plus = np.sum(function(*[tf.constant(a) for a in plus]).numpy())
        value_minus = np.sum(function(*[tf.constant(a) for a in minus]).numpy())
        gradient[position] = (value_plus - value_minus) / (2 * step)
    return gradient


def assert_tape_gradients(function, *arrays, atol=1e-6):
    """The tape's gradients of ``function`` (summed, as tape.gradient does) equal central differences."""
    tensors = [tf.constant(np.asarray(a, dtype=np.float64)) for a in arrays]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        output = function(*tensors)
    gradients = tape.gradient(output, tensors)
    for index, gradient in enumerate(gradients):
        assert gradient is not None and gradient.dtype == tf.float64
        np.testing.assert_allclose(gradient.numpy(), numeric_gradient(function, arrays, index), atol=atol, rtol=1e-5)


def randn(*shape):
    return RNG.standard_normal(shape)


def positive(*shape):
    return RNG.uniform(0.5, 2.0, shape)


ELEMENTWISE = [
    ("add", lambda x, y: tf.add(x, y), (randn(2, 3), randn(3))),  # broadcast
    ("subtract", lambda x, y: tf.subtract(x, y), (randn(2, 3), randn(2, 1))),
    ("multiply", lambda x, y: tf.multiply(x, y), (randn(2, 3), randn(2, 3))),
    ("divide", lambda x, y: tf.divide(x, y), (randn(2, 3), positive(3))),
    ("pow", lambda x, y: tf.pow(x, y), (positive(2, 3), randn(2, 3))),
    ("maximum", lambda x, y: tf.maximum(x, y), (randn(4), randn(4))),
    ("minimum", lambda x, y: tf.minimum(x, y), (randn(4), randn(4))),
    ("square", lambda x: tf.square(x), (randn(3, 2),)),
    ("sqrt", lambda x: tf.sqrt(x), (positive(3),)),
    ("exp", lambda x: tf.exp(x), (randn(3),)),
    ("log", lambda x: tf.math.log(x), (positive(3),)),
    ("abs", lambda x: tf.abs(x), (randn(5),)),
    ("sigmoid", lambda x: tf.sigmoid(x), (randn(5),)),
    ("tanh", lambda x: tf.math.tanh(x), (randn(5),)),
    ("relu", lambda x: tf.nn.relu(x), (randn(5),)),
    ("softmax", lambda x: tf.nn.softmax(x) * tf.constant(np.arange(4.0)), (randn(2, 4),)),
    ("clip_by_value", lambda x: tf.clip_by_value(x, -0.5, 0.5), (randn(6),)),
    ("matmul", lambda a, b: tf.matmul(a, b), (randn(2, 3), randn(3, 4))),
    ("matmul_transposed", lambda a, b: tf.matmul(a, b, transpose_a=True, transpose_b=True), (randn(3, 2), randn(4, 3))),
    ("matmul_batched", lambda a, b: a @ b, (randn(2, 2, 3), randn(3, 2))),
    ("reduce_sum", lambda x: tf.reduce_sum(x, axis=1) * np.array([1.0, 2.0]), (randn(2, 3),)),
    ("reduce_mean", lambda x: tf.reduce_mean(x, axis=[0, 2], keepdims=True), (randn(2, 3, 2),)),
    ("reduce_max", lambda x: tf.reduce_max(x, axis=0), (randn(3, 4),)),
    ("reduce_min", lambda x: tf.math.reduce_min(x), (randn(3, 4),)),
    ("reduce_prod", lambda x: tf.reduce_prod(x, axis=-1), (positive(2, 3),)),
    ("reshape", lambda x: tf.reshape(x, [3, -1]) * tf.constant(np.arange(6.0).reshape(3, 2)), (randn(2, 3),)),
    ("transpose", lambda x: tf.transpose(x, perm=[1, 0]) * tf.constant(np.arange(6.0).reshape(3, 2)), (randn(2, 3),)),
    ("concat", lambda x, y: tf.concat([x, y], axis=0) * tf.constant(np.arange(10.0).reshape(5, 2)),
     (randn(2, 2), randn(3, 2))),
    ("stack", lambda x, y: tf.stack([x, y], axis=1) * tf.constant(np.arange(6.0).reshape(3, 2)), (randn(3), randn(3))),
    ("squeeze_expand", lambda x: tf.expand_dims(tf.squeeze(x, axis=1), 0) ** 2, (randn(3, 1),)),
    ("where", lambda x, y: tf.where(tf.constant([True, False, True]), x, y) ** 2, (randn(3), randn(3))),
    ("cast_float", lambda x: tf.cast(x, tf.float32) * 1.0, (randn(3),)),
]


@pytest.mark.parametrize("name, function, arrays", ELEMENTWISE, ids=[case[0] for case in ELEMENTWISE])
def test_gradients_match_central_differences(name, function, arrays):
    if name == "cast_float":  # float64 -> float32: the gradient comes back in float64; compare loosely
        x = tf.constant(arrays[0])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.cast(x, tf.float32) * 3.0)
        gradient = tape.gradient(y, x)
        assert gradient.dtype == tf.float64
        np.testing.assert_allclose(gradient.numpy(), np.full(3, 3.0))
        return
    assert_tape_gradients(function, *arrays)


def test_cross_entropies_values_and_gradients():
    logits, labels = randn(4, 3), RNG.uniform(0, 1, (4, 3))
    expected = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    result = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant(labels), logits=tf.constant(logits))
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12)
    assert_tape_gradients(lambda z, x: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x), labels, logits)
    # at a logit of exactly 0 the gradient is sigmoid(0) - z, as TensorFlow's
    x = tf.Variable(tf.zeros(3, tf.float64))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant([0.0, 1.0, 0.3], tf.float64),
                                                                     logits=x))
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [0.5, -0.5, 0.2])

    one_hot = np.eye(3)[[0, 2, 1, 1]]
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    result = tf.nn.softmax_cross_entropy_with_logits(labels=tf.constant(one_hot), logits=tf.constant(logits))
    np.testing.assert_allclose(result.numpy(), -(one_hot * log_softmax).sum(1), rtol=1e-12)
    assert result.shape == (4,)
    assert_tape_gradients(lambda x: tf.nn.softmax_cross_entropy_with_logits(labels=tf.constant(one_hot), logits=x),
                          logits)
    sparse = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([0, 2, 1, 1]),
                                                            logits=tf.constant(logits))
    np.testing.assert_allclose(sparse.numpy(), result.numpy(), rtol=1e-12)
    assert_tape_gradients(
        lambda x: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([0, 2, 1, 1]), logits=x), logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"label value of 3 which is outside the valid range of "
                                                             r"\[0, 3\)"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([3, 0, 0, 0]), logits=tf.constant(logits))
    with pytest.raises(ValueError, match="same shape"):
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones((2, 3)), logits=tf.ones((3, 2)))


def test_reductions_keep_dtypes_as_tensorflow():
    ints = tf.constant([[1, 2], [3, 4]])
    assert tf.reduce_sum(ints).dtype == tf.int32 and tf.reduce_sum(ints).numpy() == 10
    assert tf.reduce_mean(tf.constant([1, 2])).numpy() == 1  # integer mean truncates, as TensorFlow
    assert tf.reduce_mean(tf.constant([-1, -2])).numpy() == -1
    np.testing.assert_array_equal(tf.reduce_mean(ints, axis=0).numpy(), [2, 3])
    assert tf.reduce_max(ints, axis=1).dtype == tf.int32
    np.testing.assert_allclose(tf.reduce_mean(tf.constant([[1.0, 2.0], [3.0, 5.0]]), axis=1, keepdims=True).numpy(),
                               [[1.5], [4.0]])
    np.testing.assert_allclose(tf.math.reduce_std(tf.constant([1.0, 3.0])).numpy(), 1.0)
    np.testing.assert_allclose(tf.reduce_logsumexp(tf.constant([0.0, 0.0])).numpy(), np.log(2.0), rtol=1e-6)


def test_array_ops():
    assert tf.argmax(tf.constant([[1, 5], [3, 2]])).dtype == tf.int64
    np.testing.assert_array_equal(tf.argmax(tf.constant([[1, 5], [3, 2]])).numpy(), [1, 0])  # default axis 0
    np.testing.assert_array_equal(tf.argmax([[1, 5], [3, 2]], axis=1).numpy(), [1, 0])
    np.testing.assert_array_equal(tf.argmin([[1, 5], [3, 2]], axis=1).numpy(), [0, 1])
    hot = tf.one_hot([0, 2, -1, 5], depth=3)
    assert hot.dtype == tf.float32
    np.testing.assert_array_equal(hot.numpy(), [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(tf.one_hot(tf.constant([1]), 2, on_value=5, off_value=-1).numpy(), [[-1, 5]])
    assert tf.one_hot([1], 2, dtype=tf.int64).dtype == tf.int64
    np.testing.assert_array_equal(tf.one_hot([1, 0], 2, axis=0).numpy(), [[0, 1], [1, 0]])
    assert tf.equal([1, 2], [1, 3]).dtype == tf.bool
    np.testing.assert_array_equal(tf.greater([1, 3], 2).numpy(), [False, True])
    np.testing.assert_array_equal(tf.less([1, 3], 2).numpy(), [True, False])
    np.testing.assert_array_equal(tf.where(tf.constant([[True, False], [False, True]])).numpy(), [[0, 0], [1, 1]])
    assert tf.where([[True, False]]).dtype == tf.int64
    np.testing.assert_array_equal(tf.cast(tf.constant([1.7, -1.7]), tf.int32).numpy(), [1, -1])  # truncates
    assert tf.cast(tf.constant([True]), tf.float32).numpy()[0] == 1.0
    assert tf.reshape(tf.range(6), [2, 3]).shape == (2, 3)
    assert tf.reshape(tf.constant([7]), []).shape == ()
    with pytest.raises(tf.errors.InvalidArgumentError, match="tensor with 6 values, but the requested shape has 4"):
        tf.reshape(tf.range(6), [2, 2])
    assert tf.transpose(tf.zeros((2, 3, 4))).shape == (4, 3, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Can not squeeze dim"):
        tf.squeeze(tf.zeros((2, 3)), axis=1)
    assert tf.squeeze(tf.zeros((1, 3, 1))).shape == (3,)
    assert tf.expand_dims(tf.zeros((3,)), -1).shape == (3, 1)
    assert tf.concat([tf.ones((1, 2)), tf.zeros((2, 2))], axis=0).shape == (3, 2)
    assert tf.stack([tf.ones(2), tf.zeros(2)]).shape == (2, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="ConcatV2"):
        tf.concat([tf.ones(2), tf.ones(2, tf.float64)], 0)
    np.testing.assert_array_equal(tf.shape(tf.zeros((2, 5))).numpy(), [2, 5])
    assert tf.shape(tf.zeros((2, 5))).dtype == tf.int32
    assert tf.size(tf.zeros((2, 5))).numpy() == 10 and tf.rank(tf.zeros((2, 5))).numpy() == 2
    assert tf.reshape(tf.zeros((2, 5)), tf.shape(tf.zeros((5, 2)))).shape == (5, 2)
    np.testing.assert_array_equal(tf.gather(tf.constant([[1, 2], [3, 4], [5, 6]]), [2, 0]).numpy(), [[5, 6], [1, 2]])


def test_creation_ops():
    assert tf.zeros([2, 3]).dtype == tf.float32 and tf.zeros([2, 3]).shape == (2, 3)
    assert tf.ones(4, dtype=tf.int32).dtype == tf.int32
    assert tf.zeros_like(tf.constant([1, 2])).dtype == tf.int32
    assert tf.ones_like(tf.constant([1.0]), dtype=tf.float64).dtype == tf.float64
    assert tf.fill([2, 2], 7).dtype == tf.int32 and tf.fill([2], 0.5).dtype == tf.float32
    np.testing.assert_array_equal(tf.fill([2, 2], 7).numpy(), np.full((2, 2), 7))
    assert tf.range(5).dtype == tf.int32 and tf.range(0.0, 1.0, 0.25).dtype == tf.float32
    np.testing.assert_array_equal(tf.range(1, 10, 3).numpy(), [1, 4, 7])
    np.testing.assert_allclose(tf.linspace(0.0, 1.0, 5).numpy(), [0, 0.25, 0.5, 0.75, 1.0])
    assert tf.linspace(0.0, 1.0, 5).dtype == tf.float32
    assert tf.eye(3).numpy()[1, 1] == 1.0


def test_random_ops_are_seeded():
    tf.random.set_seed(5)
    first = tf.random.normal((1000,), mean=2.0, stddev=0.5)
    tf.random.set_seed(5)
    np.testing.assert_array_equal(first.numpy(), tf.random.normal((1000,), mean=2.0, stddev=0.5).numpy())
    assert first.dtype == tf.float32 and abs(float(np.mean(first.numpy())) - 2.0) < 0.1
    uniform = tf.random.uniform([1000], minval=-1, maxval=3)
    assert uniform.dtype == tf.float32 and uniform.numpy().min() >= -1 and uniform.numpy().max() < 3
    integers = tf.random.uniform([100], minval=0, maxval=10, dtype=tf.int32)
    assert integers.dtype == tf.int32 and integers.numpy().max() < 10
    with pytest.raises(ValueError, match="maxval"):
        tf.random.uniform([2], dtype=tf.int32)
    assert tf.random.normal([2, 2], dtype=tf.float64).dtype == tf.float64


def test_decode_raw():
    record = bytes([1, 2, 3, 255])
    decoded = tf.io.decode_raw(record, tf.uint8)
    assert decoded.dtype == tf.uint8 and decoded.shape == (4,)
    np.testing.assert_array_equal(decoded.numpy(), [1, 2, 3, 255])
    np.testing.assert_array_equal(tf.io.decode_raw(np.arange(3, dtype="<i4").tobytes(), tf.int32).numpy(), [0, 1, 2])
    big = np.arange(2, dtype=">u2").tobytes()
    np.testing.assert_array_equal(tf.io.decode_raw(big, tf.uint16, little_endian=False).numpy(), [0, 1])
    batch = tf.io.decode_raw(tf.constant([b"ab", b"cd"]), tf.uint8)
    assert batch.shape == (2, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a multiple of 4"):
        tf.io.decode_raw(b"abc", tf.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same size"):
        tf.io.decode_raw(tf.constant([b"ab", b"c"]), tf.uint8)


def test_math_aliases():
    for name in ("reduce_sum", "reduce_mean", "log", "exp", "sqrt", "square", "sigmoid", "argmax", "equal"):
        assert getattr(tf.math, name) is getattr(tf, name)
    assert tf.nn.sigmoid is tf.sigmoid and tf.nn.tanh is tf.tanh


def test_gradients_at_ties_follow_tensorflow():
    x, y = tf.constant([1.0, 3.0, 3.0]), tf.constant([1.0, 0.0, 5.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        largest, smallest = tf.maximum(x, y), tf.minimum(x, y)
        clipped = tf.clip_by_value(x, 1.0, 3.0)
        peak = tf.reduce_max(x)
    np.testing.assert_array_equal(tape.gradient(largest, x).numpy(), [1.0, 1.0, 0.0])  # a tie goes to x
    np.testing.assert_array_equal(tape.gradient(largest, y).numpy(), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(tape.gradient(smallest, x).numpy(), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(tape.gradient(clipped, x).numpy(), [1.0, 1.0, 1.0])  # bounds included
    np.testing.assert_array_equal(tape.gradient(peak, x).numpy(), [0.0, 0.5, 0.5])  # tied maxima share
