"""Learning-rate schedulers: lr sequences against hand-computed and closed-form values."""
from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.optim import SGD, Adam, RMSprop
from ember.optim.lr_scheduler import (
    CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler, MultiStepLR, OneCycleLR, ReduceLROnPlateau, StepLR,
)


def make_optimizer(lrs=(1.0,), optimizer_class=SGD, **options):
    groups = [{"params": [ember.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return optimizer_class(groups, **options)


def lr_sequence(scheduler, steps):
    """The lr of every group at epochs 0..steps-1 (construction applies epoch 0)."""
    sequence = [scheduler.get_last_lr()]
    for _ in range(steps - 1):
        scheduler.optimizer.step()
        scheduler.step()
        sequence.append(scheduler.get_last_lr())
    return sequence


def test_schedulers_are_importable_from_ember_optim():
    assert ember.optim.lr_scheduler.StepLR is StepLR
    assert issubclass(ReduceLROnPlateau, LRScheduler)


def test_a_custom_scheduler_subclasses_the_base():
    class Halving(ember.optim.lr_scheduler._LRScheduler):
        def get_lr(self):
            return [base_lr * 0.5 ** self.last_epoch for base_lr in self.base_lrs]

    scheduler = Halving(make_optimizer((0.8,)))
    assert [lrs[0] for lrs in lr_sequence(scheduler, 4)] == pytest.approx([0.8, 0.4, 0.2, 0.1])


def test_construction_records_initial_lr_and_applies_epoch_zero():
    optimizer = make_optimizer((0.5, 0.05))
    scheduler = StepLR(optimizer, step_size=3)
    assert [group["initial_lr"] for group in optimizer.param_groups] == [0.5, 0.05]
    assert scheduler.base_lrs == [0.5, 0.05]
    assert scheduler.last_epoch == 0
    assert scheduler.get_last_lr() == [0.5, 0.05]


def test_step_lr_halves_every_two_epochs():
    scheduler = StepLR(make_optimizer(), step_size=2, gamma=0.5)
    expected = [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625, 0.0625]
    assert [lrs[0] for lrs in lr_sequence(scheduler, 10)] == pytest.approx(expected, rel=1e-12)


def test_step_lr_with_two_groups_keeps_their_own_lrs():
    optimizer = make_optimizer((1.0, 0.1))
    sequence = lr_sequence(StepLR(optimizer, step_size=3, gamma=0.1), 7)
    assert sequence[2] == pytest.approx([1.0, 0.1])
    assert sequence[3] == pytest.approx([0.1, 0.01])
    assert sequence[6] == pytest.approx([0.01, 0.001])
    assert [group["lr"] for group in optimizer.param_groups] == sequence[-1]


def test_step_lr_value_is_used_by_the_optimizer():
    w = ember.tensor(np.array([1.0], dtype=np.float32), requires_grad=True)
    optimizer = SGD([w], lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    for expected in (0.0, -0.5, -0.75):  # lr 1, 0.5, 0.25 with gradient 1
        w.grad = ember.ones(1)
        optimizer.step()
        scheduler.step()
        assert w.array[0] == pytest.approx(expected)


def test_multistep_lr_applies_repeated_milestones_twice():
    scheduler = MultiStepLR(make_optimizer(), milestones=[5, 2, 5], gamma=0.1)
    expected = [1, 1, 0.1, 0.1, 0.1, 0.001, 0.001, 0.001]
    assert [lrs[0] for lrs in lr_sequence(scheduler, 8)] == pytest.approx(expected, rel=1e-12)


def test_exponential_lr_matches_closed_form():
    scheduler = ExponentialLR(make_optimizer((2.0, 0.5)), gamma=0.9)
    for epoch, lrs in enumerate(lr_sequence(scheduler, 20)):
        assert lrs == pytest.approx([2.0 * 0.9 ** epoch, 0.5 * 0.9 ** epoch], rel=1e-12)


def test_cosine_annealing_matches_closed_form_over_two_periods():
    base, eta_min, t_max = 0.1, 0.001, 10
    scheduler = CosineAnnealingLR(make_optimizer((base,)), T_max=t_max, eta_min=eta_min)
    sequence = [lrs[0] for lrs in lr_sequence(scheduler, 30)]
    for epoch, lr in enumerate(sequence):
        expected = eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2
        assert lr == pytest.approx(expected, rel=1e-12)
    assert sequence[0] == pytest.approx(base)
    assert sequence[5] == pytest.approx((base + eta_min) / 2)
    assert sequence[10] == pytest.approx(eta_min)
    assert sequence[20] == pytest.approx(base)
    assert all(a > b for a, b in zip(sequence[:10], sequence[1:11]))


def test_lambda_lr_with_one_function_per_group():
    optimizer = make_optimizer((1.0, 2.0))
    scheduler = LambdaLR(optimizer, [lambda epoch: 0.5 ** epoch, lambda epoch: 1.0 / (epoch + 1)])
    for epoch, lrs in enumerate(lr_sequence(scheduler, 6)):
        assert lrs == pytest.approx([0.5 ** epoch, 2.0 / (epoch + 1)])
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        LambdaLR(optimizer, [lambda epoch: 1.0])


def test_lambda_lr_state_dict_saves_callable_objects_not_functions():
    class Warmup:
        def __init__(self, length):
            self.length = length

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.length)

    optimizer = make_optimizer((1.0, 1.0))
    scheduler = LambdaLR(optimizer, [Warmup(4), lambda epoch: 1.0])
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"length": 4}, None]
    assert "optimizer" not in state

    other_warmup = Warmup(100)
    restored = LambdaLR(make_optimizer((1.0, 1.0)), [other_warmup, lambda epoch: 1.0])
    restored.load_state_dict(state)
    assert other_warmup.length == 4


def test_step_with_epoch_warns_and_uses_the_closed_form():
    scheduler = StepLR(make_optimizer(), step_size=2, gamma=0.5)
    with pytest.warns(UserWarning, match="deprecated"):
        scheduler.step(5)
    assert scheduler.last_epoch == 5
    assert scheduler.get_last_lr() == [pytest.approx(0.25)]


def test_resuming_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(make_optimizer(), step_size=2, last_epoch=4)


def test_scheduler_rejects_a_non_optimizer():
    with pytest.raises(TypeError, match="StepLR: expected an ember.optim.Optimizer"):
        StepLR([ember.zeros(1)], step_size=1)


@pytest.mark.parametrize(
    "make_scheduler",
    [
        lambda optimizer: StepLR(optimizer, step_size=3, gamma=0.5),
        lambda optimizer: MultiStepLR(optimizer, milestones=[2, 6], gamma=0.3),
        lambda optimizer: CosineAnnealingLR(optimizer, T_max=7, eta_min=0.01),
        lambda optimizer: OneCycleLR(optimizer, max_lr=[1.0, 0.5], total_steps=20),
    ],
    ids=["StepLR", "MultiStepLR", "CosineAnnealingLR", "OneCycleLR"],
)
def test_scheduler_state_dict_round_trip(make_scheduler):
    optimizer = make_optimizer((1.0, 0.1), momentum=0.9)
    scheduler = make_scheduler(optimizer)
    lr_sequence(scheduler, 5)
    optimizer_state, scheduler_state = optimizer.state_dict(), scheduler.state_dict()
    assert "optimizer" not in scheduler_state

    restored_optimizer = make_optimizer((1.0, 0.1), momentum=0.9)
    restored = make_scheduler(restored_optimizer)
    restored_optimizer.load_state_dict(optimizer_state)
    restored.load_state_dict(scheduler_state)
    assert restored.last_epoch == scheduler.last_epoch == 4
    assert lr_sequence(restored, 8) == lr_sequence(scheduler, 8)
    assert restored_optimizer.param_groups[0]["momentum"] == optimizer.param_groups[0]["momentum"]


# ------------------------------------------------------------------------------------ ReduceLROnPlateau
def plateau_lrs(scheduler, metrics):
    lrs = []
    for metric in metrics:
        scheduler.step(metric)
        lrs.append(scheduler.get_last_lr()[0])
    return lrs


def test_reduce_on_plateau_with_patience_and_cooldown():
    scheduler = ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=2, threshold=0.0, cooldown=1)
    metrics = [10, 9, 9, 9, 9, 9, 9, 8, 8, 8, 8]
    # epoch 5: third bad epoch > patience -> 0.5; epoch 6 is cooldown; improvement at 8; 3 bad epochs -> 0.25
    expected = [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]
    assert plateau_lrs(scheduler, metrics) == pytest.approx(expected)
    assert scheduler.best == 8 and scheduler.last_epoch == 11


