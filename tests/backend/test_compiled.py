"""The optional compiled CPU kernels (backend/compiled.py, backend/kernels/): the same numbers as the NumPy
paths, built once into the cache through a temporary file (rebuilt when any source file changes), structs
that match their ctypes mirrors, and a clean fallback when they cannot be built or are opted out."""
from __future__ import annotations

import ctypes
import shutil

import numpy as np
import pytest

from ember import config
from ember.backend import compiled, im2col

GEOMETRIES = [  # (C, H, W, N, kernel, stride, dilation, padding)
    (3, 9, 7, 5, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    (2, 12, 12, 4, (6, 6), (2, 2), (1, 1), ((2, 2), (2, 2))),
    (4, 11, 10, 3, (5, 4), (2, 3), (1, 1), ((1, 2), (0, 3))),
    (2, 10, 9, 2, (3, 2), (1, 2), (2, 3), ((0, 0), (2, 1))),
    (1, 6, 6, 1, (2, 2), (3, 3), (1, 1), ((0, 0), (0, 0))),
]


def _numpy_only():
    return config.override(kernels="numpy")


def _spy(monkeypatch, kernels, name: str) -> list:
    """Count the calls of one kernel, so that a test knows the compiled path ran and not the NumPy one."""
    calls, original = [], getattr(kernels, name)

    def counting(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(kernels, name, counting)
    return calls


def _bands(out_h: int):
    return [(0, out_h)] + [(start, min(out_h, start + 2)) for start in range(0, out_h, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("memory", ["CHWN", "NCHW"])
def test_columns_and_add_columns_match_numpy_exactly(kernels, monkeypatch, geometry, memory, dtype):
    channels, height, width, batch, kernel, stride, dilation, padding = geometry
    rng = np.random.default_rng(0)
    if memory == "CHWN":
        x = rng.standard_normal((channels, height, width, batch)).astype(dtype).transpose(3, 0, 1, 2)
    else:
        x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    (top, bottom), (left, right) = padding
    out_h = im2col.output_size(height, kernel[0], stride[0], top + bottom, dilation[0])
    out_w = im2col.output_size(width, kernel[1], stride[1], left + right, dilation[1])
    depth = channels * kernel[0] * kernel[1]
    calls = _spy(monkeypatch, kernels, "columns")
    for rows in _bands(out_h):
        width_of_band = (rows[1] - rows[0]) * out_w * batch
        image, offset = im2col.column_source(x, padding)
        fast = im2col.columns(image, offset, kernel, stride, dilation, rows, out_w)
        cols = rng.standard_normal((depth, width_of_band)).astype(dtype)
        target, offset, fast_sum = im2col.column_target(x, (channels, height, width, batch), padding)
        target += 1
        im2col.add_columns(target, offset, cols, kernel, stride, dilation, rows, out_w)
        with _numpy_only():
            image, offset = im2col.column_source(x, padding)
            assert offset == (0, 0)
            slow = im2col.columns(image, offset, kernel, stride, dilation, rows, out_w)
            target, offset, slow_sum = im2col.column_target(x, (channels, height, width, batch), padding)
            target += 1
            im2col.add_columns(target, offset, cols, kernel, stride, dilation, rows, out_w)
        assert len(calls) == 2  # im2col and col2im, compiled; the NumPy side did not call the kernel
        calls.clear()
        assert fast.shape == slow.shape == (depth, width_of_band)
        np.testing.assert_array_equal(fast, slow)
        # the NumPy target also sums onto its padding, so compare the interiors (the gradient itself)
        np.testing.assert_array_equal(fast_sum, slow_sum)


def test_kernels_are_not_used_for_other_arrays(kernels):
    x = np.zeros((2, 3, 4, 5), np.float32)
    assert compiled.for_arrays(x) is kernels
    assert compiled.for_arrays(x, x.astype(np.float64)) is None  # mixed dtypes
    assert compiled.for_arrays(x.astype(np.int32)) is None
    assert compiled.for_arrays(x.astype(np.float16)) is None
    assert compiled.for_arrays(np.ma.masked_array(x)) is None  # subclasses keep NumPy's semantics


@pytest.mark.parametrize("value", ["0", "off", "numpy", " False "])
def test_ember_kernels_opts_out(monkeypatch, value):
    monkeypatch.setenv("EMBER_KERNELS", value)
    assert compiled.kernels() is None
    assert compiled.status() == "NumPy paths: kernels='numpy' ($EMBER_KERNELS)"
    with config.override(kernels="compiled"):  # a setting in Python wins over the environment
        assert config.get("kernels") == "compiled"


def test_fast_paths_off_means_no_kernels(kernels):
    with config.override(fast_paths=False):
        assert compiled.kernels() is None and compiled.for_arrays(np.zeros(3, np.float32)) is None
        assert compiled.status().startswith("reference paths: fast_paths is off")
    assert compiled.kernels() is kernels


def test_kernels_build_once_into_the_cache(kernels, monkeypatch, tmp_path):
    config.set(cache_dir=str(tmp_path))
    monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
    built = compiled.kernels()
    assert built is not None and built.path.parent == tmp_path / "kernels"
    names = sorted(path.name for path in (tmp_path / "kernels").iterdir())
    assert names == [built.path.name, built.path.name + ".sha256"]  # its record beside it, no temporary left
    stamp = built.path.stat().st_mtime_ns
    monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
    assert compiled.kernels().path == built.path and built.path.stat().st_mtime_ns == stamp  # reused
    assert str(built.path) in compiled.status()


def test_every_source_file_is_in_the_cache_key(kernels, monkeypatch, tmp_path):
    """A change to any .c or .h file of the kernels names another library, so that it is built afresh."""
    sources = tmp_path / "kernels"
    shutil.copytree(compiled.SOURCES, sources)
    monkeypatch.setattr(compiled, "SOURCES", sources)
    monkeypatch.setattr(compiled, "UNIT", sources / "all.c")
    built = []

    def not_building(compiler, flags, target):
        built.append(target.name)
        raise RuntimeError("not built in this test")

    monkeypatch.setattr(compiled, "_build", not_building)
    config.set(cache_dir=str(tmp_path / "cache"))

    def library_name():
        built.clear()
        monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
        with pytest.warns(RuntimeWarning, match="not built in this test"):
            assert compiled.kernels() is None
        return built[0]

    files = sorted(path for path in sources.iterdir() if path.suffix in (".c", ".h"))
    assert {"all.c", "ember_kernels.h", "weight_grad.c"} <= {path.name for path in files}
    names = {library_name()}
    for path in files:
        path.write_text(path.read_text() + "\n")
        names.add(library_name())
    assert len(names) == len(files) + 1


def test_kernels_refuse_a_library_whose_structs_differ_from_their_mirrors(kernels, monkeypatch):
    """Each ctypes.Structure in compiled.py has the size the compiler gave its C struct; a mirror that lost a
    field is refused at load time, naming the struct, instead of handing the kernels a short struct."""
    for name, mirror in compiled._STRUCTS.items():
        size = getattr(ctypes.CDLL(str(kernels.path)), f"ember_sizeof_{name}")
        size.restype = ctypes.c_longlong
        assert size() == ctypes.sizeof(mirror), name

    class ShortWindow(ctypes.Structure):
        _fields_ = compiled.Window._fields_[:-1]

    monkeypatch.setitem(compiled._STRUCTS, "window", ShortWindow)
    refused = r"struct ember_window is 64 bytes in C but 56 in compiled.ShortWindow"
    with pytest.raises(RuntimeError, match=refused):
        compiled.Kernels(kernels.path)


def test_a_broken_compiler_falls_back_to_numpy_with_a_warning(monkeypatch, tmp_path):
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'cc: internal error' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
    with pytest.warns(RuntimeWarning, match="building the compiled kernels failed.*internal error"):
        with config.override(compiler=str(broken), cache_dir=str(tmp_path)):
            assert compiled.kernels() is None
    assert not list((tmp_path / "kernels").iterdir())  # nothing half-written
    x = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4)
    image, offset = im2col.column_source(x, ((1, 1), (1, 1)))
    assert offset == (0, 0) and image.shape == (1, 6, 6, 2)  # padded by NumPy


def test_no_compiler_means_numpy_paths(monkeypatch, tmp_path):
    monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
    with config.override(compiler=str(tmp_path / "missing-cc"), cache_dir=str(tmp_path)):
        assert compiled.kernels() is None
        assert "does not exist" in compiled.status()


def test_numpy_path_refuses_an_unpadded_source():
    config.set(kernels="numpy")
    image = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="columns: the NumPy path reads a padded image"):
        im2col.columns(image, (1, 1), (3, 3), (1, 1), (1, 1), (0, 4), 4)
    with pytest.raises(ValueError, match="add_columns: the NumPy path adds onto a padded image"):
        im2col.add_columns(image, (1, 1), np.zeros((9, 32), np.float32), (3, 3), (1, 1), (1, 1), (0, 4), 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [
    dict(),
    dict(maximize=True),
    dict(weight_decay=0.1),
    dict(weight_decay=0.1, decoupled_weight_decay=True),
])
def test_adam_kernel_matches_numpy_exactly(kernels, monkeypatch, dtype, options):
    from ember.optim.adam import adam_update

    rng = np.random.default_rng(1)
    settings = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
                    decoupled_weight_decay=False) | options
    arrays = [rng.standard_normal((37, 5)).astype(dtype) for _ in range(2)]
    moments = [np.zeros((37, 5), dtype), np.zeros((37, 5), dtype)]
    fast = [array.copy() for array in arrays[:1] + moments]
    slow = [array.copy() for array in arrays[:1] + moments]
    calls = _spy(monkeypatch, kernels, "adam")
    for step in range(1, 4):
        grad = rng.standard_normal((37, 5)).astype(dtype)
        adam_update(fast[0], grad, fast[1], fast[2], None, step, **settings)
        with _numpy_only():
            adam_update(slow[0], grad, slow[1], slow[2], None, step, **settings)
    assert len(calls) == 3  # one compiled step each time, none on the NumPy side
    for got, expected in zip(fast, slow):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("memory", ["contiguous", "transposed", "mixed"])
def test_relu_backward_kernel_matches_numpy_exactly(kernels, monkeypatch, dtype, memory):
    """One pass instead of a boolean mask and a product, with NumPy's numbers: zero, negative, NaN and infinite
    outputs and gradients included, in any memory order the gradient and output share."""
    import ember

    rng = np.random.default_rng(4)
    x_np = rng.standard_normal((6, 7, 5)).astype(dtype)
    x_np[0, 0, :4] = [0.0, -0.0, np.nan, np.inf]
    g_np = rng.standard_normal((6, 7, 5)).astype(dtype)
    g_np[1, 0, :3] = [np.inf, np.nan, -np.inf]
    g_np[0, 0, :3] = np.inf  # at y = 0, -0 and NaN: 0 * inf is NaN, as in NumPy
    if memory != "contiguous":  # the output's memory transposed; the gradient's too, or cropped from a larger one
        x_np = x_np.transpose(2, 0, 1)
        g_np = g_np.transpose(2, 0, 1) if memory == "transposed" else np.pad(g_np.transpose(2, 0, 1),
                                                                              1)[1:-1, 1:-1, 1:-1]

    def relu_grads():
        x = ember.tensor(x_np, requires_grad=True)
        ember.relu(x).backward(ember.tensor(g_np))
        return x.grad.numpy()

    calls = _spy(monkeypatch, kernels, "relu_backward")
    with np.errstate(invalid="ignore"):  # 0 * inf
        fast = relu_grads()
        assert len(calls) == 1
        with _numpy_only():
            slow = relu_grads()
        np.testing.assert_array_equal(fast, slow)
        np.testing.assert_array_equal(slow, g_np * (np.maximum(x_np, 0) > 0))
    with pytest.raises(ValueError, match="relu_backward"):
        kernels.relu_backward(np.zeros(4, dtype), np.zeros(5, dtype), np.zeros(4, dtype))


def _batch_norm_step(x_np, weight_np, bias_np, grad_np):
    import ember

    x = ember.tensor(x_np, requires_grad=True)
    weight = ember.tensor(weight_np, requires_grad=True)
    bias = ember.tensor(bias_np, requires_grad=True)
    running_mean, running_var = ember.zeros(x_np.shape[1], dtype=x_np.dtype), ember.ones(x_np.shape[1], dtype=x_np.dtype)
    y = ember.nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training=True, momentum=0.5)
    y.backward(ember.tensor(grad_np))
    return [y.numpy(), x.grad.numpy(), weight.grad.numpy(), bias.grad.numpy(), running_mean.numpy(),
            running_var.numpy()]


