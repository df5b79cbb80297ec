"""Image transforms with torchvision's names and semantics, on NumPy arrays and Tensors (no PIL needed).

An image is a NumPy array (H, W) or (H, W, C) — uint8 in [0, 255] or float — laid out as a PIL image would
be, or a Tensor (C, H, W) as ``ToTensor`` makes it. ``transform(image)`` transforms one image;
``transform.apply_batch(batch)`` transforms a whole batch — a NumPy array (N, H, W) / (N, H, W, C) or a
Tensor (N, C, H, W) — at once, drawing independent random parameters for every image, with no Python loop
over the images. The module function ``apply_batch(transform, batch)`` does the same for any callable,
looping over the images only when the callable has no ``apply_batch`` of its own.

A Tensor with more than three dimensions passed to ``transform(...)`` is handled as torchvision does: all of
its images share one draw of the random parameters. Random parameters come from Ember's generator (seeded
by ``ember.manual_seed``), or, while a ``DataLoader`` makes a batch, from that batch's generator. Transforms
prepare data: they work on the arrays and do not record operations for autograd.

Example — a torchvision pipeline applied to 64 MNIST digits at once::

    transform = transforms.Compose([
        transforms.Resize((48, 48)), transforms.Grayscale(num_output_channels=3),
        transforms.RandomRotation(10), transforms.ColorJitter(brightness=0.2, contrast=0.2),
        transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3),
    ])
    batch = transforms.apply_batch(transform, images)  # uint8 (64, 28, 28) → float32 Tensor (64, 3, 48, 48)
"""
from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import dtypes
from ..backend.device import get_array_module
from . import _image
from ._worker import random_generator


class InterpolationMode(Enum):
    """How pixels are interpolated (the modes Ember implements; torchvision's names and values)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"

    def __repr__(self) -> str:
        return f"InterpolationMode.{self.name}"


def _interpolation(value, allowed: Sequence[InterpolationMode], owner: str) -> InterpolationMode:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # an unknown name is reported below with the allowed ones
            value = InterpolationMode(value)
    if value not in allowed:
        names = ", ".join(f"InterpolationMode.{mode.name}" for mode in allowed)
        raise ValueError(f"{owner}: interpolation should be one of {names}, received {value!r}")
    return value


# ------------------------------------------------------------------------------------------ layouts
# Every image transform works on (N, H, W, C) arrays; these helpers move images and batches into that
# layout and back, remembering what the caller gave.
_ARRAY_HW = "array (H, W)"
_ARRAY_HWC = "array (H, W, C)"
_TENSOR = "tensor (C, H, W)"


def _single_to_nhwc(image, owner: str):
    """(images (N, H, W, C), kind, leading shape) for one image (or a Tensor of images sharing parameters)."""
    if isinstance(image, Tensor):
        if image.ndim < 3:
            raise ValueError(
                f"{owner}: expected a Tensor image (C, H, W) or (..., C, H, W), received shape {tuple(image.shape)}"
            )
        data = image.array.reshape((-1,) + tuple(image.shape[-3:]))
        return data.transpose(0, 2, 3, 1), _TENSOR, tuple(image.shape[:-3])
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            return image[None, :, :, None], _ARRAY_HW, ()
        if image.ndim == 3:
            return image[None], _ARRAY_HWC, ()
        raise ValueError(
            f"{owner}: expected an image array (H, W) or (H, W, C), received shape {image.shape}; "
            "use apply_batch for a batch"
        )
    raise TypeError(f"{owner}: expected a NumPy image array or a Tensor, received {type(image).__name__}")


def _batch_to_nhwc(batch, owner: str):
    """(images (N, H, W, C), kind) for a batch: NumPy (N, H, W) / (N, H, W, C) or Tensor (N, C, H, W)."""
    if isinstance(batch, Tensor):
        if batch.ndim != 4:
            raise ValueError(
                f"{owner}.apply_batch: expected a Tensor batch (N, C, H, W), received shape {tuple(batch.shape)}"
            )
        return batch.array.transpose(0, 2, 3, 1), _TENSOR
    if isinstance(batch, np.ndarray):
        if batch.ndim == 3:
            return batch[..., None], _ARRAY_HW
        if batch.ndim == 4:
            return batch, _ARRAY_HWC
        raise ValueError(
            f"{owner}.apply_batch: expected an image batch array (N, H, W) or (N, H, W, C), "
            f"received shape {batch.shape}"
        )
    raise TypeError(
        f"{owner}.apply_batch: expected a NumPy array (N, H, W[, C]) or a Tensor (N, C, H, W), "
        f"received {type(batch).__name__}"
    )


def _from_nhwc(images, kind: str):
    if kind == _TENSOR:
        return get_array_module(images).ascontiguousarray(images.transpose(0, 3, 1, 2))
    if kind == _ARRAY_HW and images.shape[-1] == 1:
        return images[..., 0]
    return images


def _fill_values(fill, channels: int, owner: str) -> np.ndarray:
    """``fill`` (a number or one value per channel) as an array of ``channels`` values."""
    values = np.asarray(0 if fill is None else fill, dtype=np.float64).reshape(-1)
    if values.size == 1:
        return np.repeat(values, channels)
    if values.size != channels:
        raise ValueError(f"{owner}: fill should have 1 or {channels} values for {channels} channels, "
                         f"received {fill!r}")
    return values


def _check_fill(fill, owner: str) -> None:
    if fill is None or isinstance(fill, numbers.Number):
        return
    if not isinstance(fill, (tuple, list)) or not all(isinstance(value, numbers.Number) for value in fill):
        raise TypeError(f"{owner}: fill should be a number or a sequence of numbers, received {fill!r}")


def _pair_size(size, owner: str) -> tuple[int, int]:
    """An int ``s`` → (s, s); a sequence of one or two ints → (h, w)."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    elif isinstance(size, Sequence) and len(size) == 1:
        size = (size[0], size[0])
    if (not isinstance(size, Sequence) or len(size) != 2
            or not all(isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0
                       for value in size)):
        raise ValueError(f"{owner}: size should be a positive int or a sequence (h, w) of positive ints, "
                         f"received {size!r}")
    return int(size[0]), int(size[1])


