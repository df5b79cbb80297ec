"""The two frameworks behind one small interface, so each benchmark is written once.

Ember and PyTorch share the PyTorch dialect (``nn``, ``nn.functional``, ``optim``, ``no_grad``); what differs
is only how a NumPy array enters and leaves a tensor, which this module hides. A framework is imported only
when ``load`` asks for it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

NAMES = ("ember", "torch")
DISPLAY = {"ember": "Ember", "torch": "PyTorch"}


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class Framework:
    """One framework: its top-level module and the few calls whose spelling differs."""

    name: str
    module: ModuleType

    @property
    def display(self) -> str:
        return DISPLAY[self.name]

    @property
    def nn(self) -> ModuleType:
        return self.module.nn

    @property
    def F(self) -> ModuleType:  # noqa: N802 - PyTorch's conventional name
        return self.module.nn.functional

    def tensor(self, array: np.ndarray, requires_grad: bool = False):
        """A tensor holding ``array`` (shared memory when only read, a copy when it is a leaf to differentiate)."""
        if requires_grad:
            return self.module.tensor(array, requires_grad=True)
        return self.module.from_numpy(np.ascontiguousarray(array))

    def to_numpy(self, tensor) -> np.ndarray:
        if self.name == "torch":
            return tensor.detach().numpy()
        return tensor.numpy()

    def assign(self, parameter, array: np.ndarray) -> None:
        """Copy ``array`` into ``parameter`` in place (its identity, as an optimizer holds it, is kept)."""
        if tuple(parameter.shape) != array.shape:
            raise ValueError(
                f"{self.display}: parameter of shape {tuple(parameter.shape)} cannot take an array of shape "
                f"{array.shape}"
            )
        with self.module.no_grad():
            if self.name == "torch":
                parameter.copy_(self.module.from_numpy(array))
            else:
                parameter.array[...] = array

    def no_grad(self):
        return self.module.no_grad()

    def adam(self, parameters, lr: float = 1e-3):
        return self.module.optim.Adam(parameters, lr=lr)

    def manual_seed(self, seed: int) -> None:
        self.module.manual_seed(seed)

    def version(self) -> str:
        return self.module.__version__


def load(name: str, torch_threads: int | None = None) -> Framework:
    """Import ``"ember"`` or ``"torch"``; PyTorch gets ``torch_threads`` intra-op threads (default: the cores
    this process may use, as NumPy's BLAS takes them for Ember)."""
    if name == "ember":
        import ember
        import ember.nn
        import ember.nn.functional
        import ember.optim

        return Framework("ember", ember)
    if name == "torch":
        import torch

        torch.set_num_threads(torch_threads or available_cores())
        return Framework("torch", torch)
    raise ValueError(f"frameworks.load: expected one of {NAMES}, received {name!r}")