@pytest.mark.parametrize("layout", ["NCHW", "CHWN", "sliced", "2-d", "2-d transposed"])
def test_batch_norm_kernels_match_numpy(kernels, monkeypatch, layout):
    rng = np.random.default_rng(2)
    shape = (6, 3) if layout.startswith("2-d") else (6, 3, 5, 4)
    x, grad = (3 + 2 * rng.standard_normal(shape, dtype=np.float32) for _ in range(2))
    if layout == "CHWN":
        x, grad = (np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2) for a in (x, grad))
    elif layout == "2-d transposed":  # (C, N) memory: the kernels run
        x, grad = (np.ascontiguousarray(a.T).T for a in (x, grad))
    elif layout == "sliced":  # no (C, A, B) view exists: the NumPy path runs
        x = np.concatenate([x, x], axis=3)[:, :, :, ::2]
    weight, bias = rng.standard_normal(3, dtype=np.float32), rng.standard_normal(3, dtype=np.float32)
    forward_calls = _spy(monkeypatch, kernels, "batch_norm_forward")
    backward_calls = _spy(monkeypatch, kernels, "batch_norm_backward")
    fast = _batch_norm_step(x, weight, bias, grad)
    with _numpy_only():
        slow = _batch_norm_step(x, weight, bias, grad)
    kernel_layouts = ("CHWN", "2-d transposed")  # per-channel rows contiguous; elsewhere NumPy is used
    assert (len(forward_calls), len(backward_calls)) == ((1, 1) if layout in kernel_layouts else (0, 0))
    for got, expected in zip(fast, slow):
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)
    assert fast[0].strides == slow[0].strides  # the output keeps the input's memory order


