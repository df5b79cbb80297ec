"""Tensors, dtypes, shapes, printing, operators and Variables as a TensorFlow 2 user meets them."""
from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.tensorflow as tf


def test_constant_dtypes_follow_tensorflow():
    assert tf.constant(1.5).dtype == tf.float32
    assert tf.constant(3).dtype == tf.int32
    assert tf.constant([[1, 2], [3, 4]]).dtype == tf.int32
    assert tf.constant(2**40).dtype == tf.int64
    assert tf.constant(True).dtype == tf.bool
    assert tf.constant(np.zeros(2)).dtype == tf.float64  # NumPy arrays keep their dtype
    assert tf.constant(b"abc").dtype == tf.string
    assert tf.constant([1, 2], dtype=tf.float32).dtype == tf.float32
    assert tf.constant(0.0, shape=(2, 3)).numpy().shape == (2, 3)
    np.testing.assert_array_equal(tf.constant([1, 2, 3, 4], shape=[2, 2]).numpy(), [[1, 2], [3, 4]])
    with pytest.raises(TypeError, match=r"Cannot convert 1\.5 to EagerTensor of dtype int32"):
        tf.constant(1.5, dtype=tf.int32)


def test_dtype_objects():
    assert tf.float32.name == "float32" and tf.float32.as_numpy_dtype is np.float32
    assert tf.float32 == np.float32 and tf.float32 != tf.float64 and tf.as_dtype("int64") is tf.int64
    assert repr(tf.float64) == "tf.float64" and tf.dtypes.float32 is tf.float32
    assert tf.int32.is_integer and tf.float16.is_floating and tf.bool.is_bool
    np.testing.assert_array_equal(np.zeros(2, tf.float32), np.zeros(2, np.float32))  # NumPy takes a DType
    assert tf.uint8.max == 255


def test_tensor_shape():
    x = tf.zeros((2, 3, 4))
    assert x.shape == (2, 3, 4) and x.shape == [2, 3, 4] and x.shape.as_list() == [2, 3, 4]
    assert x.shape[0] == 2 and isinstance(x.shape[0], int) and x.shape[1:] == (3, 4)
    assert x.shape.rank == 3 and x.shape.num_elements() == 24 and len(x.shape) == 3
    assert repr(x.shape) == "TensorShape([2, 3, 4])" and str(x.shape) == "(2, 3, 4)"
    assert x.ndim == 3 and x.get_shape() == (2, 3, 4)


def test_printing_as_tensorflow():
    assert str(tf.constant(3.0)) == "tf.Tensor(3.0, shape=(), dtype=float32)"
    assert repr(tf.constant(3.0)) == "<tf.Tensor: shape=(), dtype=float32, numpy=3.0>"
    assert str(tf.constant([1, 2])) == "tf.Tensor([1 2], shape=(2,), dtype=int32)"
    assert str(tf.constant([[1.0, 2.0], [3.0, 4.0]])) == "tf.Tensor(\n[[1. 2.]\n [3. 4.]], shape=(2, 2), dtype=float32)"
    assert repr(tf.constant([1.0])) == "<tf.Tensor: shape=(1,), dtype=float32, numpy=array([1.], dtype=float32)>"
    assert repr(tf.Variable([1.0, 2.0])) == ("<tf.Variable 'Variable:0' shape=(2,) dtype=float32, "
                                             "numpy=array([1., 2.], dtype=float32)>")
    assert f"{tf.constant(0.123456):.3f}" == "0.123" and f"{tf.Variable(2.5):.1f}" == "2.5"


def test_numpy_and_conversion():
    x = tf.constant([[1.0, 2.0]])
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float32
    assert isinstance(tf.constant(2.0).numpy(), np.float32)
    np.testing.assert_array_equal(np.asarray(x), [[1.0, 2.0]])
    assert tf.convert_to_tensor(x) is x and isinstance(x, ember.Tensor)
    assert tf.convert_to_tensor([1.0, 2.0]).dtype == tf.float32
    with pytest.raises(ValueError, match="requested dtype float64 for Tensor with dtype float32"):
        tf.convert_to_tensor(x, dtype=tf.float64)
    assert float(tf.constant(2.5)) == 2.5 and int(tf.constant(3)) == 3
    assert tf.is_tensor(x) and not tf.is_tensor(np.ones(2))
    with pytest.raises(TypeError, match="does not support item assignment"):
        x[0] = 1.0


def test_operators_and_their_dtypes():
    x = tf.constant([1.0, 2.0])
    np.testing.assert_allclose((x + 1).numpy(), [2.0, 3.0])
    np.testing.assert_allclose((2 * x - 1).numpy(), [1.0, 3.0])
    np.testing.assert_allclose((1 / x).numpy(), [1.0, 0.5])
    np.testing.assert_allclose((x ** 2).numpy(), [1.0, 4.0])
    np.testing.assert_allclose((-x).numpy(), [-1.0, -2.0])
    assert (x + 1).dtype == tf.float32 and (x + np.float64(1.0)).dtype == tf.float32
    assert (x + np.array([1.0, 1.0])).dtype == tf.float32  # a NumPy array takes the tensor's dtype
    np.testing.assert_array_equal((x < 1.5).numpy(), [True, False])
    np.testing.assert_array_equal((x == 2.0).numpy(), [False, True])
    assert (x == None) is False  # noqa: E711 - TensorFlow compares to None without raising
    m = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose((m @ m).numpy(), np.array([[7.0, 10.0], [15.0, 22.0]]))
    assert isinstance(m[0], tf.Tensor) and m[0, 1].numpy() == 2.0 and m[:, tf.newaxis].shape == (2, 1, 2)


