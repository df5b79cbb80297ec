"""The Optimizer base: parameter groups, zero_grad, closures, state_dict, validation."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.optim import SGD, Adam, AdamW, Optimizer, RMSprop
from ember.optim.optimizer import required


def make_params(seed: int = 0):
    rng = np.random.default_rng(seed)
    w = ember.tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    b = ember.tensor(rng.standard_normal(2).astype(np.float32), requires_grad=True)
    return w, b


def set_grads(params, seed: int):
    rng = np.random.default_rng(seed)
    for param in params:
        param.grad = ember.tensor(rng.standard_normal(param.shape).astype(np.float32))


# ---------------------------------------------------------------------------------- parameter groups
def test_param_groups_fill_defaults_and_keep_their_own_options():
    w, b = make_params()
    optimizer = SGD([{"params": [w]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    first, second = optimizer.param_groups
    assert len(first["params"]) == 1 and first["params"][0] is w
    assert first["lr"] == 0.1 and first["momentum"] == 0
    assert second["params"][0] is b and second["lr"] == 0.5 and second["momentum"] == 0.9
    assert set(first) == {"params", "lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"}


def test_param_groups_use_their_own_learning_rates():
    w, b = make_params()
    w0, b0 = w.array.copy(), b.array.copy()
    optimizer = SGD([{"params": [w], "lr": 0.1}, {"params": [b], "lr": 0.01}])
    set_grads([w, b], seed=1)
    grad_w, grad_b = w.grad.array.copy(), b.grad.array.copy()
    optimizer.step()
    np.testing.assert_allclose(w.array, w0 - 0.1 * grad_w, rtol=1e-6)
    np.testing.assert_allclose(b.array, b0 - 0.01 * grad_b, rtol=1e-6)


def test_changing_a_group_lr_takes_effect_on_the_next_step():
    w, _ = make_params()
    optimizer = Adam([w], lr=0.1)
    set_grads([w], seed=1)
    optimizer.step()
    before = w.array.copy()
    optimizer.param_groups[0]["lr"] = 0.0
    optimizer.step()
    np.testing.assert_array_equal(w.array, before)


def test_add_param_group():
    w, b = make_params()
    optimizer = Adam([w], lr=0.1)
    optimizer.add_param_group({"params": [b], "lr": 0.2})
    assert len(optimizer.param_groups) == 2
    assert optimizer.param_groups[1]["betas"] == (0.9, 0.999)
    assert optimizer.param_groups[1]["lr"] == 0.2
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match="Invalid learning rate: -2"):
        optimizer.add_param_group({"params": [ember.zeros(2, requires_grad=True)], "lr": -2})


def test_parameters_without_grad_are_skipped():
    w, b = make_params()
    b0 = b.array.copy()
    optimizer = Adam([w, b], lr=0.1)
    set_grads([w], seed=1)
    optimizer.step()
    np.testing.assert_array_equal(b.array, b0)
    assert b not in optimizer.state and w in optimizer.state


def test_a_generator_of_parameters_is_accepted():
    w, b = make_params()
    optimizer = SGD((p for p in (w, b)), lr=0.1)
    assert len(optimizer.param_groups[0]["params"]) == 2


@pytest.mark.parametrize(
    "params, error, message",
    [
        ([], ValueError, "empty parameter list"),
        ("tensor", TypeError, "iterable of Tensors or dicts"),
        ("set", TypeError, "ordered collections"),
        ("array", TypeError, "can only optimize Tensors"),
        ("non-leaf", ValueError, "non-leaf"),
    ],
)
def test_bad_params_raise(params, error, message):
    w, _ = make_params()
    if params == "tensor":
        params = w
    elif params == "set":
        params = [{"params": {w}}]
    elif params == "array":
        params = [np.zeros(3, dtype=np.float32)]
    elif params == "non-leaf":
        params = [w * 2.0]
    with pytest.raises(error, match=message):
        SGD(params, lr=0.1)


def test_a_required_option_missing_from_a_group_raises():
    class Custom(Optimizer):
        def __init__(self, params, lr=required):
            super().__init__(params, dict(lr=lr))

    w, b = make_params()
    optimizer = Custom([{"params": [w], "lr": 0.1}])
    assert optimizer.param_groups[0]["lr"] == 0.1
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        Custom([{"params": [b]}])
    with pytest.raises(NotImplementedError, match="Custom does not implement step"):
        optimizer.step()


def test_duplicate_parameters_warn():
    w, _ = make_params()
    with pytest.warns(UserWarning, match="duplicate"):
        SGD([w, w], lr=0.1)


def test_gradient_of_the_wrong_shape_raises():
    w, _ = make_params()
    optimizer = SGD([w], lr=0.1)
    w.grad = ember.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"SGD.step: a gradient of shape \(2, 3\).*shape \(3, 2\)"):
        optimizer.step()


# ------------------------------------------------------------------------------------ invalid options
@pytest.mark.parametrize(
    "optimizer_class, options, message",
    [
        (SGD, dict(lr=-1), "Invalid learning rate: -1"),
        (SGD, dict(momentum=-0.5), "Invalid momentum value: -0.5"),
        (SGD, dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
        (SGD, dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
        (SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov momentum requires"),
        (Adam, dict(lr=-1), "Invalid learning rate: -1"),
        (Adam, dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (Adam, dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (Adam, dict(weight_decay=-1), "Invalid weight_decay value: -1"),
        (AdamW, dict(lr=float("nan")), "Invalid learning rate: nan"),
        (AdamW, dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
        (RMSprop, dict(lr=-0.01), "Invalid learning rate: -0.01"),
        (RMSprop, dict(alpha=-0.5), "Invalid alpha value: -0.5"),
        (RMSprop, dict(eps=-1), "Invalid epsilon value: -1"),
        (RMSprop, dict(momentum=-1), "Invalid momentum value: -1"),
        (RMSprop, dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ],
)
def test_invalid_hyperparameters_raise(optimizer_class, options, message):
    w, _ = make_params()
    with pytest.raises(ValueError, match=message) as info:
        optimizer_class([w], **options)
    assert optimizer_class.__name__ in str(info.value)


@pytest.mark.parametrize("options", [dict(lr="0.1"), dict(betas=0.9)])
def test_hyperparameters_of_the_wrong_type_raise(options):
    w, _ = make_params()
    with pytest.raises(TypeError, match="Adam"):
        Adam([w], **options)


# -------------------------------------------------------------------------------------------- zero_grad
def test_zero_grad_sets_to_none_by_default():
    w, b = make_params()
    optimizer = SGD([w, b], lr=0.1)
    set_grads([w, b], seed=1)
    optimizer.zero_grad()
    assert w.grad is None and b.grad is None


def test_zero_grad_in_place_keeps_the_gradient_tensor():
    w, b = make_params()
    optimizer = SGD([w, b], lr=0.1)
    set_grads([w], seed=1)
    grad, array = w.grad, w.grad.array
    optimizer.zero_grad(set_to_none=False)
    assert w.grad is grad and w.grad.array is array
    np.testing.assert_array_equal(array, np.zeros((3, 2), dtype=np.float32))
    assert b.grad is None


def test_zero_grad_in_place_detaches_a_gradient_recorded_with_create_graph():
    w = ember.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (w ** 3).sum().backward(create_graph=True)
    assert w.grad.requires_grad
    SGD([w], lr=0.1).zero_grad(set_to_none=False)
    assert not w.grad.requires_grad and w.grad.grad_fn is None
    np.testing.assert_array_equal(w.grad.array, [0.0, 0.0])


def test_gradients_accumulate_without_zero_grad_and_restart_after_it():
    w = ember.tensor(np.array([1.0, -1.0], dtype=np.float32), requires_grad=True)
    optimizer = SGD([w], lr=0.1)
    (w * 3.0).sum().backward()
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad.array, [6.0, 6.0])
    optimizer.zero_grad()
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad.array, [3.0, 3.0])


# ---------------------------------------------------------------------------------------------- closure
@pytest.mark.parametrize("optimizer_class", [SGD, Adam, AdamW, RMSprop])
def test_step_with_closure_returns_the_loss_and_records_gradients(optimizer_class):
    w = ember.tensor(np.array([3.0, -2.0], dtype=np.float32), requires_grad=True)
    optimizer = optimizer_class([w], lr=0.1)
    calls = []

    def closure():
        optimizer.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(float(loss))
        return loss

    with ember.no_grad():  # the closure re-enables recording
        loss = optimizer.step(closure)
    assert calls == [13.0]
    assert float(loss) == 13.0
    np.testing.assert_array_equal(w.grad.array, [6.0, -4.0])
    assert float((w * w).sum()) < 13.0


# ------------------------------------------------------------------------------------------- state_dict
OPTIMIZER_SETUPS = [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    (AdamW, dict(lr=0.05)),
    (RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
]


@pytest.mark.parametrize("optimizer_class, options", OPTIMIZER_SETUPS, ids=[c.__name__ for c, _ in OPTIMIZER_SETUPS])
def test_state_dict_round_trip_continues_identically(optimizer_class, options):
    w, b = make_params()
    first = optimizer_class([{"params": [w]}, {"params": [b], "lr": 0.02}], **options)
    for seed in (1, 2):
        set_grads([w, b], seed)
        first.step()
    saved = first.state_dict()

    w2 = ember.tensor(w.array, requires_grad=True)
    b2 = ember.tensor(b.array, requires_grad=True)
    second = optimizer_class([{"params": [w2]}, {"params": [b2]}], lr=0.7)
    second.load_state_dict(saved)
    assert second.param_groups[1]["lr"] == 0.02 and second.param_groups[0]["lr"] == options["lr"]
    assert second.param_groups[0]["params"][0] is w2

    for seed in (3, 4, 5):
        set_grads([w, b], seed)
        set_grads([w2, b2], seed)
        first.step()
        second.step()
    np.testing.assert_array_equal(w2.array, w.array)
    np.testing.assert_array_equal(b2.array, b.array)


def test_state_dict_format_and_copies():
    w, b = make_params()
    optimizer = Adam([{"params": [w, b]}], lr=0.1)
    set_grads([w, b], seed=1)
    optimizer.step()
    saved = optimizer.state_dict()
    assert set(saved) == {"state", "param_groups"}
    assert saved["param_groups"][0]["params"] == [0, 1]
    assert saved["param_groups"][0]["lr"] == 0.1
    assert set(saved["state"]) == {0, 1}
    assert saved["state"][0]["step"] == 1
    exp_avg = saved["state"][0]["exp_avg"]
    assert exp_avg is not optimizer.state[w]["exp_avg"]
    np.testing.assert_array_equal(exp_avg, optimizer.state[w]["exp_avg"])
    snapshot = exp_avg.copy()
    optimizer.step()
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"], snapshot)


def test_load_state_dict_copies_and_casts_state_arrays():
    w, _ = make_params()
    optimizer = SGD([w], lr=0.1, momentum=0.9)
    buffer = np.ones((3, 2), dtype=np.float64)
    optimizer.load_state_dict({"state": {0: {"momentum_buffer": buffer}},
                               "param_groups": [{**SGD([w], lr=0.3).state_dict()["param_groups"][0]}]})
    loaded = optimizer.state[w]["momentum_buffer"]
    assert loaded.dtype == np.float32 and loaded is not buffer
    assert optimizer.param_groups[0]["lr"] == 0.3


def test_load_state_dict_validates_group_sizes():
    w, b = make_params()
    saved = SGD([w, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        SGD([w], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        SGD([{"params": [w]}, {"params": [b]}], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        SGD([w], lr=0.1).load_state_dict({"params": []})


def test_repr_lists_groups_and_options():
    w, b = make_params()
    text = repr(SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (")
    assert "Parameter Group 0" in text and "Parameter Group 1" in text
    assert "    lr: 0.1" in text and "    lr: 0.5" in text and "    momentum: 0.9" in text
