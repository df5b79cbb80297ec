"""Handles of hooks registered on tensors."""
from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tensor import Tensor


class TensorHookHandle:
    """Returned by ``register_post_accumulate_grad_hook``: ``remove()`` unregisters the hook."""

    def __init__(self, tensor: Tensor, hook: Callable) -> None:
        self._tensor_ref = weakref.ref(tensor)
        self._hook = hook

    def remove(self) -> None:
        tensor = self._tensor_ref()
        if tensor is None:
            return
        hooks = tensor._post_accumulate_grad_hooks
        if hooks is None or self._hook not in hooks:
            return
        hooks.remove(self._hook)
        if not hooks:
            tensor._post_accumulate_grad_hooks = None
