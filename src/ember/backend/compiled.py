"""Optional compiled CPU kernels: the C files in ``kernels/``, built with the machine's C compiler on first use.

A few CPU hot spots cost NumPy several passes over memory or many short strided copies: im2col pads its
input, then copies kh*kw strided views; col2im is kh*kw strided additions; batch norm and Adam are chains of
elementwise passes; a convolution without im2col needs loops NumPy does not have. Where a C compiler is
found (``$CC``, else ``cc``, ``gcc`` or ``clang``), those go to the small kernels in ``kernels/`` instead (one
file per family, ``kernels/ember_kernels.h`` lists them): ``kernels/all.c`` is compiled as one unit, once
per machine, into one library in Ember's cache (``$EMBER_CACHE``, else ``$XDG_CACHE_HOME/ember`` or
``~/.cache/ember``; ``kernels/`` in it), written to a temporary file, flushed to disk and renamed, then loaded
with ctypes. Its name hashes every source file, the flags, the compiler and the CPU, so a change to any of them
builds a new one. Its size and SHA-256 are recorded beside it (``<name>.sha256``) and checked before each
load: a damaged library is built again, with a warning, rather than loaded. Only a library that this user
alone could have written is loaded (it, its record and its folder belong to this user, and neither group nor
others may write them); otherwise, or where the cache cannot be written, the library is built in a private
folder (``tempfile.mkdtemp``) for this process, and a warning says what was wrong. The NumPy (and CuPy) code
stays: it is what runs without a compiler and on the GPU, and the reference the tests compare every kernel with.

The kernels take their geometry as C structs (``struct ember_image`` and the others in
``kernels/ember_kernels.h``), mirrored field by field by the ``ctypes.Structure`` classes below; loading
checks that each has the size the compiler gave its struct. Every method checks its arrays in Python
(``_require``) before a kernel touches memory.

Nothing is compiled or loaded by ``import ember``, only when a kernel is first needed. The settings
``kernels`` (``EMBER_KERNELS=numpy`` keeps the NumPy paths), ``fast_paths``, ``compiler`` (``CC``) and
``cache_dir`` (``EMBER_CACHE``) of ``ember.config`` govern them; ``status()`` says which paths are in use and
why.
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import hashlib
import os
import shutil
import stat
import tempfile
import time
import warnings
from pathlib import Path
from typing import cast

import numpy as np

from .. import config

SOURCES = Path(__file__).with_name("kernels")  # every *.c and *.h file in it is part of the build
UNIT = SOURCES / "all.c"  # the one translation unit: it includes the others
BASIC_FLAGS = ("-O3", "-std=c99", "-fPIC", "-shared", "-pthread", "-ffp-contract=off", "-fno-math-errno")
FLAGS = BASIC_FLAGS + ("-fopenmp-simd",)  # lets batch norm's sums vectorize; compilers without it get BASIC_FLAGS
TUNED_FLAGS = ("-march=native",)  # tried first; the cache key names the CPU, so no other CPU loads the result
COMPILE_SECONDS = 120
TEMPORARY_SUFFIX = ".tmp"  # a build's files until they are renamed into place

_UNSET = object()
_kernels = _UNSET
_status = "not loaded yet"
_warned: set = set()  # the warnings about the cache given so far, each given once

_Index = ctypes.c_longlong  # C's idx
_Address = ctypes.c_void_p


class Image(ctypes.Structure):
    """``struct ember_image``: (C, H, W, N) numbers from ``data``, neighbours ``step_*`` numbers apart."""
    _fields_ = [("data", _Address), ("channels", _Index), ("height", _Index), ("width", _Index),
                ("batch", _Index), ("step_c", _Index), ("step_h", _Index), ("step_w", _Index), ("step_n", _Index)]


class Window(ctypes.Structure):
    """``struct ember_window``: kh x kw taps, strides, dilations and the (top, left) padding."""
    _fields_ = [(name, _Index) for name in ("kh", "kw", "sh", "sw", "dh", "dw", "top", "left")]


class Range(ctypes.Structure):
    """``struct ember_range``: indices start:stop of the call's outer axis; with ``counter`` (the address of a
    ``new_counter()``, C's ``idx *``) shared between threads, ``piece`` units at a time."""
    _fields_ = [("start", _Index), ("stop", _Index), ("counter", _Address), ("piece", _Index)]


class WeightSplit(ctypes.Structure):
    """``struct ember_weight_split``: how the weight gradient groups its sums and cuts its work."""
    _fields_ = [(name, _Index) for name in ("chunk_out", "group", "ranges", "part_out")]


class AdamStep(ctypes.Structure):
    """``struct ember_adam_step``: one Adam step's numbers, rounded to the arrays' type in C."""
    _fields_ = [(name, ctypes.c_double)
                for name in ("scale1", "beta1", "scale2", "beta2", "bias2_sqrt", "eps", "step_size")]


_STRUCTS = {"image": Image, "window": Window, "range": Range, "weight_split": WeightSplit,
            "adam_step": AdamStep}  # C's struct ember_<name>, whose size ember_sizeof_<name>() gives

_IMAGE, _WINDOW, _RANGE = ctypes.POINTER(Image), ctypes.POINTER(Window), ctypes.POINTER(Range)
_PARAMETERS = {  # each kernel's C parameters (kernels/*.c); ember_<name>_f32 and _f64 take the same
    "columns": (_IMAGE, _Address, _WINDOW, _RANGE, _Index, ctypes.c_int),
    "adam": (_Address, _Address, _Address, _Address, _Index, ctypes.POINTER(AdamStep)),
    "batch_norm_forward": (_Address, _Index, _Index, _Address, _Address, ctypes.c_double, *[_Address] * 5),
    "batch_norm_backward": (_Address, _Address, _Index, _Index, *[_Address] * 5),
    "group_norm_forward": (_Address, _Index, _Index, _Index, _Index, ctypes.c_int, ctypes.c_int, _Address, _Address,
                           ctypes.c_double, *[_Address] * 5, _Index, _Index),
    "group_norm_backward": (_Address, _Address, _Index, _Index, _Index, _Index, ctypes.c_int, *[_Address] * 6,
                            _Index, _Index),
    "conv_forward": (_IMAGE, _Address, _Index, _Address, _WINDOW, _IMAGE, _RANGE),
    "conv_input_grad": (_IMAGE, _Address, _Index, _WINDOW, _IMAGE, _RANGE),
    "conv_weight_grad": (_IMAGE, _IMAGE, _WINDOW, _Address, ctypes.POINTER(WeightSplit), _RANGE),
    "transpose": (_Address, _Index, _Index, _Address, _Index, _Index),
    "relu_backward": (_Address, _Address, _Address, _Index),
    "silu_forward": (_Address, _Address, _Index),
    "silu_backward": (_Address, _Address, _Address, _Index),
    "gelu_forward": (_Address, _Address, _Address, _Index),
    "gelu_backward": (_Address, _Address, _Address, _Address, _Index),
    "layer_norm_forward": (_Address, _Index, _Index, _Address, _Address, ctypes.c_double, *[_Address] * 5),
    "layer_norm_backward": (_Address, _Address, _Address, _Address, _Index, _Index, *[_Address] * 3),
    "softmax_rows": (_Address, _Index, _Index, ctypes.c_double, _Address, _Index),
    "softmax_rows_grad": (_Address, _Address, _Address, _Index, _Index, ctypes.c_double),
    "max_pool_forward": (_IMAGE, _WINDOW, _IMAGE, _Address, _RANGE),
    "max_pool_backward": (_IMAGE, _Address, _WINDOW, _IMAGE, _RANGE, ctypes.c_int),
    "lstm_forward": (*[_Address] * 8, _Index, _Index),
    "lstm_backward": (*[_Address] * 9, _Index, _Index),
    "gru_forward": (*[_Address] * 8, _Index, _Index),
    "gru_backward": (*[_Address] * 10, _Index, _Index),
    "lstm_sequence_forward": (*[_Address] * 10, _Index, _Index, _Index, ctypes.c_int, ctypes.c_int, _Address,
                              ctypes.c_int),
    "lstm_sequence_backward": (*[_Address] * 14, _Index, _Index, _Index, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               _Address, ctypes.c_int),
    "gru_sequence_forward": (*[_Address] * 9, _Index, _Index, _Index, ctypes.c_int, ctypes.c_int, _Address,
                             ctypes.c_int),
    "gru_sequence_backward": (*[_Address] * 13, _Index, _Index, _Index, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              _Address, ctypes.c_int),
    "panel_product": (*[_Address] * 3, _Index, _Index, _Index, ctypes.c_int),
    "thin_forward": (*[_Address] * 3, _Index, _Index, _Index, ctypes.c_int, ctypes.c_int),
    "thin_weight_grad": (*[_Address] * 3, _Index, _Index, _Index, ctypes.c_int, ctypes.c_int),
    "group_norm_silu_forward": (_Address, _Index, _Index, _Index, _Index, ctypes.c_int, ctypes.c_int, _Address,
                                _Address, _Address, ctypes.c_double, *[_Address] * 5, _Index, _Index, _Address),
    "group_norm_silu_backward": (_Address, _Address, _Index, _Index, _Index, _Index, ctypes.c_int, *[_Address] * 7,
                                 _Index, _Index, _Address),
    "group_norm_silu_backward_from_x": (_Address, _Address, _Index, _Index, _Index, _Index, *[_Address] * 11,
                                        _Index, _Index, _Address),
}
_RETURNS = {name: ctypes.c_int for name in ("lstm_sequence_forward", "lstm_sequence_backward", "gru_sequence_forward",
                                            "gru_sequence_backward", "panel_product",
                                            "thin_forward", "thin_weight_grad")}  # the others return nothing
