"""Work handed to a helper thread during a backward pass (``threads.defer``): a convolution's weight and bias
gradients computed beside the rest of the pass give the numbers computed in line, hooks and shared weights see
final values, errors surface, and no split call waits for a helper busy with deferred work."""
from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np
import pytest

import ember
from ember import config
from ember.backend import compiled, direct_conv, threads


@pytest.fixture
def two_threads():
    """Two threads with the cores taken (as after a convolution); skipped where no OpenBLAS can be set to one
    thread or no compiled kernels are built."""
    config.set(num_threads=2)
    if threads.claim_cores() == 1:
        pytest.skip("NumPy here does not use an OpenBLAS that Ember can set to one thread")
    if compiled.for_arrays(np.zeros(1, np.float32)) is None:
        pytest.skip("no compiled kernels here (no C compiler)")
    yield


@pytest.fixture
def deferred_calls(monkeypatch):
    """The functions ``threads.defer`` accepted, in order."""
    accepted, original = [], threads.defer

    def recording(function):
        taken = original(function)
        if taken:
            accepted.append(function)
        return taken

    monkeypatch.setattr(threads, "defer", recording)
    return accepted


def _conv_net(seed: int = 0, shared: bool = False):
    """A two-layer conv net on (C, H, W, N)-ordered float32 inputs, as inside a model: (model, x, target)."""
    ember.manual_seed(seed)
    middle = ember.nn.Conv2d(8, 8, 3, padding=1)
    last = middle if shared else ember.nn.Conv2d(8, 8, 3, padding=1, bias=False)
    model = ember.nn.Sequential(ember.nn.Conv2d(3, 8, 3, padding=1), ember.nn.ReLU(), middle, ember.nn.ReLU(),
                                last)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 10, 10, 16), dtype=np.float32).transpose(3, 0, 1, 2)
    target = rng.standard_normal((16, 8, 10, 10), dtype=np.float32)
    return model, ember.tensor(x), ember.tensor(target)


def _gradients(model, x, target, passes: int = 1) -> list:
    for _ in range(passes):
        ember.nn.functional.mse_loss(model(x), target).backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


def _in_line(monkeypatch, function):
    """``function()`` with nothing deferred."""
    with monkeypatch.context() as patch:
        patch.setattr(threads, "defer", lambda work: False)
        return function()


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("passes", [1, 2])
def test_deferred_parameter_gradients_are_the_in_line_numbers(two_threads, deferred_calls, monkeypatch, shared,
                                                              passes):
    model, x, target = _conv_net(shared=shared)
    got = _gradients(model, x, target, passes)
    assert len(deferred_calls) == 3 * passes  # every convolution's weight (and bias) gradients
    model, x, target = _conv_net(shared=shared)
    expected = _in_line(monkeypatch, lambda: _gradients(model, x, target, passes))
    for value, reference in zip(got, expected):
        np.testing.assert_array_equal(value, reference)


def test_a_hooked_weight_is_computed_in_line_and_its_hook_sees_the_final_gradient(two_threads, deferred_calls,
                                                                                  monkeypatch):
    model, x, target = _conv_net()
    seen = []
    model[4].weight.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.numpy().copy()))
    got = _gradients(model, x, target)
    assert len(deferred_calls) == 2  # the two layers without a hook
    model, x, target = _conv_net()
    expected = _in_line(monkeypatch, lambda: _gradients(model, x, target))
    np.testing.assert_array_equal(seen[0], expected[-1])
    for value, reference in zip(got, expected):
        np.testing.assert_array_equal(value, reference)


def test_autograd_grad_of_the_weights_waits_for_the_deferred_work(two_threads, deferred_calls, monkeypatch):
    model, x, target = _conv_net()
    weights = [model[0].weight, model[4].weight]
    got = ember.autograd.grad(ember.nn.functional.mse_loss(model(x), target), weights)
    assert deferred_calls
    expected = _in_line(monkeypatch, lambda: ember.autograd.grad(
        ember.nn.functional.mse_loss(model(x), target), weights))
    for value, reference in zip(got, expected):
        np.testing.assert_array_equal(value.numpy(), reference.numpy())


def test_an_error_in_deferred_work_is_raised_by_backward(two_threads, monkeypatch):
    model, x, target = _conv_net()

    def failing(*args, **kwargs):
        raise RuntimeError("weight gradient failed")

    monkeypatch.setattr(direct_conv, "weight_grad", failing)
    with pytest.raises(RuntimeError, match="weight gradient failed"):
        ember.nn.functional.mse_loss(model(x), target).backward()


def test_nothing_is_deferred_on_one_thread_or_outside_a_backward_pass(deferred_calls):
    assert not threads.defer(lambda: None)  # outside a deferring block
    config.set(num_threads=1)
    model, x, target = _conv_net()
    _gradients(model, x, target)
    assert not deferred_calls


def test_a_split_call_does_not_wait_for_a_helper_busy_with_deferred_work(two_threads):
    release, started, finished = threading.Event(), threading.Event(), threading.Event()

    def busy():
        started.set()
        release.wait(10)
        finished.set()

    with threads.deferring():
        assert threads.defer(busy)
        assert started.wait(10)  # the one helper is busy from now on
        rows = []
        threads.split_rows(lambda start, stop: rows.extend(range(start, stop)), 8, 2)
        assert sorted(rows) == list(range(8)) and not finished.is_set()  # done on this thread alone
        release.set()
    assert finished.is_set()  # leaving the block waited for it


def test_deferred_work_no_helper_started_runs_on_the_calling_thread():
    ran_on = []
    not_started = Future()  # as a call still queued for a busy helper
    threads.finish_deferred([(lambda: ran_on.append(threading.current_thread()), not_started)])
    assert ran_on == [threading.current_thread()] and not_started.cancelled()


def test_every_deferred_call_ends_before_the_first_error_is_raised(two_threads):
    ended = []

    def failing():
        raise ValueError("deferred call failed")

    with pytest.raises(ValueError, match="deferred call failed"), threads.deferring():
        assert threads.defer(failing)
        assert threads.defer(lambda: ended.append(True))
    assert ended == [True]


@pytest.mark.parametrize("batch, groups", [(3, 1), (16, 2)])
def test_the_im2col_weight_gradient_has_the_same_numbers_on_any_thread(two_threads, batch, groups):
    # batches the direct kernels leave, and grouped convolutions: a deferred weight gradient runs whole on a
    # helper thread, or split between the threads when no helper took it; the ranges summed are the shape's
    from ember.functions.conv import Conv2dGradWeight

    rng = np.random.default_rng(batch)
    layer = ember.nn.Conv2d(8, 8, 3, padding=1, groups=groups)
    x = rng.standard_normal((batch, 8, 12, 12), dtype=np.float32)
    grad = rng.standard_normal((batch, 8, 12, 12), dtype=np.float32)
    geometry = layer(ember.tensor(x)).creator.geometry

    def weight_grad():
        return Conv2dGradWeight(geometry, tuple(layer.weight.shape)).forward(x, grad)

    split = weight_grad()
    on_a_helper = threads._submit(weight_grad, 1)[0].result()  # a split call made on a helper runs whole
    with config.override(num_threads=1):
        one_thread = weight_grad()
    np.testing.assert_array_equal(on_a_helper, split)
    np.testing.assert_array_equal(one_thread, split)
