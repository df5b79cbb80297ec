"""``Parameter``: a Tensor that a Module registers as one of its learnable weights."""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import dtypes


class Parameter(Tensor):
    """A leaf Tensor that modules register automatically when assigned as an attribute.

    Args:
        data: a Tensor (its array is shared, not copied), a NumPy/CuPy array, or nested lists (float32).
            None gives an empty float32 tensor.
        requires_grad: whether the parameter is trained (default True).

    Example::

        self.scale = ember.nn.Parameter(ember.ones(10))
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            array = np.empty((0,), dtype=dtypes.get_default_dtype())
        elif isinstance(data, Tensor):
            array = data.array
        elif isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__"):
            array = data
        else:
            from ..functions.creation import tensor

            array = tensor(data).array
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


__all__ = ["Parameter"]
