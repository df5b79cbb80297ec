"""ember.tensorflow and keras.layers.TextVectorization against real TensorFlow 2.21's numbers, recorded by
``fixtures/make_tf_fixtures.py`` (the same expressions, values and tape gradients)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ember.tensorflow as tf
from ember.keras import layers

REF = np.load(Path(__file__).parent / "fixtures" / "tf_reference.npz")
x, y, logits, labels = REF["x"], REF["y"], REF["logits"], REF["labels"]
sparse_labels, corpus, queries = REF["sparse_labels"], list(REF["corpus"]), list(REF["queries"])

OPS = {
    "reduce_mean_axis0": (lambda a: tf.reduce_mean(a, axis=0), [x]),
    "reduce_sum_keepdims": (lambda a: tf.reduce_sum(a * a, axis=1, keepdims=True), [x]),
    "reduce_max": (lambda a: tf.reduce_max(a, axis=1), [x]),
    "matmul_transpose_b": (lambda a, b: tf.matmul(a, b, transpose_b=True), [x, y]),
    "maximum_ties": (lambda a, b: tf.maximum(a, b), [x, y]),
    "minimum_ties": (lambda a, b: tf.minimum(a, b), [x, y]),
    "clip_by_value_ties": (lambda a: tf.clip_by_value(a, -0.3, 0.5), [x]),
    "sigmoid_ce": (lambda z, t: tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=z), [logits, labels]),
    "softmax_ce": (lambda z, t: tf.nn.softmax_cross_entropy_with_logits(labels=t / tf.reduce_sum(t, 1, True),
                                                                         logits=z), [logits, labels]),
    "softmax": (lambda z: tf.nn.softmax(z), [logits]),
    "sqrt_exp_log": (lambda a: tf.sqrt(tf.exp(a)) + tf.math.log(tf.abs(a) + 1.0), [x]),
    "sigmoid_tanh": (lambda a: tf.sigmoid(a) * tf.tanh(a), [x]),
}
NOGRAD = {
    "sparse_ce": lambda: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=sparse_labels, logits=logits),
    "one_hot": lambda: tf.one_hot(np.array([0, 2, -1, 3]), depth=3, on_value=5.0, off_value=-1.0),
    "argmax_default_axis": lambda: tf.argmax(x),
    "int_division": lambda: tf.constant([7, -7, 9], dtype=tf.int32) / tf.constant([2, 2, 4], dtype=tf.int32),
    "floordiv": lambda: tf.constant([7, -7, 9]) // tf.constant([2, 2, 4]),
    "reduce_mean_int": lambda: tf.reduce_mean(tf.constant([1, 2, 4])),
    "cast_round_trip": lambda: tf.cast(tf.cast(tf.constant([-1.7, 0.5, 2.9]), tf.int32), tf.float32),
}
TEXT = {
    "default": dict(),
    "max_tokens": dict(max_tokens=6),
    "sequence_length": dict(output_sequence_length=4),
    "character": dict(split="character", standardize="lower"),
    "multi_hot": dict(output_mode="multi_hot"),
    "count": dict(output_mode="count"),
    "tf_idf": dict(output_mode="tf_idf"),
    "bigrams": dict(ngrams=2, output_mode="count"),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_value_and_tape_gradient_match_tensorflow(name):
    function, inputs = OPS[name]
    variables = [tf.Variable(value) for value in inputs]
    with tf.GradientTape() as tape:
        value = function(*variables)
        total = tf.reduce_sum(value)
    np.testing.assert_allclose(value.numpy(), REF[f"op/{name}/value"], rtol=1e-5, atol=1e-6)
    for k, grad in enumerate(tape.gradient(total, variables)):
        np.testing.assert_allclose(grad.numpy(), REF[f"op/{name}/grad/{k}"], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: gradient of input {k}")


@pytest.mark.parametrize("name", sorted(NOGRAD))
def test_op_value_and_dtype_match_tensorflow(name):
    value = NOGRAD[name]()
    np.testing.assert_allclose(value.numpy(), REF[f"op/{name}/value"], rtol=1e-5, atol=1e-6)
    assert value.dtype.name == str(REF[f"op/{name}/dtype"])


@pytest.mark.parametrize("name", sorted(TEXT))
def test_text_vectorization_matches_keras_on_tensorflow(name):
    layer = layers.TextVectorization(**TEXT[name])
    layer.adapt(corpus)
    assert layer.get_vocabulary() == list(REF[f"text/{name}/vocabulary"])
    np.testing.assert_allclose(np.asarray(layer(queries)), REF[f"text/{name}/output"], rtol=1e-6)