def test_reduce_on_plateau_cooldown_delays_the_next_reduction():
    no_cooldown = ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=1, cooldown=0)
    with_cooldown = ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=1, cooldown=2)
    metrics = [1.0] + [2.0] * 8
    assert plateau_lrs(no_cooldown, metrics) == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625])
    assert plateau_lrs(with_cooldown, metrics) == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25])


def test_reduce_on_plateau_max_mode_with_absolute_threshold():
    scheduler = ReduceLROnPlateau(make_optimizer(), mode="max", factor=0.5, patience=1, threshold=0.1,
                                  threshold_mode="abs")
    # 1.05 and 1.35/1.38 improve by less than 0.1: bad epochs
    assert plateau_lrs(scheduler, [1.0, 1.05, 1.3, 1.35, 1.38]) == pytest.approx([1, 1, 1, 1, 0.5])


def test_reduce_on_plateau_relative_threshold():
    scheduler = ReduceLROnPlateau(make_optimizer(), factor=0.1, patience=0, threshold=0.1)
    # 9.5 is not below 10 * (1 - 0.1): no improvement, patience 0 -> reduce at once
    assert plateau_lrs(scheduler, [10.0, 9.5]) == pytest.approx([1.0, 0.1])


def test_reduce_on_plateau_respects_min_lr_per_group_and_accepts_tensors():
    optimizer = make_optimizer((1.0, 1.0))
    scheduler = ReduceLROnPlateau(optimizer, factor=0.1, patience=0, min_lr=[0.5, 0.0])
    for metric in (3.0, 3.0, 3.0):
        scheduler.step(ember.tensor(metric))
    assert scheduler.get_last_lr() == pytest.approx([0.5, 0.01])


