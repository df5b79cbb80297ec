"""Core Keras layers: Input/InputLayer, Dense, Activation, Dropout, Flatten, Reshape, Embedding, Masking,
Identity."""
from __future__ import annotations

import numpy as np

from ... import functions as F
from ...autograd.tensor import Tensor
from ...nn.functional import embedding
from ...functions.linalg import affine
from .. import activations, initializers, regularizers
from .._ignored import warn_no_effect
from .base import KerasTensor, Layer, unique_name


def _warn_if_not_float32(where: str, dtype) -> None:
    if dtype is not None and np.dtype(dtype) != np.float32:
        warn_no_effect(where, "dtype", dtype, "fit, evaluate and predict feed the model float32 inputs, and a "
                       "direct call passes its tensors through unchanged", stacklevel=4)


class InputLayer(Layer):
    """Declares the input shape of a model (without the batch dimension): ``InputLayer(input_shape=(784,))``.

    A ``dtype`` other than float32 warns that it has no effect."""

    def __init__(self, input_shape=None, batch_size=None, dtype=None, name=None, shape=None, **kwargs):
        _warn_if_not_float32("InputLayer", dtype)
        shape = shape if shape is not None else input_shape
        if shape is None and "batch_input_shape" not in kwargs:
            raise ValueError("InputLayer: give shape= (or input_shape=), without the batch dimension")
        if shape is not None:
            kwargs["batch_input_shape"] = (batch_size,) + tuple(shape)
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype, **kwargs)
        self.built = True
        self._output_shape = self._batch_input_shape

    def call(self, inputs):
        return inputs

    def check_input(self, inputs) -> None:
        expected = self._batch_input_shape[1:]
        received = tuple(inputs.shape)
        if len(received) != len(expected) + 1 or any(
            e is not None and e != r for e, r in zip(expected, received[1:])
        ):
            raise self.input_error(f"input of shape {(None,) + tuple(expected)}", received)

    def get_config(self):
        return {"name": self.name, "batch_input_shape": list(self._batch_input_shape)}


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None):  # noqa: N802 - Keras name
    """A symbolic model input: ``inputs = keras.Input(shape=(28, 28, 1))``; a ``dtype`` other than float32
    warns that it has no effect."""
    if batch_shape is not None:
        batch_size, shape = batch_shape[0], batch_shape[1:]
    if shape is None:
        raise ValueError("Input: give shape= (without the batch dimension)")
    _warn_if_not_float32("Input", dtype)
    layer = InputLayer(shape=tuple(shape), batch_size=batch_size, name=name)
    tensor = KerasTensor((batch_size,) + tuple(shape), dtype=str(dtype or "float32"), layer=layer,
                         name=layer.name)
    return tensor


class Dense(Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)``; kernel ``(in, units)``.

    Args: units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
    bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None.
    Shape: ``(batch, ..., in)`` → ``(batch, ..., units)``.
    """

    supports_masking = True

    def __init__(self, units: int, activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, received {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise self.input_error("input with at least 2 dims and a known last axis", tuple(input_shape))
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                        regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer)

    def check_input(self, inputs):
        if inputs.ndim < 2 or inputs.shape[-1] != self.kernel.shape[0]:
            raise self.input_error(f"input with last axis {self.kernel.shape[0]}", tuple(inputs.shape))

    def call(self, inputs):
        return self.activation(affine(inputs, self.kernel, self.bias if self.use_bias else None))

    def get_config(self):
        return {
            **super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }

    def extra_repr(self):
        return f"name={self.name!r}, units={self.units}, activation={activations.serialize(self.activation)}"


class Activation(Layer):
    """Applies an activation by name or callable: ``Activation("relu")``."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of inputs during training (scaling the rest by 1/(1-rate))."""

    supports_masking = True

    def __init__(self, rate: float, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), received {rate}")
        if noise_shape is not None:
            raise ValueError("Dropout: noise_shape is not supported; use SpatialDropout2D-style nn.Dropout2d")
        if seed is not None:
            warn_no_effect("Dropout", "seed", seed, "masks come from Ember's generator; seed it with "
                           "keras.utils.set_random_seed")
        self.rate = float(rate)
        self.seed = seed

    def call(self, inputs, training=None):
        return F.dropout(inputs, self.rate, training=bool(training))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Flatten(Layer):
    """Flattens all but the batch dimension: ``(batch, ...)`` → ``(batch, prod(...))``.

    ``data_format="channels_first"`` moves the channel axis last before flattening, as Keras does, so that a
    Dense layer after it sees the features in the same order for either layout of its input."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"Flatten: data_format must be 'channels_last' or 'channels_first', received "
                             f"{data_format!r}")

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.permute(0, *range(2, inputs.ndim), 1)
        return inputs.reshape(inputs.shape[0], -1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes to ``(batch,) + target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)

    def check_input(self, inputs):
        per_sample = int(np.prod(inputs.shape[1:], dtype=np.int64))
        known = int(np.prod([s for s in self.target_shape if s != -1], dtype=np.int64))
        fits = per_sample % known == 0 if -1 in self.target_shape else per_sample == known
        if not fits:
            raise self.input_error(f"input with {known} values per sample to reshape to {self.target_shape}",
                                   tuple(inputs.shape))

    def call(self, inputs):
        return inputs.reshape((inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Embedding(Layer):
    """Turns integer indices into dense vectors: ``(batch, ...)`` → ``(batch, ..., output_dim)``.

    Args: input_dim (vocabulary size), output_dim, embeddings_initializer="uniform" (±0.05),
    embeddings_regularizer=None, mask_zero=False (index 0 is padding: the output's mask is ``inputs != 0``,
    which the recurrent layers after it skip), input_length (accepted for older Keras code: the input shape).
    Weight: ``embeddings`` ``(input_dim, output_dim)``. Float inputs (as ``fit`` feeds them) are truncated to
    integers.
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 embeddings_regularizer=None, mask_zero: bool = False, input_length=None, **kwargs):
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"Embedding: {name} must be a positive integer, received {value!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)

    def build(self, input_shape):
        self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
                        regularizer=self.embeddings_regularizer)

    def call(self, inputs):
        indices = inputs if isinstance(inputs, Tensor) else F.tensor(np.asarray(inputs))
        if indices.dtype.kind not in "iu":
            indices = indices.long()
        return embedding(indices, self.embeddings)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(_host_array(inputs)) != 0

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "mask_zero": self.mask_zero}


class Masking(Layer):
    """Masks the time steps whose features all equal ``mask_value``: the output is the input with those
    steps set to zero, and its mask (``any(inputs != mask_value, axis=-1)``) makes the recurrent layers after
    it skip them."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def _keep(self, inputs):
        return (inputs != self.mask_value).any(dim=-1, keepdim=True)

    def call(self, inputs):
        return inputs * self._keep(inputs).to(inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return np.asarray(_host_array(self._keep(inputs)))[..., 0]

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


def _host_array(value):
    array = value.array if isinstance(value, Tensor) else value
    array = getattr(array, "_array", array)
    return array.get() if hasattr(array, "get") else array


class Identity(Layer):
    """Returns its input unchanged (any shape; a list of inputs passes through as it is) and keeps its mask."""

    supports_masking = True

    def forward(self, inputs, *args, training=None, **kwargs):
        if args or kwargs:
            raise TypeError(f"Identity '{self.name}': expected only the inputs, received extra arguments "
                            f"{len(args)} positional, {sorted(kwargs)}")
        self.built = True
        return inputs
