"""Ember's CPU threads (backend/threads.py): row ranges run at once and every one of them, errors after all
have ended, the thread count and its settings, OpenBLAS set to one thread before anything is split, and the
ops that split their work (matmul, ReLU, batch norm, Adam) giving the numbers they give whole."""
from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest

import ember
from ember import config
from ember.backend import threads


def _take_the_cores(count: int) -> None:
    """``count`` threads from now on, with the cores taken as after a convolution (skipped where no OpenBLAS
    can be set to one thread)."""
    config.set(num_threads=count)
    if threads.claim_cores() == 1:
        pytest.skip("NumPy here does not use an OpenBLAS that Ember can set to one thread")


def _openblas_counts() -> list:
    counts = []
    for path in threads.openblas_paths():
        library = ctypes.CDLL(path)
        getter = getattr(library, "scipy_openblas_get_num_threads64_", None) or getattr(
            library, "openblas_get_num_threads", None)
        if getter is not None:
            counts.append(getter())
    return counts


@pytest.fixture
def split_everything():
    """Three threads, the cores taken (as after a convolution), and every elementwise pass split however
    small."""
    _take_the_cores(3)
    with config.override(parallel_numbers=1):
        yield


def test_split_rows_covers_every_row_once_on_several_threads():
    seen, names, lock = [], set(), threading.Lock()
    together = threading.Barrier(3, timeout=10)  # breaks unless three threads take ranges at the same time
    arrived = threading.local()

    def record(start, stop):
        if not getattr(arrived, "yes", False):
            arrived.yes = True
            together.wait()
        with lock:
            seen.extend(range(start, stop))
            names.add(threading.current_thread().name)

    threads.split_rows(record, 50, 3, per_thread=4)  # twelve ranges, handed to whichever thread is free
    assert sorted(seen) == list(range(50)) and len(names) == 3
    seen.clear()
    ranges = []
    threads.split_rows(lambda start, stop: ranges.append((start, stop)), 2, 4)  # never more ranges than rows
    assert sorted(ranges) == [(0, 1), (1, 2)]


def test_split_rows_reraises_an_error_once_every_started_range_has_ended():
    finished, lock = [], threading.Lock()

    def failing(start, stop):
        if start == 4:
            raise RuntimeError("a range failed")
        with lock:
            finished.append((start, stop))

    with pytest.raises(RuntimeError, match="a range failed"):
        threads.split_rows(failing, 8, 2, per_thread=4)  # eight ranges of one row
    assert (4, 5) not in finished and len(finished) < 8


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_ember_num_threads_must_be_a_positive_integer(monkeypatch, value):
    monkeypatch.setenv("EMBER_NUM_THREADS", value)
    with pytest.raises(ValueError, match="EMBER_NUM_THREADS"):
        threads.thread_count()


def test_thread_count_from_set_num_threads_then_the_environment(monkeypatch):
    monkeypatch.setenv("EMBER_NUM_THREADS", "5")
    assert threads.thread_count() == 5 and ember.get_num_threads() == 5
    ember.set_num_threads(3)
    assert threads.thread_count() == 3 and ember.get_num_threads() == 3
    for bad in (0, -1, True, "many"):
        with pytest.raises(ValueError, match="set_num_threads"):
            ember.set_num_threads(bad)
    assert config.source("num_threads") == "set"
    config.reset("num_threads")
    assert config.source("num_threads") == "$EMBER_NUM_THREADS"
    monkeypatch.delenv("EMBER_NUM_THREADS")
    assert threads.thread_count() >= 1


