"""Ember: a small, fast deep-learning framework on NumPy (and CuPy), in PyTorch and Keras dialects.

    import ember
    x = ember.randn(4, 3, requires_grad=True)
    loss = (x.tanh() ** 2).sum()
    loss.backward()
    x.grad.shape  # (4, 3)
"""
from . import config
from .backend import (
    Device, device, float16, float32, float64, int8, int16, int32, int64, uint8, get_default_dtype,
    set_default_dtype,
)
from .backend.dtypes import bool_ as bool  # noqa: A001 - ember.bool, as torch.bool
from .backend.random import manual_seed, initial_seed, get_rng_state, set_rng_state
from .autograd import (
    Tensor, Function, no_grad, enable_grad, set_grad_enabled, is_grad_enabled, grad, gradcheck,
)
from . import autograd
from .functions import *  # noqa: F403
from .backend.allocator import keep_freed_memory as _keep_freed_memory
from .backend.threads import set_num_threads, get_num_threads

_malloc_tuned = _keep_freed_memory()  # freed memory stays mapped for reuse; the malloc setting opts out

half, float, double, long, int = float16, float32, float64, int64, int32  # noqa: A001 - PyTorch's aliases

__version__ = "0.1.0"


def __getattr__(name):
    """Import the larger sub-packages on first use, so that ``import ember`` stays fast."""
    import importlib

    if name in ("save", "load"):
        from . import io

        return getattr(io, name)
    if name in ("nn", "optim", "data", "datasets", "metrics", "keras", "cuda", "plot", "transforms", "utils", "io",
                "progress", "onnx"):
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'ember' has no attribute {name!r}")
