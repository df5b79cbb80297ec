"""Reliability: grad mode and Ember's CPU threads under several user threads; collate and empty-reduction
edges against PyTorch's recorded behaviour (``empty_reductions.json``, made by
``record_empty_reductions.py``)."""
from __future__ import annotations

import json
import math
import pathlib
import sys
import threading

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import Function
from ember.backend import threads as ember_threads
from ember.data import default_collate

JOIN_SECONDS = 120  # a thread still running after this has hung


@pytest.fixture(autouse=True)
def _tiny_switch_interval():
    """Switch threads as often as the interpreter can, so that races show up."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def run_in_threads(*targets, join_seconds: float = JOIN_SECONDS):
    """Run each target on a thread of its own; return their results, re-raising the first error."""
    results: list = [None] * len(targets)
    errors: list = []

    def runner(index, target):
        try:
            results[index] = target()
        except BaseException as error:  # noqa: BLE001 - reported in the calling thread
            errors.append(error)

    workers = [threading.Thread(target=runner, args=(index, target), daemon=True)
               for index, target in enumerate(targets)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(join_seconds)
    assert not any(worker.is_alive() for worker in workers), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------- grad mode


def test_no_grad_in_one_thread_leaves_another_recording():
    barrier = threading.Barrier(2, timeout=30)

    def quiet():
        with ember.no_grad():
            barrier.wait()  # inside no_grad
            barrier.wait()  # the other thread has looked
            return ember.is_grad_enabled()

    def recording():
        barrier.wait()
        x = ember.ones(3, requires_grad=True)
        seen = (ember.is_grad_enabled(), (x * 2).requires_grad)
        barrier.wait()
        return seen

    inside, seen = run_in_threads(quiet, recording)
    assert inside is False
    assert seen == (True, True)


def test_set_grad_enabled_as_a_call_stays_in_its_thread():
    barrier = threading.Barrier(2, timeout=30)

    def switch_off():
        ember.set_grad_enabled(False)
        barrier.wait()
        barrier.wait()
        return ember.is_grad_enabled()

    def look():
        barrier.wait()
        enabled = ember.is_grad_enabled()
        barrier.wait()
        return enabled

    assert run_in_threads(switch_off, look) == [False, True]
    assert ember.is_grad_enabled()


def test_new_threads_start_with_grad_enabled():
    with ember.no_grad():
        (enabled,) = run_in_threads(ember.is_grad_enabled)
        assert not ember.is_grad_enabled()
    assert enabled is True


class _PausingIdentity(Function):
    """Identity whose backward waits at a barrier, so another thread runs while a backward is under way."""

    barrier: threading.Barrier

    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, grad):
        _PausingIdentity.barrier.wait()
        _PausingIdentity.barrier.wait()
        return grad


def test_backward_sets_grad_mode_only_for_its_own_thread():
    _PausingIdentity.barrier = threading.Barrier(2, timeout=30)

    def backward():
        x = ember.ones(3, requires_grad=True)
        _PausingIdentity.apply(x).sum().backward()  # create_graph=False: no recording inside, in this thread
        return x.grad.numpy().tolist()

    def forward_meanwhile():
        _PausingIdentity.barrier.wait()  # the other thread is inside backward
        x = ember.ones(3, requires_grad=True)
        seen = (ember.is_grad_enabled(), (x * 2).requires_grad)
        _PausingIdentity.barrier.wait()
        return seen

    grads, seen = run_in_threads(backward, forward_meanwhile)
    assert grads == [1.0, 1.0, 1.0]
    assert seen == (True, True)


# ---------------------------------------------------------------- concurrent training


def _mlp():
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))


def _convnet():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 5))


def _data(kind: str, seed: int, steps: int):
    rng = np.random.default_rng(seed)
    shape = (16, 20) if kind == "mlp" else (16, 3, 16, 16)
    return [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, 5, 16)) for _ in range(steps)]


def _make(kind: str, seed: int):
    ember.manual_seed(seed)
    return _mlp() if kind == "mlp" else _convnet()


def _train(model, batches, start: threading.Barrier | None = None):
    """Train ``model`` with SGD+momentum on ``batches``; the losses and the final parameters as arrays."""
    optimizer = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_function = nn.CrossEntropyLoss()
    if start is not None:
        start.wait()
    losses = []
    for inputs, targets in batches:
        optimizer.zero_grad()
        loss = loss_function(model(ember.tensor(inputs)), ember.tensor(targets))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [parameter.detach().numpy().copy() for parameter in model.parameters()]


def _evaluate(model, batches, start: threading.Barrier | None = None, rounds: int = 3):
    """Outputs of ``model`` in eval mode under ``no_grad``, ``rounds`` times over ``batches``."""
    model.eval()
    if start is not None:
        start.wait()
    outputs = []
    for _ in range(rounds):
        for inputs, _ in batches:
            with ember.no_grad():
                output = model(ember.tensor(inputs))
            assert not output.requires_grad
            outputs.append(output.numpy().copy())
    return outputs


def _assert_same(first, second):
    for a, b in zip(first, second, strict=True):
        if isinstance(a, (list, tuple)):
            _assert_same(a, b)
        else:
            np.testing.assert_array_equal(a, b)


SPLITTING = {"whole": {}, "split": {"parallel_numbers": 1, "parallel_gemm_flops": 1.0,
                                    "parallel_conv_flops": 1.0, "num_threads": 2}}


@pytest.mark.parametrize("splitting", sorted(SPLITTING))
@pytest.mark.parametrize("kinds", [("mlp", "mlp"), ("conv", "conv"), ("mlp", "conv")])
def test_two_models_trained_at_once_equal_sequential_training(kinds, splitting):
    steps = 20
    with ember.config.override(**SPLITTING[splitting]):
        batches = [_data(kind, 10 + index, steps) for index, kind in enumerate(kinds)]
        sequential = [_train(_make(kind, index), batches[index]) for index, kind in enumerate(kinds)]
        models = [_make(kind, index) for index, kind in enumerate(kinds)]
        start = threading.Barrier(2, timeout=30)
        concurrent = run_in_threads(*[lambda i=i: _train(models[i], batches[i], start) for i in range(2)])
    _assert_same(sequential, concurrent)


@pytest.mark.parametrize("splitting", sorted(SPLITTING))
@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_training_while_another_thread_evaluates_equals_sequential(kind, splitting):
    steps = 20
    with ember.config.override(**SPLITTING[splitting]):
        train_batches, eval_batches = _data(kind, 1, steps), _data(kind, 2, 4)
        sequential = (_train(_make(kind, 0), train_batches), _evaluate(_make(kind, 1), eval_batches))
        trained, evaluated = _make(kind, 0), _make(kind, 1)
        start = threading.Barrier(2, timeout=30)
        concurrent = run_in_threads(lambda: _train(trained, train_batches, start),
                                    lambda: _evaluate(evaluated, eval_batches, start))
    _assert_same([sequential[0]], [concurrent[0]])
    _assert_same(sequential[1], concurrent[1])


# ---------------------------------------------------------------- Ember's own threads


def test_concurrent_split_rows_calls_each_run_their_own_ranges_once():
    """Several user threads split calls with different thread counts at once (so the helper pool grows
    while others use it): each call covers its own rows exactly once and returns."""
    callers, calls, total = 6, 80, 37

    def caller(index):
        def run():
            for call in range(calls):
                seen: list = []
                lock = threading.Lock()

                def record(start, stop, seen=seen, lock=lock):
                    with lock:
                        seen.append((start, stop))

                ember_threads.split_rows(record, total, threads=2 + (index + call) % 5, per_thread=2)
                rows = sorted(row for start, stop in seen for row in range(start, stop))
                assert rows == list(range(total)), (index, call, seen)
            return True
        return run

    assert run_in_threads(*[caller(index) for index in range(callers)]) == [True] * callers


def test_split_rows_called_inside_a_range_returns():
    """A range that splits work of its own (on a helper thread) must not wait on helpers that are all busy."""
    seen: list = []

    def outer(start, stop):
        ember_threads.split_rows(lambda inner_start, inner_stop: seen.append((start, inner_start, inner_stop)),
                                 4, threads=2)

    run_in_threads(lambda: ember_threads.split_rows(outer, 2, threads=2), join_seconds=20)
    rows = sorted((outer_start, row) for outer_start, start, stop in seen for row in range(start, stop))
    assert rows == [(outer_start, row) for outer_start in (0, 1) for row in range(4)]


def test_concurrent_share_calls_each_run_on_their_threads():
    callers, calls = 4, 30

    def caller(index):
        def run():
            for _ in range(calls):
                count = [0]
                lock = threading.Lock()

                def work(count=count, lock=lock):
                    with lock:
                        count[0] += 1

                ember_threads.share(work, threads=2 + index)
                assert count[0] == 2 + index
            return True
        return run

    assert run_in_threads(*[caller(index) for index in range(callers)]) == [True] * callers


# ---------------------------------------------------------------- collate

COLLATE_MESSAGE = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


@pytest.mark.parametrize("batch, found", [
    ([1, "a"], str),
    ([1.0, "a"], str),
    ([True, "a"], str),
    ([np.float32(1.0), "a"], str),
    ([1, None], type(None)),
    ([object(), 1], object),
])
def test_collate_refuses_numbers_mixed_with_other_things(batch, found):
    with pytest.raises(TypeError) as caught:
        default_collate(batch)
    assert str(caught.value) == COLLATE_MESSAGE.format(found)


def test_collate_refuses_mixed_fields_inside_samples():
    with pytest.raises(TypeError, match="found <class 'str'>"):
        default_collate([{"x": 1}, {"x": "a"}])
    with pytest.raises(TypeError, match="found <class 'str'>"):
        default_collate([(1, "a"), ("b", 2)])


def test_collate_keeps_a_batch_that_starts_with_a_string_as_a_list():
    assert default_collate(["a", 1]) == ["a", 1]  # PyTorch returns such a batch as it is


# ---------------------------------------------------------------- reductions over empty tensors

_TABLE = json.loads((pathlib.Path(__file__).with_name("empty_reductions.json")).read_text())
# logsumexp without dim is an Ember extension (PyTorch requires dim): checked separately below
_CASES = [case for case in _TABLE["cases"] if not (case["op"] == "logsumexp" and case["dim"] is None)]


def _case_id(case):
    return f"{case['op']}-{'x'.join(map(str, case['shape'])) or 'scalar'}-dim{case['dim']}"


@pytest.mark.parametrize("case", _CASES, ids=_case_id)
def test_empty_reductions_behave_as_pytorch(case):
    dtype = ember.bool if case["op"] in ("any", "all") else ember.float32
    x = ember.zeros(tuple(case["shape"]), dtype=dtype)
    function = getattr(ember, case["op"])
    call = (lambda: function(x)) if case["dim"] is None else (lambda: function(x, dim=case["dim"]))
    if "error" in case:
        with pytest.raises(Exception) as caught:  # the type is checked by name below
            call()
        assert type(caught.value).__name__ == case["error"]["type"]
        assert str(caught.value) == case["error"]["message"]
        return
    with np.errstate(all="ignore"), _no_check():
        result = call()
    if isinstance(result, tuple):
        result = result[0]
    values = [None if math.isnan(v) else v for v in np.asarray(result.numpy(), dtype=np.float64).ravel().tolist()]
    assert {"shape": list(result.shape), "values": values} == case["result"]


class _no_check:
    """Warnings such as NumPy's 'mean of empty slice' are allowed here; only the result is checked."""

    def __enter__(self):
        import warnings

        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc_info):
        return self._catcher.__exit__(*exc_info)


def test_logsumexp_over_all_dims_of_an_empty_tensor_is_minus_infinity():
    assert ember.logsumexp(ember.zeros((2, 0))).item() == -math.inf


def test_max_with_dim_over_an_empty_other_dim_returns_empty_values_and_indices():
    values, indices = ember.max(ember.zeros((0, 3)), dim=1)
    assert values.shape == (0,) and indices.shape == (0,) and indices.dtype == ember.int64
