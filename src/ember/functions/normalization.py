"""Normalization: batch_norm, layer_norm, group_norm, instance_norm.

Statistics computed from the input are fused: one Primitive computes the mean, the inverse standard deviation
and ``x_hat = (x - mean) * inv_std`` in a few float32 passes, applies the affine transform and keeps ``x_hat``
for backward, which uses the closed form (``M`` elements per statistic, ``g_hat = g * weight``)::

    dx = inv_std / M * (M * g_hat - sum(g_hat) - x_hat * sum(g_hat * x_hat))
    dweight = sum(g * x_hat),  dbias = sum(g)

The reference backward is written with Ember ops and recomputes ``x_hat`` and ``inv_std`` from the input
with Ember ops, so that second derivatives see how they depend on the input. Batch norm's fast paths (the
compiled forward, and ``backward_arrays`` when nothing records the backward pass) use the saved arrays as
constants instead, and spend no extra pass.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import compiled, threads
from ..backend.device import get_array_module
from ..backend.layout import copy_in_order, empty_ordered, flat_views, memory_order


def _moments(x, axes, eps: float):
    """Biased mean and variance of ``x`` over ``axes`` (kept), ``x_hat`` and ``inv_std``, all in x's dtype."""
    xp = get_array_module(x)
    mean = x.mean(axis=axes, keepdims=True)
    x_hat = x - mean
    var = (x_hat * x_hat).mean(axis=axes, keepdims=True)
    inv_std = xp.reciprocal(xp.sqrt(var + x.dtype.type(eps)))
    x_hat *= inv_std
    return mean, var, x_hat, inv_std


def _channel_views(reference, *arrays):
    """C-contiguous (C, A, B) views of (N, C, *) NumPy arrays for the compiled batch-norm kernels, B being
    ``reference``'s faster axis of batch and pixels; None when one of them has no such view."""
    batch, channels = reference.shape[:2]
    views = []
    for array in (reference,) + arrays:
        try:
            views.append(np.reshape(array, (batch, channels, -1), copy=False).transpose(1, 0, 2))
        except (TypeError, ValueError):  # a copy would be needed, or NumPy < 2.1 has no copy=False
            return None
    if abs(views[0].strides[1]) < abs(views[0].strides[2]):  # the batch varies faster: (C, pixels, N)
        views = [view.transpose(0, 2, 1) for view in views]
    # the kernels vectorize only over contiguous rows: (C, H*W, N) views of the convolutions' (C, H, W, N) memory
    return views if all(view.flags.c_contiguous for view in views) else None


def _differentiable_moments(x: Tensor, axes, eps: float):
    """``x_hat`` and ``inv_std`` recomputed with Ember ops, so that they stay functions of ``x``."""
    centered = x - x.mean(axes, keepdim=True)
    inv_std = ((centered * centered).mean(axes, keepdim=True) + eps).rsqrt()
    return centered * inv_std, inv_std


