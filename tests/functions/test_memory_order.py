"""Memory order: convolutions return (N, C, H, W) views of (C, H, W, N) memory, and the ops around them keep
the order of their input (so that later passes run over contiguous memory), without changing any value."""
import numpy as np
import pytest

import ember
from ember.backend import compiled, direct_conv
from ember.backend.im2col import CHWN
from ember.backend.layout import ALIGNMENT, empty_aligned, empty_ordered, memory_order
from ember.functions.conv import ConvGeometry


def _chwn(array):
    return np.ascontiguousarray(array.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (1, 2, 3, 0), (1, 0, 2, 3), (3, 2, 1, 0)])
def test_empty_ordered_lays_axes_out_in_the_given_order(order):
    array = empty_ordered(np, (2, 3, 4, 5), order, np.float32)
    assert array.shape == (2, 3, 4, 5)
    assert memory_order(array) == order
    assert array.base is not None and array.base.flags.c_contiguous


@pytest.mark.parametrize("shape, dtype", [((64, 32, 28, 28), np.float32), ((3, 1000), np.float64),
                                          ((4097,), np.uint8), ((7, 5), np.float32)])
def test_empty_aligned_starts_large_arrays_on_a_cache_line(shape, dtype):
    array = empty_aligned(shape, dtype)
    assert array.shape == shape and array.dtype == dtype and array.flags.c_contiguous and array.flags.writeable
    if array.nbytes >= 4096:  # smaller ones are NumPy's own
        assert array.ctypes.data % ALIGNMENT == 0
    zeros = empty_aligned(shape, dtype, zeros=True)
    assert not zeros.any()


def test_large_results_of_ordered_and_elementwise_passes_start_on_a_cache_line():
    rng = np.random.default_rng(0)
    chwn = _chwn(rng.standard_normal((16, 16, 12, 12)).astype(np.float32))  # a batch of whole vectors
    c_order = np.ascontiguousarray(chwn)
    assert empty_ordered(np, chwn.shape, CHWN, np.float32).ctypes.data % ALIGNMENT == 0
    for a in (chwn, c_order):
        total = (ember.from_numpy(a) + ember.from_numpy(a.copy(order="K"))).array
        assert total.ctypes.data % ALIGNMENT == 0 and memory_order(total) == memory_order(a)
        np.testing.assert_array_equal(total, a + a)
    if compiled.for_arrays(chwn) is not None:  # the compiled group norm's output, and the direct convolutions'
        assert ember.group_norm(ember.from_numpy(chwn), 4).array.ctypes.data % ALIGNMENT == 0
        weight = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
        y, _ = direct_conv.forward(chwn, weight, ConvGeometry((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1))
        assert y.ctypes.data % ALIGNMENT == 0


def test_memory_order_of_views():
    x = np.zeros((2, 3, 4, 5))
    assert memory_order(x) == (0, 1, 2, 3)
    assert memory_order(x.transpose(3, 0, 1, 2)) == (1, 2, 3, 0)
    assert memory_order(x[:, :, ::2, 1:]) == (0, 1, 2, 3)


def test_conv2d_output_and_input_gradient_lie_in_chwn_memory():
    x = ember.randn(3, 2, 7, 7, requires_grad=True)
    w = ember.randn(4, 2, 3, 3, requires_grad=True)
    y = ember.conv2d(x, w, padding=1, stride=2)
    assert memory_order(y.array) == CHWN
    y.backward(ember.from_numpy(_chwn(np.ones(y.shape, np.float32))))
    assert memory_order(x.grad.array) == CHWN
    assert memory_order(w.grad.array) == (0, 1, 2, 3)


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pool_gradient_follows_the_input_memory_order(pool):
    values = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    grads = []
    for array in (values, _chwn(values)):
        x = ember.from_numpy(array).requires_grad_()
        y = (ember.max_pool2d if pool == "max" else ember.avg_pool2d)(x, 2)
        y.backward(ember.ones(*y.shape))  # an upstream gradient in (N, C, H, W) memory
        assert memory_order(x.grad.array) == memory_order(array)
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_pad_keeps_the_input_memory_order_and_values():
    values = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    plain = ember.nn.functional.pad(ember.from_numpy(values), (1, 2, 0, 1), value=-1.0)
    ordered = ember.nn.functional.pad(ember.from_numpy(_chwn(values)), (1, 2, 0, 1), value=-1.0)
    assert memory_order(ordered.array) == CHWN and memory_order(plain.array) == (0, 1, 2, 3)
    expected = np.pad(values, ((0, 0), (0, 0), (0, 1), (1, 2)), constant_values=-1.0)
    np.testing.assert_array_equal(plain.numpy(), expected)
    np.testing.assert_array_equal(ordered.numpy(), expected)


def test_leaf_gradient_and_clone_keep_the_memory_order():
    values = _chwn(np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32))
    x = ember.zeros(2, 3, 4, 5, requires_grad=True)
    (x * 1.0).backward(ember.from_numpy(values))
    assert memory_order(x.grad.array) == CHWN
    np.testing.assert_array_equal(x.grad.numpy(), values)
    assert memory_order(ember.from_numpy(values).clone().array) == CHWN