def _symmetric_range(value, owner: str, name: str) -> tuple[float, float]:
    """A number ``v`` → (-v, v); a pair → itself (low <= high)."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"{owner}: if {name} is a single number, it must be non-negative, received {value}")
        return -float(value), float(value)
    if isinstance(value, Sequence) and len(value) == 2:
        low, high = float(value[0]), float(value[1])
        if low > high:
            raise ValueError(f"{owner}: {name} range should be (min, max) with min <= max, received {value!r}")
        return low, high
    raise TypeError(f"{owner}: {name} should be a number or a sequence (min, max), received {value!r}")


def _relative_center(center, width: int, height: int) -> tuple[float, float]:
    """A pivot in pixel coordinates (origin at the top-left corner) relative to the image centre."""
    if center is None:
        return 0.0, 0.0
    return float(center[0]) - width * 0.5, float(center[1]) - height * 0.5


# ------------------------------------------------------------------------------------------ base class
class Transform:
    """Base of the image transforms: ``transform(image)`` for one image, ``transform.apply_batch(batch)`` for N.

    A subclass implements ``_apply(images, params)`` on (N, H, W, C) arrays and, when it is random,
    ``_draw(count, height, width)``, which returns ``count`` draws of its parameters (``count`` is N for a
    batch, or 1 when every image shares one draw).
    """

    def _draw(self, count: int, height: int, width: int) -> Any:
        return None

    def _output_kind(self, kind: str) -> str:
        return kind

    def __call__(self, image):
        images, kind, leading = _single_to_nhwc(image, type(self).__name__)
        result = _from_nhwc(self._apply(images, self._draw(1, images.shape[1], images.shape[2])),
                            self._output_kind(kind))
        if kind == _TENSOR:
            return Tensor(result.reshape(leading + result.shape[1:]))
        return result[0]

    def apply_batch(self, batch):
        """Transform a batch (NumPy (N, H, W[, C]) or Tensor (N, C, H, W)), with independent parameters per image."""
        images, kind = _batch_to_nhwc(batch, type(self).__name__)
        result = _from_nhwc(self._apply(images, self._draw(images.shape[0], images.shape[1], images.shape[2])),
                            self._output_kind(kind))
        return Tensor(result) if kind == _TENSOR else result

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items() if not name.startswith("_"))
        return f"{type(self).__name__}({fields})"


# ------------------------------------------------------------------------------------- composition
def _stack_outputs(outputs: list, owner: str):
    first = outputs[0]
    kinds = (Tensor, np.ndarray)
    if not isinstance(first, kinds) or any(type(output) is not type(first) for output in outputs):
        raise TypeError(
            f"{owner}: a transform applied image by image must return only Tensors or only NumPy arrays to be "
            f"stacked, received {sorted({type(output).__name__ for output in outputs})}"
        )
    shapes = {tuple(output.shape) for output in outputs}
    if len(shapes) != 1:
        raise ValueError(f"{owner}: per-image results have different shapes {sorted(shapes)} and cannot be stacked")
    if isinstance(first, Tensor):
        xp = get_array_module(first.array)
        return Tensor(xp.stack([output.array for output in outputs]))
    return np.stack(outputs)


def _apply_per_sample(transform: Callable, batch):
    if isinstance(batch, Tensor):
        samples = [Tensor(image) for image in batch.array]
    elif isinstance(batch, np.ndarray):
        samples = list(batch)
    else:
        raise TypeError(f"apply_batch: expected a NumPy array or a Tensor batch, received {type(batch).__name__}")
    if not samples:
        raise ValueError("apply_batch: cannot apply a per-image transform to an empty batch (unknown output shape)")
    return _stack_outputs([transform(sample) for sample in samples], f"apply_batch({transform!r})")


def apply_batch(transform: Callable, batch):
    """Apply ``transform`` to every image of ``batch`` (NumPy (N, H, W[, C]) or Tensor (N, C, H, W)).

    Calls ``transform.apply_batch(batch)`` when it exists (every transform of this module has one: one
    vectorised pass, independent random parameters per image); otherwise calls ``transform`` on each image
    and stacks the results (so any callable works).
    """
    method = getattr(transform, "apply_batch", None)
    if callable(method):
        return method(batch)
    return _apply_per_sample(transform, batch)


class Compose:
    """Apply ``transforms`` one after another (``apply_batch`` chains their ``apply_batch``)."""

    def __init__(self, transforms: Sequence[Callable]):
        for position, transform in enumerate(transforms):
            if not callable(transform):
                raise TypeError(f"Compose: transform {position} is not callable: {transform!r}")
        self.transforms = transforms

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image

    def apply_batch(self, batch):
        for transform in self.transforms:
            batch = apply_batch(transform, batch)
        return batch

    def __repr__(self) -> str:
        lines = "".join(f"\n    {transform!r}" for transform in self.transforms)
        return f"Compose({lines}\n)"


class Lambda:
    """Apply a user function ``lambd`` (``apply_batch`` calls it image by image: it cannot know better)."""

    def __init__(self, lambd: Callable):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, received {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, image):
        return self.lambd(image)

    def apply_batch(self, batch):
        return _apply_per_sample(self.lambd, batch)

    def __repr__(self) -> str:
        return f"Lambda({self.lambd!r})"


# ---------------------------------------------------------------------------------------- conversion
def _array_to_chw(array: np.ndarray, owner: str, batched: bool) -> np.ndarray:
    """(H, W) / (H, W, C) → (C, H, W), or (N, H, W) / (N, H, W, C) → (N, C, H, W), contiguous."""
    if array.ndim == 2 + batched:
        array = array[..., None]
    if array.ndim != 3 + batched:
        expected = "(N, H, W) or (N, H, W, C)" if batched else "(H, W) or (H, W, C)"
        raise ValueError(f"{owner}: expected an image array {expected}, received shape {array.shape}")
    return np.ascontiguousarray(np.moveaxis(array, -1, -3))


class ToTensor:
    """NumPy image (H, W[, C]) → Tensor (C, H, W); uint8 is scaled to float32 in [0, 1], other dtypes kept.

    Tensors pass through unchanged. ``apply_batch``: (N, H, W[, C]) → (N, C, H, W).
    """

    @staticmethod
    def _convert(array, owner: str, batched: bool):
        if isinstance(array, Tensor):
            return array
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{owner}: expected a NumPy image array or a Tensor, received {type(array).__name__}")
        chw = _array_to_chw(array, owner, batched)
        if chw.dtype == np.uint8:
            chw = chw.astype(np.float32) / np.float32(255)
        return Tensor(chw)

    def __call__(self, pic):
        return self._convert(pic, "ToTensor", batched=False)

    def apply_batch(self, batch):
        return self._convert(batch, "ToTensor.apply_batch", batched=True)

    def __repr__(self) -> str:
        return "ToTensor()"


class PILToTensor:
    """NumPy image (H, W[, C]) → Tensor (C, H, W) keeping the dtype (no scaling); Tensors pass through."""

    @staticmethod
    def _convert(array, owner: str, batched: bool):
        if isinstance(array, Tensor):
            return array
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{owner}: expected a NumPy image array or a Tensor, received {type(array).__name__}")
        return Tensor(_array_to_chw(array, owner, batched))

    def __call__(self, pic):
        return self._convert(pic, "PILToTensor", batched=False)

    def apply_batch(self, batch):
        return self._convert(batch, "PILToTensor.apply_batch", batched=True)

    def __repr__(self) -> str:
        return "PILToTensor()"


def _require_tensor(image, owner: str, batched: bool) -> Tensor:
    if not isinstance(image, Tensor):
        raise TypeError(
            f"{owner}: expected a Tensor image (C, H, W) as made by ToTensor, received {type(image).__name__}"
        )
    if (batched and image.ndim != 4) or image.ndim < 3:
        expected = "(N, C, H, W)" if batched else "(..., C, H, W)"
        raise ValueError(f"{owner}: expected a Tensor of shape {expected}, received shape {tuple(image.shape)}")
    return image


class ConvertImageDtype:
    """Convert a Tensor image to ``dtype``, rescaling values as torchvision does.

    Integer → float divides by the integer maximum (uint8: 255); float → integer multiplies by
    ``max + 1 - 0.001`` and truncates; integer → integer shifts by whole factors; float → float casts.
    """

    def __init__(self, dtype):
        self.dtype = dtypes.to_numpy_dtype(dtype)

    def _convert(self, image: Tensor) -> Tensor:
        data = image.array
        source, target = data.dtype, self.dtype
        if source == target:
            return image
        if source.kind == "f" and target.kind == "f":
            return Tensor(data.astype(target))
        if source.kind == "f":
            unsafe = (source == np.float32 and target in (np.int32, np.int64)) or (
                source == np.float64 and target == np.int64)
            if unsafe:
                raise RuntimeError(f"ConvertImageDtype: the cast from {source} to {target} cannot be performed safely")
            return Tensor((data * (float(np.iinfo(target).max) + 1.0 - 1e-3)).astype(target))
        source_max = int(np.iinfo(source).max)
        if target.kind == "f":
            return Tensor(data.astype(target) / target.type(source_max))
        target_max = int(np.iinfo(target).max)
        if source_max > target_max:
            return Tensor((data // ((source_max + 1) // (target_max + 1))).astype(target))
        return Tensor(data.astype(target) * ((target_max + 1) // (source_max + 1)))

    def __call__(self, image):
        return self._convert(_require_tensor(image, "ConvertImageDtype", batched=False))

    def apply_batch(self, batch):
        return self._convert(_require_tensor(batch, "ConvertImageDtype.apply_batch", batched=True))

    def __repr__(self) -> str:
        return f"ConvertImageDtype(dtype={self.dtype})"


class Normalize:
    """``(image - mean[c]) / std[c]`` for each channel of a float Tensor image (C, H, W) or batch (N, C, H, W).

    Args:
        mean, std: one value per channel (or one value for all); computed in the tensor's dtype.
        inplace: write the result into the input tensor.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.mean = mean
        self.std = std
        self.inplace = inplace
        self._mean = np.asarray(mean.tolist() if isinstance(mean, Tensor) else mean, dtype=np.float64).reshape(-1)
        self._std = np.asarray(std.tolist() if isinstance(std, Tensor) else std, dtype=np.float64).reshape(-1)
        if np.any(self._std == 0):
            raise ValueError(f"Normalize: std {std!r} has a zero, which would divide by zero")

    def _normalize(self, image: Tensor) -> Tensor:
        data = image.array
        if data.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a float tensor (use ToTensor first), received dtype {data.dtype}")
        channels = data.shape[-3]
        for name, values in (("mean", self._mean), ("std", self._std)):
            if values.size not in (1, channels):
                raise ValueError(
                    f"Normalize: {name} has {values.size} values but the image has {channels} channels "
                    f"(shape {tuple(data.shape)})"
                )
        xp = get_array_module(data)
        mean = xp.asarray(self._mean, dtype=data.dtype).reshape(-1, 1, 1)
        std = xp.asarray(self._std, dtype=data.dtype).reshape(-1, 1, 1)
        if self.inplace:
            xp.subtract(data, mean, out=data)
            xp.divide(data, std, out=data)
            return image
        return Tensor((data - mean) / std)

    def __call__(self, tensor):
        return self._normalize(_require_tensor(tensor, "Normalize", batched=False))

    def apply_batch(self, batch):
        return self._normalize(_require_tensor(batch, "Normalize.apply_batch", batched=True))

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean!r}, std={self.std!r})"