class BatchNorm(Primitive):
    """Normalise over every axis but 1 with the batch's statistics, then scale and shift per channel.

    ``forward(x, [weight], [bias])``: x (N, C, *); weight and bias (C,), passed when the flags say so. The
    batch mean and biased variance are left in ``batch_mean``/``batch_var`` (C,) for the running estimates.
    Fast paths: ``forward_compiled`` (one kernel, three passes over ``x``) and ``backward_arrays`` (the closed
    form on arrays: one compiled kernel, or seven NumPy passes).
    """

    fast_forward = ("forward_compiled",)

    def __init__(self, eps: float, has_weight: bool, has_bias: bool):
        self.eps, self.has_weight, self.has_bias = eps, has_weight, has_bias

    def forward(self, x, *affine):
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        mean, var, x_hat, inv_std = _moments(x, _batch_axes(x.ndim), self.eps)
        self.batch_mean, self.batch_var = mean.reshape(-1), var.reshape(-1)
        self.save_for_backward(x, weight, x_hat, inv_std)
        return _affine(x_hat, weight, bias, _channel_shape(x.ndim))

    def forward_compiled(self, x, *affine):
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        kernels = compiled.for_arrays(x, *[p for p in (weight, bias) if p is not None])
        if kernels is None or not x.size or _channel_views(x) is None:
            return None
        x_hat, y = np.empty_like(x), np.empty_like(x)  # in x's memory order, so their views exist too
        x_view, x_hat_view, y_view = _channel_views(x, x_hat, y)
        channels = x.shape[1]
        mean, var, inv_std = (np.empty(channels, x.dtype) for _ in range(3))
        scale = np.ones(channels, x.dtype) if weight is None else np.ascontiguousarray(weight)
        shift = np.zeros(channels, x.dtype) if bias is None else np.ascontiguousarray(bias)
        threads.split_rows(
            lambda a, b: kernels.batch_norm_forward(x_view[a:b], scale[a:b], shift[a:b], float(self.eps),
                                                    x_hat_view[a:b], y_view[a:b], mean[a:b], var[a:b], inv_std[a:b]),
            channels, threads.threads_for(x.size))
        self.batch_mean, self.batch_var = mean, var
        self.save_for_backward(x, weight, x_hat, inv_std.reshape(_channel_shape(x.ndim)))
        return y

    def backward(self, grad):
        x, weight, _, _ = self.saved_tensors
        axes, view = _batch_axes(x.ndim), _channel_shape(x.ndim)
        x_hat, inv_std = _differentiable_moments(x, axes, self.eps)
        count = x.numel() // x.shape[1]
        grad_bias = grad.sum(axes, keepdim=True)
        grad_weight = (grad * x_hat).sum(axes, keepdim=True)
        # weight is constant over the reduced axes, so sum(g * weight) = weight * sum(g): one pass saved
        scale = inv_std / count if weight is None else inv_std * (weight.reshape(view) / count)
        grad_input = scale * (grad * count - grad_bias - x_hat * grad_weight)
        return _with_affine_grads(grad_input, grad_weight.reshape(-1), grad_bias.reshape(-1),
                                  self.has_weight, self.has_bias)

    def backward_arrays(self, grad):
        """The same closed form on the saved arrays, ``dx = (g - sum(g)/M - x_hat * sum(g*x_hat)/M) *
        inv_std * weight``: one compiled kernel (two passes) where the arrays have per-channel views, else seven
        NumPy passes over ``grad``'s size; one new array either way."""
        _, weight, x_hat, inv_std = self.saved_arrays
        xp = get_array_module(grad)
        kernels = compiled.for_arrays(grad, x_hat, inv_std, *([] if weight is None else [weight]))
        grad_input = xp.empty_like(grad)
        views = None if kernels is None or not grad.size else _channel_views(x_hat, grad, grad_input)
        if views is not None and kernels is not None:
            channels = grad.shape[1]
            grad_weight, grad_bias = xp.empty(channels, grad.dtype), xp.empty(channels, grad.dtype)
            scale = xp.ones(channels, grad.dtype) if weight is None else xp.ascontiguousarray(weight)
            x_hat_view, grad_view, grad_input_view = views
            inv_std = xp.ascontiguousarray(inv_std.reshape(-1))
            threads.split_rows(
                lambda a, b: kernels.batch_norm_backward(grad_view[a:b], x_hat_view[a:b], inv_std[a:b], scale[a:b],
                                                         grad_input_view[a:b], grad_weight[a:b], grad_bias[a:b]),
                channels, threads.threads_for(grad.size))
            return _with_affine_grads(grad_input, grad_weight, grad_bias, self.has_weight, self.has_bias)
        axes = _batch_axes(grad.ndim)
        count = grad.size // grad.shape[1]
        grad_bias = grad.sum(axis=axes, keepdims=True)
        xp.multiply(grad, x_hat, out=grad_input)
        grad_weight = grad_input.sum(axis=axes, keepdims=True)
        xp.multiply(x_hat, grad_weight / count, out=grad_input)
        xp.subtract(grad, grad_input, out=grad_input)
        grad_input -= grad_bias / count
        grad_input *= inv_std if weight is None else inv_std * weight.reshape(_channel_shape(grad.ndim))
        return _with_affine_grads(grad_input, grad_weight.reshape(-1), grad_bias.reshape(-1), self.has_weight,
                                  self.has_bias)


def _batch_axes(ndim: int) -> tuple:
    """Batch norm's reduced axes: every axis of an (N, C, *) array but the channels."""
    return (0,) + tuple(range(2, ndim))


def _channel_shape(ndim: int) -> tuple:
    """A (C,) array's shape to broadcast along axis 1 of an (N, C, *) array."""
    return (1, -1) + (1,) * (ndim - 2)