def test_reduce_on_plateau_skips_reductions_smaller_than_eps():
    optimizer = make_optimizer((1e-9, 1.0))
    scheduler = ReduceLROnPlateau(optimizer, factor=0.5, patience=0, eps=1e-8)
    plateau_lrs(scheduler, [1.0, 1.0])
    assert scheduler.get_last_lr() == [1e-9, 0.5]


def test_reduce_on_plateau_state_dict_round_trip():
    scheduler = ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=1)
    plateau_lrs(scheduler, [5.0, 6.0])
    state = scheduler.state_dict()
    restored = ReduceLROnPlateau(make_optimizer(), factor=0.5, patience=1)
    restored.load_state_dict(state)
    assert restored.best == 5.0 and restored.num_bad_epochs == 1
    restored.step(6.0)
    assert restored.get_last_lr() == [0.5]


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(factor=1.0), "Factor should be < 1.0"),
        (dict(mode="lowest"), "mode 'lowest' is unknown"),
        (dict(threshold_mode="relative"), "threshold mode 'relative' is unknown"),
        (dict(min_lr=[0.1, 0.2]), "expected 1 values for min_lr"),
    ],
)
def test_reduce_on_plateau_validates_options(options, message):
    with pytest.raises(ValueError, match=message):
        ReduceLROnPlateau(make_optimizer(), **options)


# -------------------------------------------------------------------------------------------- OneCycleLR
def one_cycle_reference(step, total=100, max_lr=1.0, pct_start=0.3, linear=False):
    """Two-phase 1cycle lr and momentum at ``step``, written from the policy's description."""
    initial, minimum = max_lr / 25.0, max_lr / 25.0 / 1e4
    peak = pct_start * total - 1

    def anneal(start, end, fraction):
        if linear:
            return start + (end - start) * fraction
        return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2

    if step <= peak:
        fraction = step / peak
        return anneal(initial, max_lr, fraction), anneal(0.95, 0.85, fraction)
    fraction = (step - peak) / (total - 1 - peak)
    return anneal(max_lr, minimum, fraction), anneal(0.85, 0.95, fraction)


