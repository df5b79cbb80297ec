"""Shape operations: reshape, transpose/permute, squeeze, expand, flatten, cat/stack/split, pad, flip, repeat.

Views stay views where NumPy gives one (reshape of a contiguous array, transpose, expand); each backward
undoes its forward on the gradient.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..autograd.broadcast import BroadcastTo
from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from ..backend.layout import empty_ordered, memory_order
from ._convert import normalize_axis, pick_dim
from .elementwise import result_type
from .padding import NUMPY_MODES, PadRepeat


def _sizes(args) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


class Reshape(Primitive):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.input_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, grad):
        return grad.reshape(self.input_shape)


class Permute(Primitive):
    def __init__(self, axes):
        self.axes = tuple(axes)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, grad):
        return grad.permute(*np.argsort(self.axes).tolist())


class Concatenate(Primitive):
    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *arrays):
        self.boundaries = np.cumsum([a.shape[self.axis] for a in arrays])[:-1].tolist()
        return get_array_module(arrays[0]).concatenate(arrays, axis=self.axis)

    def backward(self, grad):
        return tuple(SplitAt(self.boundaries, self.axis)(grad))


class SplitAt(Primitive):
    """Split along ``axis`` at the given boundaries; several outputs."""

    def __init__(self, boundaries, axis: int):
        self.boundaries, self.axis = list(boundaries), axis

    def forward(self, x):
        return tuple(get_array_module(x).split(x, self.boundaries, axis=self.axis))

    def backward(self, *grads):
        return Concatenate(self.axis)(*grads)


class Stack(Primitive):
    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *arrays):
        return get_array_module(arrays[0]).stack(arrays, axis=self.axis)

    def backward(self, grad):
        return unbind(grad, self.axis)


class Pad(Primitive):
    """Constant padding; ``widths`` is NumPy's ((before, after), ...) per axis (negative widths crop)."""

    def __init__(self, widths, value):
        self.widths, self.value = widths, value

    def forward(self, x):
        xp = get_array_module(x)
        grow = [(max(b, 0), max(a, 0)) for b, a in self.widths]
        y = x
        if any(b or a for b, a in grow):  # the padded copy keeps x's memory order
            shape = tuple(size + b + a for size, (b, a) in zip(x.shape, grow))
            y = empty_ordered(xp, shape, memory_order(x), x.dtype)
            y.fill(self.value)
            y[tuple(slice(b, b + size) for size, (b, _) in zip(x.shape, grow))] = x
        return y[self._crop(self.widths, y.shape)]

    @staticmethod
    def _crop(widths, shape):
        return tuple(slice(-b if b < 0 else 0, size + a if a < 0 else size) for (b, a), size in zip(widths, shape))

    def backward(self, grad):
        return Pad([(-b, -a) for b, a in self.widths], 0)(grad)


class Flip(Primitive):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return get_array_module(x).flip(x, axis=self.axes)

    def backward(self, grad):
        return Flip(self.axes)(grad)


class Tile(Primitive):
    """Repeat the whole tensor ``reps`` times along each axis (PyTorch's ``repeat``, NumPy's ``tile``)."""

    def __init__(self, reps):
        self.reps = tuple(reps)

    def forward(self, x):
        self.input_shape = x.shape
        return get_array_module(x).tile(x, self.reps)

    def backward(self, grad):
        # each output axis of size r*n splits into (r, n); sum over the r's
        split_shape = []
        for r, n in zip(self.reps, self.input_shape_padded()):
            split_shape += [r, n]
        summed = grad.reshape(tuple(split_shape)).sum(dim=tuple(range(0, 2 * len(self.reps), 2)))
        return summed.reshape(self.input_shape)

    def input_shape_padded(self):
        return (1,) * (len(self.reps) - len(self.input_shape)) + tuple(self.input_shape)


