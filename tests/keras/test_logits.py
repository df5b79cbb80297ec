"""Cross-entropies on probabilities read the logits behind Ember's softmax/sigmoid (design rule 8).

Saturated logits (±200) make ``softmax`` hold exact zeros in float32: a loss computed from those
probabilities is clipped at ``-log(1e-7)``; computed from the logits it is exact. Whoever produced the
output (a Dense activation, an Activation layer, a custom layer, ``nn.Softmax``) and whoever calls the loss
(``fit``, ``evaluate``, the user), the numbers are those of ``from_logits=True`` on the logits.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import ember
from ember import keras, nn

# Row 0: class 1 has logit -200 against +200 (loss 400); row 1: ordinary logits.
INPUTS = np.array([[1.0, 0.0], [0.25, -0.5]], dtype=np.float32)
KERNEL = np.array([[200.0, -200.0], [1.0, 2.0]], dtype=np.float32)
LABELS = np.array([1, 0])
CLIPPED = -math.log(1e-7)  # what a loss on probabilities gives for a probability of exactly 0


def _logits() -> np.ndarray:
    return INPUTS @ KERNEL


def _softmax_model(final="dense"):
    """Two inputs → two classes with the fixed KERNEL; the softmax is spelled in several ways."""
    if final == "dense":
        layers = [keras.layers.Dense(2, activation="softmax", use_bias=False)]
    elif final == "activation":
        layers = [keras.layers.Dense(2, use_bias=False), keras.layers.Activation("softmax")]
    else:  # an nn module after the Keras layer
        layers = [keras.layers.Dense(2, use_bias=False), nn.Softmax(dim=-1)]
    model = keras.Sequential([keras.Input(shape=(2,))] + layers)
    model.layers[0].set_weights([KERNEL])
    return model


def _reference(labels_kind="sparse"):
    """Per-batch loss and kernel gradient of the from_logits=True loss on the logits themselves."""
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(2, use_bias=False)])
    model.layers[0].set_weights([KERNEL])
    loss_fn = {"sparse": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
               "categorical": keras.losses.CategoricalCrossentropy(from_logits=True)}[labels_kind]
    loss = loss_fn(_labels(labels_kind), model(ember.tensor(INPUTS)))
    loss.backward()
    return loss.item(), model.layers[0].kernel.grad.numpy().copy()


def _labels(kind):
    return ember.tensor(LABELS) if kind == "sparse" else ember.tensor(np.eye(2, dtype=np.float32)[LABELS])


def _expected_loss() -> float:
    logits = _logits().astype(np.float64)
    log_probabilities = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
        - logits.max(1, keepdims=True)
    return float(-log_probabilities[np.arange(2), LABELS].mean())


LOSSES = [
    pytest.param("sparse_categorical_crossentropy", "sparse", id="sparse-string"),
    pytest.param("categorical_crossentropy", "categorical", id="categorical-string"),
    pytest.param(keras.losses.SparseCategoricalCrossentropy(), "sparse", id="sparse-object"),
    pytest.param(keras.losses.CategoricalCrossentropy(), "categorical", id="categorical-object"),
    pytest.param(keras.losses.SparseCategoricalCrossentropy, "sparse", id="sparse-class"),
    pytest.param(keras.losses.sparse_categorical_crossentropy, "sparse", id="sparse-function"),
    pytest.param(keras.losses.categorical_crossentropy, "categorical", id="categorical-function"),
]


@pytest.mark.parametrize("final", ["dense", "activation", "nn_softmax"])
@pytest.mark.parametrize("loss, kind", LOSSES)
def test_saturated_softmax_output_gives_the_loss_and_gradient_of_its_logits(final, loss, kind):
    expected_loss, expected_grad = _reference(kind)
    assert expected_loss == pytest.approx(_expected_loss(), rel=1e-6) and expected_loss > 150
    model = _softmax_model(final)
    probabilities = model(ember.tensor(INPUTS))
    assert probabilities.numpy()[0, 1] == 0.0  # exp(-400) underflows: the probabilities alone cannot say 200
    loss_fn = keras.losses.get(loss)
    value = loss_fn(_labels(kind), probabilities)
    assert np.isfinite(value.item()) and value.item() == pytest.approx(expected_loss, rel=1e-6)
    value.backward()
    np.testing.assert_allclose(model.layers[0].kernel.grad.numpy(), expected_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy()])
def test_fit_evaluate_and_train_on_batch_use_the_logits(loss):
    expected_loss, expected_grad = _reference("sparse")
    model = _softmax_model()
    model.compile(keras.optimizers.SGD(learning_rate=1.0), loss)
    assert model.evaluate(INPUTS, LABELS, verbose=0) == pytest.approx(expected_loss, rel=1e-6)
    assert model.test_on_batch(INPUTS, LABELS) == pytest.approx(expected_loss, rel=1e-6)
    assert model.train_on_batch(INPUTS, LABELS) == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(model.layers[0].get_weights()[0], KERNEL - expected_grad, rtol=1e-6, atol=1e-5)


def test_custom_layer_ending_in_keras_softmax_benefits_too():
    class Classifier(keras.layers.Layer):
        def build(self, input_shape):
            self.add_weight("kernel", (input_shape[-1], 2))

        def call(self, inputs):
            return keras.activations.softmax(inputs @ self.kernel)

    expected_loss, expected_grad = _reference("sparse")
    layer = Classifier()
    model = keras.Sequential([keras.Input(shape=(2,)), layer])
    layer.set_weights([KERNEL])
    loss = keras.losses.SparseCategoricalCrossentropy()(ember.tensor(LABELS), model(ember.tensor(INPUTS)))
    assert loss.item() == pytest.approx(expected_loss, rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(layer.kernel.grad.numpy(), expected_grad, rtol=1e-6, atol=1e-7)
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert model.evaluate(INPUTS, LABELS, verbose=0) == pytest.approx(expected_loss, rel=1e-6)


def test_a_softmax_computed_by_hand_falls_back_to_clipped_probabilities():
    class HandSoftmax(keras.layers.Layer):
        def call(self, inputs):
            exponentials = (inputs - inputs.amax(-1, keepdim=True)).exp()
            return exponentials / exponentials.sum(-1, keepdim=True)

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(2, use_bias=False), HandSoftmax()])
    model.layers[0].set_weights([KERNEL])
    probabilities = model(ember.tensor(INPUTS)).detach().numpy()
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    expected = float(-np.log(clipped[np.arange(2), LABELS]).mean())
    assert expected == pytest.approx((CLIPPED + -math.log(probabilities[1, 0])) / 2, rel=1e-5)
    loss = keras.losses.sparse_categorical_crossentropy(ember.tensor(LABELS), model(ember.tensor(INPUTS)))
    assert loss.mean().item() == pytest.approx(expected, rel=1e-5)
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert model.evaluate(INPUTS, LABELS, verbose=0) == pytest.approx(expected, rel=1e-5)
    # the same for a softmax that is not the tensor the loss receives
    model = _softmax_model()
    sliced = model(ember.tensor(INPUTS))[:, :]
    loss = keras.losses.SparseCategoricalCrossentropy()(ember.tensor(LABELS), sliced)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("final", ["dense", "activation", "nn_softmax"])
def test_under_no_grad_the_loss_still_reads_the_logits(final):
    expected_loss, _ = _reference("sparse")
    model = _softmax_model(final)
    model.eval()
    with ember.no_grad():
        probabilities = model(ember.tensor(INPUTS))
        loss = keras.losses.SparseCategoricalCrossentropy()(ember.tensor(LABELS), probabilities)
        categorical = keras.losses.categorical_crossentropy(_labels("categorical"), probabilities)
    assert probabilities.creator is None
    assert loss.item() == pytest.approx(expected_loss, rel=1e-6)
    assert categorical.mean().item() == pytest.approx(expected_loss, rel=1e-6)
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert model.evaluate(INPUTS, LABELS, verbose=0) == pytest.approx(expected_loss, rel=1e-6)


def test_sigmoid_output_and_binary_crossentropy_read_the_logits():
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1, activation="sigmoid", use_bias=False)])
    model.layers[0].set_weights([np.array([[-300.0], [1.0]], dtype=np.float32)])
    targets = np.array([[1.0], [0.0]], dtype=np.float32)
    logits = INPUTS @ np.array([[-300.0], [1.0]], dtype=np.float64)
    expected = float(np.mean(np.logaddexp(0, logits) - targets * logits))  # -log σ(z) or -log(1-σ(z))
    assert expected > 100
    for loss_fn in (keras.losses.BinaryCrossentropy(), keras.losses.get("binary_crossentropy")):
        probabilities = model(ember.tensor(INPUTS))
        assert probabilities.numpy()[0, 0] == 0.0
        assert loss_fn(ember.tensor(targets), probabilities).item() == pytest.approx(expected, rel=1e-6)
    model.compile("sgd", "binary_crossentropy")
    assert model.evaluate(INPUTS, targets, verbose=0) == pytest.approx(expected, rel=1e-6)
    # a sigmoid output is not the softmax a categorical loss looks for, nor the reverse: both clip
    probabilities = model(ember.tensor(INPUTS))
    clipped = keras.losses.sparse_categorical_crossentropy(ember.tensor(np.array([0, 0])), probabilities)
    assert clipped.numpy()[0] == pytest.approx(CLIPPED, rel=1e-5)
    softmax_output = _softmax_model()(ember.tensor(INPUTS))
    clipped = keras.losses.binary_crossentropy(ember.tensor(np.eye(2, dtype=np.float32)[LABELS]), softmax_output)
    assert clipped.numpy()[0] == pytest.approx(CLIPPED, rel=0.01)  # 1 - (1 - 1e-7) is 1.19e-7 in float32


def test_a_softmax_over_another_axis_is_not_taken_for_the_loss_axis():
    logits = ember.tensor(np.array([[200.0, -200.0], [0.0, 0.0]], dtype=np.float32))
    over_columns = ember.softmax(logits, dim=0)  # [[1, 0], [0, 1]] in float32
    targets = ember.tensor(np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32))
    rows = keras.losses.categorical_crossentropy(targets, over_columns, axis=-1)
    np.testing.assert_allclose(rows.numpy(), [CLIPPED, CLIPPED], rtol=1e-5)  # probabilities, clipped
    columns = keras.losses.categorical_crossentropy(targets, over_columns, axis=0)
    reference = keras.losses.categorical_crossentropy(targets, logits, from_logits=True, axis=0)
    np.testing.assert_allclose(columns.numpy(), reference.numpy(), rtol=1e-6)
    assert reference.numpy()[1] > 150


def test_from_logits_true_on_a_softmax_output_warns_and_uses_its_logits():
    expected_loss, _ = _reference("sparse")
    probabilities = _softmax_model()(ember.tensor(INPUTS))
    with pytest.warns(UserWarning, match="from_logits=True, but y_pred is the output of a softmax"):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(ember.tensor(LABELS), probabilities)
    assert loss.item() == pytest.approx(expected_loss, rel=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)(ember.tensor(LABELS), ember.tensor(_logits()))
        keras.losses.SparseCategoricalCrossentropy()(ember.tensor(LABELS), probabilities)