def test_claiming_the_cores_sets_numpys_openblas_to_one_thread_and_gives_them_back():
    if not threads._openblas_setters():
        pytest.skip("NumPy here does not use an OpenBLAS")
    with config.override(claim_blas=False):  # gives back whatever an earlier test claimed
        before = _openblas_counts()
        assert threads._blas_claimed is None and threads.claim_cores() == 1  # not allowed to claim
    config.set(num_threads=2)
    assert threads.claim_cores() == 2
    assert threads._blas_claimed is True
    assert _openblas_counts() and set(_openblas_counts()) == {1}
    assert "OpenBLAS set to one thread by Ember" in config.describe()["effects"]["BLAS threads"]
    with config.override(claim_blas=False):
        assert _openblas_counts() == before  # reversible: OpenBLAS's own count is back
        assert threads.threads_for(10**9) == 1
    assert threads.claim_cores() == 2 and set(_openblas_counts()) == {1}


def test_without_an_openblas_to_set_kernels_stay_on_one_thread(monkeypatch):
    monkeypatch.setattr(threads, "_blas_claimed", None)  # a process that has not claimed yet
    monkeypatch.setattr(threads, "_openblas_setters", lambda: [])  # and finds no OpenBLAS
    config.set(num_threads=4)
    assert threads.claim_cores() == 1
    ranges = []
    threads.split_rows(lambda start, stop: ranges.append((start, stop)), 10)
    assert ranges == [(0, 10)]


@pytest.mark.parametrize("claimed", [False, True])
def test_matmul_splits_rows_only_once_the_cores_are_claimed(monkeypatch, claimed):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 41, 30)).astype(np.float32)
    b = rng.standard_normal((30, 17)).astype(np.float32)
    if claimed:
        _take_the_cores(3)
    else:
        config.set(claim_blas=False, num_threads=3)
    config.set(parallel_gemm_flops=0)
    splits, original = [], threads.split_rows

    def counting(function, total, count=None, per_thread=None):
        splits.append((total, count, per_thread))
        return original(function, total, count, per_thread)

    monkeypatch.setattr(threads, "split_rows", counting)
    product = threads.matmul(a, b)
    assert splits == ([(123, 3, 1)] if claimed else [])
    assert product.shape == (3, 41, 17) and product.dtype == np.float32
    np.testing.assert_allclose(product, a @ b, rtol=1e-6, atol=1e-6)
    x = ember.tensor(a[0], requires_grad=True)
    w = ember.tensor(b, requires_grad=True)
    (x @ w).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones((41, 17), np.float32) @ b.T, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), a[0].T @ np.ones((41, 17), np.float32), rtol=1e-5, atol=1e-5)


