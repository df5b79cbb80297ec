"""Ember's CPU threads: one call of a compiled kernel or a GEMM shared between the cores.

The compiled kernels work on a range of rows and NumPy's matmul works on any slice of rows; both release
the GIL. So one call is cut into row ranges run at once (``split_rows``), by the calling thread and a small
pool of helper threads (started on first use). The direct convolutions go further: every thread enters the
kernel once and takes pieces from a counter shared inside it (``share``), so the faster core does more.
The helpers wait on a queue, not in a spinning loop, so they cost nothing between calls, but waking one
takes about 0.2 ms on a virtual machine; short work stays whole.

A BLAS with threads of its own would fight them: OpenBLAS's threads keep spinning for a while after each
GEMM, long enough to take the second core from a kernel that follows. So the first time Ember splits a
convolution kernel (or runs a compiled LSTM sequence, a chain of short GEMMs that OpenBLAS's threads stall on a
busy host) it sets the OpenBLAS that NumPy loaded to one thread, for the whole process, and from
then on splits its own GEMMs (``matmul``), large elementwise passes (ReLU), batch norm, max pooling and
Adam's update the same way; NumPy's matmuls outside Ember then use one core. Until then, and in processes
that run no convolution (an MLP, whose GEMMs are short enough that handing rows to a helper costs more than
OpenBLAS's always-ready threads), OpenBLAS keeps its threads and Ember adds none. Where no OpenBLAS can be
set, everything stays on the calling thread.

A backward pass also hands whole calls to a helper (``deferring``, ``defer``): a convolution's weight and bias
gradients, which nothing reads before the pass ends, run on a helper thread while the calling thread goes on
with the input gradients, the normalizations, the additions and the Python between them, which leave a core
idle when run alone (the diffusion UNet's step, batch 64: 188 -> 180 ms against PyTorch's 179 in the same run).

The settings ``num_threads`` (``EMBER_NUM_THREADS``, ``ember.set_num_threads``: how many threads share a
call; default the CPUs this process may run on), ``claim_blas`` (whether Ember may set OpenBLAS to one thread;
turning it off puts OpenBLAS's count back), ``parallel_numbers`` and ``parallel_gemm_flops`` (the sizes below
which work stays whole) and ``fast_paths`` live in ``ember.config``. One thread leaves OpenBLAS's threads alone.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import config
from .device import get_array_module
from .layout import flat_views

GEMM_SPLIT_ROWS = 64  # fewer rows a thread than this, and a wider product is split by columns (see matmul)
PIECES_PER_THREAD = 1  # ranges per thread in a split call (more balance a slowed core but cost Python time
#                        under the GIL per range: 4 made pytorch_cnn's step 5-8% slower, step_profile A/B)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas_claimed: bool | None = None  # None: not tried yet (or given back)
_blas_previous: list = []  # (setter, thread count before the claim) per OpenBLAS, to give the cores back


def thread_count() -> int:
    """Threads asked to share one call: the ``num_threads`` setting, else the CPUs available to this
    process."""
    requested = config.get("num_threads")
    if requested is not None:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def set_num_threads(count: int) -> None:
    """Use ``count`` threads for Ember's CPU work (as ``torch.set_num_threads``); the ``num_threads``
    setting."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, received {count!r}")
    config.set(num_threads=count)


def get_num_threads() -> int:
    """The threads Ember's CPU work may be split between (as ``torch.get_num_threads``)."""
    return thread_count()


def openblas_paths() -> list:
    """The files of the OpenBLAS libraries loaded in this process (Linux; empty elsewhere)."""
    paths = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and "openblas" in os.path.basename(fields[5].strip()).lower():
                    paths.add(fields[5].strip())
    except OSError:
        return []
    return sorted(paths)


def openblas_kernels() -> list:
    """The kernel set each loaded OpenBLAS chose for this CPU (its ``get_corename``: 'Haswell', 'SkylakeX',
    ...), as threadpoolctl reports it; an ``OPENBLAS_CORETYPE`` in the environment decides it."""
    names = []
    for path in openblas_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
                     "openblas_get_corename"):
            corename = getattr(library, name, None)
            if corename is not None:
                corename.argtypes, corename.restype = [], ctypes.c_char_p
                names.append(corename().decode("ascii", "replace"))
                break
    return names