# -------------------------------------------------------------------------------------------- geometry
class Resize(Transform):
    """Resize to ``size``: an int matches the smaller edge (keeping the aspect ratio), (h, w) is exact.

    Args:
        size: int or (h, w).
        interpolation: ``InterpolationMode.BILINEAR`` (default), ``NEAREST`` or ``NEAREST_EXACT``.
        max_size: with an int ``size``, the longer edge is capped at this.
        antialias: when downscaling bilinearly, average over the whole footprint of each output pixel (a
            triangle filter stretched by the scale, as PIL and torchvision do; default True). Upscaling is
            plain bilinear interpolation with half-pixel centres either way.

    Integer images are rounded back to their dtype.
    """

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size: int | None = None,
                 antialias: bool = True):
        if isinstance(size, Sequence) and len(size) == 1:
            size = size[0]
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size <= 0:
                raise ValueError(f"Resize: size should be positive, received {size}")
            if max_size is not None and max_size <= size:
                raise ValueError(f"Resize: max_size = {max_size} must be greater than the requested size {size}")
            self.size = int(size)
        else:
            if max_size is not None:
                raise ValueError("Resize: max_size is only supported when size is a single int (the smaller edge)")
            self.size = _pair_size(size, "Resize")
        self.interpolation = _interpolation(
            interpolation, (InterpolationMode.BILINEAR, InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT),
            "Resize",
        )
        self.max_size = max_size
        self.antialias = antialias

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(new_h, new_w) for an image of (height, width), as torchvision computes it."""
        if not isinstance(self.size, int):
            return self.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.size, int(self.size * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_long, new_short) if width <= height else (new_short, new_long)

    def _apply(self, images, params):
        out_height, out_width = self.output_size(images.shape[1], images.shape[2])
        if (out_height, out_width) == images.shape[1:3]:
            return images
        return _image.resize(images, out_height, out_width, self.interpolation.value, self.antialias)


def _pad(images, left: int, top: int, right: int, bottom: int, fill, padding_mode: str):
    xp = get_array_module(images)
    count, height, width, channels = images.shape
    if padding_mode != "constant":
        return xp.pad(images, ((0, 0), (top, bottom), (left, right), (0, 0)), mode=padding_mode)
    padded = xp.empty((count, height + top + bottom, width + left + right, channels), dtype=images.dtype)
    padded[...] = xp.asarray(_fill_values(fill, channels, "Pad").astype(images.dtype))
    padded[:, top:top + height, left:left + width] = images
    return padded


def _padding_ltrb(padding, owner: str) -> tuple[int, int, int, int]:
    """torchvision's padding: int (all sides), (left/right, top/bottom) or (left, top, right, bottom)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        values = (padding,) * 4
    elif isinstance(padding, Sequence) and len(padding) == 1:
        values = (padding[0],) * 4
    elif isinstance(padding, Sequence) and len(padding) == 2:
        values = (padding[0], padding[1], padding[0], padding[1])
    elif isinstance(padding, Sequence) and len(padding) == 4:
        values = tuple(padding)
    else:
        raise ValueError(f"{owner}: padding should be an int or a sequence of 1, 2 or 4 ints, received {padding!r}")
    if not all(isinstance(value, numbers.Integral) and value >= 0 for value in values):
        raise ValueError(f"{owner}: padding values should be non-negative ints, received {padding!r}")
    return tuple(int(value) for value in values)


