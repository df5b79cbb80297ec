"""Op-table cases: interpolate, against PyTorch's formulas written out per output pixel in NumPy."""
import math

import numpy as np

import ember

from .op_table import OpCase, randn


def _source(mode, n_in, n_out, scale, align_corners):
    """Per output position: (lower, upper, weight of upper) along one axis, as PyTorch's kernels define."""
    ratio = 1.0 / scale if scale else n_in / n_out
    rows = []
    for i in range(n_out):
        if mode == "nearest":
            rows.append((min(math.floor(i * ratio), n_in - 1),) * 2 + (0.0,))
        elif mode == "nearest-exact":
            rows.append((min(math.floor((i + 0.5) * ratio), n_in - 1),) * 2 + (0.0,))
        else:
            if align_corners:
                real = i * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
            else:
                real = max(ratio * (i + 0.5) - 0.5, 0.0)
            lower = int(real)
            upper = lower + 1 if lower < n_in - 1 else lower
            rows.append((lower, upper, real - lower))
    return rows


def reference_interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    spatial = x.shape[2:]
    if size is not None:
        out = size if isinstance(size, tuple) else (size,) * len(spatial)
        scales = (None,) * len(spatial)
    else:
        scales = scale_factor if isinstance(scale_factor, tuple) else (scale_factor,) * len(spatial)
        out = tuple(math.floor(n * s) for n, s in zip(spatial, scales))
    axes = [_source(mode, n, m, s, align_corners) for n, m, s in zip(spatial, out, scales)]
    result = np.zeros(x.shape[:2] + out)
    for position in np.ndindex(*out):
        value = 0.0
        # every corner of the (1-, 2-d) neighbourhood, weighted by the product of its axes' weights
        for corner in np.ndindex(*(2,) * len(out)):
            weight, index = 1.0, []
            for axis, pick in enumerate(corner):
                lower, upper, w = axes[axis][position[axis]]
                index.append(upper if pick else lower)
                weight *= w if pick else 1 - w
            value = value + weight * x[(Ellipsis, *index)]
        result[(Ellipsis, *position)] = value
    return result


def _case(name, shape, **options):
    return OpCase(name, lambda x: ember.interpolate(x, **options), lambda x: reference_interpolate(x, **options),
                  randn(*shape))


CASES = [
    _case("interpolate_nearest_x2", (2, 3, 3, 4), scale_factor=2),
    _case("interpolate_nearest_size", (1, 2, 4, 5), size=(7, 3)),
    _case("interpolate_nearest_scale_1_5", (1, 2, 4, 4), scale_factor=1.5),
    _case("interpolate_nearest_exact", (1, 2, 4, 5), size=(6, 8), mode="nearest-exact"),
    _case("interpolate_nearest_1d", (2, 3, 5), size=9),
    _case("interpolate_bilinear_x2", (2, 2, 3, 4), scale_factor=2, mode="bilinear"),
    _case("interpolate_bilinear_align_corners", (1, 2, 3, 4), size=(5, 7), mode="bilinear", align_corners=True),
    _case("interpolate_bilinear_down", (1, 2, 6, 7), size=(4, 3), mode="bilinear"),
    _case("interpolate_bilinear_scale_pair", (1, 1, 4, 4), scale_factor=(1.5, 2.5), mode="bilinear"),
    _case("interpolate_linear", (2, 2, 5), size=8, mode="linear"),
    _case("interpolate_linear_align_corners", (2, 2, 5), scale_factor=3, mode="linear", align_corners=True),
]
