"""Keras convolution and pooling layers, channels_last by default (``(batch, height, width, channels)``, and
``(batch, steps, channels)`` for the 1-d ones).

They call the same ``conv2d``/``max_pool2d``/``avg_pool2d`` functions as ``ember.nn`` (which work in NCHW),
moving the channel axis with views. ``padding="same"`` pads as TensorFlow does: the output is
``ceil(size / stride)`` and an odd total padding puts the extra row/column at the bottom/right.
"""
from __future__ import annotations

import math

import numpy as np

from ... import functions as F
from ...functions.conv import conv_transpose2d_cropped
from ...functions.upsampling import Resample
from .. import activations, initializers, regularizers
from .base import Layer


def _pair(value, name: str, layer: str) -> tuple:
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
        raise ValueError(f"{layer}: {name} must be an int or a pair of positive ints, received {value!r}")
    return value


def _check_padding(padding: str, layer: str) -> str:
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', received {padding!r}")
    return padding


def _check_data_format(data_format, layer: str) -> str:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{layer}: data_format must be 'channels_last' or 'channels_first', received {data_format!r}")
    return data_format


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding for one axis: (before, after)."""
    output = math.ceil(size / stride)
    total = max((output - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _filters(filters, layer: str) -> int:
    if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
        raise ValueError(f"{layer}: filters must be a positive integer, received {filters!r}")
    return filters


class _KernelOptions:
    """What Conv1D and Conv2D share: the activation, bias, initializer and regularizer options, and the
    input's channel count by ``data_format``."""

    data_format: str

    def _set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                            bias_regularizer) -> None:
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def _channels(self, shape):
        return shape[-1] if self.data_format == "channels_last" else shape[1]


class _SpatialLayer(Layer):
    """Shared plumbing: channel axis moves and input checks for 4-d image layers."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _check_data_format(data_format, type(self).__name__)

    def to_nchw(self, inputs):
        return inputs.permute(0, 3, 1, 2) if self.data_format == "channels_last" else inputs

    def from_nchw(self, outputs):
        return outputs.permute(0, 2, 3, 1) if self.data_format == "channels_last" else outputs

    def check_input(self, inputs):
        if inputs.ndim != 4:
            layout = "(batch, height, width, channels)" if self.data_format == "channels_last" \
                else "(batch, channels, height, width)"
            raise self.input_error(f"a 4-d input {layout}", tuple(inputs.shape))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Conv2D(_KernelOptions, _SpatialLayer):
    """2-d convolution. Kernel ``(kh, kw, in_channels, filters)``, glorot_uniform; bias zeros.

    Args: filters, kernel_size, strides=(1, 1), padding="valid"|"same", data_format="channels_last",
    dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer, bias_initializer,
    kernel_regularizer, bias_regularizer.
    """

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.filters = _filters(filters, "Conv2D")
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2D")
        self.strides = _pair(strides, "strides", "Conv2D")
        self.padding = _check_padding(padding, "Conv2D")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", "Conv2D")
        self._set_kernel_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                                 bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise self.input_error("a 4-d input", tuple(input_shape))
        kh, kw = self.kernel_size
        self.add_weight("kernel", (kh, kw, self._channels(input_shape), self.filters), self.kernel_initializer,
                        regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer)

    def check_input(self, inputs):
        super().check_input(inputs)
        expected = self.kernel.shape[2]
        if self._channels(inputs.shape) != expected:
            axis = "last axis" if self.data_format == "channels_last" else "axis 1"
            raise self.input_error(f"input with {expected} channels on the {axis}", tuple(inputs.shape))

    def call(self, inputs):
        x = self.to_nchw(inputs)
        padding = (0, 0)
        if self.padding == "same":  # TensorFlow's: the odd row/column goes to the bottom/right
            padding = tuple(same_padding(x.shape[2 + i], self.kernel_size[i], self.strides[i], self.dilation_rate[i])
                            for i in range(2))
        weight = self.kernel.permute(3, 2, 0, 1)
        y = F.conv2d(x, weight, self.bias if self.use_bias else None, stride=self.strides, padding=padding,
                     dilation=self.dilation_rate)
        return self.activation(self.from_nchw(y))

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
            "strides": list(self.strides), "padding": self.padding, "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


class _Pooling2D(_SpatialLayer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        name = type(self).__name__
        self.pool_size = _pair(pool_size, "pool_size", name)
        self.strides = _pair(strides, "strides", name) if strides is not None else self.pool_size
        self.padding = _check_padding(padding, name)

    def _same_pads(self, x):
        (top, bottom), (left, right) = [
            same_padding(x.shape[2 + i], self.pool_size[i], self.strides[i]) for i in range(2)
        ]
        return left, right, top, bottom

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """Max over ``pool_size`` windows (default 2×2, stride = pool size)."""

    def call(self, inputs):
        x = self.to_nchw(inputs)
        if self.padding == "same":
            pads = self._same_pads(x)
            if any(pads):
                x = F.pad(x, pads, value=float("-inf"))
        return self.from_nchw(F.max_pool2d(x, self.pool_size, self.strides))


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows; with ``"same"`` padding, padded cells are not counted (as Keras)."""

    def call(self, inputs):
        x = self.to_nchw(inputs)
        if self.padding == "same":
            pads = self._same_pads(x)
            if any(pads):
                sums = F.avg_pool2d(F.pad(x, pads), self.pool_size, self.strides)
                ones = F.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
                counts = F.avg_pool2d(F.pad(ones, pads), self.pool_size, self.strides)
                return self.from_nchw(sums / counts)
        return self.from_nchw(F.avg_pool2d(x, self.pool_size, self.strides))


