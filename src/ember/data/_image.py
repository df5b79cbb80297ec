"""Array kernels behind ``ember.data.transforms``: every function takes a batch of images laid out
(N, H, W, C) — NumPy or CuPy — and works on the whole batch at once (no loop over images or pixels).
"""
from __future__ import annotations

import numpy as np

from ..backend.device import get_array_module


def cast_like(values, dtype: np.dtype):
    """Float results back to an image dtype: integers are rounded and clipped to their range."""
    xp = get_array_module(values)
    dtype = np.dtype(dtype)
    if values.dtype == dtype:
        return values
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return xp.clip(xp.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype, copy=False)


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The float dtype arithmetic on images of ``dtype`` runs in: their own if floating, else float32."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.dtype(np.float32)


# ------------------------------------------------------------------------------------------------ resize
def linear_taps(in_size: int, out_size: int, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Source positions and weights, each (out_size, taps), of PIL's bilinear (triangle) resampling.

    Output pixel ``i`` has its centre at ``(i + 0.5) * in_size / out_size`` in input coordinates (half-pixel
    centres). When downscaling with ``antialias`` the triangle is stretched by the scale factor, so every
    input pixel contributes (as PIL does); otherwise this is plain bilinear interpolation with edge clamping,
    as ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``. The tables are small
    (out_size × taps) and kept in float64, as PIL computes them.
    """
    scale = in_size / out_size
    filter_scale = max(scale, 1.0) if antialias else 1.0
    centers = (np.arange(out_size) + 0.5) * scale
    starts = np.maximum((centers - filter_scale + 0.5).astype(np.int64), 0)
    stops = np.minimum((centers + filter_scale + 0.5).astype(np.int64), in_size)
    taps = int((stops - starts).max())
    positions = starts[:, None] + np.arange(taps)
    weights = np.maximum(1.0 - np.abs((positions + 0.5 - centers[:, None]) / filter_scale), 0.0)
    weights[positions >= stops[:, None]] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    return np.minimum(positions, in_size - 1), weights


def nearest_positions(in_size: int, out_size: int, exact: bool) -> np.ndarray:
    """Source index of each output pixel: ``floor(i * scale)`` (PyTorch "nearest") or
    ``floor((i + 0.5) * scale)`` ("nearest-exact"), computed in float32 as PyTorch does."""
    scale = np.float32(in_size / out_size)
    positions = np.arange(out_size, dtype=np.float32)
    if exact:
        positions = positions + np.float32(0.5)
    return np.minimum(np.floor(positions * scale).astype(np.int64), in_size - 1)


def _axis_shape(ndim: int, axis: int) -> list:
    shape = [1] * ndim
    shape[axis] = -1
    return shape


def resample_axis(images, axis: int, positions: np.ndarray, weights: np.ndarray):
    """Weighted sum over taps of float ``images`` gathered along ``axis``, in the images' dtype."""
    xp = get_array_module(images)
    shape = _axis_shape(images.ndim, axis)
    result = None
    for tap in range(positions.shape[1]):
        term = xp.take(images, xp.asarray(positions[:, tap]), axis=axis)
        term *= xp.asarray(weights[:, tap].reshape(shape), dtype=images.dtype)
        if result is None:
            result = term
        else:
            result += term
    return result


_PIL_PRECISION_BITS = 22


def resample_axis_uint8(images, axis: int, positions: np.ndarray, weights: np.ndarray):
    """``resample_axis`` for uint8 images in PIL's fixed-point arithmetic (22-bit weights, halves rounded
    up), so results equal PIL's to the last grey level. int32 cannot overflow: 255 · 2**22 < 2**31."""
    xp = get_array_module(images)
    shape = _axis_shape(images.ndim, axis)
    fixed = np.trunc(0.5 + weights * (1 << _PIL_PRECISION_BITS)).astype(np.int32)
    result = None
    for tap in range(positions.shape[1]):
        term = xp.take(images, xp.asarray(positions[:, tap]), axis=axis).astype(np.int32)
        term *= xp.asarray(fixed[:, tap].reshape(shape))
        if result is None:
            result = term + (1 << (_PIL_PRECISION_BITS - 1))
        else:
            result += term
    return xp.clip(result >> _PIL_PRECISION_BITS, 0, 255).astype(np.uint8)


def resize(images, out_height: int, out_width: int, mode: str, antialias: bool):
    """Resize (N, H, W, C) images to (N, out_height, out_width, C) with ``mode`` in
    {"bilinear", "nearest", "nearest-exact"}.

    Bilinear resizing runs horizontally then vertically, as PIL does: in float for float images, in PIL's
    fixed-point arithmetic for uint8 images; other integer images are rounded back to their dtype.
    """
    xp = get_array_module(images)
    _, height, width, _ = images.shape
    if mode != "bilinear":
        exact = mode == "nearest-exact"
        rows = xp.asarray(nearest_positions(height, out_height, exact))
        cols = xp.asarray(nearest_positions(width, out_width, exact))
        return xp.take(xp.take(images, rows, axis=1), cols, axis=2)
    if images.dtype == np.uint8:
        result, resample = images, resample_axis_uint8
    else:
        result, resample = images.astype(compute_dtype(images.dtype), copy=False), resample_axis
    if out_width != width:
        result = resample(result, 2, *linear_taps(width, out_width, antialias))
    if out_height != height:
        result = resample(result, 1, *linear_taps(height, out_height, antialias))
    return cast_like(result, images.dtype)


# ------------------------------------------------------------------------------------------------ affine
def inverse_affine_matrices(angles, translations, scales, shears, center) -> np.ndarray:
    """(N, 2, 3) float32 matrices mapping output pixel coordinates to input ones, as torchvision's
    ``_get_inverse_affine_matrix``: coordinates are relative to the image centre, angles in degrees
    (clockwise on screen), ``translations`` (N, 2) in pixels, ``shears`` (N, 2) in degrees (x, y),
    ``center`` the (x, y) pivot relative to the image centre.

    The parameters are N numbers per batch (not per pixel), so float64 here costs nothing.
    """
    rotation = np.radians(np.asarray(angles, dtype=np.float64))
    shear_x = np.radians(np.asarray(shears, dtype=np.float64)[:, 0])
    shear_y = np.radians(np.asarray(shears, dtype=np.float64)[:, 1])
    scales = np.asarray(scales, dtype=np.float64)
    translations = np.asarray(translations, dtype=np.float64)
    center_x, center_y = center
    # rotation-scale-shear without the scale: R(angle) · SHy(shear_y) · SHx(shear_x)
    a = np.cos(rotation - shear_y) / np.cos(shear_y)
    b = -np.cos(rotation - shear_y) * np.tan(shear_x) / np.cos(shear_y) - np.sin(rotation)
    c = np.sin(rotation - shear_y) / np.cos(shear_y)
    d = -np.sin(rotation - shear_y) * np.tan(shear_x) / np.cos(shear_y) + np.cos(rotation)
    # its inverse (determinant 1) divided by the scale, then the centre and the translation undone
    m00, m01, m10, m11 = d / scales, -b / scales, -c / scales, a / scales
    shift_x = -center_x - translations[:, 0]
    shift_y = -center_y - translations[:, 1]
    m02 = m00 * shift_x + m01 * shift_y + center_x
    m12 = m10 * shift_x + m11 * shift_y + center_y
    matrices = np.stack([m00, m01, m02, m10, m11, m12], axis=1).reshape(-1, 2, 3)
    return matrices.astype(np.float32)


def affine_output_size(matrix: np.ndarray, width: int, height: int) -> tuple[int, int]:
    """(out_width, out_height) of the canvas holding the whole transformed image (``expand=True``), as
    torchvision computes it from the corners (coordinates truncated to 1e-4 before ceil/floor)."""
    corners = np.array([[-0.5 * width, -0.5 * height, 1.0], [-0.5 * width, 0.5 * height, 1.0],
                        [0.5 * width, 0.5 * height, 1.0], [0.5 * width, -0.5 * height, 1.0]])
    moved = corners @ np.asarray(matrix, dtype=np.float64).T
    low = moved.min(axis=0) + (0.5 * width, 0.5 * height)
    high = moved.max(axis=0) + (0.5 * width, 0.5 * height)
    tolerance = 1e-4
    high = np.ceil(np.trunc(high / tolerance) * tolerance)
    low = np.floor(np.trunc(low / tolerance) * tolerance)
    size = high - low
    return int(size[0]), int(size[1])


def affine_sample(images, matrices: np.ndarray, out_height: int, out_width: int, mode: str, fill):
    """Sample (N, H, W, C) images through (N or 1, 2, 3) inverse affine ``matrices`` into
    (N, out_height, out_width, C), gathering all images at once.

    ``mode`` is "nearest" (round half to even, as ``grid_sample``) or "bilinear"; pixels whose source lies
    outside the image take ``fill`` (one value per channel). For bilinear, each of the four neighbours that
    lies outside contributes ``fill`` with its weight.
    """
    xp = get_array_module(images)
    count, height, width, channels = images.shape
    matrices = xp.asarray(matrices, dtype=np.float32)
    xs = (xp.arange(out_width, dtype=np.float32) + (0.5 - out_width / 2))[None, None, :]
    ys = (xp.arange(out_height, dtype=np.float32) + (0.5 - out_height / 2))[None, :, None]

    def entry(row: int, col: int):
        return matrices[:, row, col][:, None, None]

    # source positions in pixel-index coordinates (pixel k has its centre at k)
    source_x = entry(0, 0) * xs + entry(0, 1) * ys + (entry(0, 2) + (width / 2 - 0.5))
    source_y = entry(1, 0) * xs + entry(1, 1) * ys + (entry(1, 2) + (height / 2 - 0.5))
    flat = images.reshape(count * height * width, channels)
    image_offsets = (xp.arange(count, dtype=np.int64) * (height * width))[:, None, None]
    fill = xp.asarray(fill)

    def gather(rows, cols):
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        index = image_offsets + xp.clip(rows, 0, height - 1) * width + xp.clip(cols, 0, width - 1)
        return flat[index], xp.broadcast_to(inside, index.shape)

    if mode == "nearest":
        values, inside = gather(xp.rint(source_y).astype(np.int64), xp.rint(source_x).astype(np.int64))
        values[~inside] = fill.astype(images.dtype)
        return values
    float_dtype = compute_dtype(images.dtype)
    left = xp.floor(source_x)
    top = xp.floor(source_y)
    weight_x = (source_x - left).astype(float_dtype)[..., None]
    weight_y = (source_y - top).astype(float_dtype)[..., None]
    left = left.astype(np.int64)
    top = top.astype(np.int64)
    fill = fill.astype(float_dtype)
    result = xp.zeros((count, out_height, out_width, channels), dtype=float_dtype)
    for row_step, col_step, weight in ((0, 0, (1 - weight_y) * (1 - weight_x)), (0, 1, (1 - weight_y) * weight_x),
                                       (1, 0, weight_y * (1 - weight_x)), (1, 1, weight_y * weight_x)):
        values, inside = gather(top + row_step, left + col_step)
        result += weight * xp.where(inside[..., None], values.astype(float_dtype), fill)
    return cast_like(result, images.dtype)


# ------------------------------------------------------------------------------------------------ colour
def luma(images):
    """ITU-R 601-2 luma of float (N, H, W, 3) images: 0.299 R + 0.587 G + 0.114 B, shape (N, H, W, 1)."""
    return images[..., 0:1] * 0.299 + images[..., 1:2] * 0.587 + images[..., 2:3] * 0.114


def rgb_to_hsv(images):
    """Float RGB (…, 3) in [0, 1] → hue, saturation, value, each (…), as torchvision's ``_rgb2hsv``."""
    xp = get_array_module(images)
    red, green, blue = images[..., 0], images[..., 1], images[..., 2]
    high = images.max(axis=-1)
    low = images.min(axis=-1)
    grey = high == low
    spread = high - low
    saturation = spread / xp.where(grey, 1, high)
    divisor = xp.where(grey, 1, spread)
    red_c = (high - red) / divisor
    green_c = (high - green) / divisor
    blue_c = (high - blue) / divisor
    hue = ((high == red) * (blue_c - green_c)
           + ((high == green) & (high != red)) * (2.0 + red_c - blue_c)
           + ((high != green) & (high != red)) * (4.0 + green_c - red_c))
    hue = (hue / 6.0 + 1.0) % 1.0
    return hue, saturation, high


def hsv_to_rgb(hue, saturation, value):
    """Hue, saturation, value (…) → float RGB (…, 3), as torchvision's ``_hsv2rgb``."""
    xp = get_array_module(hue)
    sector = xp.floor(hue * 6.0)
    fraction = hue * 6.0 - sector
    sector = sector.astype(np.int64) % 6
    p = xp.clip(value * (1.0 - saturation), 0.0, 1.0)
    q = xp.clip(value * (1.0 - saturation * fraction), 0.0, 1.0)
    t = xp.clip(value * (1.0 - saturation * (1.0 - fraction)), 0.0, 1.0)
    red = xp.choose(sector, (value, q, p, p, t, value))
    green = xp.choose(sector, (t, value, value, q, p, p))
    blue = xp.choose(sector, (p, p, t, value, value, q))
    return xp.stack([red, green, blue], axis=-1)
