"""Autodiff layer: Tensor, graph nodes, the backward engine, grad modes and gradient checking."""
from .tensor import Tensor
from .function import Function, Primitive
from .grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .engine import backward, grad
from .gradcheck import gradcheck, gradgradcheck

__all__ = [
    "Tensor", "Function", "Primitive", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "backward", "grad", "gradcheck", "gradgradcheck",
]