class LayerNorm(Primitive):
    """Normalise over the trailing ``num_axes`` axes, then scale and shift elementwise.

    ``forward(x, [weight], [bias])``: weight and bias have the shape of the normalised axes, passed when the
    flags say so. The mean and biased variance are left in ``batch_mean``/``batch_var`` (kept axes).
    Fast paths, for NumPy float arrays normalised over their last axis: ``forward_compiled`` and the compiled
    part of ``backward_arrays``, one pass per row for C-contiguous arrays where the kernels are built (within
    float rounding of NumPy's numbers); else ``forward_gemv`` and ``backward_arrays`` take the means along rows
    as products with a vector of ``1/C`` (NumPy's reductions along short contiguous rows are several times
    slower than BLAS's matrix-vector product).
    """

    fast_forward = ("forward_compiled", "forward_gemv")

    def __init__(self, num_axes: int, eps: float, has_weight: bool = False, has_bias: bool = False):
        self.num_axes, self.eps, self.has_weight, self.has_bias = num_axes, eps, has_weight, has_bias

    def forward(self, x, *affine):
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        self.axes = tuple(range(x.ndim - self.num_axes, x.ndim))
        mean, var, x_hat, inv_std = _moments(x, self.axes, self.eps)
        self.batch_mean, self.batch_var = mean, var
        self.save_for_backward(x, weight, x_hat, inv_std)
        return _affine(x_hat, weight, bias, None)

    def forward_compiled(self, x, *affine):
        kernels = _layer_norm_kernels(self.num_axes, x, *affine)
        if kernels is None:
            return None
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        self.axes = (x.ndim - 1,)
        kept = (*x.shape[:-1], 1)
        x_hat, y = np.empty_like(x), np.empty_like(x)
        mean, var, inv_std = (np.empty(kept, dtype=x.dtype) for _ in range(3))
        rows = x.reshape(-1, x.shape[-1])
        kernels.layer_norm_forward(rows, weight, bias, self.eps, x_hat.reshape(rows.shape), y.reshape(rows.shape),
                                   mean, var, inv_std)
        self.batch_mean, self.batch_var = mean, var
        self.save_for_backward(x, weight, x_hat, inv_std)
        return y

    def forward_gemv(self, x, *affine):
        row_mean = _row_mean_by_gemv(x, self.num_axes)
        if row_mean is None:
            return None
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        self.axes = (x.ndim - 1,)
        mean = row_mean(x)
        x_hat = x - mean
        var = row_mean(x_hat * x_hat)
        inv_std = np.reciprocal(np.sqrt(var + x.dtype.type(self.eps)))
        x_hat *= inv_std
        self.batch_mean, self.batch_var = mean, var
        self.save_for_backward(x, weight, x_hat, inv_std)
        return _affine(x_hat, weight, bias, None)

    def backward(self, grad):
        x, weight, _, _ = self.saved_tensors
        x_hat, inv_std = _differentiable_moments(x, self.axes, self.eps)
        grad_hat = grad if weight is None else grad * weight
        grad_input = inv_std * (
            grad_hat
            - grad_hat.mean(self.axes, keepdim=True)
            - x_hat * (grad_hat * x_hat).mean(self.axes, keepdim=True)
        )
        return self._with_affine_grads(grad_input, grad, x_hat, lambda value, axes: value.sum(axes))

    def backward_arrays(self, grad):
        """The same closed form on the saved ``x_hat`` and ``inv_std`` (constants: nothing records it)."""
        _, weight, x_hat, inv_std = self.saved_arrays
        kernels = _layer_norm_kernels(self.num_axes, grad, x_hat, inv_std, *([] if weight is None else [weight]))
        if kernels is not None:
            columns = grad.shape[-1]
            grad_input = np.empty_like(grad)
            grad_weight = np.empty(columns, dtype=grad.dtype) if self.has_weight else None
            grad_bias = np.empty(columns, dtype=grad.dtype) if self.has_bias else None
            kernels.layer_norm_backward(grad.reshape(-1, columns), x_hat.reshape(-1, columns), inv_std, weight,
                                        grad_input.reshape(-1, columns), grad_weight, grad_bias)
            return _with_affine_grads(grad_input, grad_weight, grad_bias, self.has_weight, self.has_bias)
        grad_hat = grad if weight is None else grad * weight
        row_mean = _row_mean_by_gemv(grad_hat, self.num_axes) if type(x_hat) is np.ndarray else None
        if row_mean is None:
            row_mean = lambda value: value.mean(axis=self.axes, keepdims=True)  # noqa: E731
        grad_input = grad_hat - row_mean(grad_hat)
        grad_input -= x_hat * row_mean(grad_hat * x_hat)
        grad_input *= inv_std
        return self._with_affine_grads(grad_input, grad, x_hat, lambda value, axes: value.sum(axis=axes))

    def _with_affine_grads(self, grad_input, grad, x_hat, total):
        """``grad_input`` with the weight and bias gradients summed over the leading axes by ``total``."""
        leading = tuple(range(grad.ndim - self.num_axes))
        grad_weight = grad_bias = None
        if self.has_weight:
            grad_weight = grad * x_hat
            grad_weight = total(grad_weight, leading) if leading else grad_weight
        if self.has_bias:
            grad_bias = total(grad, leading) if leading else grad
        return _with_affine_grads(grad_input, grad_weight, grad_bias, self.has_weight, self.has_bias)


def _layer_norm_kernels(num_axes: int, x, *others):
    """The compiled kernels for a layer norm over the last axis of ``x`` (at least 2-d, not empty, C-contiguous,
    of the dtype of every other array, all C-contiguous NumPy arrays); None where they do not apply."""
    if num_axes != 1 or type(x) is not np.ndarray or x.ndim < 2 or not x.size or not x.flags.c_contiguous:
        return None
    if not all(type(a) is np.ndarray and a.flags.c_contiguous for a in others):
        return None
    return compiled.for_arrays(x, *others)


def _row_mean_by_gemv(x, num_axes: int):
    """For a NumPy float array normalised over its last axis only: a function giving the mean along that axis
    (kept) as ``rows @ (ones / C)``; None otherwise."""
    if num_axes != 1 or type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim < 2 or not x.shape[-1]:
        return None
    reciprocal = np.full((x.shape[-1], 1), 1.0 / x.shape[-1], dtype=x.dtype)
    return lambda value: np.matmul(value, reciprocal)


def _split_affine(affine, has_weight: bool, has_bias: bool):
    weight = affine[0] if has_weight else None
    bias = affine[-1] if has_bias else None
    return weight, bias


def _with_affine_grads(grad_input, grad_weight, grad_bias, has_weight: bool, has_bias: bool) -> tuple:
    """One gradient per input the op received: x, then weight and bias when they were given."""
    return (grad_input,) + ((grad_weight,) if has_weight else ()) + ((grad_bias,) if has_bias else ())


def _run(op_class, input: Tensor, weight, bias, *params):
    op = op_class(*params, weight is not None, bias is not None)
    return op, op(input, *[tensor for tensor in (weight, bias) if tensor is not None])


def _affine(x_hat, weight, bias, view):
    """``x_hat * weight + bias`` on arrays (parameters reshaped to ``view`` when given); x_hat is kept intact."""
    if weight is not None:
        y = x_hat * (weight if view is None else weight.reshape(view))
        if bias is not None:
            y += bias if view is None else bias.reshape(view)
        return y
    if bias is not None:
        return x_hat + (bias if view is None else bias.reshape(view))
    return x_hat