_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


class Pad(Transform):
    """Pad the borders: ``padding`` int, (left/right, top/bottom) or (left, top, right, bottom).

    ``padding_mode``: "constant" (with ``fill``, a number or one value per channel), "edge", "reflect" or
    "symmetric".
    """

    def __init__(self, padding, fill=0, padding_mode: str = "constant"):
        self.padding = padding
        self._ltrb = _padding_ltrb(padding, "Pad")
        _check_fill(fill, "Pad")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Pad: padding_mode should be one of {_PADDING_MODES}, received {padding_mode!r}")
        self.fill = fill
        self.padding_mode = padding_mode

    def _apply(self, images, params):
        return _pad(images, *self._ltrb, self.fill, self.padding_mode)


def _crop(images, tops, lefts, height: int, width: int):
    """Crop (height, width) windows at per-image (or shared) top-left corners with one gather."""
    xp = get_array_module(images)
    if len(tops) == 1:
        top, left = int(tops[0]), int(lefts[0])
        return images[:, top:top + height, left:left + width]
    rows = xp.asarray(tops[:, None] + np.arange(height))[:, :, None]
    cols = xp.asarray(lefts[:, None] + np.arange(width))[:, None, :]
    return images[xp.arange(images.shape[0])[:, None, None], rows, cols]