# ------------------------------------------------------------------------------------------- wrappers
def reshape(x: Tensor, *shape) -> Tensor:
    """Same data, new shape (one dimension may be -1); a view when the data is contiguous."""
    shape = _sizes(shape)
    if shape == x.shape:
        return x
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    count = x.numel()
    if shape.count(-1) > 1 or (-1 not in shape and known != count) or (
        -1 in shape and (known == 0 or count % known)
    ):
        raise ValueError(f"reshape: cannot reshape tensor of shape {x.shape} ({count} elements) into {shape}")
    return Reshape(shape)(x)


view = reshape


def view_as(x: Tensor, other: Tensor) -> Tensor:
    return reshape(x, other.shape)


reshape_as = view_as


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one (a 0-d tensor becomes shape ``(1,)``)."""
    if x.ndim == 0:
        normalize_axis(start_dim, 0, "flatten")
        normalize_axis(end_dim, 0, "flatten")
        return reshape(x, (1,))
    (start,) = normalize_axis(start_dim, x.ndim, "flatten")
    (end,) = normalize_axis(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    merged = int(np.prod(x.shape[start : end + 1], dtype=np.int64))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1 :])


def permute(x: Tensor, *dims) -> Tensor:
    """Reorder dimensions: ``permute(x, 2, 0, 1)``."""
    dims = _sizes(dims)
    if len(dims) != x.ndim:
        raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor with {x.ndim} dimensions {x.shape}")
    axes = normalize_axis(dims, x.ndim, "permute")
    if axes == tuple(range(x.ndim)):
        return x
    return Permute(axes)(x)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    (a,) = normalize_axis(dim0, x.ndim, "transpose")
    (b,) = normalize_axis(dim1, x.ndim, "transpose")
    if a == b:
        return x
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Permute(axes)(x)


swapaxes = transpose


def t(x: Tensor) -> Tensor:
    """Transpose of a matrix (tensors of fewer than 2 dims are returned as is)."""
    if x.ndim > 2:
        raise ValueError(f"t: expected a tensor with at most 2 dimensions, received shape {x.shape}")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def transpose_all(x: Tensor) -> Tensor:
    """``x.T``: all dimensions reversed."""
    return x if x.ndim < 2 else Permute(tuple(reversed(range(x.ndim))))(x)


def matrix_transpose(x: Tensor) -> Tensor:
    """``x.mT``: the last two dimensions swapped."""
    if x.ndim < 2:
        raise ValueError(f"mT: expected at least 2 dimensions, received shape {x.shape}")
    return transpose(x, -2, -1)


def movedim(x: Tensor, source, destination) -> Tensor:
    source = normalize_axis(source, x.ndim, "movedim")
    destination = normalize_axis(destination, x.ndim, "movedim")
    order = [axis for axis in range(x.ndim) if axis not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return permute(x, *order)


def squeeze(x: Tensor, dim=None) -> Tensor:
    """Drop dimensions of size 1 (all, or those in ``dim`` that have size 1)."""
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        axes = normalize_axis(dim, x.ndim, "squeeze") if x.ndim else ()
        shape = tuple(s for axis, s in enumerate(x.shape) if not (axis in axes and s == 1))
    return reshape(x, shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim`` (negative counts from the end of the result)."""
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor with {x.ndim} dimensions")
    dim = dim % (x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def broadcast_to(x: Tensor, *shape) -> Tensor:
    shape = _sizes(shape)
    if shape == x.shape:
        return x
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    return BroadcastTo(shape)(x)


def expand(x: Tensor, *sizes) -> Tensor:
    """Broadcast to ``sizes`` without copying; -1 keeps a dimension's size."""
    sizes = _sizes(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: the {len(sizes)} sizes {sizes} are fewer than the tensor's dims {x.shape}")
    shape = tuple(x.shape[i - lead] if size == -1 and i >= lead else size for i, size in enumerate(sizes))
    if shape != x.shape:
        try:
            valid = builtins.min(shape) >= 0 and np.broadcast_shapes(x.shape, shape) == shape
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}")
    return broadcast_to(x, shape)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, other.shape)