_GEMM_NAMES = {  # CBLAS GEMM symbols by the integers they take: True where they are 64-bit (ILP64)
    "f": (("scipy_cblas_sgemm64_", True), ("cblas_sgemm64_", True), ("scipy_cblas_sgemm", False),
          ("cblas_sgemm", False)),
    "d": (("scipy_cblas_dgemm64_", True), ("cblas_dgemm64_", True), ("scipy_cblas_dgemm", False),
          ("cblas_dgemm", False)),
}
_gemm_found: dict = {}


def openblas_gemm(dtype) -> tuple | None:
    """``(address, ilp64)`` of the CBLAS GEMM for float32 (``cblas_sgemm``) or float64 (``cblas_dgemm``) of the
    first loaded OpenBLAS that exports one, for compiled kernels that call it from their own threads; ``ilp64``
    says whether its integers are 64-bit. None where there is none, or where a plain ``cblas_?gemm`` comes from a
    library whose name says 64 (its integer width cannot be told)."""
    letter = {np.dtype(np.float32): "f", np.dtype(np.float64): "d"}.get(np.dtype(dtype))
    if letter is None:
        return None
    if letter not in _gemm_found:
        _gemm_found[letter] = None
        for path in openblas_paths():
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            for name, ilp64 in _GEMM_NAMES[letter]:
                if hasattr(library, name) and (ilp64 or name.startswith("scipy_") or "64" not in
                                               os.path.basename(path)):
                    _gemm_found[letter] = (ctypes.cast(getattr(library, name), ctypes.c_void_p).value, ilp64)
                    break
            if _gemm_found[letter] is not None:
                break
    return _gemm_found[letter]


def _openblas_setters() -> list:
    """``(set, get)``, the set- and get-number-of-threads functions, of each loaded OpenBLAS (NumPy's are
    named ``scipy_openblas_set_num_threads64_``/``scipy_openblas_get_num_threads64_``; a system one's
    ``openblas_set_num_threads``/``openblas_get_num_threads``); get is None where it is missing."""
    setters = []
    for path in openblas_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            setter = getattr(library, name, None)
            if setter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter = getattr(library, name.replace("set_num", "get_num"), None)
                if getter is not None:
                    getter.argtypes, getter.restype = [], ctypes.c_int
                setters.append((setter, getter))
                break
    return setters


def _claim_blas() -> bool:
    """Set every loaded OpenBLAS to one thread, once; False when there is none to set."""
    global _blas_claimed
    with _lock:
        if _blas_claimed is None:
            setters = _openblas_setters()
            for setter, getter in setters:
                _blas_previous.append((setter, None if getter is None else getter()))
                setter(1)
            _blas_claimed = bool(setters)
        return _blas_claimed


def _give_back_blas(claim: bool) -> None:
    """``claim_blas`` turned off: every OpenBLAS gets its thread count back (a later claim may take it again)."""
    global _blas_claimed
    if claim:
        return
    with _lock:
        for setter, previous in _blas_previous:
            if previous is not None:
                setter(previous)
        _blas_previous.clear()
        _blas_claimed = None


def blas_state() -> str:
    """How NumPy's OpenBLAS threads stand, for ``ember.config.describe()``."""
    if _blas_claimed is None:
        return "OpenBLAS keeps its own threads (not claimed)"
    if not _blas_claimed:
        return "no OpenBLAS found to set: Ember's kernels stay on one thread"
    counts = [previous for _, previous in _blas_previous]
    return f"OpenBLAS set to one thread by Ember (was {counts}); Ember splits its own work"


config.on_change("claim_blas", _give_back_blas)
config.register_effect("BLAS threads", blas_state)
config.register_effect("BLAS kernels", lambda: ", ".join(openblas_kernels()) or "no OpenBLAS loaded")


def claim_cores() -> int:
    """The threads a compiled kernel may be split between: ``thread_count()``, with every loaded OpenBLAS
    set to one thread first (once); 1 when ``claim_blas`` is off, ``fast_paths`` is off or no OpenBLAS can
    be set."""
    count = thread_count()
    if count == 1 or not config.get("claim_blas") or not config.get("fast_paths"):
        return 1
    return count if _claim_blas() else 1


