"""Op-table cases: conv2d and conv1d, against a direct NumPy loop over output positions."""
import numpy as np

import ember

from .op_table import OpCase


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def reference_padding(padding, kernel_size, dilation):
    """((top, bottom), (left, right)) for numeric, 'valid' and 'same' padding (PyTorch's split)."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        return tuple((total // 2, total - total // 2) for total in totals)
    ph, pw = _pair(padding)
    return ((ph, ph), (pw, pw))


def reference_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d by definition: for every output position, the dot product of a window with each filter."""
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    batch, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    (top, bottom), (left, right) = reference_padding(padding, (kh, kw), (dh, dw))
    padded = np.zeros((batch, channels, height + top + bottom, width + left + right), dtype=x.dtype)
    padded[:, :, top:top + height, left:left + width] = x
    out_h = (height + top + bottom - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + left + right - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((batch, out_channels, out_h, out_w), dtype=x.dtype)
    per_group = out_channels // groups
    for g in range(groups):
        filters = weight[g * per_group:(g + 1) * per_group]
        for i in range(out_h):
            for j in range(out_w):
                patch = padded[:, g * group_channels:(g + 1) * group_channels,
                               i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
                out[:, g * per_group:(g + 1) * per_group, i, j] = np.einsum("nchw,ochw->no", patch, filters)
    if bias is not None:
        out += bias[None, :, None, None]
    return out[0] if unbatched else out


def reference_conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv1d as conv2d over a height-1 image."""
    pad = padding if isinstance(padding, str) else (0, padding)
    out = reference_conv2d(x[..., None, :], weight[:, :, None, :], bias, (1, stride), pad, (1, dilation), groups)
    return out[..., 0, :]


def _inputs(x_shape, w_shape, with_bias):
    def make(rng):
        arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
        if with_bias:
            arrays.append(rng.standard_normal(w_shape[0]))
        return arrays

    return make


def _conv_case(name, x_shape, w_shape, bias=True, function=ember.conv2d, reference=reference_conv2d, **options):
    def op(*tensors):
        return function(*tensors, **options)

    def ref(*arrays):
        return reference(*arrays, **options)

    return OpCase(name, op, ref, _inputs(x_shape, w_shape, bias))


CASES = [
    _conv_case("conv2d_basic", (2, 3, 5, 5), (4, 3, 3, 3)),
    _conv_case("conv2d_no_bias", (2, 2, 5, 4), (3, 2, 2, 2), bias=False),
    _conv_case("conv2d_stride2", (2, 2, 7, 6), (3, 2, 3, 3), stride=2),
    _conv_case("conv2d_stride_pair_pad1", (1, 2, 6, 7), (2, 2, 3, 3), stride=(2, 1), padding=1),
    _conv_case("conv2d_pad_pair", (2, 2, 4, 5), (3, 2, 3, 2), padding=(1, 2)),
    _conv_case("conv2d_same_odd_kernel", (2, 2, 5, 5), (3, 2, 3, 3), padding="same"),
    _conv_case("conv2d_same_even_kernel", (1, 2, 5, 6), (2, 2, 4, 2), padding="same"),
    _conv_case("conv2d_same_dilated", (1, 2, 6, 6), (2, 2, 2, 3), padding="same", dilation=2),
    _conv_case("conv2d_valid", (2, 2, 5, 5), (3, 2, 3, 3), padding="valid"),
    _conv_case("conv2d_dilation2", (1, 2, 7, 7), (3, 2, 3, 3), dilation=2),
    _conv_case("conv2d_dilation_stride_pad", (2, 1, 8, 7), (2, 1, 3, 2), stride=2, padding=1, dilation=(2, 3)),
    _conv_case("conv2d_groups2", (2, 4, 5, 5), (6, 2, 3, 3), groups=2, padding=1),
    _conv_case("conv2d_depthwise", (2, 3, 5, 5), (3, 1, 3, 3), groups=3),
    _conv_case("conv2d_depthwise_multiplier", (1, 2, 5, 4), (4, 1, 2, 3), groups=2, stride=2, padding=1),
    _conv_case("conv2d_nonsquare_kernel", (2, 2, 6, 5), (3, 2, 1, 4)),
    _conv_case("conv2d_1x1", (2, 3, 4, 4), (5, 3, 1, 1)),
    _conv_case("conv2d_unbatched", (2, 5, 5), (3, 2, 3, 3), padding=1),
    _conv_case("conv2d_kernel_equals_input", (2, 2, 3, 3), (4, 2, 3, 3)),
    _conv_case("conv1d_basic", (2, 3, 7), (4, 3, 3), function=ember.conv1d, reference=reference_conv1d),
    _conv_case("conv1d_stride_pad_dilation", (2, 2, 9), (3, 2, 3), function=ember.conv1d,
               reference=reference_conv1d, stride=2, padding=2, dilation=2),
    _conv_case("conv1d_same_groups", (1, 4, 6), (4, 2, 4), function=ember.conv1d, reference=reference_conv1d,
               padding="same", groups=2, bias=False),
    _conv_case("conv1d_unbatched", (3, 6), (2, 3, 2), function=ember.conv1d, reference=reference_conv1d),
]


def reference_conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                               dilation=1):
    """conv_transpose2d by definition: every input pixel adds its weighted kernel into the full output,
    which is then cropped by ``padding`` (and grown by ``output_padding`` at the bottom/right)."""
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    oh, ow = _pair(output_padding)
    dh, dw = _pair(dilation)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    batch, in_channels, height, width = x.shape
    _, out_per_group, kh, kw = weight.shape
    full_h = (height - 1) * sh + dh * (kh - 1) + 1 + oh
    full_w = (width - 1) * sw + dw * (kw - 1) + 1 + ow
    full = np.zeros((batch, out_per_group * groups, full_h, full_w), dtype=x.dtype)
    in_per_group = in_channels // groups
    for g in range(groups):
        inputs = x[:, g * in_per_group:(g + 1) * in_per_group]
        filters = weight[g * in_per_group:(g + 1) * in_per_group]
        for i in range(height):
            for j in range(width):
                patch = np.einsum("nc,cohw->nohw", inputs[:, :, i, j], filters)
                full[:, g * out_per_group:(g + 1) * out_per_group,
                     i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw] += patch
    out = full[:, :, ph:full_h - ph, pw:full_w - pw]
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out[0] if unbatched else out


def reference_conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """conv_transpose1d as conv_transpose2d over a height-1 image."""
    out = reference_conv_transpose2d(x[..., None, :], weight[:, :, None, :], bias, (1, stride), (0, padding),
                                     (0, output_padding), groups, (1, dilation))
    return out[..., 0, :]


def _transpose_case(name, x_shape, w_shape, bias=True, dims=2, **options):
    function = ember.conv_transpose2d if dims == 2 else ember.conv_transpose1d
    reference = reference_conv_transpose2d if dims == 2 else reference_conv_transpose1d
    out_channels = w_shape[1] * options.get("groups", 1)

    def make(rng):
        arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
        return arrays + [rng.standard_normal(out_channels)] if bias else arrays

    return OpCase(name, lambda *tensors: function(*tensors, **options),
                  lambda *arrays: reference(*arrays, **options), make)


CASES += [
    _transpose_case("conv_transpose2d_basic", (2, 3, 4, 5), (3, 2, 3, 3)),
    _transpose_case("conv_transpose2d_stride2_pad1_outpad1", (2, 2, 3, 4), (2, 3, 3, 3), stride=2, padding=1,
                    output_padding=1),
    _transpose_case("conv_transpose2d_stride2_kernel4", (1, 2, 3, 3), (2, 2, 4, 4), stride=2, padding=1,
                    bias=False),
    _transpose_case("conv_transpose2d_groups_dilation", (2, 4, 3, 3), (4, 1, 2, 3), groups=2, dilation=(2, 1),
                    stride=(1, 2), output_padding=(1, 0)),
    _transpose_case("conv_transpose2d_unbatched", (2, 3, 3), (2, 3, 2, 2), stride=2),
    _transpose_case("conv_transpose1d_stride_pad", (2, 3, 5), (3, 2, 3), dims=1, stride=2, padding=1,
                    output_padding=1),
    _transpose_case("conv_transpose1d_groups", (1, 4, 4), (4, 3, 2), dims=1, groups=2, dilation=2),
]
