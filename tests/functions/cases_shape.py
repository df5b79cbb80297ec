"""Op-table cases: reshape/view, transpose/permute, squeeze/unsqueeze, expand, flatten, cat/stack/split,
pad, flip, repeat/tile."""
import numpy as np

import ember

from .op_table import OpCase, randn


def _shapes(*shapes):
    return lambda rng: [rng.standard_normal(shape) for shape in shapes]


def _np_pad(x, pad, value=0.0):
    """PyTorch's F.pad semantics in NumPy: pairs start from the last dim; negative widths crop."""
    x = np.asarray(x)
    for i in range(len(pad) // 2):
        axis = x.ndim - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        widths = [(0, 0)] * x.ndim
        widths[axis] = (max(before, 0), max(after, 0))
        x = np.pad(x, widths, constant_values=value)
        crop = [slice(None)] * x.ndim
        crop[axis] = slice(-before if before < 0 else 0, x.shape[axis] + after if after < 0 else x.shape[axis])
        x = x[tuple(crop)]
    return x


CASES = [
    OpCase("reshape", lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6), randn(2, 3, 4)),
    OpCase("reshape_tuple_minus1", lambda x: ember.reshape(x, (-1, 4)), lambda x: x.reshape(-1, 4), randn(2, 3, 4)),
    OpCase("reshape_to_0d", lambda x: x.reshape(()), lambda x: x.reshape(()), randn(1, 1)),
    OpCase("view", lambda x: x.view(3, -1), lambda x: x.reshape(3, -1), randn(2, 3, 4)),
    OpCase("view_after_transpose", lambda x: x.transpose(0, 2).reshape(-1), lambda x: x.transpose(2, 1, 0).reshape(-1),
           randn(2, 3, 4)),
    OpCase("transpose", lambda x: x.transpose(0, 2), lambda x: np.swapaxes(x, 0, 2), randn(2, 3, 4)),
    OpCase("transpose_negative", lambda x: ember.transpose(x, -1, -2), lambda x: np.swapaxes(x, -1, -2),
           randn(2, 3, 4)),
    OpCase("swapaxes", lambda x: ember.swapaxes(x, 1, 0), lambda x: np.swapaxes(x, 1, 0), randn(2, 3, 4)),
    OpCase("T", lambda x: x.T, lambda x: x.T, randn(2, 3, 4)),
    OpCase("mT", lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), randn(2, 3, 4)),
    OpCase("t", lambda x: x.t(), lambda x: x.T, randn(3, 4)),
    OpCase("permute", lambda x: x.permute(2, 0, 1), lambda x: np.transpose(x, (2, 0, 1)), randn(2, 3, 4)),
    OpCase("permute_tuple_negative", lambda x: x.permute((-1, 0, -2)), lambda x: np.transpose(x, (2, 0, 1)),
           randn(2, 3, 4)),
    OpCase("movedim", lambda x: ember.movedim(x, (0, 1), (2, 0)), lambda x: np.moveaxis(x, (0, 1), (2, 0)),
           randn(2, 3, 4, 5)),
    OpCase("squeeze_all", lambda x: x.squeeze(), np.squeeze, randn(1, 3, 1, 4)),
    OpCase("squeeze_dim", lambda x: x.squeeze(2), lambda x: np.squeeze(x, 2), randn(1, 3, 1, 4)),
    OpCase("squeeze_dim_not_one", lambda x: x.squeeze(1), lambda x: x, randn(1, 3, 1, 4)),
    OpCase("squeeze_tuple", lambda x: x.squeeze((0, -2)), lambda x: np.squeeze(x, (0, 2)), randn(1, 3, 1, 4)),
    OpCase("unsqueeze", lambda x: x.unsqueeze(1), lambda x: np.expand_dims(x, 1), randn(3, 4)),
    OpCase("unsqueeze_negative", lambda x: ember.unsqueeze(x, -1), lambda x: np.expand_dims(x, -1), randn(3, 4)),
    OpCase("unsqueeze_0d", lambda x: x.unsqueeze(0), lambda x: x.reshape(1), randn()),
    OpCase("expand", lambda x: x.expand(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), randn(3, 1)),
    OpCase("expand_minus1", lambda x: x.expand(-1, 5), lambda x: np.broadcast_to(x, (3, 5)), randn(3, 1)),
    OpCase("expand_as", lambda x, y: x.expand_as(y) * y, lambda x, y: x * y, _shapes((1, 4), (3, 4))),
    OpCase("broadcast_to", lambda x: ember.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)),
           randn(4)),
    OpCase("broadcast_to_from_0d", lambda x: x.broadcast_to(2, 3), lambda x: np.broadcast_to(x, (2, 3)), randn()),
    OpCase("flatten", lambda x: x.flatten(), lambda x: x.reshape(-1), randn(2, 3, 4)),
    OpCase("flatten_middle", lambda x: x.flatten(1, 2), lambda x: x.reshape(2, 12, 5), randn(2, 3, 4, 5)),
    OpCase("flatten_start", lambda x: ember.flatten(x, 1), lambda x: x.reshape(2, -1), randn(2, 3, 4, 5)),
    OpCase("flatten_negative", lambda x: x.flatten(-3, -2), lambda x: x.reshape(2, 12, 5), randn(2, 3, 4, 5)),
    OpCase("flatten_single_dim", lambda x: x.flatten(2, 2), lambda x: x, randn(2, 3, 4)),
    OpCase("flatten_0d", lambda x: x.flatten(), lambda x: x.reshape(1), randn()),
    OpCase("cat", lambda a, b, c: ember.cat([a, b, c]), lambda a, b, c: np.concatenate([a, b, c]),
           _shapes((2, 3), (1, 3), (4, 3))),
    OpCase("cat_last_dim", lambda a, b: ember.cat((a, b), dim=-1), lambda a, b: np.concatenate([a, b], -1),
           _shapes((2, 3, 1), (2, 3, 4))),
    OpCase("concatenate_axis", lambda a, b: ember.concatenate([a, b], axis=1),
           lambda a, b: np.concatenate([a, b], 1), _shapes((2, 2, 3), (2, 5, 3))),
    OpCase("cat_with_int_tensor", lambda a, k: ember.cat([a, k], 0), lambda a, k: np.concatenate([a, k]),
           lambda rng: [rng.standard_normal((2, 3)), rng.integers(0, 5, (1, 3))]),
    OpCase("cat_same_tensor_twice", lambda a: ember.cat([a, a * 2], 1), lambda a: np.concatenate([a, a * 2], 1),
           randn(2, 3)),
    OpCase("stack", lambda a, b: ember.stack([a, b]), lambda a, b: np.stack([a, b]), _shapes((2, 3), (2, 3))),
    OpCase("stack_last", lambda a, b, c: ember.stack([a, b, c], dim=-1), lambda a, b, c: np.stack([a, b, c], -1),
           _shapes((2, 3), (2, 3), (2, 3))),
    OpCase("stack_0d", lambda a, b: ember.stack([a, b]), lambda a, b: np.stack([a, b]), _shapes((), ())),
    OpCase("split_size", lambda x: x.split(2), lambda x: tuple(np.split(x, [2, 4])), randn(5, 3)),
    OpCase("split_sections", lambda x: ember.split(x, [1, 3, 0, 1], dim=1),
           lambda x: tuple(np.split(x, [1, 4, 4], axis=1)), randn(2, 5)),
    OpCase("split_one_piece_used", lambda x: x.split([2, 3])[1] * 3, lambda x: x[2:] * 3, randn(5, 2)),
    OpCase("chunk", lambda x: x.chunk(3, dim=-1), lambda x: tuple(np.split(x, [3, 6], axis=-1)), randn(2, 8)),
    OpCase("chunk_fewer", lambda x: x.chunk(4), lambda x: tuple(np.split(x, [2, 4])), randn(6, 2)),
    OpCase("unbind", lambda x: x.unbind(1), lambda x: tuple(x[:, i] for i in range(3)), randn(2, 3, 4)),
    OpCase("pad", lambda x: ember.pad(x, (1, 2)), lambda x: _np_pad(x, (1, 2)), randn(2, 3, 4)),
    OpCase("pad_two_dims_value", lambda x: ember.pad(x, (2, 0, 1, 1), value=0.5),
           lambda x: _np_pad(x, (2, 0, 1, 1), 0.5), randn(2, 3, 4)),
    OpCase("pad_negative", lambda x: ember.pad(x, (-1, -2, -1, 0)), lambda x: _np_pad(x, (-1, -2, -1, 0)),
           randn(2, 3, 5)),
    OpCase("pad_mixed", lambda x: ember.pad(x, (2, -1, -1, 3, 1, 0)), lambda x: _np_pad(x, (2, -1, -1, 3, 1, 0)),
           randn(2, 3, 4)),
    OpCase("flip", lambda x: x.flip(0), lambda x: np.flip(x, 0), randn(2, 3, 4)),
    OpCase("flip_dims", lambda x: ember.flip(x, (0, -1)), lambda x: np.flip(x, (0, 2)), randn(2, 3, 4)),
    OpCase("repeat", lambda x: x.repeat(2, 3), lambda x: np.tile(x, (2, 3)), randn(2, 3)),
    OpCase("repeat_new_dims", lambda x: x.repeat(2, 1, 2), lambda x: np.tile(x, (2, 1, 2)), randn(2, 3)),
    OpCase("tile", lambda x: x.tile((2,)), lambda x: np.tile(x, 2), randn(2, 3)),
    OpCase("tile_more_dims", lambda x: ember.tile(x, (3, 1, 2)), lambda x: np.tile(x, (3, 1, 2)), randn(2, 3)),
    OpCase("contiguous", lambda x: x.T.contiguous() * 1.5, lambda x: x.T * 1.5, randn(2, 3)),
]


# F.pad's repeating modes against numpy.pad (PyTorch's pad tuple lists the last dimension first)
_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_case(name, shape, pad, mode):
    widths = [(0, 0)] * len(shape)
    for i in range(len(pad) // 2):
        widths[len(shape) - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return OpCase(name, lambda x: ember.pad(x, pad, mode=mode),
                  lambda x: np.pad(x, widths, mode=_NUMPY_PAD_MODES[mode]), randn(*shape))


CASES += [
    _pad_case("pad_reflect_2d", (2, 3, 4, 5), (2, 1, 3, 2), "reflect"),
    _pad_case("pad_reflect_1d_unbatched", (3, 6), (5, 1), "reflect"),
    _pad_case("pad_replicate_2d", (1, 2, 3, 4), (2, 3, 1, 4), "replicate"),
    _pad_case("pad_replicate_3d", (1, 2, 2, 3, 3), (1, 1, 0, 2, 2, 0), "replicate"),
    _pad_case("pad_circular_2d", (2, 2, 3, 4), (4, 1, 3, 2), "circular"),
    _pad_case("pad_circular_1d", (2, 3, 5), (2, 5), "circular"),
]