def test_matmul_splits_a_short_wide_product_by_columns(monkeypatch):
    """A Dense layer at a small batch: too few rows for each thread, many columns (each thread then reads
    a slice of the weight instead of all of it)."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((10, 40)).astype(np.float32)
    b = np.asfortranarray(rng.standard_normal((40, 200)).astype(np.float32))  # like the weight.T of nn.Linear
    _take_the_cores(3)
    config.set(parallel_gemm_flops=0)
    ranges, original = [], threads.split_rows

    def recording(function, total, count=None, per_thread=None):
        ranges.append(total)
        return original(function, total, count, per_thread)

    monkeypatch.setattr(threads, "split_rows", recording)
    product = threads.matmul(a, b)
    assert ranges == [200]
    assert product.shape == (10, 200) and product.flags.c_contiguous
    np.testing.assert_allclose(product, a @ b, rtol=1e-5, atol=1e-5)
    ranges.clear()
    tall = threads.matmul(rng.standard_normal((400, 40)).astype(np.float32), b)  # enough rows: by rows
    assert ranges == [400] and tall.shape == (400, 200)


def _relu_step(x_np, g_np):
    x = ember.tensor(x_np, requires_grad=True)
    y = ember.relu(x)
    y.backward(ember.tensor(g_np))
    return y.numpy(), x.grad.numpy()


@pytest.mark.parametrize("memory", ["NCHW", "CHWN", "mixed"])
def test_relu_split_between_threads_gives_the_whole_pass_numbers(monkeypatch, split_everything, memory):
    rng = np.random.default_rng(10)
    chwn = rng.standard_normal((5, 6, 7, 4)).astype(np.float32)
    x_np = chwn.transpose(3, 0, 1, 2) if memory != "NCHW" else np.ascontiguousarray(chwn.transpose(3, 0, 1, 2))
    g_np = rng.standard_normal(x_np.shape).astype(np.float32)
    if memory == "CHWN":
        g_np = np.ascontiguousarray(g_np.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    calls, original = [], threads.split_rows
    monkeypatch.setattr(threads, "split_rows", lambda *args: calls.append(args[1]) or original(*args))
    y, grad = _relu_step(x_np, g_np)
    assert calls == [x_np.size, x_np.size]  # mixed strides: the gradient copied into the output's order first
    with config.override(parallel_numbers=2**62):
        expected_y, expected_grad = _relu_step(x_np, g_np)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(grad, expected_grad)
    assert y.transpose(1, 2, 3, 0).flags.c_contiguous == (memory != "NCHW")  # the input's memory order


def test_relu_double_backward_still_works_when_split(split_everything):
    x = ember.tensor(np.linspace(-1, 1, 40, dtype=np.float64).reshape(4, 10), requires_grad=True)
    (grad,) = ember.grad(ember.relu(x).pow(2).sum(), x, create_graph=True)
    (second,) = ember.grad(grad.sum(), x)
    np.testing.assert_allclose(second.numpy(), 2.0 * (x.numpy() > 0))


def test_batch_norm_and_adam_split_between_threads_give_the_same_numbers(monkeypatch, split_everything, kernels):
    rng = np.random.default_rng(11)
    x_np = rng.standard_normal((5, 6, 4, 8)).astype(np.float32).transpose(3, 0, 1, 2)  # (C, H, W, N) memory

    weights = ember.tensor(np.arange(x_np.size, dtype=np.float32).reshape(5, 6, 4, 8).transpose(3, 0, 1, 2))

    def train():
        ember.manual_seed(0)
        layer = ember.nn.BatchNorm2d(5)
        optimizer = ember.optim.Adam(layer.parameters(), lr=0.1)
        x = ember.tensor(x_np, requires_grad=True)
        for _ in range(2):
            optimizer.zero_grad()
            (layer(x) * weights).sum().backward()
            optimizer.step()
        return [layer.weight.numpy(), layer.bias.numpy(), x.grad.numpy(), layer.running_mean.numpy()]

    calls, original = [], threads.split_rows
    monkeypatch.setattr(threads, "split_rows", lambda *args: calls.append(args[1]) or original(*args))
    split = train()
    assert calls.count(5) == 2 * 4  # per step: batch norm forward and backward by channel, Adam on weight and bias
    with config.override(parallel_numbers=2**62):
        whole = train()
    for got, want in zip(split, whole):
        np.testing.assert_array_equal(got, want)


def test_elementwise_passes_do_not_take_the_cores_themselves(monkeypatch):
    config.set(claim_blas=False, parallel_numbers=1)  # no convolution has taken the cores
    assert threads.threads_for(10**9) == 1
    x = np.random.default_rng(12).standard_normal((64, 300)).astype(np.float32)
    assert not threads.split_elementwise(np.negative, np.empty_like(x), x)
    assert threads._blas_claimed is None  # OpenBLAS keeps its threads
    config.set(claim_blas=True)
    assert threads.threads_for(10**9) == 1 and threads._blas_claimed is None  # a pass never claims them


def test_openblas_kernels_and_gemm_are_found_where_numpy_loads_openblas():
    if not threads.openblas_paths():
        pytest.skip("NumPy here loads no OpenBLAS")
    names = threads.openblas_kernels()
    assert names and all(isinstance(name, str) and name for name in names)
    assert f"BLAS kernels: {', '.join(names)}" in str(ember.config.describe())
    assert threads.openblas_gemm(np.int32) is None
    for dtype in (np.float32, np.float64):
        found = threads.openblas_gemm(dtype)
        if found is not None:
            address, ilp64 = found
            assert isinstance(address, int) and address != 0 and isinstance(ilp64, bool)