def contiguous(x: Tensor) -> Tensor:
    return x


def _check_joinable(op: str, tensors, axis: int, same_shape: bool) -> None:
    first = tensors[0]
    for index, tensor in enumerate(tensors[1:], start=1):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{op}: expected Tensors, element {index} is {type(tensor).__name__}")
        if tensor.ndim != first.ndim:
            raise ValueError(f"{op}: tensor 0 has shape {first.shape} but tensor {index} has shape {tensor.shape}")
        for d in range(first.ndim):
            if (same_shape or d != axis) and tensor.shape[d] != first.shape[d]:
                raise ValueError(
                    f"{op}: sizes must match except in dim {axis}; tensor 0 has shape {first.shape} "
                    f"but tensor {index} has shape {tensor.shape}"
                )


def _common_dtype(tensors):
    """Cast to PyTorch's result type of the tensors (int64 with float32 gives float32)."""
    first = tensors[0].dtype
    if builtins.all(t.dtype == first for t in tensors):
        return tensors
    dtype = result_type(*tensors)
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def cat(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join tensors along an existing dimension; dtypes promote as in PyTorch."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    if not isinstance(tensors[0], Tensor):
        raise TypeError(f"cat: expected Tensors, element 0 is {type(tensors[0]).__name__}")
    if tensors[0].ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack, or reshape them to (1,)")
    dim = pick_dim("cat", dim, axis, default=0)
    (axis_,) = normalize_axis(dim, tensors[0].ndim, "cat")
    _check_joinable("cat", tensors, axis_, same_shape=False)
    if len(tensors) == 1:
        return tensors[0]
    return Concatenate(axis_)(*_common_dtype(tensors))


concatenate = cat
concat = cat


def stack(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join same-shape tensors along a new dimension ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    if not isinstance(tensors[0], Tensor):
        raise TypeError(f"stack: expected Tensors, element 0 is {type(tensors[0]).__name__}")
    dim = pick_dim("stack", dim, axis, default=0)
    ndim = tensors[0].ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"stack: dim {dim} is out of range for {ndim}-dimensional results")
    _check_joinable("stack", tensors, dim, same_shape=True)
    return Stack(dim % ndim)(*_common_dtype(tensors))


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into pieces of ``split_size`` (the last may be smaller) or into the listed section sizes."""
    (axis,) = normalize_axis(dim, x.ndim, "split")
    length = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, received {size}")
        boundaries = list(range(size, length, size))
    else:
        sections = [int(section) for section in split_size_or_sections]
        if builtins.sum(sections) != length or builtins.min(sections, default=0) < 0:
            raise ValueError(
                f"split: sections {sections} must be non-negative and add up to dim {dim} of size {length} "
                f"(shape {x.shape})"
            )
        boundaries = np.cumsum(sections)[:-1].tolist()
    if not boundaries:
        return (x,)
    return SplitAt(boundaries, axis)(x)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into pieces of ``ceil(length / chunks)`` along ``dim`` (the last may be smaller, and there may be
    fewer than ``chunks`` pieces), as PyTorch does."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, received {chunks}")
    (axis,) = normalize_axis(dim, x.ndim, "chunk")
    if x.shape[axis] == 0:  # PyTorch gives ``chunks`` empty pieces
        return split(x, [0] * chunks, axis)
    size = -(-x.shape[axis] // chunks)
    return split(x, size, axis)


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, as a tuple of tensors without that dimension."""
    (axis,) = normalize_axis(dim, x.ndim, "unbind")
    pieces = split(x, 1, axis)
    return tuple(squeeze(piece, axis) for piece in pieces)


def pad(x: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """PyTorch's ``F.pad``: ``pad`` lists (before, after) pairs starting from the LAST dimension.

    ``mode``: ``"constant"`` (fill with ``value``, default 0; negative widths crop), or ``"reflect"``
    (mirror without repeating the edge; widths < the axis' size), ``"replicate"`` (repeat the edge) and
    ``"circular"`` (wrap around; widths <= the size), which pad the last 1-3 dimensions of a
    (N, C, *) or (C, *) input and take no ``value``.
    """
    if mode != "constant":
        return _pad_repeating(x, list(pad), mode, value)
    value = 0.0 if value is None else value
    pad = list(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of at most {2 * x.ndim} values, received {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    result_shape = tuple(size + before + after for size, (before, after) in zip(x.shape, widths))
    if builtins.min(result_shape, default=1) < 0:
        raise ValueError(f"pad: padding {pad} crops more than the input's shape {x.shape} holds")
    return Pad(widths, value)(x)


def _pad_repeating(x: Tensor, pad: list, mode: str, value) -> Tensor:
    """``pad`` for the modes that repeat the input (``functions.padding``), with PyTorch's checks."""
    if mode not in NUMPY_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', received {mode!r}")
    if value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument, received value={value}")
    axes = len(pad) // 2
    if len(pad) % 2 or not 1 <= axes <= 3 or x.ndim not in (axes + 1, axes + 2):
        raise ValueError(
            f"pad: mode {mode!r} pads the last 1-3 dimensions of an input with one or two leading (N, C) "
            f"dimensions: expected 2, 4 or 6 values for a {x.ndim}-d input, received pad={tuple(pad)} for "
            f"shape {x.shape}"
        )
    widths = [(0, 0)] * x.ndim
    for i in range(axes):
        axis = x.ndim - 1 - i
        before, after = int(pad[2 * i]), int(pad[2 * i + 1])
        size = x.shape[axis]
        if min(before, after) < 0:
            raise ValueError(f"pad: mode {mode!r} needs non-negative padding, received pad={tuple(pad)}")
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(f"pad: padding ({before}, {after}) of dimension {axis} must be smaller than its "
                             f"size {size} for mode 'reflect', received input shape {x.shape}")
        if mode == "circular" and max(before, after) > size:
            raise ValueError(f"pad: padding ({before}, {after}) of dimension {axis} must be at most its size "
                             f"{size} for mode 'circular', received input shape {x.shape}")
        if size == 0 and (before or after):
            raise ValueError(f"pad: cannot pad the empty dimension {axis} of shape {x.shape} with mode {mode!r}")
        widths[axis] = (before, after)
    return PadRepeat(widths, mode)(x)


def flip(x: Tensor, dims) -> Tensor:
    """Reverse the order of elements along ``dims``."""
    axes = normalize_axis(dims, x.ndim, "flip")
    return Flip(axes)(x)


def repeat(x: Tensor, *sizes) -> Tensor:
    """PyTorch's ``repeat``: tile the whole tensor ``sizes[i]`` times along each dim (may add leading dims)."""
    sizes = _sizes(sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: need at least {x.ndim} repeat counts for shape {x.shape}, received {sizes}")
    return Tile(sizes)(x)


def tile(x: Tensor, dims) -> Tensor:
    """Like ``repeat``, but fewer counts than dims are padded with 1s at the front."""
    dims = _sizes((dims,)) if isinstance(dims, (tuple, list)) else (dims,)
    dims = (1,) * (x.ndim - len(dims)) + tuple(dims)
    return Tile(dims)(x)


__all__ = [
    "reshape", "view", "view_as", "reshape_as", "flatten", "permute", "transpose", "swapaxes", "t",
    "transpose_all", "matrix_transpose", "movedim", "squeeze", "unsqueeze", "broadcast_to", "expand",
    "expand_as", "contiguous", "cat", "concatenate", "concat", "stack", "split", "chunk", "unbind", "pad", "flip",
    "repeat", "tile",
]