def test_column_source_copies_a_batch_major_input_once(kernels):
    x = np.random.default_rng(3).standard_normal((4, 2, 5, 5)).astype(np.float32)  # (N, C, H, W) memory
    image, offset = im2col.column_source(x, ((1, 1), (2, 2)))
    assert offset == (1, 2) and image.flags.c_contiguous and image.shape == (2, 5, 5, 4)
    np.testing.assert_array_equal(image, x.transpose(1, 2, 3, 0))
    chwn = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    assert np.shares_memory(im2col.column_source(chwn, ((0, 0), (0, 0)))[0], chwn)  # already batch-innermost


def test_an_unwritable_cache_builds_in_a_private_temporary_folder(kernels, monkeypatch, tmp_path):
    import tempfile

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
    with config.override(cache_dir=str(blocker)):  # its kernels/ folder cannot be made
        built = compiled.kernels()
    assert built is not None and built.path.parent.parent == tmp_path / "tmp"
    assert built.path.parent.stat().st_mode & 0o777 == 0o700  # made by mkdtemp, under a name no one can guess


def test_kernels_refuse_arrays_that_do_not_fit(kernels):
    image = np.zeros((2, 5, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"compiled kernel columns: arrays that do not fit together: image \(2, 5, 5, 3\)"):
        kernels.columns(image, np.zeros((18, 10), np.float32), 3, 3, 1, 1, 1, 1, 1, 1, 0, 5, 5, False)
    small = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="compiled kernel adam"):
        kernels.adam(np.zeros(5, np.float32), small, small, small, 0.1, 0.9, 0.001, 0.999, 1.0, 1e-8, 1e-3)
    x = np.zeros((3, 2, 4), np.float32)
    channel = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="compiled kernel batch_norm_forward"):
        kernels.batch_norm_forward(x, channel, np.zeros(2, np.float32), 1e-5, np.empty_like(x), np.empty_like(x),
                                   channel, channel, channel)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, dilation", [
    ((2, 2), (2, 2), (1, 1)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (2, 1)), ((1, 1), (1, 1), (1, 1)),
    ((3, 1), (3, 1), (1, 1)), ((2, 2), (3, 3), (1, 1)),  # windows that tile the input; windows with gaps
])
@pytest.mark.parametrize("special", ["none", "ties", "nan"])
def test_max_pool_kernels_match_numpy(kernels, monkeypatch, kernel, stride, dilation, dtype, special):
    """On (C, H, W, N) memory the compiled max pool gives the NumPy path's maxima, indices (first maximum,
    last NaN) and gradients, for overlapping windows, windows with gaps between them and windows that tile
    the input (whose gradient is written without zeroing it first)."""
    import ember

    rng = np.random.default_rng(7)
    x_np = rng.standard_normal((6, 9, 11, 5)).astype(dtype)  # (C, H, W, N)
    if special == "ties":
        x_np = np.round(x_np)  # many equal maxima in a window
    elif special == "nan":
        x_np[rng.random(x_np.shape) < 0.1] = np.nan
    forward = _spy(monkeypatch, kernels, "max_pool_forward")
    backward = _spy(monkeypatch, kernels, "max_pool_backward")

    def run():
        x = ember.tensor(x_np.transpose(3, 0, 1, 2), requires_grad=True)  # (N, C, H, W) view of CHWN memory
        y, indices = ember.nn.functional.max_pool2d(x, kernel, stride, dilation=dilation, return_indices=True)
        g = np.random.default_rng(8).standard_normal(y.shape).astype(dtype)
        y.backward(ember.tensor(g))
        return y.numpy(), indices.numpy(), x.grad.numpy(), x.grad.numpy().transpose(1, 2, 3, 0).flags.c_contiguous

    y, indices, grad, grad_chwn = run()
    assert forward == ["max_pool_forward"] and backward == ["max_pool_backward"]
    with _numpy_only():
        expected = run()
    np.testing.assert_array_equal(y, expected[0])  # NaN where NaN
    np.testing.assert_array_equal(indices, expected[1])
    np.testing.assert_array_equal(grad, expected[2])
    assert grad_chwn and expected[3]  # the gradient lies in memory as its input does