def test_integer_division_and_modulo_follow_tensorflow():
    a, b = tf.constant([7, -7]), tf.constant([2, 2])
    quotient = a / b  # int32 / int32 -> float64, as TensorFlow's truediv
    assert quotient.dtype == tf.float64
    np.testing.assert_array_equal(quotient.numpy(), [3.5, -3.5])
    assert (tf.constant([1], tf.uint8) / tf.constant([2], tf.uint8)).dtype == tf.float32
    np.testing.assert_array_equal((a // b).numpy(), [3, -4])
    np.testing.assert_array_equal((a % b).numpy(), [1, 1])
    assert (a // b).dtype == tf.int32


def test_mixed_dtypes_refused_as_tensorflow():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected to be a float tensor|float32 tensor but is a "
                                                             r"float64 tensor \[Op:AddV2\]"):
        tf.constant(1.0) + tf.constant(1.0, tf.float64)
    with pytest.raises(tf.errors.InvalidArgumentError, match="MatMul"):
        tf.matmul(tf.ones((2, 2)), tf.ones((2, 2), tf.float64))
    with pytest.raises(TypeError, match=r"Cannot convert 1\.5 to EagerTensor of dtype int32"):
        tf.constant(1) + 1.5
    with pytest.raises(tf.errors.InvalidArgumentError, match="Sqrt"):
        tf.sqrt(tf.constant(4))
    with pytest.raises(tf.errors.InvalidArgumentError, match="ndims must be >= 2"):
        tf.constant([1.0, 2.0]) @ tf.constant([1.0, 2.0])


def test_broadcasting_as_numpy():
    a = tf.ones((3, 1))
    b = tf.constant([1.0, 2.0, 3.0, 4.0])
    assert (a + b).shape == (3, 4)
    with pytest.raises(ValueError):
        tf.ones((3, 2)) + tf.ones((4,))


def test_variable_assign_and_read():
    v = tf.Variable([1.0, 2.0], name="weights")
    assert v.name == "weights:0" and v.trainable and v.dtype == tf.float32 and v.shape == (2,)
    before = v.read_value()
    assert v.assign_sub([0.5, 0.5]) is v
    np.testing.assert_allclose(v.numpy(), [0.5, 1.5])
    np.testing.assert_allclose(before.numpy(), [1.0, 2.0])  # read earlier: unchanged
    v.assign_add(tf.constant([1.0, 1.0]))
    v.assign([0.0, 0.0])
    np.testing.assert_allclose(v.numpy(), [0.0, 0.0])
    np.testing.assert_allclose((v + 1).numpy(), [1.0, 1.0])
    np.testing.assert_allclose((2 * v + tf.constant([1.0, 3.0])).numpy(), [1.0, 3.0])
    assert tf.Variable(3, trainable=False).dtype == tf.int32
    assert not tf.Variable(1.0, trainable=False).trainable
    with pytest.raises(ValueError, match=r"Shape mismatch. The variable shape \(2,\), and the assigned value shape "
                                         r"\(3,\) are incompatible"):
        v.assign([1.0, 2.0, 3.0])
    np.testing.assert_allclose(tf.Variable(lambda: tf.ones(2)).numpy(), [1.0, 1.0])


def test_executing_eagerly_version_function_and_config():
    assert tf.executing_eagerly() is True
    assert tf.__version__.startswith("2.")

    @tf.function
    def double(x):
        return 2 * x

    @tf.function(jit_compile=True)
    def triple(x):
        return 3 * x

    assert double(tf.constant(2.0)).numpy() == 4.0 and triple(tf.constant(2.0)).numpy() == 6.0
    devices = tf.config.list_physical_devices()
    assert devices[0].device_type == "CPU"
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.experimental.set_memory_growth(devices[0], True)  # accepted, no effect
    assert tf.keras is ember.keras and tf.optimizers is ember.keras.optimizers


def test_the_pytorch_dialect_is_unchanged_beside_it():
    a, b = ember.tensor([1.0]), ember.tensor([1.0], dtype=ember.float64)
    assert (a + b).dtype == np.float64 and type(a + b) is ember.Tensor  # PyTorch promotes; TensorFlow refuses
    assert repr(ember.tensor([1.0])) == "tensor([1.])"
    mixed = ember.tensor([1.0]) + tf.constant([2.0])  # a TensorFlow operand: TensorFlow's operator runs
    assert isinstance(mixed, tf.Tensor) and mixed.numpy()[0] == 3.0