_SUFFIXES = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _address(array) -> int:
    return array.__array_interface__["data"][0]


def _optional(array) -> int | None:
    """The address of ``array``, or None (C's NULL) for None."""
    return None if array is None else _address(array)


def _image(array) -> Image:
    """The ``Image`` of a 4-d (C, H, W, N) array: its address, shape and strides in numbers."""
    size = array.itemsize
    step_c, step_h, step_w, step_n = array.strides
    return Image(_address(array), *array.shape, step_c // size, step_h // size, step_w // size, step_n // size)


@functools.lru_cache(maxsize=256)
def _window(kh, kw, sh, sw, dh, dw, top=0, left=0) -> Window:
    """The ``Window`` of one geometry, built once (kernels only read it)."""
    return Window(kh, kw, sh, sw, dh, dw, top, left)


def _is_rows(array, rows: int, columns: int, dtype) -> bool:
    """Whether ``array`` is a C-contiguous NumPy (rows, columns) array of ``dtype``."""
    return (type(array) is np.ndarray and array.shape == (rows, columns) and array.dtype == dtype
            and array.flags.c_contiguous)


def _require(condition: bool, kernel: str, arrays: dict) -> None:
    """Raise before a kernel would read or write outside its arrays."""
    if not condition:
        described = ", ".join(f"{name} {array.shape} {array.dtype} strides {array.strides}"
                              for name, array in arrays.items())
        raise ValueError(f"compiled kernel {kernel}: arrays that do not fit together: {described}")


def new_counter():
    """A work counter for kernels that threads share (``counter=``): one int64 at zero."""
    return np.zeros(1, dtype=np.int64)


def _counter(counter, kernel: str):
    """The address of a ``new_counter()`` array, or None (no sharing)."""
    if counter is None:
        return None
    if not (isinstance(counter, np.ndarray) and counter.dtype == np.int64 and counter.size >= 1
            and counter.flags.c_contiguous and counter.flags.writeable):
        raise ValueError(f"compiled kernel {kernel}: counter must be a writeable int64 array from new_counter(), "
                         f"received {type(counter).__name__} {getattr(counter, 'dtype', '')}")
    return _address(counter)


class Kernels:
    """The loaded library: one method per kernel, each taking NumPy arrays of one dtype (float32 or float64)."""

    def __init__(self, path: Path):
        self.path = path
        library = ctypes.CDLL(str(path))
        for name, mirror in _STRUCTS.items():
            size = getattr(library, f"ember_sizeof_{name}")
            size.restype = ctypes.c_longlong
            if size() != ctypes.sizeof(mirror):
                raise RuntimeError(f"compiled kernels {path.name}: struct ember_{name} is {size()} bytes in C but "
                                   f"{ctypes.sizeof(mirror)} in compiled.{mirror.__name__}; its fields in "
                                   f"kernels/ember_kernels.h and compiled.py must match")
        self._functions = {}
        for dtype, suffix in _SUFFIXES.items():
            for name, parameters in _PARAMETERS.items():
                function = getattr(library, f"ember_{name}_{suffix}")
                function.argtypes = parameters
                function.restype = _RETURNS.get(name)
                self._functions[name, dtype] = function
        self._units = {}
        for dtype, suffix in _SUFFIXES.items():
            units = getattr(library, f"ember_conv_units_{suffix}")
            units.argtypes, units.restype = [ctypes.c_longlong] * 2, ctypes.c_longlong
            self._units[dtype] = units
        library.ember_conv_rows.restype = ctypes.c_int
        library.ember_conv_max_taps.restype = ctypes.c_int
        library.ember_vector_bytes.restype = ctypes.c_int
        self.conv_rows = library.ember_conv_rows()
        self.conv_max_taps = library.ember_conv_max_taps()
        self.vector_bytes = library.ember_vector_bytes()
        library.ember_thin_features.restype = ctypes.c_int
        self.thin_features = library.ember_thin_features()  # thin_forward's largest k

    def conv_block_heights(self) -> tuple:
        """The channel-block heights the direct convolutions take (one, two or three vectors wide)."""
        return self.conv_rows, self.conv_rows // 2, self.conv_rows // 3

    def conv_units(self, block_height: int, batch: int, dtype) -> int:
        """Units of work per output position of a direct convolution with blocks of ``block_height``
        channels (the blocks' widths of batch entries it takes): ``piece`` counts these."""
        return self._units[np.dtype(dtype)](block_height, batch)

    def columns(self, image, matrix, kh, kw, sh, sw, dh, dw, top, left, start, stop, out_w, adjoint):
        """im2col (col2im when ``adjoint``) of output rows start:stop between ``image`` (C, H, W, N), any
        strides, and the C-contiguous (C*kh*kw, (stop-start)*out_w*N) ``matrix``; see kernels/columns.c."""
        channels, _, _, batch = image.shape
        _require(matrix.flags.c_contiguous and matrix.dtype == image.dtype
                 and matrix.size == channels * kh * kw * (stop - start) * out_w * batch, "columns",
                 dict(image=image, matrix=matrix))
        self._functions["columns", image.dtype](_image(image), _address(matrix),
                                                _window(kh, kw, sh, sw, dh, dw, top, left),
                                                Range(start, stop, None, 1), out_w, int(adjoint))

    def adam(self, param, grad, exp_avg, exp_avg_sq, scale1, beta1, scale2, beta2, bias2_sqrt, eps, step_size):
        """One Adam step on C-contiguous arrays of one shape, in place on ``param`` and the moments."""
        arrays = dict(param=param, grad=grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq)
        _require(all(a.flags.c_contiguous and a.size == param.size and a.dtype == param.dtype
                     for a in arrays.values()), "adam", arrays)
        self._functions["adam", param.dtype](
            _address(param), _address(grad), _address(exp_avg), _address(exp_avg_sq), param.size,
            AdamStep(scale1, beta1, scale2, beta2, bias2_sqrt, eps, step_size))

    def batch_norm_forward(self, x, weight, bias, eps, x_hat, y, mean, var, inv_std):
        """Per channel of C-contiguous (C, A, B) ``x``: statistics into the (C,) arrays, ``x_hat`` and ``y``."""
        arrays = dict(x=x, x_hat=x_hat, y=y, weight=weight, bias=bias, mean=mean, var=var, inv_std=inv_std)
        _require(all(a.flags.c_contiguous and a.dtype == x.dtype for a in arrays.values())
                 and x.shape == x_hat.shape == y.shape
                 and all(a.shape == (x.shape[0],) for a in (weight, bias, mean, var, inv_std)),
                 "batch_norm_forward", arrays)
        self._functions["batch_norm_forward", x.dtype](
            _address(x), x.shape[0], x.size // max(x.shape[0], 1), _address(weight), _address(bias), eps,
            _address(x_hat), _address(y), _address(mean), _address(var), _address(inv_std))

    def batch_norm_backward(self, grad, x_hat, inv_std, weight, grad_input, grad_weight, grad_bias):
        """The closed-form batch-norm gradient per channel of C-contiguous (C, A, B) arrays."""
        arrays = dict(grad=grad, x_hat=x_hat, grad_input=grad_input, inv_std=inv_std, weight=weight,
                      grad_weight=grad_weight, grad_bias=grad_bias)
        _require(all(a.flags.c_contiguous and a.dtype == grad.dtype for a in arrays.values())
                 and grad.shape == x_hat.shape == grad_input.shape
                 and all(a.shape == (grad.shape[0],) for a in (inv_std, weight, grad_weight, grad_bias)),
                 "batch_norm_backward", arrays)
        self._functions["batch_norm_backward", grad.dtype](
            _address(grad), _address(x_hat), grad.shape[0], grad.size // max(grad.shape[0], 1), _address(inv_std),
            _address(weight), _address(grad_input), _address(grad_weight), _address(grad_bias))


    def group_norm_forward(self, x, input_batch_inner, groups, channel_size, batch_inner, weight, bias, eps, x_hat,
                           y, mean, inv_std, start, stop):
        """Group norm of groups start:stop of C-contiguous ``x``, (groups, count, N) with ``input_batch_inner``,
        else (N, groups, count): x_hat and y (laid out so by ``batch_inner``), mean and inv_std (N, groups);
        weight and bias (C,) or None; ``x_hat`` may be None (not kept) when x and y are both batch inner."""
        self._group_norm_forward_call("group_norm_forward", x.dtype, x, input_batch_inner, groups, channel_size,
                                      batch_inner, weight, bias, eps, x_hat, y, mean, inv_std, start, stop)

    def _group_norm_forward_call(self, kernel: str, dtype, x, input_batch_inner, groups, channel_size, batch_inner,
                                 weight, bias, eps, x_hat, y, mean, inv_std, start, stop, input_shift=None,
                                 counter=None):
        """Check and run one of the group-norm forward kernels (plain, or with SiLU, its ``input_shift`` and
        ``counter``), all arrays of ``dtype``."""
        self._group_norm_forward_runner(kernel, dtype, x, input_batch_inner, groups, channel_size, batch_inner,
                                        weight, bias, eps, x_hat, y, mean, inv_std, start, stop, input_shift,
                                        counter)()

    def _group_norm_forward_runner(self, kernel: str, dtype, x, input_batch_inner, groups, channel_size,
                                   batch_inner, weight, bias, eps, x_hat, y, mean, inv_std, start, stop,
                                   input_shift=None, counter=None):
        """``_group_norm_forward_call``'s arrays checked once: a function that runs the kernel on the calling
        thread, each call with work memory of its own (threads sharing the groups through ``counter``)."""
        batch = y.shape[-1] if batch_inner else y.shape[0]
        count = x.size // max(batch * groups, 1)
        channels = groups * count // max(channel_size, 1)
        layouts = {True: (groups, count, batch), False: (batch, groups, count)}
        given = [a for a in (x, y, mean, inv_std, x_hat, input_shift, weight, bias) if a is not None]
        if not (all(a.flags.c_contiguous and a.dtype == dtype for a in given)
                and x.shape == layouts[bool(input_batch_inner)]
                and (x_hat.shape == y.shape if x_hat is not None else input_batch_inner and batch_inner)
                and y.shape == layouts[bool(batch_inner)]
                and mean.shape == inv_std.shape == (batch, groups) and 0 <= start <= stop <= groups
                and channel_size > 0 and count % channel_size == 0
                and all(a.shape == (channels,) for a in (weight, bias) if a is not None)
                and (input_shift is None or (input_shift.shape == (channels, batch) and x_hat is None
                                             and kernel == "group_norm_silu_forward"))):
            named = dict(x=x, y=y, mean=mean, inv_std=inv_std, x_hat=x_hat, input_shift=input_shift, weight=weight,
                         bias=bias)
            _require(False, kernel, {name: a for name, a in named.items() if a is not None})
        extra = () if kernel == "group_norm_forward" else (_optional(input_shift),)
        sharing = () if kernel == "group_norm_forward" else (_counter(counter, kernel),)
        function = self._functions[kernel, x.dtype]
        head = (_address(x), groups, count, batch, channel_size, int(input_batch_inner), int(batch_inner),
                _optional(weight), _optional(bias), *extra, eps, _optional(x_hat), _address(y), _address(mean),
                _address(inv_std))
        kept = (x, y, mean, inv_std, x_hat, input_shift, weight, bias, counter)  # alive while the runner is

        def run() -> None:
            work = np.empty(5 * batch, dtype=np.float64)
            function(*head, _address(work), start, stop, *sharing)

        run.arrays = kept  # type: ignore[attr-defined]
        return run

    def group_norm_backward(self, grad, x_hat, groups, channel_size, batch_inner, inv_std, weight, grad_input,
                            grad_weight, grad_bias, start, stop):
        """The group-norm gradient for groups start:stop, arrays as ``group_norm_forward`` takes them;
        grad_weight and grad_bias (C,) are written for every channel of those groups (weight None: ones)."""
        batch = grad.shape[-1] if batch_inner else grad.shape[0]
        count = grad.size // max(batch * groups, 1)
        channels = groups * count // max(channel_size, 1)
        arrays = dict(grad=grad, x_hat=x_hat, grad_input=grad_input, inv_std=inv_std, grad_weight=grad_weight,
                      grad_bias=grad_bias, **({} if weight is None else {"weight": weight}))
        _require(all(a.flags.c_contiguous and a.dtype == grad.dtype for a in arrays.values())
                 and grad.ndim == 3 and grad.shape == x_hat.shape == grad_input.shape
                 and inv_std.shape == (batch, groups) and grad.shape[0 if batch_inner else 1] == groups
                 and 0 <= start <= stop <= groups and channel_size > 0 and count % channel_size == 0
                 and all(a.shape == (channels,)
                         for a in (grad_weight, grad_bias, *([] if weight is None else [weight]))),
                 "group_norm_backward", arrays)
        work = np.empty(7 * batch, dtype=np.float64)
        self._functions["group_norm_backward", grad.dtype](
            _address(grad), _address(x_hat), groups, count, batch, channel_size, int(batch_inner), _address(inv_std),
            _optional(weight), _address(grad_input), _address(grad_weight), _address(grad_bias), _address(work),
            start, stop)

    def _direct(self, kernel, source, packed, block_height, kernel_size, stride, dilation, offset, target,
                start, stop, bias=None, counter=None, piece=1):
        """Check and run ``conv_forward`` (with ``bias``, or none) or ``conv_input_grad`` on rows start:stop
        of ``target``: all of them, or with ``counter`` (see ``_counter``) ``piece`` units at a time taken from
        it until none is left (threads calling at once share the rows out; see conv_rows in
        kernels/direct_conv.c)."""
        (kh, kw), (sh, sw), (dh, dw), (top, left) = kernel_size, stride, dilation, offset
        arrays = dict(source=source, packed=packed, target=target)
        if bias is not None:
            arrays["bias"] = bias
        summed, produced = source.shape[0], target.shape[0]  # channels summed over, channels produced
        blocks = -(-produced // block_height) if block_height else 0
        _require(all(a.flags.c_contiguous and a.dtype == source.dtype for a in arrays.values())
                 and source.ndim == target.ndim == 4 and source.shape[3] == target.shape[3]
                 and block_height in (*self.conv_block_heights(), 1) and 0 < kh <= self.conv_max_taps
                 and 0 < kw <= self.conv_max_taps and min(sh, sw, dh, dw) >= 1
                 and packed.size == blocks * block_height * kh * kw * summed
                 and (bias is None or bias.shape == (produced,))
                 and 0 <= start <= stop <= target.shape[1] and piece >= 1, kernel, arrays)
        work = Range(start, stop, _counter(counter, kernel), piece)
        with_bias = () if kernel == "conv_input_grad" else (None if bias is None else _address(bias),)
        self._functions[kernel, source.dtype](_image(source), _address(packed), block_height, *with_bias,
                                              _window(kh, kw, sh, sw, dh, dw, top, left), _image(target), work)

    def conv_forward(self, x, packed, block_height, kernel_size, stride, dilation, offset, y, start, stop,
                     bias=None, counter=None, piece=1):
        """Direct convolution of C-contiguous (C, H, W, N) ``x`` (plus ``bias``, (C_out,), when given) into
        output rows start:stop of C-contiguous (C_out, out_h, out_w, N) ``y``; ``packed`` holds the weights in
        blocks of ``block_height`` output channels (see kernels/direct_conv.c); ``offset`` = (top, left)
        padding. ``counter``/``piece``: the rows' work shared between threads, see ``_direct``."""
        self._direct("conv_forward", x, packed, block_height, kernel_size, stride, dilation, offset, y, start,
                     stop, bias, counter, piece)

    def conv_input_grad(self, grad, packed, block_height, kernel_size, stride, dilation, offset, grad_input,
                        start, stop, counter=None, piece=1):
        """The input gradient of a direct convolution, gathered into rows start:stop of C-contiguous
        (C, H, W, N) ``grad_input`` from C-contiguous (C_out, out_h, out_w, N) ``grad``; ``packed`` holds the
        weights in blocks of ``block_height`` input channels (see kernels/direct_conv.c).
        ``counter``/``piece``: see ``_direct``."""
        self._direct("conv_input_grad", grad, packed, block_height, kernel_size, stride, dilation, offset,
                     grad_input, start, stop, counter=counter, piece=piece)

    def conv_weight_grad(self, x, grad, kernel_size, stride, dilation, offset, grad_weight, start, stop,
                         counter=None, chunk_out=0, group=1, part_out=0):
        """The weight gradient of output rows start:stop from C-contiguous (C, H, W, N) ``x`` and
        (C_out, out_h, out_w, N) ``grad``; a register tile sums ``group`` output rows, ``chunk_out`` output
        channels at a time (0: all). Without ``counter``, added onto C-contiguous (C_out, C, kh, kw)
        ``grad_weight``. With it (see ``_counter``), ``grad_weight`` is (ranges, C_out, C, kh, kw): the rows
        are cut into that many ranges and the output channels into parts of ``part_out`` (0: one part), each
        piece taken from the counter until none is left and written (not added) into its range's partial;
        threads calling at once share them out, and the caller adds the partials in order (see
        kernels/weight_grad.c)."""
        (kh, kw), (sh, sw), (dh, dw), (top, left) = kernel_size, stride, dilation, offset
        arrays = dict(x=x, grad=grad, grad_weight=grad_weight)
        shape = (grad.shape[0], x.shape[0], kh, kw)
        ranges = 0 if counter is None else grad_weight.shape[0]
        _require(all(a.flags.c_contiguous and a.dtype == x.dtype for a in arrays.values())
                 and x.ndim == grad.ndim == 4 and x.shape[3] == grad.shape[3]
                 and grad_weight.shape == (shape if counter is None else (ranges, *shape))
                 and min(sh, sw, dh, dw) >= 1 and min(chunk_out, part_out) >= 0 and group >= 1
                 and 0 <= start <= stop <= grad.shape[1], "conv_weight_grad", arrays)
        work = Range(start, stop, _counter(counter, "conv_weight_grad"), 1)
        self._functions["conv_weight_grad", x.dtype](
            _image(x), _image(grad), _window(kh, kw, sh, sw, dh, dw, top, left), _address(grad_weight),
            WeightSplit(chunk_out, group, ranges, part_out), work)

    def relu_backward(self, grad, y, out):
        """``out = grad * (y > 0)`` for C-contiguous arrays of one shape, in one pass."""
        arrays = dict(grad=grad, y=y, out=out)
        _require(all(a.flags.c_contiguous and a.dtype == grad.dtype and a.shape == grad.shape
                     for a in arrays.values()), "relu_backward", arrays)
        self._functions["relu_backward", grad.dtype](_address(grad), _address(y), _address(out), grad.size)

    def silu_forward(self, x, out):
        """``out = x * sigmoid(x)`` for C-contiguous float32 arrays of one shape, in one pass (kernels/silu.c)."""
        arrays = dict(x=x, out=out)
        _require(all(a.flags.c_contiguous and a.dtype == np.float32 and a.shape == x.shape
                     for a in arrays.values()), "silu_forward", arrays)
        self._functions["silu_forward", x.dtype](_address(x), _address(out), x.size)

    def silu_backward(self, grad, x, out):
        """``out = grad * d silu(x) / dx`` for C-contiguous float32 arrays of one shape, in one pass."""
        arrays = dict(grad=grad, x=x, out=out)
        _require(all(a.flags.c_contiguous and a.dtype == np.float32 and a.shape == x.shape
                     for a in arrays.values()), "silu_backward", arrays)
        self._functions["silu_backward", x.dtype](_address(grad), _address(x), _address(out), x.size)
    def gelu_forward(self, x, y, cdf):
        """``cdf = Φ(x)`` and ``y = x * cdf`` (GELU) for C-contiguous arrays of one shape, in one pass."""
        arrays = dict(x=x, y=y, cdf=cdf)
        _require(all(a.flags.c_contiguous and a.dtype == x.dtype and a.shape == x.shape
                     for a in arrays.values()), "gelu_forward", arrays)
        self._functions["gelu_forward", x.dtype](_address(x), _address(y), _address(cdf), x.size)

    def gelu_backward(self, grad, x, cdf, out):
        """``out = grad * (cdf + x * φ(x))``, GELU's gradient, for C-contiguous arrays of one shape."""
        arrays = dict(grad=grad, x=x, cdf=cdf, out=out)
        _require(all(a.flags.c_contiguous and a.dtype == grad.dtype and a.shape == grad.shape
                     for a in arrays.values()), "gelu_backward", arrays)
        self._functions["gelu_backward", grad.dtype](_address(grad), _address(x), _address(cdf), _address(out),
                                                     grad.size)

    def layer_norm_forward(self, x, weight, bias, eps, x_hat, y, mean, var, inv_std):
        """Layer norm over the last axis of C-contiguous (rows, C) ``x``: the (rows,) statistics, ``x_hat`` and
        ``y``; ``weight`` and ``bias`` are (C,) arrays or None."""
        rows, columns = x.shape
        arrays = dict(x=x, x_hat=x_hat, y=y, mean=mean, var=var, inv_std=inv_std,
                      **{name: a for name, a in (("weight", weight), ("bias", bias)) if a is not None})
        _require(x.ndim == 2 and all(a.flags.c_contiguous and a.dtype == x.dtype for a in arrays.values())
                 and x.shape == x_hat.shape == y.shape and all(a.size == rows for a in (mean, var, inv_std))
                 and all(a is None or a.shape == (columns,) for a in (weight, bias)), "layer_norm_forward", arrays)
        self._functions["layer_norm_forward", x.dtype](
            _address(x), rows, columns, None if weight is None else _address(weight),
            None if bias is None else _address(bias), eps, _address(x_hat), _address(y), _address(mean),
            _address(var), _address(inv_std))

    def layer_norm_backward(self, grad, x_hat, inv_std, weight, grad_input, grad_weight, grad_bias):
        """Layer norm's gradient over the last axis of C-contiguous (rows, C) arrays; ``weight``,
        ``grad_weight`` and ``grad_bias`` are (C,) arrays or None (not used, not computed)."""
        rows, columns = grad.shape
        optional = (("weight", weight), ("grad_weight", grad_weight), ("grad_bias", grad_bias))
        arrays = dict(grad=grad, x_hat=x_hat, inv_std=inv_std, grad_input=grad_input,
                      **{name: a for name, a in optional if a is not None})
        _require(grad.ndim == 2 and all(a.flags.c_contiguous and a.dtype == grad.dtype for a in arrays.values())
                 and grad.shape == x_hat.shape == grad_input.shape and inv_std.size == rows
                 and all(a is None or a.shape == (columns,) for _, a in optional), "layer_norm_backward", arrays)
        self._functions["layer_norm_backward", grad.dtype](
            _address(grad), _address(x_hat), _address(inv_std), None if weight is None else _address(weight),
            rows, columns, _address(grad_input), None if grad_weight is None else _address(grad_weight),
            None if grad_bias is None else _address(grad_bias))

    def softmax_rows(self, scores, blocked, scale=1.0):
        """Softmax of ``scores * scale`` in place over the rows of C-contiguous (rows, S) ``scores``;
        ``blocked``: None, or a C-contiguous bool (B, S) array with B dividing rows, row r of the scores hiding
        the positions of row r % B."""
        rows, columns = scores.shape
        arrays = dict(scores=scores) if blocked is None else dict(scores=scores, blocked=blocked)
        _require(scores.flags.c_contiguous and (blocked is None or (
            blocked.dtype == np.bool_ and blocked.flags.c_contiguous and blocked.ndim == 2
            and blocked.shape[1] == columns and blocked.shape[0] > 0 and rows % blocked.shape[0] == 0)),
            "softmax_rows", arrays)
        self._functions["softmax_rows", scores.dtype](
            _address(scores), rows, columns, scale, None if blocked is None else _address(blocked),
            1 if blocked is None else blocked.shape[0])

    def softmax_rows_grad(self, grad, probabilities, row_dot, scale):
        """``grad = (grad - row_dot) * probabilities * scale`` in place over C-contiguous (rows, S) arrays,
        ``row_dot`` holding one number per row."""
        arrays = dict(grad=grad, probabilities=probabilities, row_dot=row_dot)
        _require(grad.ndim == 2 and all(a.flags.c_contiguous and a.dtype == grad.dtype for a in arrays.values())
                 and probabilities.shape == grad.shape and row_dot.size == grad.shape[0], "softmax_rows_grad",
                 arrays)
        self._functions["softmax_rows_grad", grad.dtype](_address(grad), _address(probabilities),
                                                         _address(row_dot), *grad.shape, scale)

    def transpose(self, source, target, start, stop):
        """Columns start:stop of the C-contiguous (rows, columns) ``source`` into rows start:stop of the
        C-contiguous (columns, rows) ``target``."""
        arrays = dict(source=source, target=target)
        _require(source.ndim == target.ndim == 2 and source.flags.c_contiguous and target.flags.c_contiguous
                 and source.dtype == target.dtype and target.shape == source.shape[::-1]
                 and 0 <= start <= stop <= source.shape[1], "transpose", arrays)
        self._functions["transpose", source.dtype](_address(source), *source.shape, _address(target), start, stop)

    def max_pool_forward(self, x, kernel_size, stride, dilation, y, argmax, start, stop):
        """Max pooling (no padding) of channels start:stop of C-contiguous (C, H, W, N) ``x`` into C-contiguous
        (C, out_h, out_w, N) ``y`` and uint8 ``argmax`` (each window's tap, i*kw + j)."""
        (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
        channels, height, width, batch = x.shape
        arrays = dict(x=x, y=y, argmax=argmax)
        _require(x.ndim == 4 and all(a.flags.c_contiguous for a in arrays.values()) and y.dtype == x.dtype
                 and argmax.dtype == np.uint8 and y.shape == argmax.shape and kh * kw <= 256
                 and y.shape[0] == channels and y.shape[3] == batch and min(sh, sw, dh, dw) >= 1
                 and (y.shape[1] - 1) * sh + (kh - 1) * dh < height and (y.shape[2] - 1) * sw + (kw - 1) * dw < width
                 and 0 <= start <= stop <= channels, "max_pool_forward", arrays)
        self._functions["max_pool_forward", x.dtype](_image(x), _window(kh, kw, sh, sw, dh, dw), _image(y),
                                                     _address(argmax), Range(start, stop, None, 1))

    def max_pool_backward(self, grad, argmax, kernel_size, stride, dilation, grad_input, start, stop,
                          assign=False):
        """Add each window's gradient (C-contiguous (C, out_h, out_w, N) ``grad``) at its ``argmax`` tap onto
        channels start:stop of C-contiguous (C, H, W, N) ``grad_input``; with ``assign`` (windows that tile
        the input exactly, see ``windows_tile``) write it, so that ``grad_input`` need not be zeroed first."""
        (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
        channels, height, width, batch = grad_input.shape
        arrays = dict(grad=grad, argmax=argmax, grad_input=grad_input)
        _require(grad.ndim == 4 and all(a.flags.c_contiguous for a in arrays.values())
                 and grad_input.dtype == grad.dtype and argmax.dtype == np.uint8 and argmax.shape == grad.shape
                 and grad.shape[0] == channels and grad.shape[3] == batch and min(sh, sw, dh, dw) >= 1
                 and (grad.shape[1] - 1) * sh + (kh - 1) * dh < height
                 and (grad.shape[2] - 1) * sw + (kw - 1) * dw < width and 0 <= start <= stop <= channels
                 and (not assign or windows_tile(kernel_size, stride, dilation, grad.shape[1:3], (height, width))),
                 "max_pool_backward", arrays)
        self._functions["max_pool_backward", grad.dtype](
            _image(grad), _address(argmax), _window(kh, kw, sh, sw, dh, dw), _image(grad_input),
            Range(start, stop, None, 1), int(assign))

    def lstm_forward_steps(self, x, bias, c0, gates, cs, tanh_cs, hs):
        """A function ``step(t, previous, hidden)`` running one LSTM step's elementwise forward
        (kernels/lstm.c) for step t of a sequence, reading the cell state of step ``previous`` (None: ``c0``):
        with ``hidden`` (N, 4H) holding ``h_prev @ W_hh.T``, it writes ``gates[t]`` from ``hidden + bias +
        x[t]``, then ``cs[t]``, ``tanh_cs[t]`` and ``hs[t]``. x and gates (L, N, 4H), cs, tanh_cs and hs (L,
        N, H), c0 (N, H) and bias (4H,) (zeros for none), all C-contiguous of one dtype: checked here, once;
        ``hidden`` at each step."""
        steps, batch, width = x.shape
        size = width // 4
        arrays = dict(x=x, bias=bias, c0=c0, gates=gates, cs=cs, tanh_cs=tanh_cs, hs=hs)
        _require(all(a.flags.c_contiguous and a.dtype == x.dtype for a in arrays.values())
                 and width == 4 * size and gates.shape == x.shape
                 and bias.shape == (width,) and c0.shape == (batch, size)
                 and cs.shape == tanh_cs.shape == hs.shape == (steps, batch, size), "lstm_forward", arrays)
        function, item = self._functions["lstm_forward", x.dtype], x.itemsize
        bias_at, c0_at = _address(bias), _address(c0)
        x_at, gates_at, cs_at, tanh_at, hs_at = (_address(a) for a in (x, gates, cs, tanh_cs, hs))
        gate_bytes, state_bytes = batch * width * item, batch * size * item

        def step(t: int, previous: int | None, hidden) -> None:
            if not 0 <= t < steps or not (previous is None or 0 <= previous < steps):
                raise IndexError(f"compiled kernel lstm_forward: step {t} (after {previous}) of {steps}")
            _require(_is_rows(hidden, batch, width, x.dtype), "lstm_forward", dict(hidden=hidden))
            c_prev = c0_at if previous is None else cs_at + previous * state_bytes
            function(_address(hidden), x_at + t * gate_bytes, bias_at, c_prev, gates_at + t * gate_bytes,
                     cs_at + t * state_bytes, tanh_at + t * state_bytes, hs_at + t * state_bytes, batch, size)

        step.arrays = arrays  # type: ignore[attr-defined]  # the memory it writes lives as long as it does
        return step

    def panel_product(self, a, b, transposed: bool = False):
        """``a @ b`` (``a @ b.T`` when ``transposed``) by kernels/panel_gemm.c, the product the recurrent
        sequences run each step on their packed weight: a (m, k), b (k, n) or (n, k), C-contiguous, one dtype
        (checked). None where n is not a whole number of vectors (``vector_bytes / itemsize`` numbers)."""
        m, k = a.shape if a.ndim == 2 else (0, 0)
        n = b.shape[0 if transposed else 1] if b.ndim == 2 else 0
        arrays = dict(a=a, b=b)
        _require(a.ndim == b.ndim == 2 and all(type(x) is np.ndarray and x.flags.c_contiguous and x.dtype == a.dtype
                                               for x in arrays.values())
                 and b.shape[1 if transposed else 0] == k, "panel_product", arrays)
        out = np.empty((m, n), dtype=a.dtype)
        done = self._functions["panel_product", a.dtype](_address(a), _address(b), _address(out), m, k, n,
                                                         int(transposed))
        return out if done else None

    def thin_forward(self, x, weight, transposed: bool, threads: int):
        """``x @ weight.T`` (``x @ weight`` unless ``transposed``) by kernels/thin_gemm.c on up to ``threads``
        threads, for inputs of few features: x (rows, k), weight (n, k) or (k, n), C-contiguous, one dtype
        (checked). None where k exceeds ``thin_features`` or n is not a whole number of vectors."""
        arrays = dict(x=x, weight=weight)
        k = x.shape[1] if x.ndim == 2 else -1
        _require(x.ndim == weight.ndim == 2 and all(type(a) is np.ndarray and a.flags.c_contiguous
                                                    and a.dtype == x.dtype for a in arrays.values())
                 and weight.shape[1 if transposed else 0] == k and threads >= 1, "thin_forward", arrays)
        n = weight.shape[0 if transposed else 1]
        out = np.empty((x.shape[0], n), dtype=x.dtype)
        ran = self._functions["thin_forward", x.dtype](_address(x), _address(weight), _address(out), x.shape[0], k,
                                                       n, int(transposed), threads)
        return out if ran else None

    def thin_weight_grad(self, x, grad, transposed: bool, threads: int):
        """The weight gradient of ``thin_forward`` in the weight's layout: ``grad.T @ x`` (n, k) when
        ``transposed``, else ``x.T @ grad`` (k, n); x (rows, k), grad (rows, n), C-contiguous, one dtype
        (checked). None where ``thin_forward`` would decline."""
        arrays = dict(x=x, grad=grad)
        _require(x.ndim == grad.ndim == 2 and all(type(a) is np.ndarray and a.flags.c_contiguous
                                                  and a.dtype == x.dtype for a in arrays.values())
                 and grad.shape[0] == x.shape[0] and threads >= 1, "thin_weight_grad", arrays)
        (rows, k), n = x.shape, grad.shape[1]
        out = np.empty((n, k) if transposed else (k, n), dtype=x.dtype)
        ran = self._functions["thin_weight_grad", x.dtype](_address(x), _address(grad), _address(out), rows, k, n,
                                                           int(transposed), threads)
        return out if ran else None

    def lstm_sequence_forward(self, x, bias, h0, c0, weight, gates, cs, tanh_cs, hs, reverse: bool, threads: int,
                              gemm: tuple) -> int:
        """A whole LSTM sequence's forward (kernels/lstm_sequence.c) on up to ``threads`` threads sharing the
        batch's rows, the products by ``gemm`` (``threads.openblas_gemm``): writes gates (L, N, 4H), cs, tanh_cs, hs
        (L, N, H) from the input projections x (L, N, 4H), h0, c0 (N, H), W_hh (4H, H) and bias (4H,) (zeros
        for none), all C-contiguous of one dtype (checked). Returns the threads that ran."""
        steps, batch, width = x.shape
        size = width // 4
        arrays = dict(x=x, bias=bias, h0=h0, c0=c0, weight=weight, gates=gates, cs=cs, tanh_cs=tanh_cs, hs=hs)
        _require(all(type(a) is np.ndarray and a.flags.c_contiguous and a.dtype == x.dtype for a in arrays.values())
                 and width == 4 * size and gates.shape == x.shape and bias.shape == (width,)
                 and h0.shape == c0.shape == (batch, size) and weight.shape == (width, size)
                 and cs.shape == tanh_cs.shape == hs.shape == (steps, batch, size) and threads >= 1,
                 "lstm_sequence_forward", arrays)
        hidden = np.empty((batch, width), dtype=x.dtype)
        return self._functions["lstm_sequence_forward", x.dtype](
            *(_address(a) for a in (x, bias, h0, c0, weight, hidden, gates, cs, tanh_cs, hs)),
            steps, batch, size, int(reverse), threads, gemm[0], int(gemm[1]))

    def lstm_sequence_backward(self, grad_hs, grad_cs, gates, cs, h0, c0, tanh_cs, hs, weight, d_gates, carry_h,
                               carry_c, grad_weight, grad_bias, reverse: bool, need_h0: bool, threads: int,
                               gemm: tuple) -> int:
        """The backward of ``lstm_sequence_forward`` (kernels/lstm_sequence.c): writes d_gates (L, N, 4H), the
        gradient of h0 into carry_h (N, H) when ``need_h0``, the gradient of c0 into carry_c[k], k the
        returned index (carry_c (2, N, H), carry_c[0] zero on entry), and the gradients of W_hh into
        grad_weight (4H, H) and of the bias into grad_bias (4H,) unless they are None. grad_hs, grad_cs, cs,
        tanh_cs, hs (L, N, H), gates (L, N, 4H), h0, c0 (N, H), W_hh (4H, H), all C-contiguous of one dtype
        (checked)."""
        steps, batch, width = gates.shape
        size = width // 4
        arrays = dict(grad_hs=grad_hs, grad_cs=grad_cs, gates=gates, cs=cs, h0=h0, c0=c0, tanh_cs=tanh_cs, hs=hs,
                      weight=weight, d_gates=d_gates, carry_h=carry_h, carry_c=carry_c)
        optional = dict(grad_weight=grad_weight, grad_bias=grad_bias)
        arrays.update({name: array for name, array in optional.items() if array is not None})
        _require(all(type(a) is np.ndarray and a.flags.c_contiguous and a.dtype == gates.dtype
                     for a in arrays.values())
                 and width == 4 * size and d_gates.shape == gates.shape and weight.shape == (width, size)
                 and grad_hs.shape == grad_cs.shape == cs.shape == tanh_cs.shape == hs.shape == (steps, batch, size)
                 and h0.shape == c0.shape == carry_h.shape == (batch, size) and carry_c.shape == (2, batch, size)
                 and (grad_weight is None or grad_weight.shape == (width, size))
                 and (grad_bias is None or grad_bias.shape == (width,)) and threads >= 1,
                 "lstm_sequence_backward", arrays)
        return self._functions["lstm_sequence_backward", gates.dtype](
            *(_address(a) for a in (grad_hs, grad_cs, gates, cs, h0, c0, tanh_cs, hs, weight, d_gates, carry_h,
                                    carry_c)),
            *(None if a is None else _address(a) for a in (grad_weight, grad_bias)),
            steps, batch, size, int(reverse), int(need_h0), threads, gemm[0], int(gemm[1]))

    def gru_sequence_forward(self, x, bias, h0, weight, gates, ns, hidden_ns, hs, reverse: bool, threads: int,
                             gemm: tuple) -> int:
        """A whole GRU sequence's forward (kernels/gru_sequence.c) on up to ``threads`` threads sharing the batch's
        rows, the products by ``gemm`` (``threads.openblas_gemm``): writes gates (L, N, 2H), ns, hidden_ns, hs
        (L, N, H) from the input projections x (L, N, 3H), h0 (N, H), W_hh (3H, H) and bias (3H,) (zeros for
        none), all C-contiguous of one dtype (checked). Returns the threads that ran."""
        steps, batch, width = x.shape
        size = width // 3
        arrays = dict(x=x, bias=bias, h0=h0, weight=weight, gates=gates, ns=ns, hidden_ns=hidden_ns, hs=hs)
        _require(all(type(a) is np.ndarray and a.flags.c_contiguous and a.dtype == x.dtype for a in arrays.values())
                 and width == 3 * size and gates.shape == (steps, batch, 2 * size) and bias.shape == (width,)
                 and h0.shape == (batch, size) and weight.shape == (width, size)
                 and ns.shape == hidden_ns.shape == hs.shape == (steps, batch, size) and threads >= 1,
                 "gru_sequence_forward", arrays)
        hidden = np.empty((batch, width), dtype=x.dtype)
        return self._functions["gru_sequence_forward", x.dtype](
            *(_address(a) for a in (x, bias, h0, weight, hidden, gates, ns, hidden_ns, hs)),
            steps, batch, size, int(reverse), threads, gemm[0], int(gemm[1]))

    def gru_sequence_backward(self, grad_hs, gates, ns, hidden_ns, hs, h0, weight, d_x, d_hidden, carry_gemm,
                              carry_z, grad_weight, grad_bias, reverse: bool, need_h0: bool, threads: int,
                              gemm: tuple) -> int:
        """The backward of ``gru_sequence_forward`` (kernels/gru_sequence.c): writes d_x and d_hidden (L, N, 3H);
        the gradient of h0 is carry_gemm + carry_z[k], k the returned index, when ``need_h0`` (carry_gemm (N,
        H), carry_z (2, N, H) with carry_z[0] zero on entry); the gradients of W_hh into grad_weight (3H, H)
        and of the bias into grad_bias (3H,) unless they are None. grad_hs, ns, hidden_ns, hs (L, N, H), gates
        (L, N, 2H), h0 (N, H), W_hh (3H, H), all C-contiguous of one dtype (checked)."""
        steps, batch, size = hs.shape
        width = 3 * size
        arrays = dict(grad_hs=grad_hs, gates=gates, ns=ns, hidden_ns=hidden_ns, hs=hs, h0=h0, weight=weight, d_x=d_x,
                      d_hidden=d_hidden, carry_gemm=carry_gemm, carry_z=carry_z)
        optional = dict(grad_weight=grad_weight, grad_bias=grad_bias)
        arrays.update({name: array for name, array in optional.items() if array is not None})
        _require(all(type(a) is np.ndarray and a.flags.c_contiguous and a.dtype == hs.dtype for a in arrays.values())
                 and grad_hs.shape == ns.shape == hidden_ns.shape == (steps, batch, size)
                 and gates.shape == (steps, batch, 2 * size) and d_x.shape == d_hidden.shape == (steps, batch, width)
                 and h0.shape == carry_gemm.shape == (batch, size) and carry_z.shape == (2, batch, size)
                 and weight.shape == (width, size) and (grad_weight is None or grad_weight.shape == (width, size))
                 and (grad_bias is None or grad_bias.shape == (width,)) and threads >= 1,
                 "gru_sequence_backward", arrays)
        return self._functions["gru_sequence_backward", hs.dtype](
            *(_address(a) for a in (grad_hs, gates, ns, hidden_ns, hs, h0, weight, d_x, d_hidden, carry_gemm,
                                    carry_z)),
            *(None if a is None else _address(a) for a in (grad_weight, grad_bias)),
            steps, batch, size, int(reverse), int(need_h0), threads, gemm[0], int(gemm[1]))

    def lstm_backward_steps(self, grad_hs, grad_cs, gates, cs, c0, tanh_cs, d_gates, carry_c):
        """A function ``step(t, previous, parity, carry_h)`` running one LSTM step's elementwise backward
        (kernels/lstm.c) for step t, whose forward read the cell state of step ``previous`` (None: ``c0``):
        it reads ``grad_hs[t] + carry_h`` and ``grad_cs[t] + carry_c[parity]`` (the gradients carried from
        the step after: ``d_gates[t + 1] @ W_hh``, or None, and zeros, at the last), writes ``d_gates[t]`` and
        ``carry_c[1 - parity]`` (the gradient of the cell state read). grad_hs, cs, tanh_cs (L, N, H), gates
        and d_gates (L, N, 4H), c0 (N, H), carry_c (2, N, H), all C-contiguous of one dtype: checked here,
        once; ``carry_h`` (N, H) at each step."""
        steps, batch, width = gates.shape
        size = width // 4
        zeros = np.zeros((batch, size), dtype=gates.dtype)
        arrays = dict(grad_hs=grad_hs, grad_cs=grad_cs, gates=gates, cs=cs, c0=c0, tanh_cs=tanh_cs,
                      d_gates=d_gates, carry_c=carry_c, zeros=zeros)
        _require(all(a.flags.c_contiguous and a.dtype == gates.dtype for a in arrays.values())
                 and width == 4 * size and d_gates.shape == gates.shape
                 and grad_hs.shape == grad_cs.shape == cs.shape == tanh_cs.shape == (steps, batch, size)
                 and c0.shape == (batch, size) and carry_c.shape == (2, batch, size), "lstm_backward", arrays)
        function, item = self._functions["lstm_backward", gates.dtype], gates.itemsize
        grad_hs_at, grad_cs_at, gates_at, cs_at, tanh_at, d_gates_at = (
            _address(a) for a in (grad_hs, grad_cs, gates, cs, tanh_cs, d_gates))
        c0_at, carry_c_at, zeros_at = _address(c0), _address(carry_c), _address(zeros)
        gate_bytes, state_bytes = batch * width * item, batch * size * item

        def step(t: int, previous: int | None, parity: int, carry_h) -> None:
            if not 0 <= t < steps or not (previous is None or 0 <= previous < steps) or parity not in (0, 1):
                raise IndexError(f"compiled kernel lstm_backward: step {t} (after {previous}, parity {parity}) "
                                 f"of {steps}")
            _require(carry_h is None or _is_rows(carry_h, batch, size, gates.dtype), "lstm_backward",
                     dict(carry_h=carry_h))
            c_prev = c0_at if previous is None else cs_at + previous * state_bytes
            function(grad_hs_at + t * state_bytes, zeros_at if carry_h is None else _address(carry_h),
                     grad_cs_at + t * state_bytes,
                     carry_c_at + parity * state_bytes, gates_at + t * gate_bytes, c_prev, tanh_at + t * state_bytes,
                     d_gates_at + t * gate_bytes, carry_c_at + (1 - parity) * state_bytes, batch, size)

        step.arrays = arrays  # type: ignore[attr-defined]  # the memory it touches lives as long as it does
        return step

    def gru_forward_steps(self, x, bias, h0, gates, ns, hidden_ns, hs):
        """A function ``step(t, previous, hidden)`` running one GRU step's elementwise forward
        (kernels/lstm.c) for step t, reading the hidden state of step ``previous`` (None: ``h0``): with
        ``hidden`` (N, 3H) holding ``h_prev @ W_hh.T``, it writes ``gates[t]`` (r, z), ``hidden_ns[t]``,
        ``ns[t]`` and ``hs[t]``. x (L, N, 3H), gates (L, N, 2H), ns, hidden_ns and hs (L, N, H), h0 (N, H) and
        bias (3H,) (zeros for none), all C-contiguous of one dtype: checked here, once; ``hidden`` at each
        step."""
        steps, batch, width = x.shape
        size = width // 3
        arrays = dict(x=x, bias=bias, h0=h0, gates=gates, ns=ns, hidden_ns=hidden_ns, hs=hs)
        _require(all(a.flags.c_contiguous and a.dtype == x.dtype for a in arrays.values())
                 and width == 3 * size and bias.shape == (width,)
                 and h0.shape == (batch, size) and gates.shape == (steps, batch, 2 * size)
                 and ns.shape == hidden_ns.shape == hs.shape == (steps, batch, size), "gru_forward", arrays)
        function, item = self._functions["gru_forward", x.dtype], x.itemsize
        bias_at, h0_at = _address(bias), _address(h0)
        x_at, gates_at, ns_at, hidden_ns_at, hs_at = (_address(a) for a in (x, gates, ns, hidden_ns, hs))
        state_bytes = batch * size * item

        def step(t: int, previous: int | None, hidden) -> None:
            if not 0 <= t < steps or not (previous is None or 0 <= previous < steps):
                raise IndexError(f"compiled kernel gru_forward: step {t} (after {previous}) of {steps}")
            _require(_is_rows(hidden, batch, width, x.dtype), "gru_forward", dict(hidden=hidden))
            h_prev = h0_at if previous is None else hs_at + previous * state_bytes
            function(_address(hidden), x_at + 3 * t * state_bytes, bias_at, h_prev, gates_at + 2 * t * state_bytes,
                     ns_at + t * state_bytes, hidden_ns_at + t * state_bytes, hs_at + t * state_bytes, batch, size)

        step.arrays = arrays  # type: ignore[attr-defined]  # the memory it writes lives as long as it does
        return step

    def gru_backward_steps(self, grad_hs, gates, ns, hidden_ns, hs, h0, d_x, d_hidden, carry_z):
        """A function ``step(t, previous, parity, carry_gemm)`` running one GRU step's elementwise backward
        (kernels/lstm.c) for step t, whose forward read the hidden state of step ``previous`` (None: ``h0``):
        it reads ``grad_hs[t] + carry_gemm + carry_z[parity]`` (the gradient carried from the step after,
        ``d_hidden[t + 1] @ W_hh`` and ``dh * z``; None and zeros at the last), writes ``d_x[t]``,
        ``d_hidden[t]`` and ``carry_z[1 - parity]``. grad_hs, ns, hidden_ns, hs (L, N, H), gates (L, N, 2H),
        d_x and d_hidden (L, N, 3H), h0 (N, H), carry_z (2, N, H), all C-contiguous of one dtype: checked here,
        once; ``carry_gemm`` (N, H) at each step."""
        steps, batch, size = hs.shape
        zeros = np.zeros((batch, size), dtype=hs.dtype)
        arrays = dict(grad_hs=grad_hs, gates=gates, ns=ns, hidden_ns=hidden_ns, hs=hs, h0=h0, d_x=d_x,
                      d_hidden=d_hidden, carry_z=carry_z, zeros=zeros)
        _require(all(a.flags.c_contiguous and a.dtype == hs.dtype for a in arrays.values())
                 and grad_hs.shape == ns.shape == hidden_ns.shape == hs.shape
                 and gates.shape == (steps, batch, 2 * size) and d_x.shape == d_hidden.shape == (steps, batch, 3 * size)
                 and h0.shape == (batch, size) and carry_z.shape == (2, batch, size), "gru_backward", arrays)
        function, item = self._functions["gru_backward", hs.dtype], hs.itemsize
        grad_at, gates_at, ns_at, hidden_ns_at, hs_at, d_x_at, d_hidden_at = (
            _address(a) for a in (grad_hs, gates, ns, hidden_ns, hs, d_x, d_hidden))
        h0_at, carry_z_at, zeros_at = _address(h0), _address(carry_z), _address(zeros)
        state_bytes = batch * size * item

        def step(t: int, previous: int | None, parity: int, carry_gemm) -> None:
            if not 0 <= t < steps or not (previous is None or 0 <= previous < steps) or parity not in (0, 1):
                raise IndexError(f"compiled kernel gru_backward: step {t} (after {previous}, parity {parity}) "
                                 f"of {steps}")
            _require(carry_gemm is None or _is_rows(carry_gemm, batch, size, hs.dtype), "gru_backward",
                     dict(carry_gemm=carry_gemm))
            h_prev = h0_at if previous is None else hs_at + previous * state_bytes
            function(grad_at + t * state_bytes, zeros_at if carry_gemm is None else _address(carry_gemm),
                     carry_z_at + parity * state_bytes,
                     gates_at + 2 * t * state_bytes, ns_at + t * state_bytes, hidden_ns_at + t * state_bytes, h_prev,
                     d_x_at + 3 * t * state_bytes, d_hidden_at + 3 * t * state_bytes,
                     carry_z_at + (1 - parity) * state_bytes, batch, size)

        step.arrays = arrays  # type: ignore[attr-defined]  # the memory it touches lives as long as it does
        return step

    def group_norm_silu_forward(self, x, input_batch_inner, groups, channel_size, batch_inner, weight, bias, eps,
                                x_hat, y, mean, inv_std, start, stop, input_shift=None, counter=None):
        """``group_norm_forward`` with y = silu of group norm's output (kernels/group_norm_silu.c): the same
        arrays, float32 only; ``x_hat`` may be None (not kept) when x and y are both batch inner, and then
        ``input_shift`` (C, N) C-contiguous, or None, is added to x as it is read. With a ``counter``
        (``new_counter()``) the threads calling at once take the groups start:stop from it one at a time."""
        self.group_norm_silu_forward_runner(x, input_batch_inner, groups, channel_size, batch_inner, weight, bias,
                                            eps, x_hat, y, mean, inv_std, start, stop, input_shift, counter)()

    def group_norm_silu_forward_runner(self, x, input_batch_inner, groups, channel_size, batch_inner, weight, bias,
                                       eps, x_hat, y, mean, inv_std, start, stop, input_shift=None, counter=None):
        """``group_norm_silu_forward``'s arrays checked once: a function of no arguments that runs it on the
        calling thread, for threads that share the groups through ``counter`` (each call with work memory of
        its own)."""
        return self._group_norm_forward_runner("group_norm_silu_forward", np.dtype(np.float32), x, input_batch_inner,
                                               groups, channel_size, batch_inner, weight, bias, eps, x_hat, y, mean,
                                               inv_std, start, stop, input_shift, counter)

    def group_norm_silu_backward(self, grad, x_hat, groups, channel_size, batch_inner, inv_std, weight, bias,
                                 grad_input, grad_weight, grad_bias, start, stop, counter=None):
        """The gradient of silu of group norm's output for groups start:stop: ``group_norm_backward``'s arrays
        and the ``bias`` (C,) or None the forward pass added (kernels/group_norm_silu.c), float32 only; groups
        taken from ``counter`` as ``group_norm_silu_forward`` takes them."""
        self.group_norm_silu_backward_runner(grad, x_hat, groups, channel_size, batch_inner, inv_std, weight, bias,
                                             grad_input, grad_weight, grad_bias, start, stop, counter)()

    def group_norm_silu_backward_runner(self, grad, x_hat, groups, channel_size, batch_inner, inv_std, weight, bias,
                                        grad_input, grad_weight, grad_bias, start, stop, counter=None):
        """``group_norm_silu_backward``'s arrays checked once: a function of no arguments that runs it (see
        ``group_norm_silu_forward_runner``)."""
        batch = grad.shape[-1] if batch_inner else grad.shape[0]
        count = grad.size // max(batch * groups, 1)
        channels = groups * count // max(channel_size, 1)
        given = [a for a in (grad, x_hat, grad_input, inv_std, grad_weight, grad_bias, weight, bias) if a is not None]
        if not (all(a.flags.c_contiguous and a.dtype == np.float32 for a in given)
                and grad.ndim == 3 and grad.shape == x_hat.shape == grad_input.shape
                and inv_std.shape == (batch, groups) and grad.shape[0 if batch_inner else 1] == groups
                and 0 <= start <= stop <= groups and channel_size > 0 and count % channel_size == 0
                and all(a.shape == (channels,) for a in (grad_weight, grad_bias, weight, bias) if a is not None)):
            named = dict(grad=grad, x_hat=x_hat, grad_input=grad_input, inv_std=inv_std, grad_weight=grad_weight,
                         grad_bias=grad_bias, weight=weight, bias=bias)
            _require(False, "group_norm_silu_backward", {name: a for name, a in named.items() if a is not None})
        function = self._functions["group_norm_silu_backward", grad.dtype]
        head = (_address(grad), _address(x_hat), groups, count, batch, channel_size, int(batch_inner),
                _address(inv_std), _optional(weight), _optional(bias), _address(grad_input), _address(grad_weight),
                _address(grad_bias))
        tail = (start, stop, _counter(counter, "group_norm_silu_backward"))

        def run() -> None:
            work = np.empty(7 * batch, dtype=np.float64)
            function(*head, _address(work), *tail)

        run.arrays = given + [counter]  # type: ignore[attr-defined]  # alive while the runner is
        return run


    def group_norm_silu_backward_from_x(self, grad, x, groups, channel_size, mean, inv_std, weight, bias,
                                        grad_input, grad_weight, grad_bias, start, stop, input_shift=None,
                                        grad_shift=None, counter=None):
        """``group_norm_silu_backward`` for batch-inner (groups, count, N) arrays with x_hat recomputed from
        the input ``x`` (plus ``input_shift`` (C, N) or None, as the forward pass added it) and the forward
        pass's ``mean`` and ``inv_std`` (N, groups), a group at a time; ``grad_shift`` (C, N) or None receives
        the per-sample, per-channel sums of grad_input (the shift's gradient); groups taken from ``counter``
        as ``group_norm_silu_forward`` takes them."""
        self.group_norm_silu_backward_from_x_runner(grad, x, groups, channel_size, mean, inv_std, weight, bias,
                                                    grad_input, grad_weight, grad_bias, start, stop, input_shift,
                                                    grad_shift, counter)()

    def group_norm_silu_backward_from_x_runner(self, grad, x, groups, channel_size, mean, inv_std, weight, bias,
                                               grad_input, grad_weight, grad_bias, start, stop, input_shift=None,
                                               grad_shift=None, counter=None):
        """``group_norm_silu_backward_from_x``'s arrays checked once: a function of no arguments that runs it
        (see ``group_norm_silu_forward_runner``)."""
        groups_, count, batch = grad.shape
        channels = groups * count // max(channel_size, 1)
        given = [a for a in (grad, x, grad_input, mean, inv_std, grad_weight, grad_bias, weight, bias, input_shift,
                             grad_shift) if a is not None]
        if not (all(a.flags.c_contiguous and a.dtype == np.float32 for a in given)
                and groups_ == groups and grad.shape == x.shape == grad_input.shape
                and mean.shape == inv_std.shape == (batch, groups) and 0 <= start <= stop <= groups
                and channel_size > 0 and count % channel_size == 0
                and all(a.shape == (channels,) for a in (grad_weight, grad_bias, weight, bias) if a is not None)
                and all(a.shape == (channels, batch) for a in (input_shift, grad_shift) if a is not None)):
            named = dict(grad=grad, x=x, grad_input=grad_input, mean=mean, inv_std=inv_std, grad_weight=grad_weight,
                         grad_bias=grad_bias, weight=weight, bias=bias, input_shift=input_shift,
                         grad_shift=grad_shift)
            _require(False, "group_norm_silu_backward_from_x",
                     {name: a for name, a in named.items() if a is not None})
        function = self._functions["group_norm_silu_backward_from_x", grad.dtype]
        head = (_address(grad), _address(x), groups, count, batch, channel_size, _address(mean), _address(inv_std),
                _optional(weight), _optional(bias), _optional(input_shift), _address(grad_input),
                _address(grad_weight), _address(grad_bias), _optional(grad_shift))
        tail = (start, stop, _counter(counter, "group_norm_silu_backward_from_x"))

        def run() -> None:
            scratch = np.empty(max(1024, batch) + 4 * batch, dtype=np.float32)  # a chunk (kernels/group_norm.c)
            work = np.empty(5 * batch, dtype=np.float64)
            function(*head, _address(scratch), _address(work), *tail)

        run.arrays = given + [counter]  # type: ignore[attr-defined]  # alive while the runner is
        return run


def windows_tile(kernel_size, stride, dilation, output_size, input_size) -> bool:
    """Whether pooling windows cover an input exactly, each number in one window: stride = kernel, no
    dilation, output * kernel = input along both axes."""
    return all(k == s and d == 1 and o * k == i
               for k, s, d, o, i in zip(kernel_size, stride, dilation, output_size, input_size))


def cache_directory() -> Path:
    """Where built kernels are kept: ``kernels/`` in the ``cache_dir`` setting (``$EMBER_CACHE``), else in
    ``$XDG_CACHE_HOME/ember`` or ``~/.cache/ember``."""
    folder = config.get("cache_dir")
    return Path(folder or config.user_cache_folder()).expanduser() / "kernels"


def _compiler() -> str | None:
    chosen = config.get("compiler")
    if chosen:
        return chosen
    return next((found for name in ("cc", "gcc", "clang") if (found := shutil.which(name))), None)


def _machine() -> str:
    """The CPU as -march=native sees it: architecture, and on Linux the model and feature flags."""
    import platform

    parts = [platform.machine(), platform.system()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            parts += sorted({line.strip() for line in info if line.startswith(("model name", "flags", "Features"))})
    except OSError:
        pass
    return "\n".join(parts)


def _sources() -> list:
    """(name, text) of every source and header file of the kernels, sorted by name: what the cache key hashes."""
    return [(path.name, path.read_text(encoding="utf-8"))
            for path in sorted(SOURCES.iterdir()) if path.suffix in (".c", ".h")]


def _compile(compiler: str, flags: tuple, output: str) -> None:
    """Compile ``UNIT`` (which includes the other files) into the file ``output``."""
    import subprocess

    result = subprocess.run([compiler, *flags, "-o", output, str(UNIT)], capture_output=True, text=True,
                            timeout=COMPILE_SECONDS)
    if result.returncode != 0:
        raise RuntimeError(f"{compiler} {' '.join(flags)} failed on {UNIT}: {result.stderr.strip()[-500:]}")


def _record(library: Path) -> Path:
    """Where the size and SHA-256 of ``library`` are kept: ``<name>.sha256`` beside it."""
    return library.with_name(library.name + ".sha256")


def _describe(data: bytes) -> str:
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}\n"


def _replace(target: Path, write) -> None:
    """Give ``target`` its new contents all at once: ``write(path)`` fills a temporary file in the same
    folder, which is flushed to disk and renamed over ``target`` (a rename within a folder is atomic, so
    another process sees the old file or the whole new one); the temporary file is removed on any failure."""
    handle, temporary = tempfile.mkstemp(prefix=target.name + ".", suffix=TEMPORARY_SUFFIX, dir=target.parent)
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


def _remove_abandoned(folder: Path) -> None:
    """Delete the temporary files of builds whose process was killed: any older than a build may take."""
    oldest = time.time() - 2 * COMPILE_SECONDS
    for path in folder.glob("kernels-*" + TEMPORARY_SUFFIX):
        try:
            if path.lstat().st_mtime < oldest:
                path.unlink()
        except OSError:
            pass  # another process removed it first


def _build(compiler: str, flags: tuple, target: Path) -> None:
    """Compile into ``target`` and record its size and SHA-256 in ``_record(target)``, each through a
    temporary file in the same folder and a rename (see ``_replace``)."""
    _remove_abandoned(target.parent)
    _replace(target, lambda temporary: _compile(compiler, flags, temporary))
    description = _describe(target.read_bytes())

    def write_record(temporary):
        with open(temporary, "w", encoding="ascii") as record:
            record.write(description)

    _replace(_record(target), write_record)


def _distrust(path: Path) -> str | None:
    """Why ``path`` (a cached library, its record or their folder) could have been written by someone else
    than this user, or None: it belongs to another user, group or others may write it, or it is a link."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if info.st_uid != os.getuid():
        return f"belongs to user {info.st_uid}, not to this user ({os.getuid()})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by group or others (mode {stat.filemode(info.st_mode)})"
    return None


def _damage(library: Path) -> str | None:
    """What is wrong with a cached library, or None when its size and SHA-256 are those recorded beside it."""
    try:
        recorded = _record(library).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return f"has no record of its size and SHA-256 ({_record(library).name})"
    if _describe(library.read_bytes()) != recorded:
        return f"does not match the size and SHA-256 recorded in {_record(library).name}"
    return None


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _built_privately(compiler: str, flags: tuple, name: str) -> Path:
    """Build ``name`` in a new folder that only this user can enter (made by mkdtemp, mode 0700, under a name
    no one can guess), removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="ember-kernels-"))
    atexit.register(shutil.rmtree, folder, True)
    _build(compiler, flags, folder / name)
    return folder / name


def _existing_or_built(compiler: str, flags: tuple, name: str) -> Path:
    """The library ``name`` from the cache, built there first if missing or damaged (with a warning).

    Only a library that this user alone could have written is loaded: where the cache folder, the library or
    its record belongs to another user or may be written by group or others, a warning says so and the
    library is built in a private folder instead; so it is where the cache cannot be written."""
    folder = cache_directory()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        problems = [(folder, _distrust(folder))]
        library = folder / name
        if os.path.lexists(library):
            problems += [(path, _distrust(path)) for path in (library, _record(library)) if os.path.lexists(path)]
    except OSError:  # a read-only or missing home
        return _built_privately(compiler, flags, name)
    for path, problem in problems:
        if problem is not None:
            _warn_once(f"Ember: not loading compiled kernels from {path}: it {problem}; building them in a "
                       f"private folder instead")
            return _built_privately(compiler, flags, name)
    if library.exists():
        damage = _damage(library)
        if damage is None:
            return library
        _warn_once(f"Ember: the cached compiled kernels {library} {damage}; building them again")
    try:
        _build(compiler, flags, library)
    except OSError:  # a cache that can be read but not written
        return _built_privately(compiler, flags, name)
    return library


def _load() -> Kernels | None:
    """Build (once) and load the kernels; None, with the reason in ``status()``, when that fails."""
    import subprocess

    global _status
    compiler = _compiler()
    if compiler is None:
        _status = "NumPy paths: no C compiler found (set CC, or the compiler setting, to one)"
        return None
    resolved = shutil.which(compiler) or compiler
    try:
        stamp = os.stat(resolved).st_mtime_ns
    except OSError:
        _status = f"NumPy paths: the C compiler {compiler!r} does not exist"
        return None
    errors = []
    try:
        sources = [part for name_and_text in _sources() for part in name_and_text]
    except OSError as error:
        _status = f"NumPy paths: the kernels' source files cannot be read ({error})"
        return None
    machine = _machine()
    for flags in (FLAGS + TUNED_FLAGS, FLAGS, BASIC_FLAGS):
        key = hashlib.sha256("\0".join([*sources, resolved, str(stamp), *flags, machine]).encode()).hexdigest()[:20]
        name = f"kernels-{key}.so"
        try:
            target = _existing_or_built(resolved, flags, name)
            kernels = Kernels(target)
        except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as error:
            errors.append(str(error))
            continue
        _status = f"compiled kernels: {target} ({os.path.basename(resolved)} {' '.join(flags)})"
        return kernels
    _status = "NumPy paths: building the compiled kernels failed: " + " | ".join(errors)
    warnings.warn(f"Ember: {_status}; set EMBER_KERNELS=numpy (or ember.config.set(kernels='numpy')) to skip "
                  "them", RuntimeWarning, stacklevel=3)
    return None


def kernels() -> Kernels | None:
    """The compiled kernels, built and loaded on first call; None while the ``kernels`` setting is 'numpy' or
    ``fast_paths`` is off, or when no working C compiler is found (``status()`` says why)."""
    global _kernels
    if not config.get("fast_paths") or config.get("kernels") == "numpy":
        return None
    if _kernels is _UNSET:
        _kernels = _load()
    return cast("Kernels | None", _kernels)  # _UNSET is gone once _load has run


def status() -> str:
    """Which CPU paths Ember uses, and why: the compiled kernels' file, or the reason for the NumPy paths."""
    if not config.get("fast_paths"):
        return f"reference paths: fast_paths is off ({config.source('fast_paths')})"
    if config.get("kernels") == "numpy":
        return f"NumPy paths: kernels='numpy' ({config.source('kernels')})"
    kernels()
    return _status


def loaded() -> bool:
    """Whether the compiled library has been loaded into this process (it stays loaded once it is)."""
    return _kernels is not _UNSET and _kernels is not None


config.register_effect("compiled kernels", lambda: _status if _kernels is not _UNSET else "not loaded yet")


def for_arrays(*arrays) -> Kernels | None:
    """``kernels()`` when every array is a NumPy array of one float dtype (float32 or float64) with strides
    in whole elements, else None."""
    dtype = getattr(arrays[0], "dtype", None)
    if dtype not in _SUFFIXES:
        return None
    for array in arrays:
        if type(array) is not np.ndarray or array.dtype != dtype:
            return None
        if any(stride % array.itemsize for stride in array.strides):
            return None
    return kernels()


__all__ = ["Kernels", "kernels", "status", "loaded", "for_arrays", "windows_tile", "cache_directory"]
