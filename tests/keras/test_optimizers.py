"""Keras optimizers: Keras's clipping and decoupled weight decay around the ember.optim update, and the
arguments that only warn."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from ember import keras, nn


def _stepped(optimizer, start, gradients, steps=1):
    """Weights after ``steps`` updates of one parameter starting at ``start`` with each of ``gradients``."""
    parameters = [nn.Parameter(ember.tensor(np.asarray(value, np.float32))) for value in start]
    optimizer.build(parameters)
    for _ in range(steps):
        for parameter, gradient in zip(parameters, gradients):
            parameter.grad = ember.tensor(np.asarray(gradient, np.float32))
        optimizer.step()
    return [parameter.numpy().copy() for parameter in parameters]


def test_weight_decay_is_decoupled_as_in_keras():
    w0, g = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    lr, wd, momentum = 0.1, 0.2, 0.9
    (w,) = _stepped(keras.optimizers.SGD(lr, momentum=momentum, weight_decay=wd), [w0], [g], steps=2)
    w1 = w0 * (1 - wd * lr) - lr * g  # decay, then the (first) momentum step
    w2 = w1 * (1 - wd * lr) - lr * (momentum * g + g)
    np.testing.assert_allclose(w, w2, rtol=1e-6)
    (decayed,) = _stepped(keras.optimizers.RMSprop(lr, weight_decay=wd), [w0], [g])
    (undecayed,) = _stepped(keras.optimizers.RMSprop(lr), [w0 * (1 - wd * lr)], [g])
    np.testing.assert_allclose(decayed, undecayed, rtol=1e-6)
    adamw = _stepped(keras.optimizers.AdamW(lr, weight_decay=wd), [w0], [g], steps=3)
    adam = _stepped(keras.optimizers.Adam(lr, weight_decay=wd), [w0], [g], steps=3)
    np.testing.assert_allclose(adamw[0], adam[0], rtol=1e-7)
    reference = nn.Parameter(ember.tensor(w0.astype(np.float32)))
    torch_style = ember.optim.AdamW([reference], lr=lr, weight_decay=wd, eps=1e-7)
    for _ in range(3):
        reference.grad = ember.tensor(g.astype(np.float32))
        torch_style.step()
    # the same decoupled decay; the updates differ only by where epsilon sits (test_adam_epsilon.py), ~1e-6 here
    np.testing.assert_allclose(adamw[0], reference.numpy(), rtol=1e-5)


def test_clipping_follows_keras():
    start = [np.zeros(2), np.zeros(3)]
    gradients = [np.array([3.0, 4.0]), np.array([0.0, 0.1, 0.0])]
    per_gradient = _stepped(keras.optimizers.SGD(1.0, clipnorm=1.0), start, gradients)
    np.testing.assert_allclose(per_gradient[0], [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_allclose(per_gradient[1], [0.0, -0.1, 0.0], rtol=1e-6)  # already within the norm
    gradients = [np.array([3.0, 4.0]), np.array([0.0, 12.0, 0.0])]
    joint = _stepped(keras.optimizers.SGD(1.0, global_clipnorm=1.0), start, gradients)
    np.testing.assert_allclose(np.concatenate(joint), -np.array([3.0, 4.0, 0.0, 12.0, 0.0]) / 13, rtol=1e-6)
    by_value = _stepped(keras.optimizers.SGD(1.0, clipvalue=0.5), [np.zeros(3)], [np.array([3.0, -4.0, 0.2])])
    np.testing.assert_allclose(by_value[0], [-0.5, 0.5, -0.2], rtol=1e-6)
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        keras.optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm must be a non-negative number"):
        keras.optimizers.Adam(clipnorm=-1.0)


def test_clipping_and_decay_survive_save_and_load(tmp_path):
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.5, clipnorm=2.0, weight_decay=0.01), "mse")
    model.save(tmp_path / "m.keras")
    optimizer = keras.models.load_model(tmp_path / "m.keras").optimizer
    assert (optimizer.clipnorm, optimizer.weight_decay, optimizer.momentum) == (2.0, 0.01, 0.5)
    assert optimizer.get_config() == model.optimizer.get_config()


def test_old_and_unknown_arguments():
    with pytest.warns(UserWarning, match="`lr` argument is deprecated"):
        optimizer = keras.optimizers.SGD(lr=0.25)
    assert optimizer.learning_rate == 0.25
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        keras.optimizers.Adam(decay=1e-4)
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['beta1'\]"):
        keras.optimizers.Adam(beta1=0.8)


@pytest.mark.parametrize("argument, value", [("loss_scale_factor", 128.0), ("gradient_accumulation_steps", 4)])
def test_arguments_without_effect_warn(argument, value):
    with pytest.warns(UserWarning, match=rf"RMSprop: {argument}={value} has no effect in Ember"):
        keras.optimizers.RMSprop(**{argument: value})


def test_defaults_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for optimizer_class in (keras.optimizers.SGD, keras.optimizers.Adam, keras.optimizers.AdamW,
                                keras.optimizers.RMSprop):
            optimizer_class()
            optimizer_class(use_ema=False, ema_momentum=0.99, loss_scale_factor=None,
                            gradient_accumulation_steps=None, weight_decay=None, clipnorm=None)


def test_exclude_from_weight_decay_by_variable_and_by_name():
    parameters = [nn.Parameter(ember.ones(2)) for _ in range(4)]
    optimizer = keras.optimizers.AdamW(0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_list=[parameters[3]], var_names=["bias", "gam+a"])
    # Keras matches the variable's own name: the last part of its path, not the layers' names
    optimizer.build(parameters, names=["dense.kernel", "dense.bias", "bias_layer.kernel", "norm.kernel"])
    for parameter in parameters:
        parameter.grad = ember.zeros(2)  # Adam moves nothing: only the decay acts
    optimizer.step()
    np.testing.assert_allclose([p.numpy()[0] for p in parameters], [0.95, 1.0, 0.95, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="AdamW: exclude_from_weight_decay.. can only be configured before"):
        optimizer.exclude_from_weight_decay(var_names=["kernel"])
    with pytest.raises(ValueError, match="received 4 parameters and 1 names"):
        keras.optimizers.AdamW().build(parameters, names=["kernel"])


class _DenseThenNorm(keras.Model):
    """A subclassed model whose layers sit in a list and build on the first call."""

    def __init__(self):
        super().__init__()
        self.stack = [keras.layers.Dense(3), keras.layers.LayerNormalization()]

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def test_fit_excludes_weights_by_name_in_a_lazily_built_subclassed_model():
    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    trained = []
    for weight_decay in (0.5, None):
        keras.utils.set_random_seed(7)
        model = _DenseThenNorm()
        optimizer = keras.optimizers.SGD(0.1, weight_decay=weight_decay)
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta"])
        model.compile(optimizer, "mse")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        trained.append({name: p.numpy().copy() for name, p in model.named_parameters()})
    decayed, plain = trained
    assert sorted(decayed) == ["stack.0.bias", "stack.0.kernel", "stack.1.beta", "stack.1.gamma"]
    for name in ("stack.1.gamma", "stack.1.beta"):
        np.testing.assert_array_equal(decayed[name], plain[name])
    assert not np.allclose(decayed["stack.0.kernel"], plain["stack.0.kernel"])