class _HelperMark(threading.local):
    """Set in the pool's own threads: a split call made there runs whole (waiting on the pool from inside
    it could wait forever once every helper waits)."""

    is_helper = False


_helper_mark = _HelperMark()


def _mark_helper() -> None:
    _helper_mark.is_helper = True


def _submit(work, count: int) -> list:
    """Hand ``work`` to ``count`` helper threads; the futures. Several user threads may split calls at once:
    the pool is grown (a larger one replacing it; the old one finishes what it was given) and given work
    under one lock, so that no call submits to a pool another has just shut down."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < count:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(count, thread_name_prefix="ember-cpu", initializer=_mark_helper)
            _pool_size = count
        return [_pool.submit(work) for _ in range(count)]


def split_rows(function, total: int, threads: int | None = None, per_thread: int | None = None) -> None:
    """Run ``function(start, stop)`` over rows 0..total-1 on up to ``threads`` threads at once (default
    ``claim_cores()``), the calling thread one of them. The rows are cut into ``per_thread`` (default
    ``PIECES_PER_THREAD``) contiguous ranges per thread, each taken by whichever thread is free, so that a core
    the host slows down takes fewer; every range runs once. The first error is re-raised once every started
    range has ended. Calls from several threads at once each run their own ranges; one made from inside a
    range (on a helper thread) runs whole."""
    threads = min(claim_cores() if threads is None else threads, total)
    if threads <= 1 or _helper_mark.is_helper:
        function(0, total)
        return
    pieces = min(total, threads * (PIECES_PER_THREAD if per_thread is None else per_thread))
    bounds = [total * part // pieces for part in range(pieces + 1)]
    taken = iter(range(pieces))
    lock = threading.Lock()
    failed: list[bool] = []

    def work():
        while not failed:
            with lock:
                part = next(taken, None)
            if part is None:
                return
            try:
                function(bounds[part], bounds[part + 1])
            except BaseException:
                failed.append(True)  # the other threads take no new range
                raise

    futures = _submit(work, threads - 1)
    try:
        work()
    finally:
        for future in futures:
            # wait for every range before a caller reuses the memory; a helper still busy with deferred work
            # (``defer``) has not started its share, and every range is done: it is called off
            if not future.cancel():
                future.exception()
    for future in futures:
        if not future.cancelled():
            future.result()


def share(function, threads: int | None = None) -> None:
    """Run ``function()`` on ``threads`` threads at once (default ``claim_cores()``), the calling thread one of
    them, and return when every call has: for compiled kernels that take their work piece by piece from a
    shared counter, so that the threads share it out by speed without a Python call per piece. The first
    error is re-raised once every call has ended."""
    count = claim_cores() if threads is None else threads
    split_rows(lambda start, stop: function(), count, count, per_thread=1)


class _DeferredWork(threading.local):
    """Per user thread: the list of deferred calls (function, future) of the backward pass it is running, or
    None outside ``deferring``."""

    tasks: list | None = None


_deferred = _DeferredWork()


@contextlib.contextmanager
def deferring():
    """Within it, ``defer`` may hand work to a helper thread; on leaving, every deferred call has run
    (those no helper has started run on the calling thread) and an error one raised is re-raised (an error
    of the block itself wins)."""
    previous, _deferred.tasks = _deferred.tasks, []
    tasks = _deferred.tasks
    try:
        yield
    except BaseException:
        _deferred.tasks = previous
        with contextlib.suppress(BaseException):  # the block's own error is the one to see
            finish_deferred(tasks)
        raise
    _deferred.tasks = previous
    finish_deferred(tasks)


def finish_deferred(tasks: list | None = None) -> None:
    """Run or wait for the deferred calls of ``tasks`` (default: the current ``deferring`` block's): those no
    helper has started run here first, in the order they were deferred (each split between the threads as
    any call), then the started ones are waited for; once all have ended, an error one raised is re-raised
    (the first of those run here, else the first of the others)."""
    tasks = _deferred.tasks if tasks is None else tasks
    if not tasks:
        return
    pending, tasks[:] = list(tasks), []
    errors: list[BaseException] = []
    started = []
    for function, future in pending:
        if not future.cancel():
            started.append(future)
            continue
        try:
            function()
        except BaseException as failure:  # every call must end before their arrays are read
            errors.append(failure)
    for future in started:
        raised = future.exception()
        if raised is not None:
            errors.append(raised)
    if errors:
        raise errors[0]


def defer(function) -> bool:
    """Hand ``function()`` (which returns nothing and writes only memory no one reads before
    ``finish_deferred``) to a helper thread, to run beside what the calling thread does next: inside a
    ``deferring`` block, with more than one thread and the cores claimed; False otherwise (the caller runs it).
    The helper runs it on one thread; a call the caller splits meanwhile leaves out a busy helper (its share
    is called off once the caller has done every range: ``split_rows``)."""
    tasks = _deferred.tasks
    if tasks is None or _helper_mark.is_helper or not _blas_claimed or claim_cores() < 2:
        return False
    tasks.append((function, _submit(function, 1)[0]))
    return True


def threads_for(numbers: int):
    """The ``threads`` argument of ``split_rows`` for a pass over ``numbers`` numbers: None (every usable
    thread) once Ember has the cores (a convolution kernel ran; see above) and ``numbers`` reaches
    the ``parallel_numbers`` setting, else 1. A pass alone never takes the cores: an MLP's GEMMs run best on OpenBLAS's
    own threads."""
    if _blas_claimed and numbers >= config.get("parallel_numbers") and config.get("fast_paths"):
        return None
    return 1


def split_elementwise(function, out, *inputs) -> bool:
    """Compute ``function(*inputs, out=out)`` in slices between threads, when ``out`` and the inputs are NumPy
    arrays of one shape and strides that are contiguous in some axis order and large enough; False (nothing
    done) otherwise, so that the caller runs it whole."""
    if type(out) is not np.ndarray or threads_for(out.size) == 1:
        return False
    flats = flat_views(out, *inputs)
    if flats is None:
        return False
    target, sources = flats[0], flats[1:]
    split_rows(lambda start, stop: function(*[a[start:stop] for a in sources], out=target[start:stop]), out.size)
    return True


def matmul(a, b):
    """``np.matmul(a, b)``, split between threads once Ember has set OpenBLAS to one thread (see above) when
    both are NumPy float arrays, ``b`` is 2-d and the product is large enough; otherwise NumPy's (or
    CuPy's) matmul unchanged. The product is split by rows, or by columns when that leaves each thread
    fewer than ``GEMM_SPLIT_ROWS`` rows and the product is wider than tall (a Dense layer's forward and
    input gradient at batch 64: each thread then reads half of the weight, not all of it)."""
    if (not _blas_claimed or not config.get("fast_paths") or type(a) is not np.ndarray
            or type(b) is not np.ndarray or a.ndim < 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype.kind != "f"
            or 2.0 * a.size * b.shape[1] < config.get("parallel_gemm_flops")):
        return get_array_module(a).matmul(a, b)
    rows = a.reshape(-1, a.shape[-1]) if a.ndim > 2 else a
    threads = thread_count()
    if threads == 1 or rows.shape[0] < 2 * threads:
        return np.matmul(a, b)
    out = np.empty((rows.shape[0], b.shape[1]), dtype=a.dtype)
    # a GEMM packs its right side once per call: no smaller pieces than one per thread
    if rows.shape[0] < GEMM_SPLIT_ROWS * threads and b.shape[1] > rows.shape[0]:
        split_rows(lambda start, stop: np.matmul(rows, b[:, start:stop], out=out[:, start:stop]), b.shape[1],
                   threads, per_thread=1)
    else:
        split_rows(lambda start, stop: np.matmul(rows[start:stop], b, out=out[start:stop]), rows.shape[0],
                   threads, per_thread=1)
    return out.reshape(*a.shape[:-1], b.shape[1])


__all__ = ["thread_count", "set_num_threads", "get_num_threads", "openblas_kernels", "openblas_gemm", "claim_cores",
           "split_rows", "share", "deferring", "defer", "finish_deferred", "threads_for", "split_elementwise",
           "matmul"]