class CenterCrop(Transform):
    """Crop the centre (h, w) (an int gives a square); an image smaller than that is first padded with zeros."""

    def __init__(self, size):
        self.size = _pair_size(size, "CenterCrop")

    def _apply(self, images, params):
        crop_height, crop_width = self.size
        _, height, width, _ = images.shape
        if crop_height > height or crop_width > width:
            grow_w = max(crop_width - width, 0)
            grow_h = max(crop_height - height, 0)
            images = _pad(images, grow_w // 2, grow_h // 2, (grow_w + 1) // 2, (grow_h + 1) // 2, 0, "constant")
            _, height, width, _ = images.shape
        # Python's round (half to even) places the window as torchvision does
        top = round((height - crop_height) / 2.0)
        left = round((width - crop_width) / 2.0)
        return images[:, top:top + crop_height, left:left + crop_width]


class RandomCrop(Transform):
    """Crop (h, w) at a random position, after optional padding.

    Args:
        size: int or (h, w).
        padding: as ``Pad`` (applied first), or None.
        pad_if_needed: pad an image smaller than ``size`` up to it.
        fill, padding_mode: as ``Pad``.
    """

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0, padding_mode: str = "constant"):
        self.size = _pair_size(size, "RandomCrop")
        self.padding = padding
        self._ltrb = (0, 0, 0, 0) if padding is None else _padding_ltrb(padding, "RandomCrop")
        self.pad_if_needed = pad_if_needed
        _check_fill(fill, "RandomCrop")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"RandomCrop: padding_mode should be one of {_PADDING_MODES}, received {padding_mode!r}")
        self.fill = fill
        self.padding_mode = padding_mode

    def _full_padding(self, height: int, width: int) -> tuple[int, int, int, int]:
        left, top, right, bottom = self._ltrb
        height, width = height + top + bottom, width + left + right
        crop_height, crop_width = self.size
        if self.pad_if_needed and width < crop_width:
            left, right = left + crop_width - width, right + crop_width - width
        if self.pad_if_needed and height < crop_height:
            top, bottom = top + crop_height - height, bottom + crop_height - height
        return left, top, right, bottom

    def _draw(self, count: int, height: int, width: int):
        left, top, right, bottom = self._full_padding(height, width)
        height, width = height + top + bottom, width + left + right
        crop_height, crop_width = self.size
        if height < crop_height or width < crop_width:
            raise ValueError(
                f"RandomCrop: required crop size {self.size} is larger than the (padded) image size {(height, width)}"
            )
        generator = random_generator()
        tops = generator.integers(0, height - crop_height + 1, size=count)
        lefts = generator.integers(0, width - crop_width + 1, size=count)
        return tops, lefts

    def _apply(self, images, corners):
        padding = self._full_padding(images.shape[1], images.shape[2])
        if any(padding):
            images = _pad(images, *padding, self.fill, self.padding_mode)
        return _crop(images, corners[0], corners[1], *self.size)