@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
def test_one_cycle_lr_and_momentum_follow_the_policy(anneal_strategy):
    optimizer = make_optimizer(momentum=0.9)
    scheduler = OneCycleLR(optimizer, max_lr=1.0, total_steps=100, anneal_strategy=anneal_strategy)
    for step in range(100):
        if step:
            optimizer.step()
            scheduler.step()
        lr, momentum = one_cycle_reference(step, linear=anneal_strategy == "linear")
        assert scheduler.get_last_lr()[0] == pytest.approx(lr, rel=1e-9, abs=1e-15)
        assert optimizer.param_groups[0]["momentum"] == pytest.approx(momentum, rel=1e-9)
        if step == 0:
            assert lr == pytest.approx(1.0 / 25)
        if step == 29:
            assert lr == pytest.approx(1.0) and momentum == pytest.approx(0.85)
        if step == 99:
            assert lr == pytest.approx(1.0 / (25 * 1e4)) and momentum == pytest.approx(0.95)


def test_one_cycle_cycles_adam_beta1_and_keeps_beta2():
    optimizer = make_optimizer(optimizer_class=Adam, betas=(0.9, 0.98))
    scheduler = OneCycleLR(optimizer, max_lr=0.01, epochs=4, steps_per_epoch=5)
    assert scheduler.total_steps == 20
    assert optimizer.param_groups[0]["betas"] == (pytest.approx(0.95), 0.98)
    for _ in range(5):  # peak at step pct_start * 20 - 1 = 5
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["betas"] == (pytest.approx(0.85), 0.98)
    assert scheduler.get_last_lr() == [pytest.approx(0.01)]


def test_one_cycle_three_phase():
    optimizer = make_optimizer(momentum=0.9)
    scheduler = OneCycleLR(optimizer, max_lr=1.0, total_steps=100, three_phase=True, anneal_strategy="linear")
    sequence = [lrs[0] for lrs in lr_sequence(scheduler, 100)]
    assert sequence[0] == pytest.approx(0.04)
    assert sequence[29] == pytest.approx(1.0)
    assert sequence[58] == pytest.approx(0.04)
    assert sequence[99] == pytest.approx(4e-6)
    assert sequence[40] == pytest.approx(1.0 + (0.04 - 1.0) * (40 - 29) / 29)
    assert sequence[80] == pytest.approx(0.04 + (4e-6 - 0.04) * (80 - 58) / 41)
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.95)


def test_one_cycle_per_group_max_lr_and_overrun():
    optimizer = make_optimizer((0.1, 0.1), momentum=0.9)
    scheduler = OneCycleLR(optimizer, max_lr=[1.0, 0.1], total_steps=10)
    assert scheduler.get_last_lr() == pytest.approx([0.04, 0.004])
    for _ in range(10):
        scheduler.step()
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of total steps is 10"):
        scheduler.step()


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(max_lr=1.0), ValueError, "either total_steps OR"),
        (dict(max_lr=1.0, total_steps=0), ValueError, "Expected positive integer total_steps"),
        (dict(max_lr=1.0, epochs=2, steps_per_epoch=-1), ValueError, "Expected positive integer steps_per_epoch"),
        (dict(max_lr=1.0, total_steps=10, pct_start=1.5), ValueError, "pct_start"),
        (dict(max_lr=1.0, total_steps=10, anneal_strategy="exp"), ValueError, "anneal_strategy"),
        (dict(max_lr=[1.0, 2.0], total_steps=10), ValueError, "expected 1 values for max_lr"),
        (dict(max_lr=1.0, total_steps=10, pct_start=0.1), ValueError, "zero length"),
    ],
)
def test_one_cycle_validates_options(options, error, message):
    with pytest.raises(error, match=message):
        OneCycleLR(make_optimizer(momentum=0.9), **options)


def test_one_cycle_needs_momentum_unless_disabled():
    class Plain(ember.optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

    optimizer = Plain([ember.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        OneCycleLR(optimizer, max_lr=1.0, total_steps=10)
    scheduler = OneCycleLR(optimizer, max_lr=1.0, total_steps=10, cycle_momentum=False)
    assert scheduler.get_last_lr() == [pytest.approx(0.04)]


def test_one_cycle_works_with_rmsprop_momentum():
    optimizer = make_optimizer(optimizer_class=RMSprop, momentum=0.5)
    OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.95)
