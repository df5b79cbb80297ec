"""Op-table cases: max_pool2d, avg_pool2d, adaptive_avg_pool2d (and their 1-d forms), against direct NumPy loops
over windows.

The references follow PyTorch's definitions: each window is clipped to the input (no padding values are
materialised), max takes the first maximum in row-major order, and the average divides by PyTorch's count.
Inputs are random normals, so windows have no ties and max pooling is differentiable at them.
"""
import numpy as np

import ember

from .op_table import OpCase, randn


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def reference_pool_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling output size (pooling_output_shape)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    count = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (count - 1) * stride >= size + padding:
        count -= 1
    return count


def _pool_params(x, kernel_size, stride, padding, dilation, ceil_mode):
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    out_h = reference_pool_size(x.shape[-2], kh, sh, ph, dh, ceil_mode)
    out_w = reference_pool_size(x.shape[-1], kw, sw, pw, dw, ceil_mode)
    return (kh, kw), (sh, sw), (ph, pw), (dh, dw), (out_h, out_w)


def reference_max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                         return_indices=False):
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    batch, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (out_h, out_w) = _pool_params(
        x, kernel_size, stride, padding, dilation, ceil_mode)
    out = np.zeros((batch, channels, out_h, out_w), dtype=x.dtype)
    indices = np.zeros((batch, channels, out_h, out_w), dtype=np.int64)
    for i in range(out_h):
        rows = i * sh - ph + dh * np.arange(kh)
        rows = rows[(rows >= 0) & (rows < height)]
        for j in range(out_w):
            cols = j * sw - pw + dw * np.arange(kw)
            cols = cols[(cols >= 0) & (cols < width)]
            patch = x[:, :, rows][:, :, :, cols].reshape(batch, channels, -1)
            best = patch.argmax(axis=-1)
            out[:, :, i, j] = patch.max(axis=-1)
            indices[:, :, i, j] = rows[best // len(cols)] * width + cols[best % len(cols)]
    if unbatched:
        out, indices = out[0], indices[0]
    return (out, indices) if return_indices else out


def reference_avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                         divisor_override=None):
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    batch, channels, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw), _, (out_h, out_w) = _pool_params(x, kernel_size, stride, padding, 1, ceil_mode)
    out = np.zeros((batch, channels, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * sh - ph, j * sw - pw
            bottom, right = min(top + kh, height + ph), min(left + kw, width + pw)
            pool_size = (bottom - top) * (right - left)
            top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
            total = x[:, :, top:bottom, left:right].sum(axis=(2, 3))
            if divisor_override is not None:
                divisor = divisor_override
            elif count_include_pad:
                divisor = pool_size
            else:
                divisor = (bottom - top) * (right - left)
            out[:, :, i, j] = total / divisor
    return out[0] if unbatched else out


def reference_adaptive_avg_pool2d(x, output_size):
    out_h, out_w = _pair(output_size)
    height, width = x.shape[-2:]
    out_h = height if out_h is None else out_h
    out_w = width if out_w is None else out_w
    out = np.zeros(x.shape[:-2] + (out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        top, bottom = (i * height) // out_h, int(np.ceil((i + 1) * height / out_h))
        for j in range(out_w):
            left, right = (j * width) // out_w, int(np.ceil((j + 1) * width / out_w))
            out[..., i, j] = x[..., top:bottom, left:right].mean(axis=(-2, -1))
    return out


def _case(name, function, reference, shape, **options):
    return OpCase(name, lambda x: function(x, **options), lambda x: reference(x, **options), randn(*shape))


def _max(name, shape, **options):
    return _case(name, ember.max_pool2d, reference_max_pool2d, shape, **options)


def _avg(name, shape, **options):
    return _case(name, ember.avg_pool2d, reference_avg_pool2d, shape, **options)


def _adaptive(name, shape, output_size):
    return _case(name, ember.adaptive_avg_pool2d, reference_adaptive_avg_pool2d, shape, output_size=output_size)


def _as_1d(reference_2d):
    """A 2-d reference run on an (N, C, 1, L) or (C, 1, L) view, for the 1-d pools."""
    def reference(x, **options):
        options = {key: (1, value) if key in ("kernel_size", "stride", "dilation", "output_size")
                   and value is not None else (0, value) if key == "padding" else value
                   for key, value in options.items()}
        result = reference_2d(x[..., None, :], **options)
        if isinstance(result, tuple):
            return tuple(part[..., 0, :] for part in result)
        return result[..., 0, :]
    return reference


def _max1d(name, shape, **options):
    return _case(name, ember.max_pool1d, _as_1d(reference_max_pool2d), shape, **options)


def _avg1d(name, shape, **options):
    return _case(name, ember.avg_pool1d, _as_1d(reference_avg_pool2d), shape, **options)


def _adaptive1d(name, shape, output_size):
    return _case(name, ember.adaptive_avg_pool1d, _as_1d(reference_adaptive_avg_pool2d), shape,
                 output_size=output_size)


CASES = [
    _max("max_pool2d_k2", (2, 3, 6, 6), kernel_size=2),
    _max("max_pool2d_k2_remainder", (2, 2, 7, 5), kernel_size=2),
    _max("max_pool2d_k3_s2_overlap", (1, 2, 7, 7), kernel_size=3, stride=2),
    _max("max_pool2d_k2_s1_overlap", (2, 2, 4, 5), kernel_size=2, stride=1),
    _max("max_pool2d_padding", (2, 2, 6, 6), kernel_size=3, stride=2, padding=1),
    _max("max_pool2d_ceil_mode", (1, 2, 5, 5), kernel_size=2, ceil_mode=True),
    _max("max_pool2d_ceil_mode_padding", (1, 2, 6, 6), kernel_size=3, stride=2, padding=1, ceil_mode=True),
    _max("max_pool2d_dilation", (1, 2, 6, 7), kernel_size=2, stride=1, dilation=2),
    _max("max_pool2d_rect", (2, 2, 5, 7), kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
    _max("max_pool2d_indices", (2, 2, 7, 6), kernel_size=3, stride=2, padding=1, ceil_mode=True,
         return_indices=True),
    _max("max_pool2d_indices_dilation", (1, 2, 7, 7), kernel_size=3, stride=2, padding=1, dilation=2,
         return_indices=True),
    _max("max_pool2d_unbatched", (3, 6, 6), kernel_size=2, return_indices=True),
    _avg("avg_pool2d_k2", (2, 3, 6, 6), kernel_size=2),
    _avg("avg_pool2d_k3_s2_overlap", (1, 2, 7, 7), kernel_size=3, stride=2),
    _avg("avg_pool2d_padding", (2, 2, 5, 5), kernel_size=3, stride=2, padding=1),
    _avg("avg_pool2d_padding_exclude_pad", (2, 2, 5, 5), kernel_size=3, stride=2, padding=1,
         count_include_pad=False),
    _avg("avg_pool2d_ceil_mode", (1, 2, 5, 5), kernel_size=2, ceil_mode=True),
    _avg("avg_pool2d_ceil_mode_padding", (1, 2, 6, 6), kernel_size=3, stride=2, padding=1, ceil_mode=True),
    _avg("avg_pool2d_ceil_mode_exclude_pad", (1, 2, 6, 6), kernel_size=3, stride=2, padding=1, ceil_mode=True,
         count_include_pad=False),
    _avg("avg_pool2d_divisor_override", (1, 2, 5, 5), kernel_size=2, stride=1, padding=1, divisor_override=3),
    _avg("avg_pool2d_rect", (2, 2, 5, 7), kernel_size=(2, 3), stride=(1, 2)),
    _avg("avg_pool2d_unbatched", (3, 6, 6), kernel_size=2),
    _adaptive("adaptive_avg_pool2d_global", (2, 3, 5, 6), 1),
    _adaptive("adaptive_avg_pool2d_divisible", (2, 2, 6, 4), (3, 2)),
    _adaptive("adaptive_avg_pool2d_non_divisible", (2, 2, 7, 7), 3),
    _adaptive("adaptive_avg_pool2d_none_entry", (1, 2, 5, 6), (4, None)),
    _adaptive("adaptive_avg_pool2d_upsample", (1, 2, 3, 4), (5, 6)),
    _adaptive("adaptive_avg_pool2d_unbatched", (2, 7, 5), (3, 2)),
    _max1d("max_pool1d_k2", (2, 3, 8), kernel_size=2),
    _max1d("max_pool1d_padding_ceil_indices", (2, 2, 7), kernel_size=3, stride=2, padding=1, ceil_mode=True,
           return_indices=True),
    _max1d("max_pool1d_dilation", (1, 2, 9), kernel_size=2, stride=1, dilation=3),
    _max1d("max_pool1d_unbatched", (3, 7), kernel_size=2, return_indices=True),
    _avg1d("avg_pool1d_k2", (2, 3, 8), kernel_size=2),
    _avg1d("avg_pool1d_padding", (2, 2, 7), kernel_size=3, stride=2, padding=1),
    _avg1d("avg_pool1d_ceil_exclude_pad", (1, 2, 8), kernel_size=3, stride=2, padding=1, ceil_mode=True,
           count_include_pad=False),
    _avg1d("avg_pool1d_unbatched", (3, 6), kernel_size=3, stride=1),
    _adaptive1d("adaptive_avg_pool1d_non_divisible", (2, 2, 7), 3),
    _adaptive1d("adaptive_avg_pool1d_unbatched", (2, 5), 2),
]
