"""Creating tensors: from data, filled, ranges, and random draws (all float32 unless asked otherwise)."""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import dtypes
from ..backend import random as ember_random
from ..backend.device import Device, get_array_module


def _shape(size, keyword_size=None, op: str = "") -> tuple:
    """The shape from ``f(2, 3)``, ``f((2, 3))`` or PyTorch's keyword form ``f(size=(2, 3))``."""
    if keyword_size is not None:
        if size:
            raise TypeError(f"{op}: received both positional sizes {tuple(size)} and size={keyword_size!r}")
        size = (keyword_size,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for dimension in size:
        if not isinstance(dimension, (int, np.integer)) or dimension < 0:
            raise ValueError(f"expected a shape of non-negative integers, received {tuple(size)}")
    return tuple(int(d) for d in size)


def _finish(array, device, requires_grad) -> Tensor:
    """Place a NumPy array on ``device`` and wrap it."""
    if device is not None:
        device = Device(device)
        if device.type != "cpu":
            array = device.xp.asarray(array)
    return Tensor(array, requires_grad=requires_grad)


def _infer_dtype(data, array: np.ndarray):
    """Python floats become the default float dtype, ints int64, bools bool; NumPy arrays keep theirs."""
    if isinstance(data, (np.ndarray, np.generic)):
        return array.dtype
    if array.dtype.kind == "f":
        return dtypes.get_default_dtype()
    if array.dtype.kind in "iu":
        return dtypes.int64
    return array.dtype


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Copy ``data`` (nested lists, numbers, arrays or a Tensor) into a new leaf tensor.

    ``dtype`` defaults to float32 for Python floats, int64 for ints, bool for bools, and the array's own dtype
    for NumPy arrays.
    """
    if isinstance(data, Tensor):
        data = data.array
    xp = get_array_module(data)
    if isinstance(data, (list, tuple)) and any(isinstance(item, Tensor) for item in _flatten_once(data)):
        data = _nested_tensors_to_arrays(data)
    array = xp.array(data, copy=True)
    if array.dtype == object:
        raise TypeError(f"tensor: could not convert data of type {type(data).__name__} to a numeric array")
    target = dtypes.to_numpy_dtype(dtype) if dtype is not None else _infer_dtype(data, array)
    if array.dtype != target:
        array = array.astype(target)
    if device is None and xp is not np:
        return Tensor(array, requires_grad=requires_grad)
    return _finish(array, device, requires_grad)


def _flatten_once(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten_once(item)
        else:
            yield item


def _nested_tensors_to_arrays(items):
    if isinstance(items, Tensor):
        return items.array
    if isinstance(items, (list, tuple)):
        return [_nested_tensors_to_arrays(item) for item in items]
    return items


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array when dtype and device already match."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    if isinstance(data, np.ndarray) and device in (None, "cpu"):
        target = dtypes.to_numpy_dtype(dtype) if dtype is not None else data.dtype
        return Tensor(data if data.dtype == target else data.astype(target))
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (its dtype is kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, received {type(array).__name__}")
    return Tensor(array)


def _filled(fill, size, dtype, device, requires_grad, keyword_size=None, op: str = ""):
    shape = _shape(size, keyword_size, op)
    dtype = dtypes.to_numpy_dtype(dtype)
    xp = Device(device).xp if device is not None else np
    return Tensor(xp.full(shape, fill, dtype=dtype), requires_grad=requires_grad)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given shape: ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``."""
    return _filled(0, sizes, dtype, device, requires_grad, size, "zeros")


def ones(*sizes, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(1, sizes, dtype, device, requires_grad, size, "ones")


def empty(*sizes, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(0, sizes, dtype, device, requires_grad, size, "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``fill_value``; dtype follows the value (float → float32, int → int64, bool → bool)."""
    if dtype is None:
        if isinstance(fill_value, (bool, np.bool_)):
            dtype = dtypes.bool_
        elif isinstance(fill_value, (int, np.integer)):
            dtype = dtypes.int64
    if isinstance(size, int):
        size = (size,)
    return _filled(fill_value, (tuple(size),), dtype, device, requires_grad)


def _like(x: Tensor, dtype, device):
    return (x.dtype if dtype is None else dtype), (x.device if device is None else device)


def zeros_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return zeros(x.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return ones(x.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros_like(x, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return full(x.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if integral else dtypes.get_default_dtype()
    dtype = dtypes.to_numpy_dtype(dtype)
    array = np.arange(start, end, step, dtype=np.float64 if dtype.kind == "f" else dtype).astype(dtype)
    return _finish(array, device, requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if steps < 0:
        raise ValueError(f"linspace: steps must be non-negative, received {steps}")
    array = np.linspace(start, end, steps).astype(dtypes.to_numpy_dtype(dtype))
    return _finish(array, device, requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    array = np.eye(n, m, dtype=dtypes.to_numpy_dtype(dtype))
    return _finish(array, device, requires_grad)


# --------------------------------------------------------------------------------------------- random
def _random_array(draw, shape, dtype, device):
    """Draw on the target device so that CUDA tensors never pass through host memory."""
    if device is not None and Device(device).type == "cuda":
        return draw(ember_random.cuda_generator(), shape, dtype, on_cuda=True)
    return draw(ember_random.generator(), shape, dtype, on_cuda=False)


def _uniform_draw(source, shape, dtype, on_cuda):
    if on_cuda:
        return source.random(shape, dtype=dtype) if dtype.kind == "f" else source.random(shape).astype(dtype)
    if dtype in (dtypes.float32, dtypes.float64):
        return source.random(shape, dtype=dtype)
    return source.random(shape, dtype=np.float32).astype(dtype)


def _normal_draw(source, shape, dtype, on_cuda):
    if on_cuda:
        return source.standard_normal(shape, dtype=dtype)
    if dtype in (dtypes.float32, dtypes.float64):
        return source.standard_normal(shape, dtype=dtype)
    return source.standard_normal(shape, dtype=np.float32).astype(dtype)


def _random_float_dtype(name: str, dtype) -> np.dtype:
    dtype = dtypes.to_numpy_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating dtype, received {dtype}; use randint for integers")
    return dtype


def rand(*sizes, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on ``[0, 1)``, float32 unless ``dtype`` says otherwise."""
    dtype = _random_float_dtype("rand", dtype)
    array = _random_array(_uniform_draw, _shape(sizes, size, "rand"), dtype, device)
    return Tensor(array, requires_grad=requires_grad)


def randn(*sizes, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples, float32 unless ``dtype`` says otherwise."""
    dtype = _random_float_dtype("randn", dtype)
    array = _random_array(_normal_draw, _shape(sizes, size, "randn"), dtype, device)
    return Tensor(array, requires_grad=requires_grad)


def rand_like(x: Tensor, dtype=None, device=None) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return rand(x.shape, dtype=dtype, device=device)


def randn_like(x: Tensor, dtype=None, device=None) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return randn(x.shape, dtype=dtype, device=device)


def randint(low, high=None, size=None, dtype=None, device=None) -> Tensor:
    """Integers uniformly from ``[low, high)`` (``randint(high, size)`` also works); int64 by default."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint: expected randint(low, high, size) or randint(high, size)")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if isinstance(size, int):
        size = (size,)
    if high <= low:
        raise ValueError(f"randint: expected low < high, received low={low}, high={high}")
    dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else dtypes.int64
    if device is not None and Device(device).type == "cuda":
        array = ember_random.cuda_generator().randint(low, high, size=tuple(size)).astype(dtype)
    else:
        array = ember_random.generator().integers(low, high, size=tuple(size), dtype=dtype)
    return Tensor(array)


def randperm(n: int, dtype=None, device=None) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64)."""
    array = ember_random.generator().permutation(n).astype(dtypes.to_numpy_dtype(dtype or dtypes.int64))
    return _finish(array, device, False)


class Generator:
    """A random number generator of its own, as ``torch.Generator``: ``Generator().manual_seed(0)``, passed as
    ``generator=`` to ``multinomial``; draws from it leave Ember's global generator untouched. CPU only."""

    def __init__(self, device="cpu"):
        if Device(device).type != "cpu":
            raise ValueError(f"Generator: only the CPU is supported, received device {device!r}")
        self.device = Device("cpu")
        self._seed = int(np.random.default_rng().integers(2**63))  # fresh entropy, as torch.Generator()
        self.numpy = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        """Reseed; returns the generator, so that ``Generator().manual_seed(0)`` reads as in PyTorch."""
        self._seed = int(seed)
        self.numpy = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        return self.numpy.bit_generator.state

    def set_state(self, state) -> Generator:
        self.numpy.bit_generator.state = state
        return self


def _numpy_generator(op: str, generator) -> np.random.Generator:
    if generator is None:
        return ember_random.generator()
    if isinstance(generator, Generator):
        return generator.numpy
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"{op}: generator must be an ember.Generator, received {type(generator).__name__}")


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:  # noqa: A002
    """Draw ``num_samples`` category indices from each row of non-negative weights (probabilities or any
    unnormalised weights): input (C,) → (num_samples,), or (N, C) → (N, num_samples), int64.

    Without replacement no index repeats within a row and ``num_samples`` may not exceed the number of
    categories with non-zero weight; each draw picks among the remaining categories in proportion to their
    weights (the exponential-race method PyTorch uses). With replacement the draws are independent.
    Not differentiable.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial: expected a Tensor of weights, received {type(input).__name__}")
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise ValueError(f"multinomial: expected weights of shape (C,) or (N, C) with C > 0, received {input.shape}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be a positive int, received {num_samples!r}")
    if input.dtype.kind != "f":
        raise TypeError(f"multinomial: expected floating weights, received dtype {input.dtype}")
    weights = np.asarray(input.array.get() if hasattr(input.array, "get") else input.array, dtype=np.float64)
    rows = weights.reshape(-1, weights.shape[-1])
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError("multinomial: weights must be finite and non-negative")
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError(f"multinomial: every row of weights needs a positive sum, received row sums {totals}")
    rng = _numpy_generator("multinomial", generator)
    categories = rows.shape[1]
    if replacement:
        cdf = np.cumsum(rows / totals[:, None], axis=1)
        cdf[:, -1] = 1.0  # rounding must not leave a draw above the last bound
        # row r's bounds and draws shifted by r: one search over all rows, each draw landing in its own row;
        # side="right" never lands on a category of zero weight (its bound equals the one before)
        offsets = np.arange(rows.shape[0], dtype=np.float64)[:, None]
        draws = rng.random((rows.shape[0], num_samples)) + offsets
        positions = np.searchsorted((cdf + offsets).ravel(), draws.ravel(), side="right").reshape(draws.shape)
        samples = np.minimum(positions - offsets.astype(np.int64) * categories, categories - 1)
    else:
        nonzero = (rows > 0).sum(axis=1)
        if num_samples > nonzero.min():
            raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from a row with "
                             f"{int(nonzero.min())} categories of non-zero weight (shape {input.shape})")
        # weight / Exp(1) for each category: the largest num_samples, in order, are a weighted draw without
        # replacement (zero weights give 0 and are never among them)
        keys = rows / rng.standard_exponential(rows.shape)
        samples = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    samples = samples.astype(np.int64).reshape(input.shape[:-1] + (num_samples,))
    return _finish(samples, input.device if input.device.type != "cpu" else None, False)


def normal(mean: float = 0.0, std: float = 1.0, size=(), dtype=None, device=None) -> Tensor:
    return randn(size, dtype=dtype, device=device) * std + mean


__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "arange", "linspace", "eye", "rand", "randn", "rand_like", "randn_like", "randint",
    "randperm", "normal", "Generator", "multinomial",
]
