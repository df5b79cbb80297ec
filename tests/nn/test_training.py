"""Modules end to end: gradient checks through layer stacks, and a small MLP trained by hand with SGD."""
from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.autograd import gradcheck


def test_gradcheck_mlp_wrt_input():
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    assert gradcheck(model, (x,))


def test_gradcheck_conv_batchnorm_relu_wrt_weights():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU()).double()
    with ember.no_grad():
        model[1].weight.array[...] = [1.0, 0.5, 2.0]
        model[1].bias.array[...] = [0.1, -0.2, 0.3]
    x = ember.randn(2, 2, 4, 4, dtype=ember.float64)
    parameters = list(model.parameters())
    assert [p.shape for p in parameters] == [(3, 2, 3, 3), (3,), (3,), (3,)]
    assert gradcheck(lambda *params: model(x), parameters)


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
def test_gradcheck_conv_padding_modes_wrt_input(padding_mode):
    layer = nn.Conv2d(2, 2, 3, padding=(1, 2), padding_mode=padding_mode).double()
    x = ember.randn(1, 2, 4, 5, dtype=ember.float64, requires_grad=True)
    assert gradcheck(layer, (x,))


def test_gradcheck_layer_norm_and_embedding_model():
    embedding = nn.Embedding(6, 4).double()
    norm = nn.LayerNorm(4).double()
    indices = ember.tensor([[0, 3, 3], [5, 1, 0]])

    def forward(weight, gamma, beta):
        return norm(embedding(indices))

    assert gradcheck(forward, (embedding.weight, norm.weight, norm.bias))


def make_blobs(rng, samples_per_class=100):
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], dtype=np.float32)
    features = np.concatenate([c + 0.5 * rng.standard_normal((samples_per_class, 2)).astype(np.float32)
                               for c in centers])
    labels = np.repeat(np.arange(3, dtype=np.int64), samples_per_class)
    return ember.tensor(features), ember.tensor(labels)


def test_mlp_trained_by_hand_with_sgd_separates_blobs(rng):
    features, labels = make_blobs(rng)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    loss_fn = nn.CrossEntropyLoss()
    learning_rate = 0.1
    first_loss = None
    for _ in range(200):
        loss = loss_fn(model(features), labels)
        first_loss = loss.item() if first_loss is None else first_loss
        model.zero_grad()
        loss.backward()
        with ember.no_grad():
            for parameter in model.parameters():
                parameter.array -= learning_rate * parameter.grad.array
    model.eval()
    with ember.no_grad():
        predictions = model(features).array.argmax(axis=1)
    accuracy = (predictions == labels.array).mean()
    assert accuracy > 0.95
    assert loss.item() < 0.5 * first_loss
    assert all(p.dtype == np.float32 for p in model.parameters())