# ------------------------------------------------------------------------------------------- checks
def _check_floating(name: str, what: str, tensor: Tensor) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, received {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{name}: {what} must be a floating tensor, received dtype {tensor.dtype}")


def _check_per_channel(name: str, tensors: dict, channels: int, dtype) -> None:
    """Each given tensor must be a (C,) floating tensor of the input's dtype."""
    for what, tensor in tensors.items():
        if tensor is None:
            continue
        _check_floating(name, what, tensor)
        if tensor.shape != (channels,):
            raise ValueError(
                f"{name}: expected {what} of shape ({channels},) for an input with {channels} channels, "
                f"received shape {tensor.shape}"
            )
        if tensor.dtype != dtype:
            raise TypeError(f"{name}: {what} has dtype {tensor.dtype}, the input has {dtype}; they must match")


def _check_eps(name: str, eps) -> None:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0:
        raise ValueError(f"{name}: eps must be a non-negative number, received {eps!r}")


def _check_momentum(name: str, momentum) -> None:
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(
            f"{name}: momentum must be a float, received {momentum!r} (a cumulative average, momentum=None in "
            "the BatchNorm modules, is computed by the module, which passes 1 / num_batches_tracked)"
        )


def _update_running(running: Tensor | None, statistic, momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * statistic``, in place on ``running.array``."""
    if running is None:
        return
    data = running.array
    dtype = data.dtype.type
    data *= dtype(1.0 - momentum)
    data += statistic.astype(data.dtype, copy=False) * dtype(momentum)


# ------------------------------------------------------------------------------------------- wrappers
def _check_channel_norm(name, layout, min_ndim, input, running_mean, running_var, weight, bias, momentum, eps):
    """Validate a per-channel normalization's arguments; returns the number of channels C."""
    _check_floating(name, "input", input)
    if input.ndim < min_ndim:
        raise ValueError(f"{name}: expected input of shape {layout}, received {input.shape}")
    channels = input.shape[1]
    _check_per_channel(name, {"running_mean": running_mean, "running_var": running_var, "weight": weight,
                              "bias": bias}, channels, input.dtype)
    _check_eps(name, eps)
    _check_momentum(name, momentum)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{name}: running_mean and running_var must both be given or both be None")
    return channels


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization over every axis but the channel axis 1.

    Shapes: input (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *)); running_mean, running_var, weight, bias
    (C,) or None; output like input.

    Training (``training=True``) normalises with the batch's mean and biased variance and, when running
    statistics are given, updates them in place: ``running = (1 - momentum) * running + momentum * batch``,
    with the unbiased batch variance for ``running_var`` (PyTorch's convention). Evaluation uses the running
    statistics. Defaults: momentum 0.1, eps 1e-5.
    """
    channels = _check_channel_norm("batch_norm", "(N, C, *) with at least 2 dims", 2, input, running_mean,
                                   running_var, weight, bias, momentum, eps)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var must be given in evaluation (training=False)")
        return _normalize_with(input, running_mean, running_var, weight, bias, eps)
    count = input.numel() // channels
    if count <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, received input of shape {input.shape}"
        )
    op, output = _run(BatchNorm, input, weight, bias, eps)
    if running_mean is not None:
        _update_running(running_mean, op.batch_mean, momentum)
        _update_running(running_var, op.batch_var * op.batch_var.dtype.type(count / (count - 1)), momentum)
    return output


def _normalize_with(input: Tensor, mean: Tensor, var: Tensor, weight, bias, eps: float) -> Tensor:
    """``(input - mean) / sqrt(var + eps) * weight + bias`` with per-channel (C,) statistics: two passes."""
    view = (1, -1) + (1,) * (input.ndim - 2)
    scale = (var + eps).rsqrt()
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias
    return input * scale.reshape(view) + shift.reshape(view)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` dims.

    Shapes: input (*, *normalized_shape); weight and bias ``normalized_shape`` or None; output like input.
    Default eps 1e-5.
    """
    name = "layer_norm"
    _check_floating(name, "input", input)
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    size = len(normalized_shape)
    if size == 0 or input.ndim < size or input.shape[input.ndim - size:] != normalized_shape:
        raise ValueError(
            f"layer_norm: given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"(*, {', '.join(map(str, normalized_shape))}), received shape {input.shape}"
        )
    for what, tensor in (("weight", weight), ("bias", bias)):
        if tensor is None:
            continue
        _check_floating(name, what, tensor)
        if tensor.shape != normalized_shape:
            raise ValueError(f"layer_norm: expected {what} of shape {normalized_shape}, received {tensor.shape}")
        if tensor.dtype != input.dtype:
            raise TypeError(
                f"layer_norm: {what} has dtype {tensor.dtype}, the input has {input.dtype}; they must match"
            )
    _check_eps(name, eps)
    return _run(LayerNorm, input, weight, bias, size, eps)[1]


def _same_layout(a, b) -> bool:
    """Whether NumPy arrays ``a`` and ``b`` have one shape and lie alike in memory: equal strides on every axis
    longer than one (a length-1 axis may carry any stride: a batch of one from a convolution does)."""
    return a.shape == b.shape and all(x == y for x, y, n in zip(a.strides, b.strides, a.shape) if n > 1)


def _group_views(groups: int, *arrays):
    """``(batch_inner, views)``: C-contiguous 3-d views of (N, C, *) NumPy arrays of one layout
    (``_same_layout``), (groups, count, N) when they lie in (C, *, N) memory (the convolutions' order;
    ``batch_inner`` True), (N, groups, count) when C-contiguous; None when neither (or their layouts differ)."""
    first = arrays[0]
    if any(type(a) is not np.ndarray or not _same_layout(a, first) for a in arrays):
        return None
    batch = first.shape[0]
    batch_last = tuple(range(1, first.ndim)) + (0,)  # (C, *, N): a transpose is cheaper than np.moveaxis
    if batch > 1 and first.transpose(batch_last).flags.c_contiguous:
        return True, [a.transpose(batch_last).reshape(groups, -1, batch) for a in arrays]
    if first.flags.c_contiguous:
        return False, [a.reshape(batch, groups, -1) for a in arrays]
    return None


class GroupNorm(Primitive):
    """Group normalization with its per-channel affine transform, one node: ``x`` (N, C, *) split into
    ``groups`` groups of channels, each normalised per sample, then ``* weight + bias`` per channel.

    ``forward(x, [weight], [bias])``, weight and bias (C,) passed when the flags say so. The reference works
    on an (N, groups, -1) reshape (a copy when ``x`` lies in (C, H, W, N) memory). Fast paths (NumPy float
    arrays in (C, *, N) or C-contiguous memory, compiled kernels): ``forward_compiled`` (two passes for the
    statistics and one for ``x_hat`` and ``y``, a group at a time, split between threads) and
    ``backward_arrays`` (two passes). Their results lie in the convolutions' (C, *, N) memory when N > 1,
    whatever the input's order, so that a convolution after it (or after an elementwise op) reads them
    without a layout copy."""

    fast_forward = ("forward_compiled",)

    def __init__(self, groups: int, eps: float, has_weight: bool, has_bias: bool):
        self.groups, self.eps, self.has_weight, self.has_bias = groups, eps, has_weight, has_bias

    def forward(self, x, *affine):
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        grouped = x.reshape(x.shape[0], self.groups, -1)
        _, _, x_hat, inv_std = _moments(grouped, (2,), self.eps)
        x_hat = x_hat.reshape(x.shape)
        self.save_for_backward(x, weight, x_hat, inv_std)
        return _affine(x_hat, weight, bias, _channel_shape(x.ndim))

    def forward_compiled(self, x, *affine):
        weight, _ = _split_affine(affine, self.has_weight, self.has_bias)
        outputs = self._forward_kernel(x, affine, silu=False)
        if outputs is None:
            return None
        y, x_hat, inv_std, _ = outputs
        self.save_for_backward(x, weight, x_hat, inv_std)
        return y

    def _forward_kernel(self, x, affine, silu: bool, shift=None):
        """``(y, x_hat, inv_std, mean)`` from the compiled kernel, or None where it does not apply. With
        ``silu`` (float32 only): y is silu of the output, and x_hat is None (not kept: the backward pass
        recomputes it from x, mean and inv_std) when x and y both lie in (C, *, N) memory. ``shift`` (N, C) or
        None is added to x first: by the kernel as it reads x where x_hat is not kept, else by NumPy."""
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        kernels = compiled.for_arrays(x, *affine, *(() if shift is None else (shift,)))
        layout = None if kernels is None or not x.size else _group_views(self.groups, x)
        if kernels is None or layout is None or (silu and x.dtype != np.float32):
            return None
        input_batch_inner, (x_view,) = layout
        input_shift = None
        if shift is not None and silu and input_batch_inner and x.shape[0] > 1:
            input_shift = np.ascontiguousarray(shift.T)  # (C, N): a channel's shifts beside each other
        elif shift is not None:
            x = np.add(x, shift.reshape(shift.shape + (1,) * (x.ndim - 2)), out=np.empty_like(x))  # x's order
            layout = _group_views(self.groups, x)
            if layout is None:
                return None
            input_batch_inner, (x_view,) = layout
        # outputs in the convolutions' (C, *, N) memory whenever there is a batch: what a convolution after
        # it reads without a layout copy (the kernel makes the copy as it writes)
        order = tuple(range(1, x.ndim)) + (0,) if x.shape[0] > 1 else memory_order(x)
        y = empty_ordered(np, x.shape, order, x.dtype)
        batch_inner, (y_view,) = _group_views(self.groups, y)
        x_hat = x_hat_view = None
        if not (silu and batch_inner and input_batch_inner):
            x_hat = empty_ordered(np, x.shape, order, x.dtype)
            x_hat_view = _group_views(self.groups, x_hat)[1][0]
        mean, inv_std = (np.empty((x.shape[0], self.groups), x.dtype) for _ in range(2))
        scale, shift = (None if p is None else np.ascontiguousarray(p) for p in (weight, bias))
        channel_size = x.size // (x.shape[0] * x.shape[1])
        arguments = (x_view, input_batch_inner, self.groups, channel_size, batch_inner, scale, shift,
                     float(self.eps), x_hat_view, y_view, mean, inv_std)
        if silu:
            _split_groups(None, self.groups, x.size, lambda counter: kernels.group_norm_silu_forward_runner(
                *arguments, 0, self.groups, input_shift, counter))
        else:
            _split_groups(lambda start, stop: kernels.group_norm_forward(*arguments, start, stop), self.groups,
                          x.size)
        return y, x_hat, inv_std[:, :, None], mean

    def backward(self, grad):
        x, weight, _, _ = self.saved_tensors
        return _group_norm_grads(x, weight, grad, self.groups, self.eps, self.has_weight, self.has_bias)

    def backward_arrays(self, grad):
        """The closed form on the saved ``x_hat`` and ``inv_std`` (constants: nothing records it), one compiled
        kernel where the arrays take its layouts; None (the reference) otherwise."""
        _, weight, x_hat, inv_std = self.saved_arrays
        return self._backward_kernel(grad, weight, None, x_hat, inv_std, silu=False)

    def _backward_kernel(self, grad, weight, bias, x_hat, inv_std, silu: bool):
        """The gradients from the compiled kernel (of silu of the output with ``silu``, which reads ``bias``
        too; float32 only), or None where it does not apply."""
        kernels = compiled.for_arrays(grad, x_hat, inv_std, *(a for a in (weight, bias) if a is not None))
        if kernels is None or _group_views(self.groups, x_hat) is None or (silu and grad.dtype != np.float32):
            return None
        (batch_inner, (grad_view, x_hat_view, grad_input_view), grad_input, grad_weight, grad_bias, inv_std,
         weight, bias, channel_size) = _group_kernel_operands(self.groups, grad, x_hat, inv_std, weight, bias)
        if silu:
            _split_groups(None, self.groups, grad.size, lambda counter: kernels.group_norm_silu_backward_runner(
                grad_view, x_hat_view, self.groups, channel_size, batch_inner, inv_std, weight, bias,
                grad_input_view, grad_weight, grad_bias, 0, self.groups, counter))
        else:
            _split_groups(lambda start, stop: kernels.group_norm_backward(
                grad_view, x_hat_view, self.groups, channel_size, batch_inner, inv_std, weight, grad_input_view,
                grad_weight, grad_bias, start, stop), self.groups, grad.size)
        return _with_affine_grads(grad_input, grad_weight, grad_bias, self.has_weight, self.has_bias)


def _split_groups(call, groups: int, numbers: int, runner_for=None) -> None:
    """Run a group-norm kernel over groups 0..groups-1 on the threads that a pass over ``numbers`` numbers
    takes: given ``runner_for`` (the GroupNormSiLU kernels), ``runner_for(counter)`` checks the arrays once
    and every thread runs what it returns, taking the groups from the counter one at a time as it gets to
    them (a helper thread that wakes late takes fewer); else ``split_rows`` cuts them into fixed ranges for
    ``call(start, stop)``."""
    count = threads.threads_for(numbers)
    if runner_for is not None:
        threads.share(runner_for(compiled.new_counter()), count)
    else:
        threads.split_rows(call, groups, count)


def _group_kernel_operands(groups: int, grad, like, inv_std, weight, bias) -> tuple:
    """What the compiled group-norm backward kernels take, for ``grad`` and the saved ``like`` (x_hat or x) of
    one layout: ``(batch_inner, (grad, like, grad_input) group views, grad_input, grad_weight, grad_bias,
    inv_std (N, G), weight, bias, channel_size)``, grad copied into like's memory order where it differs."""
    if not _same_layout(grad, like):
        grad = copy_in_order(np, grad, memory_order(like))
    grad_input = empty_ordered(np, like.shape, memory_order(like), like.dtype)
    batch_inner, views = _group_views(groups, grad, like, grad_input)
    channels = grad.shape[1]
    grad_weight, grad_bias = np.empty(channels, grad.dtype), np.empty(channels, grad.dtype)
    inv_std = np.ascontiguousarray(inv_std.reshape(inv_std.shape[:2]))
    weight, bias = (None if p is None else np.ascontiguousarray(p) for p in (weight, bias))
    return (batch_inner, views, grad_input, grad_weight, grad_bias, inv_std, weight, bias,
            grad.size // (grad.shape[0] * channels))


def _group_norm_grads(x: Tensor, weight, grad: Tensor, groups: int, eps: float, has_weight: bool,
                      has_bias: bool) -> tuple:
    """Group norm's gradients given the output gradient ``grad``, in Ember ops on ``x`` (so that they
    differentiate again): x's, then the weight's and the bias's where the flags say so."""
    shape, grouped = x.shape, (x.shape[0], groups, -1)
    x_hat, inv_std = _differentiable_moments(x.reshape(grouped), (2,), eps)
    view = _channel_shape(x.ndim)
    grad_hat = (grad if weight is None else grad * weight.reshape(view)).reshape(grouped)
    grad_input = inv_std * (grad_hat - grad_hat.mean(2, keepdim=True)
                            - x_hat * (grad_hat * x_hat).mean(2, keepdim=True))
    axes = _batch_axes(x.ndim)
    grad_weight = (grad * x_hat.reshape(shape)).sum(axes) if has_weight else None
    grad_bias = grad.sum(axes) if has_bias else None
    return _with_affine_grads(grad_input.reshape(shape), grad_weight, grad_bias, has_weight, has_bias)


def _silu_arrays(y):
    """SiLU of a NumPy float array in its memory order, as ``SiLU``'s fast path computes it; None where that
    does not apply."""
    from .activation import _silu_into

    out = np.empty_like(y)
    if not threads.split_elementwise(_silu_into, out, y):
        flats = flat_views(out, y)
        if flats is None:
            return None
        _silu_into(flats[1], flats[0])
    return out


def _silu_grad_arrays(grad, y):
    """SiLU's gradient at ``y`` given ``grad`` (NumPy float arrays), as ``SiLU``'s fast path computes it, laid
    out as ``y``; None where that does not apply."""
    from .activation import _silu_grad_array

    return _silu_grad_array(grad, y)


def _affine_in_order(x_hat, weight, bias):
    """``x_hat * weight + bias`` per channel of an (N, C, *) NumPy array, laid out as ``x_hat`` (the numbers
    of the group-norm kernel's output: a product, then a sum)."""
    y = np.empty_like(x_hat)
    view = _channel_shape(x_hat.ndim)
    if weight is None:
        np.copyto(y, x_hat)
    else:
        np.multiply(x_hat, weight.reshape(view), out=y)
    if bias is not None:
        y += bias.reshape(view)
    return y


class GroupNormSiLU(GroupNorm):
    """``silu(group_norm(x + shift) * weight + bias)``, one node: a normalization, then SiLU, as a diffusion
    UNet's residual blocks take them, without the normalised output between them. ``forward(x, [weight],
    [bias], [shift])`` as ``GroupNorm``, with ``shift`` (N, C) when ``has_shift``: a per-sample, per-channel
    number added to x before the normalization (a UNet's time embedding), its gradient the per-sample,
    per-channel sums of x's. The reference is the add, group norm's reference and SiLU's one after the other
    (the same numbers). Fast paths (float32 NumPy arrays in (C, *, N) or C-contiguous memory, compiled
    kernels): ``forward_compiled`` and ``backward_arrays``, group norm's kernels with SiLU and its gradient
    applied a chunk or a group at a time (``kernels/group_norm_silu.c``): the numbers of ``GroupNorm``'s and
    ``SiLU``'s fast paths one after the other, in fewer passes over memory each way. Where x lies in (C, *, N)
    memory the forward pass keeps no ``x_hat`` (a pass and an array fewer) and adds the shift as it reads x:
    the backward pass recomputes x_hat from x, the shift and the saved mean and inv_std, a chunk at a time,
    as the forward pass computed it."""

    fast_forward = ("forward_compiled",)

    def __init__(self, groups: int, eps: float, has_weight: bool, has_bias: bool, has_shift: bool = False):
        super().__init__(groups, eps, has_weight, has_bias)
        self.has_shift = has_shift

    def _split_shift(self, rest):
        """``(affine, shift)`` from the inputs after x: the shift last when the node has one."""
        return (rest[:-1], rest[-1]) if self.has_shift else (rest, None)

    def forward(self, x, *rest):
        xp = get_array_module(x)
        affine, shift = self._split_shift(rest)
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        shifted = x if shift is None else x + shift.reshape(shift.shape + (1,) * (x.ndim - 2))
        grouped = shifted.reshape(x.shape[0], self.groups, -1)
        _, _, x_hat, inv_std = _moments(grouped, (2,), self.eps)
        x_hat = x_hat.reshape(x.shape)
        y = _affine(x_hat, weight, bias, _channel_shape(x.ndim))
        self.save_for_backward(x, weight, bias, x_hat, inv_std, None, shift)
        half = y.dtype.type(0.5)
        return xp.asarray(y * (xp.tanh(y * half) * half + half))  # SiLU's reference

    def forward_compiled(self, x, *rest):
        affine, shift = self._split_shift(rest)
        weight, bias = _split_affine(affine, self.has_weight, self.has_bias)
        if x.dtype != np.float32:  # group norm's kernel, then SiLU's NumPy passes: SiLU's fast path's numbers
            outputs = self._forward_kernel(x, affine, silu=False, shift=shift)
            y = None if outputs is None else _silu_arrays(outputs[0])
            if y is None:
                return None
            self.save_for_backward(x, weight, bias, outputs[1], outputs[2], None, shift)
            return y
        outputs = self._forward_kernel(x, affine, silu=True, shift=shift)
        if outputs is None:
            return None
        y, x_hat, inv_std, mean = outputs
        self.save_for_backward(x, weight, bias, x_hat, inv_std, None if x_hat is not None else mean, shift)
        return y

    def backward(self, grad):
        x, weight, bias = self.saved_tensors[:3]
        shift = self.saved_tensors[6]
        affine = [tensor for tensor in (weight, bias) if tensor is not None]
        shifted = x if shift is None else x + shift.reshape(shift.shape + (1,) * (x.ndim - 2))
        y = GroupNorm(self.groups, self.eps, self.has_weight, self.has_bias)(shifted, *affine)
        s = y.sigmoid()
        grad_y = grad * (s * (1.0 + y * (1.0 - s)))  # SiLU's gradient, as SiLU.backward
        grads = _group_norm_grads(shifted, weight, grad_y, self.groups, self.eps, self.has_weight, self.has_bias)
        if not self.has_shift:
            return grads
        spatial = tuple(range(2, x.ndim))
        return grads + (grads[0].sum(spatial) if spatial else grads[0],)  # the shift's: sums of x's gradient

    def backward_arrays(self, grad):
        """Every gradient in one compiled kernel on the saved ``x_hat`` (or x, the shift, mean and inv_std);
        None (the reference) where it does not apply."""
        x, weight, bias, x_hat, inv_std, mean, shift = self.saved_arrays
        if x_hat is not None:
            if type(grad) is np.ndarray and grad.dtype != np.float32:
                # SiLU's gradient in NumPy passes on the output recomputed from x_hat, then group norm's kernel
                grad_output = _silu_grad_arrays(grad, _affine_in_order(x_hat, weight, bias))
                if grad_output is None:
                    return None
                grads = self._backward_kernel(grad_output, weight, None, x_hat, inv_std, silu=False)
            else:
                grads = self._backward_kernel(grad, weight, bias, x_hat, inv_std, silu=True)
            if grads is None or not self.has_shift:
                return grads
            return grads + (grads[0].sum(tuple(range(2, x_hat.ndim))),)  # the shift's: sums of x's gradient
        kernels = compiled.for_arrays(grad, x, *(a for a in (weight, bias, shift) if a is not None))
        if kernels is None or grad.dtype != np.float32:
            return None
        (_, (grad_view, x_view, grad_input_view), grad_input, grad_weight, grad_bias, inv_std, weight, bias,
         channel_size) = _group_kernel_operands(self.groups, grad, x, inv_std, weight, bias)
        input_shift = grad_shift = None
        if shift is not None:  # (C, N): a channel's numbers beside each other
            input_shift, grad_shift = np.ascontiguousarray(shift.T), np.empty(shift.shape[::-1], shift.dtype)
        _split_groups(None, self.groups, grad.size, lambda counter: kernels.group_norm_silu_backward_from_x_runner(
            grad_view, x_view, self.groups, channel_size, mean, inv_std, weight, bias, grad_input_view, grad_weight,
            grad_bias, 0, self.groups, input_shift, grad_shift, counter))
        grads = _with_affine_grads(grad_input, grad_weight, grad_bias, self.has_weight, self.has_bias)
        return grads + ((np.ascontiguousarray(grad_shift.T),) if grad_shift is not None else ())


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Group normalization: channels split into ``num_groups`` groups, each normalised per sample.

    Shapes: input (N, C, *) with C divisible by num_groups; weight and bias (C,) or None; output like input.
    """
    return _group_norm_node("group_norm", GroupNorm, input, num_groups, weight, bias, eps)


def group_norm_silu(input: Tensor, num_groups: int, weight: Tensor | None = None,  # noqa: A002
                    bias: Tensor | None = None, eps: float = 1e-5, shift: Tensor | None = None) -> Tensor:
    """``silu(group_norm(input + shift[:, :, None, ...], num_groups, weight, bias, eps))`` as one node
    (``GroupNormSiLU``): the same numbers, fewer passes over memory each way. Arguments and shapes as
    ``group_norm``; ``shift`` (N, C) or None (default), one number per sample and channel added to the input
    before the normalization (a diffusion UNet's time embedding), not broadcast from other shapes."""
    return _group_norm_node("group_norm_silu", GroupNormSiLU, input, num_groups, weight, bias, eps, shift)


def _group_norm_node(name: str, op_class, input: Tensor, num_groups, weight, bias, eps,  # noqa: A002
                     shift: Tensor | None = None) -> Tensor:
    """``op_class`` (GroupNorm or GroupNormSiLU) on checked arguments; errors name the function ``name``;
    ``shift`` only for GroupNormSiLU."""
    _check_floating(name, "input", input)
    if input.ndim < 2:
        raise ValueError(f"{name}: expected input of shape (N, C, *), received {input.shape}")
    channels = input.shape[1]
    if not isinstance(num_groups, numbers.Integral) or num_groups <= 0 or channels % num_groups:
        raise ValueError(
            f"{name}: expected num_groups dividing the number of channels {channels}, received {num_groups!r}"
        )
    _check_per_channel(name, {"weight": weight, "bias": bias}, channels, input.dtype)
    _check_eps(name, eps)
    affine = [tensor for tensor in (weight, bias) if tensor is not None]
    if shift is not None:
        _check_floating(name, "shift", shift)
        if shift.shape != tuple(input.shape[:2]):
            raise ValueError(f"{name}: expected shift of shape (N, C) = {tuple(input.shape[:2])} for an input of "
                             f"shape {input.shape}, received shape {shift.shape}")
        if shift.dtype != input.dtype:
            raise TypeError(f"{name}: shift has dtype {shift.dtype}, the input has {input.dtype}; they must match")
        return op_class(num_groups, eps, weight is not None, bias is not None, True)(input, *affine, shift)
    return op_class(num_groups, eps, weight is not None, bias is not None)(input, *affine)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalization: each (sample, channel) slice normalised over its spatial axes.

    Shapes: input (N, C, *) with at least one spatial axis; running stats, weight, bias (C,) or None.
    With ``use_input_stats`` the running statistics (if given) are updated in place with the batch average
    of the per-instance mean and unbiased variance; without it they are used to normalise, as in evaluation.
    """
    channels = _check_channel_norm("instance_norm", "(N, C, *spatial)", 3, input, running_mean, running_var,
                                   weight, bias, momentum, eps)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: running statistics are required when use_input_stats=False")
        return _normalize_with(input, running_mean, running_var, weight, bias, eps)
    spatial = input.numel() // max(input.shape[0] * channels, 1)
    if spatial <= 1:
        raise ValueError(
            f"instance_norm: expected more than 1 spatial element when training, received input of shape {input.shape}"
        )
    op = LayerNorm(input.ndim - 2, eps)
    output = op(input)
    if running_mean is not None:
        per_channel = (input.shape[0], channels)
        mean = op.batch_mean.reshape(per_channel).mean(axis=0)
        var = op.batch_var.reshape(per_channel).mean(axis=0) * op.batch_var.dtype.type(spatial / (spatial - 1))
        _update_running(running_mean, mean, momentum)
        _update_running(running_var, var, momentum)
    return _channel_affine(output, weight, bias)


def _channel_affine(output: Tensor, weight, bias) -> Tensor:
    view = (1, -1) + (1,) * (output.ndim - 2)
    if weight is not None:
        output = output * weight.reshape(view)
    if bias is not None:
        output = output + bias.reshape(view)
    return output


__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm"]
