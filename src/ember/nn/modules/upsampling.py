"""``Upsample``: ``F.interpolate`` as a layer."""
from __future__ import annotations

from ...autograd.tensor import Tensor
from .. import functional as F
from .module import Module


class Upsample(Module):
    """Resample the spatial axes of an (N, C, *spatial) input, as PyTorch's ``nn.Upsample``.

    Args:
        size: output spatial size (int or one per axis), or
        scale_factor: multiplier (float or one per axis); give exactly one of the two.
        mode: ``"nearest"`` (default), ``"nearest-exact"``, ``"linear"`` (3-d input) or ``"bilinear"`` (4-d).
        align_corners: linear modes only (default None, meaning False).
        recompute_scale_factor: see ``F.interpolate``.

    Shape: input ``(N, C, *spatial)``; output ``(N, C, *output_size)``.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError(f"Upsample: give exactly one of size and scale_factor, received size={size!r} and "
                             f"scale_factor={scale_factor!r}")
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        described = f"scale_factor={self.scale_factor}" if self.size is None else f"size={self.size}"
        return f"{described}, mode={self.mode!r}"


__all__ = ["Upsample"]