def _flip_where(images, flip: np.ndarray, axis: int):
    """Flip the images selected by the boolean ``flip`` (one per image, or one for all) along ``axis``."""
    xp = get_array_module(images)
    if flip.size == 1 or flip.all() or not flip.any():
        return xp.flip(images, axis) if flip[0] else images
    selected = xp.asarray(flip)
    result = images.copy()
    result[selected] = xp.flip(images[selected], axis)
    return result


class _RandomFlip(Transform):
    """Mirror along ``axis`` with probability ``p`` (default 0.5), drawn per image."""

    axis: int

    def __init__(self, p: float = 0.5):
        self.p = p

    def _draw(self, count: int, height: int, width: int):
        return random_generator().random(count) < self.p

    def _apply(self, images, flip):
        return _flip_where(images, flip, axis=self.axis)


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability ``p`` (default 0.5)."""

    axis = 2


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability ``p`` (default 0.5)."""

    axis = 1


_SAMPLING_MODES = (InterpolationMode.NEAREST, InterpolationMode.BILINEAR)


class RandomRotation(Transform):
    """Rotate by a random angle, counter-clockwise for positive angles, about the centre.

    Args:
        degrees: a number ``d`` (angle drawn from (-d, d)) or a range (min, max); ``(a, a)`` rotates by ``a``.
        interpolation: ``InterpolationMode.NEAREST`` (default) or ``BILINEAR``.
        expand: grow the output to hold the whole rotated image (in ``apply_batch`` every image must then
            get the same size, for example from a fixed angle).
        center: the pivot (x, y) in pixels from the top-left corner; default the image centre.
        fill: value (or one per channel) for pixels that come from outside the image.
    """

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand: bool = False, center=None, fill=0):
        self.degrees = _symmetric_range(degrees, "RandomRotation", "degrees")
        self.interpolation = _interpolation(interpolation, _SAMPLING_MODES, "RandomRotation")
        self.expand = expand
        if center is not None and (not isinstance(center, Sequence) or len(center) != 2):
            raise ValueError(f"RandomRotation: center should be a sequence (x, y), received {center!r}")
        self.center = center
        _check_fill(fill, "RandomRotation")
        self.fill = fill

    def _draw(self, count: int, height: int, width: int):
        return random_generator().uniform(self.degrees[0], self.degrees[1], size=count)

    def _apply(self, images, angles):
        _, height, width, channels = images.shape
        count = len(angles)
        # the affine matrix turns clockwise for positive angles; rotation is counter-clockwise (as torchvision)
        matrices = _image.inverse_affine_matrices(-angles, np.zeros((count, 2)), np.ones(count), np.zeros((count, 2)),
                                                  _relative_center(self.center, width, height))
        out_width, out_height = width, height
        if self.expand:
            sizes = sorted({_image.affine_output_size(matrix, width, height) for matrix in matrices})
            if len(sizes) > 1:
                raise ValueError(
                    f"RandomRotation(expand=True): the rotated images have different sizes (w, h) {sizes} and "
                    "cannot form one batch; use expand=False or a fixed angle"
                )
            out_width, out_height = sizes[0]
        return _image.affine_sample(images, matrices, out_height, out_width, self.interpolation.value,
                                    _fill_values(self.fill, channels, "RandomRotation"))