@pytest.mark.parametrize("small_shape", [(4, 5, 1, 1), (5, 1, 1), (1, 5, 6, 7), (7,), ()])
@pytest.mark.parametrize("op", ["add", "radd", "sub", "rsub", "mul", "div"])
def test_broadcast_arithmetic_keeps_the_larger_operands_memory_order(small_shape, op):
    """A broadcast add (sub, mul, div) onto (C, H, W, N) memory gives a result in that memory, the values and
    gradients of the reference path (the smaller operand's gradient summed in memory order, within rounding)."""
    rng = np.random.default_rng(7)
    large = _chwn(rng.standard_normal((4, 5, 6, 7)).astype(np.float32))
    small = rng.standard_normal(small_shape).astype(np.float32)
    grad = rng.standard_normal(large.shape).astype(np.float32)
    function = {"add": lambda a, b: a + b, "radd": lambda a, b: b + a, "sub": lambda a, b: a - b,
                "rsub": lambda a, b: b - a, "mul": lambda a, b: a * b, "div": lambda a, b: a / (b * b + 1)}[op]

    def run():
        a, b = ember.from_numpy(large).requires_grad_(), ember.tensor(small, requires_grad=True)
        y = function(a, b)
        y.backward(ember.from_numpy(grad))
        return y.array, a.grad.numpy(), b.grad.numpy()

    fast = run()
    with ember.config.override(fast_paths=False):
        reference = run()
    assert memory_order(fast[0]) == CHWN
    np.testing.assert_array_equal(fast[0], reference[0])
    np.testing.assert_array_equal(fast[1], reference[1])
    np.testing.assert_allclose(fast[2], reference[2], rtol=1e-5, atol=1e-4)
    assert fast[2].shape == small.shape


def test_a_broadcast_gradient_sums_in_memory_order_as_one_product(monkeypatch):
    """The engine's reduction of a broadcast gradient (``SumTo``): the embedding add's gradient, (N, C, H, W) in
    (C, H, W, N) memory summed to (N, C, 1, 1), goes to a product with ones (not NumPy's reduction), and the
    sum over N, H and W to (C, 1, 1) too; the reference path's numbers; axes that are not neighbours in memory
    stay with NumPy's sum."""
    from ember.autograd import broadcast

    calls, matmul = [], np.matmul
    monkeypatch.setattr(broadcast.np, "matmul", lambda *args, **kwargs: calls.append(1) or matmul(*args, **kwargs))
    grad = _chwn(np.random.default_rng(8).standard_normal((4, 5, 6, 7)))
    for shape, axes in [((4, 5, 1, 1), (2, 3)), ((5, 1, 1), (0, 2, 3))]:
        summed = ember.sum_to(ember.from_numpy(grad), shape)
        assert ember.config.paths()["SumTo.forward"] == "forward_in_memory_order"
        np.testing.assert_allclose(summed.numpy(), grad.sum(axis=axes, keepdims=True).reshape(shape), rtol=1e-12)
    assert calls == [1]  # (N, C, 1, 1): a batched product; (C, 1, 1): a matrix-vector product (the @ operator)
    plain = np.ascontiguousarray(grad)  # C order: N and W are not neighbours in memory
    np.testing.assert_allclose(ember.sum_to(ember.from_numpy(plain), (1, 5, 6, 1)).numpy(),
                               plain.sum(axis=(0, 3), keepdims=True), rtol=1e-12)
    assert ember.config.paths()["SumTo.forward"] == "forward"


def test_a_sum_of_two_orders_neither_c_keeps_the_first_ones():
    """A feature map in (C, H, W, N) memory plus an attention output seen as (N, C, H, W) from (N, H, W, C)
    memory: the result lies as the feature map does (NumPy gives C order, neither's), the same numbers."""
    rng = np.random.default_rng(9)
    feature_map = _chwn(rng.standard_normal((4, 5, 3, 2)).astype(np.float32))
    sequence = np.ascontiguousarray(rng.standard_normal((4, 5, 3, 2)).astype(np.float32).transpose(0, 2, 3, 1))
    attended = sequence.transpose(0, 3, 1, 2)  # (N, C, H, W) over (N, H, W, C) memory
    y = ember.from_numpy(feature_map) + ember.from_numpy(attended)
    assert memory_order(y.array) == CHWN
    np.testing.assert_array_equal(y.numpy(), feature_map + attended)
    plain = ember.from_numpy(np.ascontiguousarray(feature_map)) + ember.from_numpy(feature_map)
    assert memory_order(plain.array) == memory_order(np.ascontiguousarray(feature_map) + feature_map)  # NumPy's
