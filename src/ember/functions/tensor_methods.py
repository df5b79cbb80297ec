"""Tensor's operators and methods, each bound to a function of this layer (Tensor itself holds no math).

``install()`` binds them when ``ember.functions`` is imported. ``ember/autograd/tensor.pyi`` lists them for
editors and type checkers: after changing what is installed here, run ``python tools/tensor_stub.py`` (a test
fails until the stub matches).
"""
from __future__ import annotations

import functools

from ..autograd.tensor import Tensor, parse_to_arguments
from .creation import rand, randn
from .elementwise import to_device, to_dtype, where

# method name -> function name in ember.functions; a method receives the tensor as first argument.
METHODS = {
    # operators
    "__add__": "add", "__radd__": "add", "__sub__": "sub", "__rsub__": "rsub", "__mul__": "mul",
    "__rmul__": "mul", "__truediv__": "div", "__rtruediv__": "rdiv", "__pow__": "pow", "__rpow__": "rpow",
    "__matmul__": "matmul", "__rmatmul__": "rmatmul", "__neg__": "neg", "__abs__": "abs",
    "__getitem__": "getitem", "__setitem__": "setitem",
    "__eq__": "eq", "__ne__": "ne", "__lt__": "lt", "__le__": "le", "__gt__": "gt", "__ge__": "ge",
    "__and__": "logical_and", "__or__": "logical_or", "__xor__": "logical_xor", "__invert__": "logical_not",
    "__floordiv__": "floor_divide", "__mod__": "remainder",
    # elementwise
    "add": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow", "neg": "neg", "square": "square",
    "reciprocal": "reciprocal", "exp": "exp", "log": "log", "log1p": "log1p", "sqrt": "sqrt", "rsqrt": "rsqrt",
    "sin": "sin", "cos": "cos", "abs": "abs", "sign": "sign", "floor": "floor", "ceil": "ceil", "round": "round",
    "clamp": "clamp", "clip": "clip", "maximum": "maximum", "minimum": "minimum", "clone": "clone",
    "eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge", "isnan": "isnan", "isinf": "isinf",
    "isfinite": "isfinite", "logical_not": "logical_not", "equal": "equal", "allclose": "allclose",
    "masked_fill": "masked_fill", "logical_and": "logical_and", "logical_or": "logical_or",
    "logical_xor": "logical_xor", "floor_divide": "floor_divide", "remainder": "remainder",
    # activations
    "tanh": "tanh", "sigmoid": "sigmoid", "relu": "relu", "softmax": "softmax", "log_softmax": "log_softmax",
    "erf": "erf",
    # reductions
    "sum": "sum", "mean": "mean", "var": "var", "std": "std", "max": "max", "min": "min", "prod": "prod",
    "logsumexp": "logsumexp", "norm": "norm", "argmax": "argmax", "argmin": "argmin", "any": "any", "all": "all",
    "amax": "amax", "amin": "amin", "cumsum": "cumsum",
    # shape
    "reshape": "reshape", "view": "view", "view_as": "view_as", "reshape_as": "reshape_as",
    "transpose": "transpose", "permute": "permute", "swapaxes": "swapaxes", "squeeze": "squeeze",
    "unsqueeze": "unsqueeze", "expand": "expand", "expand_as": "expand_as", "broadcast_to": "broadcast_to",
    "flatten": "flatten", "split": "split", "chunk": "chunk", "flip": "flip", "repeat": "repeat", "tile": "tile",
    "unbind": "unbind", "contiguous": "contiguous", "movedim": "movedim", "t": "t", "swapdims": "swapaxes",
    # indexing
    "gather": "gather", "index_select": "index_select", "nonzero": "nonzero", "take_along_dim": "take_along_dim",
    "masked_fill_": "masked_fill_", "tril": "tril", "triu": "triu", "topk": "topk",
    # random
    "multinomial": "multinomial",
    # linear algebra
    "matmul": "matmul", "mm": "mm", "bmm": "bmm", "dot": "dot", "outer": "outer", "baddbmm": "baddbmm",
}

PROPERTIES = {"T": "transpose_all", "mT": "matrix_transpose"}

# x.name_() for each name: computed out of place, then written into x (unless Tensor defines it itself).
INPLACE = ("abs", "clamp", "add", "sub", "mul", "div", "exp", "log", "sqrt", "relu", "sigmoid", "tanh", "neg", "pow",
           "clip", "square", "reciprocal", "log1p", "rsqrt", "sin", "cos", "sign", "floor", "ceil", "round", "erf")


def install() -> None:
    """Bind every entry of METHODS and PROPERTIES, ``to``, ``where``, the random fills and the INPLACE methods
    onto Tensor."""
    from .. import functions

    for method, function_name in METHODS.items():
        setattr(Tensor, method, getattr(functions, function_name))
    for name, function_name in PROPERTIES.items():
        setattr(Tensor, name, property(getattr(functions, function_name)))
    for name, bound in (("to", _to), ("where", _where), ("normal_", _normal_), ("uniform_", _uniform_)):
        setattr(Tensor, name, bound)
    for name in INPLACE:
        setattr(Tensor, name + "_", _inplace_method(getattr(functions, name), name + "_"))


def _to(self: Tensor, *args, **kwargs) -> Tensor:
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``; differentiable.

    Returns ``self`` when nothing changes, like PyTorch.
    """
    device, dtype = parse_to_arguments("to()", args, kwargs)
    result = self
    if device is not None and device != self.device:
        result = to_device(result, device)
    if dtype is not None and dtype != result.dtype:
        result = to_dtype(result, dtype)
    return result


def _where(self: Tensor, condition, other) -> Tensor:
    """``x.where(condition, other)``: ``x`` where ``condition`` holds, else ``other`` (PyTorch's method)."""
    return where(condition, self, other)


def _inplace_method(function, name):
    """``x.relu_()`` and friends: compute out of place, then write the result into ``x``'s data."""
    existing = getattr(Tensor, name, None)
    if existing is not None:  # Tensor defines the fast data-level helpers itself (add_, mul_, ...)
        return existing

    def method(self, *args, **kwargs):
        self._check_inplace(name)
        result = function(self, *args, **kwargs)
        self.array[...] = result.array
        return self

    functools.update_wrapper(method, function)  # the signature and annotations of the function it applies
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In place: ``x.{name}(...)`` writes ``{function.__name__}(x, ...)`` into ``x``; returns ``x``."
    return method


def _normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill in place with samples of N(mean, std²) from Ember's generator (``ember.manual_seed``); returns ``x``."""
    return _random_fill(self, "normal_", randn, generator, std, mean)


def _uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    """Fill in place with samples of U[a, b) from Ember's generator (``ember.manual_seed``); returns ``x``."""
    return _random_fill(self, "uniform_", rand, generator, b - a, a)


def _random_fill(tensor: Tensor, name: str, draw, generator, scale: float, shift: float) -> Tensor:
    """Write ``draw(shape) * scale + shift`` into ``tensor``; floating tensors only, unrecorded."""
    tensor._check_inplace(name)
    if generator is not None:
        raise TypeError(f"{name}: generator= is not supported; seed Ember's generator with ember.manual_seed")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating tensor, received dtype {tensor.dtype}")
    samples = draw(tensor.shape, dtype=tensor.dtype, device=tensor.device)
    tensor.array[...] = samples.array * scale + shift
    return tensor