class RandomAffine(Transform):
    """Random rotation, translation, scale and shear about the centre, as torchvision's ``RandomAffine``.

    Args:
        degrees: a number ``d`` (angle from (-d, d)) or (min, max); clockwise for positive angles (as
            torchvision's ``affine``); 0 turns rotation off.
        translate: (a, b): horizontal shift drawn from (-a·W, a·W), vertical from (-b·H, b·H), rounded to
            whole pixels; None for no shift.
        scale: (min, max) scale factor, or None.
        shear: a number ``s`` (x-shear from (-s, s)), (min, max) for x, or (xmin, xmax, ymin, ymax); degrees.
        interpolation: ``InterpolationMode.NEAREST`` (default) or ``BILINEAR``.
        fill: value (or one per channel) for pixels that come from outside the image.
        center: the pivot (x, y) in pixels; default the image centre.
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None, interpolation=InterpolationMode.NEAREST,
                 fill=0, center=None):
        self.degrees = _symmetric_range(degrees, "RandomAffine", "degrees")
        if translate is not None:
            if not isinstance(translate, Sequence) or len(translate) != 2:
                raise TypeError(f"RandomAffine: translate should be a sequence (a, b), received {translate!r}")
            if not all(0.0 <= value <= 1.0 for value in translate):
                raise ValueError(f"RandomAffine: translate values should be between 0 and 1, received {translate!r}")
        self.translate = translate
        if scale is not None:
            if not isinstance(scale, Sequence) or len(scale) != 2:
                raise TypeError(f"RandomAffine: scale should be a sequence (min, max), received {scale!r}")
            if not all(value > 0 for value in scale) or scale[0] > scale[1]:
                raise ValueError(f"RandomAffine: scale values should be positive with min <= max, received {scale!r}")
        self.scale = scale
        if shear is None:
            self._shear = None
        elif isinstance(shear, Sequence) and len(shear) == 4:
            self._shear = (*_symmetric_range(shear[:2], "RandomAffine", "shear"),
                           *_symmetric_range(shear[2:], "RandomAffine", "shear"))
        else:
            self._shear = (*_symmetric_range(shear, "RandomAffine", "shear"), 0.0, 0.0)
        self.shear = shear
        self.interpolation = _interpolation(interpolation, _SAMPLING_MODES, "RandomAffine")
        _check_fill(fill, "RandomAffine")
        self.fill = fill
        if center is not None and (not isinstance(center, Sequence) or len(center) != 2):
            raise ValueError(f"RandomAffine: center should be a sequence (x, y), received {center!r}")
        self.center = center

    def _draw(self, count: int, height: int, width: int):
        generator = random_generator()
        angles = generator.uniform(self.degrees[0], self.degrees[1], size=count)
        translations = np.zeros((count, 2))
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * width, self.translate[1] * height
            translations[:, 0] = np.rint(generator.uniform(-max_dx, max_dx, size=count))
            translations[:, 1] = np.rint(generator.uniform(-max_dy, max_dy, size=count))
        scales = np.ones(count) if self.scale is None else generator.uniform(self.scale[0], self.scale[1], size=count)
        shears = np.zeros((count, 2))
        if self._shear is not None:
            shears[:, 0] = generator.uniform(self._shear[0], self._shear[1], size=count)
            shears[:, 1] = generator.uniform(self._shear[2], self._shear[3], size=count)
        return angles, translations, scales, shears

    def _apply(self, images, params):
        _, height, width, channels = images.shape
        matrices = _image.inverse_affine_matrices(*params, _relative_center(self.center, width, height))
        return _image.affine_sample(images, matrices, height, width, self.interpolation.value,
                                    _fill_values(self.fill, channels, "RandomAffine"))


# ---------------------------------------------------------------------------------------------- colour
class Grayscale(Transform):
    """Convert to grey with ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B).

    ``num_output_channels``: 1, or 3 (the grey replicated; a one-channel input is replicated too). NumPy
    images come back (H, W) for one channel (as a PIL "L" image) and (H, W, 3) for three; Tensors keep
    (C, H, W). Integer images are rounded.
    """

    def __init__(self, num_output_channels: int = 1):
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels should be 1 or 3, received {num_output_channels!r}")
        self.num_output_channels = num_output_channels

    def _output_kind(self, kind: str) -> str:
        if kind == _TENSOR:
            return kind
        return _ARRAY_HW if self.num_output_channels == 1 else _ARRAY_HWC

    def _apply(self, images, params):
        channels = images.shape[-1]
        if channels == 3:
            grey = _image.cast_like(_image.luma(images.astype(_image.compute_dtype(images.dtype))), images.dtype)
        elif channels == 1:
            grey = images
        else:
            raise ValueError(f"Grayscale: expected an image with 1 or 3 channels, received {channels} channels")
        if self.num_output_channels == 3:
            return get_array_module(grey).repeat(grey, 3, axis=-1)
        return grey


def _jitter_range(value, name: str, center: float = 1.0, bound=(0.0, float("inf")), clip_first_on_zero=True):
    """torchvision's ColorJitter argument check: a number ``v`` → [center - v, center + v], or a range."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"ColorJitter: if {name} is a single number, it must be non-negative, received {value}")
        value = [center - float(value), center + float(value)]
        if clip_first_on_zero:
            value[0] = max(value[0], 0.0)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        value = [float(value[0]), float(value[1])]
    else:
        raise TypeError(f"ColorJitter: {name} should be a single number or a (min, max) pair, received {value!r}")
    if not bound[0] <= value[0] <= value[1] <= bound[1]:
        raise ValueError(f"ColorJitter: {name} values should be within {bound} with min <= max, received {value}")
    if value[0] == value[1] == center:
        return None  # the identity: skip this adjustment
    return tuple(value)