def test_max_pool_kernels_leave_padded_and_nchw_pools_to_numpy(kernels, monkeypatch):
    import ember

    calls = _spy(monkeypatch, kernels, "max_pool_forward")
    x = ember.tensor(np.random.default_rng(9).standard_normal((2, 3, 6, 6)).astype(np.float32))
    ember.nn.functional.max_pool2d(x, 2)  # (N, C, H, W) memory
    chwn = ember.tensor(x.numpy().transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2))
    ember.nn.functional.max_pool2d(chwn, 2, padding=1)
    seven = ember.tensor(np.zeros((3, 7, 7, 2), np.float32).transpose(3, 0, 1, 2))
    ember.nn.functional.max_pool2d(seven, 3, ceil_mode=True)  # a partial last window: padding past the input
    assert calls == []
    ember.nn.functional.max_pool2d(chwn, 2)
    assert calls == ["max_pool_forward"]


def test_max_pool_kernels_refuse_arrays_that_do_not_fit(kernels):
    x = np.zeros((2, 6, 6, 3), np.float32)
    y, argmax = np.zeros((2, 3, 3, 3), np.float32), np.zeros((2, 3, 3, 3), np.uint8)
    kernels.max_pool_forward(x, (2, 2), (2, 2), (1, 1), y, argmax, 0, 2)
    with pytest.raises(ValueError, match="max_pool_forward"):
        kernels.max_pool_forward(x, (3, 3), (2, 2), (1, 1), y, argmax, 0, 2)  # windows past the input
    with pytest.raises(ValueError, match="max_pool_forward"):
        kernels.max_pool_forward(x, (2, 2), (2, 2), (1, 1), y, argmax.astype(np.int64), 0, 2)
    with pytest.raises(ValueError, match="max_pool_backward"):
        kernels.max_pool_backward(y, argmax, (2, 2), (2, 2), (1, 1), np.zeros((2, 6, 6, 4), np.float32), 0, 2)
    kernels.max_pool_backward(y, argmax, (2, 2), (2, 2), (1, 1), x, 0, 2, assign=True)  # 3 x 2 = 6: they tile
    with pytest.raises(ValueError, match="max_pool_backward"):  # a row left out: it would keep stale numbers
        kernels.max_pool_backward(y, argmax, (2, 2), (2, 2), (1, 1), np.zeros((2, 7, 6, 3), np.float32), 0, 2,
                                  assign=True)
