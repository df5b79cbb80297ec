"""CPU kernels compiled by numba; imported only through ``backend/compiled.py``, never directly.

Each kernel writes its result in place, in one pass, on the calling thread: between the GEMMs of a
convolution OpenBLAS's own threads are still spinning, so a second thread pool would only fight them.
Compiled code is cached on disk (``cache=True``): only the first run on a machine pays the compilation.

The im2col kernels read a (C, H, W, N) image — any strides — as if it were surrounded by zeros: ``top`` rows
and ``left`` columns before its first, and as many after its last as the windows need; col2im drops the
parts of the windows that fall on that padding.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def columns(image, matrix, kh, kw, sh, sw, dh, dw, top, left, start, stop, out_w, adjoint):  # pragma: no cover
    """im2col, or with ``adjoint`` col2im.

    im2col: ``matrix`` (C*kh*kw, (stop-start)*out_w*N), C-contiguous, = the windows of output rows
    ``start:stop`` of ``image`` (C, H, W, N), zeros where they fall on the padding.
    col2im: ``image`` += ``matrix``, dropping what falls on the padding; each number receives its additions
    in the order of the kernel taps, as the strided-slice version adds them.
    """
    channels, height, width, batch = image.shape
    count = stop - start
    view = matrix.reshape(channels, kh, kw, count, out_w, batch)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                for r in range(count):
                    y = (start + r) * sh + i * dh - top
                    if y < 0 or y >= height:
                        if not adjoint:
                            view[c, i, j, r] = 0
                        continue
                    for o in range(out_w):
                        x = o * sw + j * dw - left
                        if x < 0 or x >= width:
                            if not adjoint:
                                view[c, i, j, r, o] = 0
                        elif adjoint:
                            for n in range(batch):
                                image[c, y, x, n] += view[c, i, j, r, o, n]
                        else:
                            for n in range(batch):
                                view[c, i, j, r, o, n] = image[c, y, x, n]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def adam(param, grad, exp_avg, exp_avg_sq, scale1, beta1, scale2, beta2, bias2_sqrt, eps, step_size):  # pragma: no cover
    """One Adam step on flat, C-contiguous arrays of one dtype, in place on ``param`` and the moments; the
    scalars have that dtype too, so every operation rounds as NumPy's float32 passes do:
    ``m = m*beta1 + g*scale1``, ``v = v*beta2 + g*scale2*g``, ``param -= m / (sqrt(v)/bias2_sqrt + eps) * step_size``."""
    for i in range(param.size):
        g = grad[i]
        m = exp_avg[i] * beta1 + g * scale1
        v = exp_avg_sq[i] * beta2 + g * scale2 * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] -= m / (np.sqrt(v) / bias2_sqrt + eps) * step_size


# Sums over a channel accumulate in float64 and may be reordered ("reassoc"), so that they vectorize; each
# number written is still rounded once to the arrays' dtype.
@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "nsz"})
def batch_norm_forward(x, weight, bias, eps, x_hat, y, mean, var, inv_std):  # pragma: no cover - compiled
    """Per channel c of ``x`` (C, A, B), any strides: its mean and biased variance over (A, B) into
    ``mean[c]``/``var[c]``, ``inv_std[c] = 1/sqrt(var + eps)``, ``x_hat = (x - mean) * inv_std`` and
    ``y = x_hat * weight[c] + bias[c]`` (``x_hat``, ``y`` shaped like ``x``)."""
    channels, rows, width = x.shape
    count = rows * width
    for c in range(channels):
        total = 0.0
        for a in range(rows):
            for b in range(width):
                total += x[c, a, b]
        centre = total / count
        squares = 0.0
        for a in range(rows):
            for b in range(width):
                difference = x[c, a, b] - centre
                squares += difference * difference
        variance = squares / count
        mean[c] = centre
        var[c] = variance
        inv = 1.0 / np.sqrt(variance + eps)
        inv_std[c] = inv
        shift, scale = -centre * inv, weight[c]
        for a in range(rows):
            for b in range(width):
                normalised = x[c, a, b] * inv + shift
                x_hat[c, a, b] = normalised
                y[c, a, b] = normalised * scale + bias[c]


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "nsz"})
def batch_norm_backward(grad, x_hat, inv_std, weight, grad_input, grad_weight, grad_bias):  # pragma: no cover
    """The closed-form batch-norm gradient per channel of (C, A, B) arrays: ``grad_bias[c] = sum(g)``,
    ``grad_weight[c] = sum(g * x_hat)``, ``grad_input = (g - sum(g)/M - x_hat * sum(g*x_hat)/M) * inv_std[c]
    * weight[c]`` with M = A*B."""
    channels, rows, width = grad.shape
    count = rows * width
    for c in range(channels):
        total = 0.0
        weighted = 0.0
        for a in range(rows):
            for b in range(width):
                g = grad[c, a, b]
                total += g
                weighted += g * x_hat[c, a, b]
        grad_bias[c] = total
        grad_weight[c] = weighted
        scale = inv_std[c] * weight[c]
        mean_grad, mean_weighted = total / count, weighted / count
        for a in range(rows):
            for b in range(width):
                grad_input[c, a, b] = (grad[c, a, b] - mean_grad - x_hat[c, a, b] * mean_weighted) * scale