class GlobalAveragePooling2D(_SpatialLayer):
    """Mean over height and width: ``(batch, h, w, c)`` → ``(batch, c)`` (``keepdims=True`` keeps 1×1)."""

    def __init__(self, data_format=None, keepdims: bool = False, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.keepdims = keepdims

    def call(self, inputs):
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        return inputs.mean(dim=axes, keepdim=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """Max over height and width."""

    def call(self, inputs):
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        return inputs.amax(dim=axes, keepdim=self.keepdims)


# ------------------------------------------------------------------------------------------- 1-d
def _single(value, name: str, layer: str) -> int:
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive int or a 1-tuple, received {value!r}")
    return value


class _TemporalLayer(Layer):
    """Shared plumbing for 3-d sequence layers: ``(batch, steps, channels)`` ⇄ the functions' ``(N, C, L)``."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _check_data_format(data_format, type(self).__name__)

    def to_ncl(self, inputs):
        return inputs.permute(0, 2, 1) if self.data_format == "channels_last" else inputs

    def from_ncl(self, outputs):
        return outputs.permute(0, 2, 1) if self.data_format == "channels_last" else outputs

    def check_input(self, inputs):
        if inputs.ndim != 3:
            layout = "(batch, steps, channels)" if self.data_format == "channels_last" else "(batch, channels, steps)"
            raise self.input_error(f"a 3-d input {layout}", tuple(inputs.shape))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Conv1D(_KernelOptions, _TemporalLayer):
    """1-d convolution over time. Kernel ``(kernel_size, in_channels, filters)``, glorot_uniform; bias zeros.

    Args: filters, kernel_size, strides=1, padding="valid"|"same"|"causal" (left padding only, so that an
    output never sees later steps), data_format="channels_last", dilation_rate=1, groups=1 (the channels and the
    filters split into ``groups`` blocks, block g of the filters seeing block g of the channels; the kernel is
    then ``(kernel_size, in_channels / groups, filters)``), activation=None, use_bias=True, kernel_initializer,
    bias_initializer, kernel_regularizer, bias_regularizer.
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups: int = 1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.filters = _filters(filters, "Conv1D")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0 or self.filters % groups:
            raise ValueError(f"Conv1D: groups must be a positive integer dividing filters={self.filters}, "
                             f"received {groups!r}")
        self.groups = groups
        self.kernel_size = _single(kernel_size, "kernel_size", "Conv1D")
        self.strides = _single(strides, "strides", "Conv1D")
        self.padding = padding.lower()
        if self.padding not in ("valid", "same", "causal"):
            raise ValueError(f"Conv1D: padding must be 'valid', 'same' or 'causal', received {padding!r}")
        self.dilation_rate = _single(dilation_rate, "dilation_rate", "Conv1D")
        self._set_kernel_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                                 bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise self.input_error("a 3-d input", tuple(input_shape))
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise self.input_error(f"input channels divisible by groups={self.groups}", tuple(input_shape))
        self.add_weight("kernel", (self.kernel_size, channels // self.groups, self.filters),
                        self.kernel_initializer, regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer)

    def check_input(self, inputs):
        super().check_input(inputs)
        expected = self.kernel.shape[1] * self.groups
        if self._channels(inputs.shape) != expected:
            axis = "last axis" if self.data_format == "channels_last" else "axis 1"
            raise self.input_error(f"input with {expected} channels on the {axis}", tuple(inputs.shape))

    def call(self, inputs):
        x = self.to_ncl(inputs)
        pads = (0, 0)
        if self.padding == "same":
            pads = same_padding(x.shape[2], self.kernel_size, self.strides, self.dilation_rate)
        elif self.padding == "causal":
            pads = ((self.kernel_size - 1) * self.dilation_rate, 0)
        if any(pads):
            x = F.pad(x, pads)
        y = F.conv1d(x, self.kernel.permute(2, 1, 0), self.bias if self.use_bias else None, stride=self.strides,
                     dilation=self.dilation_rate, groups=self.groups)
        return self.activation(self.from_ncl(y))

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
            "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
            "groups": self.groups, "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


class _Pooling1D(_TemporalLayer):
    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        name = type(self).__name__
        self.pool_size = _single(pool_size, "pool_size", name)
        self.strides = _single(strides, "strides", name) if strides is not None else self.pool_size
        self.padding = _check_padding(padding, name)

    def _same_pads(self, x):
        return same_padding(x.shape[2], self.pool_size, self.strides)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPooling1D(_Pooling1D):
    """Max over ``pool_size`` steps (default 2, stride = pool size)."""

    def call(self, inputs):
        x = self.to_ncl(inputs)
        if self.padding == "same" and any(self._same_pads(x)):
            x = F.pad(x, self._same_pads(x), value=float("-inf"))
        return self.from_ncl(F.max_pool1d(x, self.pool_size, self.strides))


class AveragePooling1D(_Pooling1D):
    """Mean over ``pool_size`` steps; with ``"same"`` padding, padded steps are not counted (as Keras)."""

    def call(self, inputs):
        x = self.to_ncl(inputs)
        if self.padding == "same" and any(self._same_pads(x)):
            pads = self._same_pads(x)
            sums = F.avg_pool1d(F.pad(x, pads), self.pool_size, self.strides)
            ones = F.ones((1, 1, x.shape[2]), dtype=x.dtype, device=x.device)
            counts = F.avg_pool1d(F.pad(ones, pads), self.pool_size, self.strides)
            return self.from_ncl(sums / counts)
        return self.from_ncl(F.avg_pool1d(x, self.pool_size, self.strides))


class GlobalAveragePooling1D(_TemporalLayer):
    """Mean over steps: ``(batch, steps, c)`` → ``(batch, c)``; with a mask (``Embedding(mask_zero=True)``,
    ``Masking``), the mean of the unmasked steps, as Keras."""

    def __init__(self, data_format=None, keepdims: bool = False, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.keepdims = keepdims

    def call(self, inputs, mask=None):
        axis = 1 if self.data_format == "channels_last" else 2
        if mask is None:
            return inputs.mean(dim=axis, keepdim=self.keepdims)
        weights = F.tensor(np.asarray(mask, dtype=inputs.dtype), device=inputs.device).unsqueeze(3 - axis)
        total = (inputs * weights).sum(dim=axis, keepdim=self.keepdims)
        return total / weights.sum(dim=axis, keepdim=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalMaxPooling1D(GlobalAveragePooling1D):
    """Max over steps: ``(batch, steps, c)`` → ``(batch, c)``."""

    def call(self, inputs, mask=None):
        axis = 1 if self.data_format == "channels_last" else 2
        return inputs.amax(dim=axis, keepdim=self.keepdims)


# ------------------------------------------------------------------------------------ UNet upsampling
def transpose_crops(kernel: int, stride: int, dilation: int, padding: str, output_padding) -> tuple[int, int]:
    """Keras's transposed-convolution geometry for one axis as the (before, after) crops of the full output
    ``(size - 1) * stride + k``, ``k = (kernel - 1) * dilation + 1`` (Keras's JAX padding rule, which its
    torch backend reproduces the same way); a negative crop adds zeros."""
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        left, right = effective - 1, effective - 1 + extra
    else:
        total = stride + effective - 2 if output_padding is None else effective + effective % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, effective - 1)
        right = total - left
    return effective - 1 - left, effective - 1 - right


class Conv2DTranspose(_KernelOptions, _SpatialLayer):
    """2-d transposed convolution. Kernel ``(kh, kw, filters, in_channels)`` (Keras's layout), glorot_uniform;
    bias zeros.

    Args: filters, kernel_size, strides=(1, 1), padding="valid"|"same", output_padding=None (an int or pair,
    each smaller than the stride), data_format="channels_last", dilation_rate=(1, 1), activation=None,
    use_bias=True, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer.

    Output size per axis: ``(size - 1) * stride + max(k, stride)`` with "valid", ``size * stride`` with "same"
    (without ``output_padding``), where ``k = (kernel - 1) * dilation + 1``; with it, ``(size - 1) * stride +
    k + output_padding`` ("valid") or ``(size - 1) * stride + k % 2 + output_padding`` ("same").
    """

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.filters = _filters(filters, "Conv2DTranspose")
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2DTranspose")
        self.strides = _pair(strides, "strides", "Conv2DTranspose")
        self.padding = _check_padding(padding, "Conv2DTranspose")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", "Conv2DTranspose")
        if output_padding is not None:
            output_padding = (output_padding, output_padding) if isinstance(output_padding, int) \
                else tuple(output_padding)
            if len(output_padding) != 2 or not all(isinstance(v, int) and v >= 0 for v in output_padding):
                raise ValueError(f"Conv2DTranspose: output_padding must be None, an int or a pair of non-negative "
                                 f"ints, received {output_padding!r}")
            if any(extra >= stride for extra, stride in zip(output_padding, self.strides)):
                raise ValueError(f"Conv2DTranspose: each value of output_padding must be smaller than the stride, "
                                 f"received output_padding={output_padding}, strides={self.strides}")
        self.output_padding = output_padding
        self._set_kernel_options(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                                 bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise self.input_error("a 4-d input", tuple(input_shape))
        kh, kw = self.kernel_size
        self.add_weight("kernel", (kh, kw, self.filters, self._channels(input_shape)), self.kernel_initializer,
                        regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer)

    def check_input(self, inputs):
        super().check_input(inputs)
        expected = self.kernel.shape[3]
        if self._channels(inputs.shape) != expected:
            axis = "last axis" if self.data_format == "channels_last" else "axis 1"
            raise self.input_error(f"input with {expected} channels on the {axis}", tuple(inputs.shape))

    def call(self, inputs):
        x = self.to_nchw(inputs)
        crops = tuple(transpose_crops(self.kernel_size[i], self.strides[i], self.dilation_rate[i], self.padding,
                                      None if self.output_padding is None else self.output_padding[i])
                      for i in range(2))
        weight = self.kernel.permute(3, 2, 0, 1)  # (in, filters, kh, kw): PyTorch's layout
        y = conv_transpose2d_cropped(x, weight, self.bias if self.use_bias else None, self.strides, crops,
                                     self.dilation_rate)
        return self.activation(self.from_nchw(y))

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
            "strides": list(self.strides), "padding": self.padding,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "dilation_rate": list(self.dilation_rate), "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


class UpSampling2D(_SpatialLayer):
    """Repeat rows ``size[0]`` times and columns ``size[1]`` times (``interpolation="nearest"``, default), or
    resize by the same factors with ``"bilinear"`` (half-pixel centres, as Keras's ``ops.image.resize``).

    Args: size=(2, 2) (an int or a pair), data_format="channels_last", interpolation="nearest"|"bilinear".
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.size = _pair(size, "size", "UpSampling2D")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', received "
                             f"{interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        x = self.to_nchw(inputs)
        if self.interpolation == "bilinear":
            out_size = (x.shape[2] * self.size[0], x.shape[3] * self.size[1])
            return self.from_nchw(F.interpolate(x, size=out_size, mode="bilinear", align_corners=False))
        for axis, factor in ((2, self.size[0]), (3, self.size[1])):
            if factor != 1:  # exact repeats: output row i reads input row i // factor
                x = Resample(axis, np.arange(x.shape[axis] * factor) // factor)(x)
        return self.from_nchw(x)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}