def _image_max(dtype: np.dtype) -> float:
    return 1.0 if dtype.kind == "f" else float(np.iinfo(dtype).max)


def _blend(image, other, ratio, dtype: np.dtype):
    """``ratio * image + (1 - ratio) * other`` clipped to the dtype's range; truncated to integers as
    torchvision's ``_blend`` does."""
    xp = get_array_module(image)
    return xp.clip(ratio * image + (1.0 - ratio) * other, 0.0, _image_max(dtype)).astype(dtype)


def _check_colour_channels(channels: int, name: str) -> None:
    if channels not in (1, 3):
        raise ValueError(f"ColorJitter: {name} needs an image with 1 or 3 channels, received {channels} channels")


def _adjust_brightness(images, factor, float_images):
    return _blend(float_images, 0.0, factor, images.dtype)


def _adjust_contrast(images, factor, float_images):
    source = _image.luma(float_images) if images.shape[-1] == 3 else float_images
    mean = source.mean(axis=(1, 2, 3), keepdims=True)
    return _blend(float_images, mean, factor, images.dtype)


def _adjust_saturation(images, factor, float_images):
    _check_colour_channels(images.shape[-1], "saturation")
    if images.shape[-1] == 1:
        return images
    return _blend(float_images, _image.luma(float_images), factor, images.dtype)


def _adjust_hue(images, factor, float_images):
    _check_colour_channels(images.shape[-1], "hue")
    if images.shape[-1] == 1:
        return images
    integer = images.dtype.kind in "iu"
    rgb = float_images / _image_max(images.dtype) if integer else float_images
    hue, saturation, value = _image.rgb_to_hsv(rgb)
    hue = (hue + factor[..., 0]) % 1.0
    rgb = _image.hsv_to_rgb(hue, saturation, value)
    if integer:
        rgb = rgb * _image_max(images.dtype)
    return rgb.astype(images.dtype)


class ColorJitter(Transform):
    """Randomly change brightness, contrast, saturation and hue, with torchvision's definitions.

    Each argument is a number ``v`` (factor drawn from [max(0, 1 - v), 1 + v]; hue: shift from [-v, v]) or
    a range (min, max); ``(f, f)`` always applies ``f``. Brightness blends with black, contrast with the
    mean of the grey image (its unrounded mean), saturation with the grey image, and hue rotates the hue
    in HSV space (saturation and hue need 3 channels; one-channel images are left as they are). The
    adjustments are applied in the fixed order brightness, contrast, saturation, hue; integer images are
    clipped and truncated back to their dtype after each one, as torchvision does.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness = _jitter_range(brightness, "brightness")
        self.contrast = _jitter_range(contrast, "contrast")
        self.saturation = _jitter_range(saturation, "saturation")
        self.hue = _jitter_range(hue, "hue", center=0.0, bound=(-0.5, 0.5), clip_first_on_zero=False)
        self._adjustments = [
            (value, adjust) for value, adjust in (
                (self.brightness, _adjust_brightness), (self.contrast, _adjust_contrast),
                (self.saturation, _adjust_saturation), (self.hue, _adjust_hue),
            ) if value is not None
        ]

    def _draw(self, count: int, height: int, width: int):
        generator = random_generator()
        return [generator.uniform(low, high, size=count) for (low, high), _ in self._adjustments]

    def _apply(self, images, factors):
        xp = get_array_module(images)
        float_dtype = _image.compute_dtype(images.dtype)
        for (_, adjust), values in zip(self._adjustments, factors):
            factor = xp.asarray(values, dtype=float_dtype).reshape(-1, 1, 1, 1)
            images = adjust(images, factor, images.astype(float_dtype, copy=False))
        return images


__all__ = [
    "InterpolationMode", "Transform", "Compose", "Lambda", "ToTensor", "PILToTensor", "ConvertImageDtype",
    "Normalize", "Resize", "Pad", "CenterCrop", "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip",
    "RandomRotation", "RandomAffine", "Grayscale", "ColorJitter", "apply_batch",
]
