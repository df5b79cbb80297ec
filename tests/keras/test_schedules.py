"""keras.optimizers.schedules against Keras 3.15's values (fixtures/keras_attention.npz, written by
fixtures/make_keras_attention_fixtures.py), and optimizers driven by a schedule through compile/fit."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import keras
from ember.keras.optimizers import schedules

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "keras_attention.npz")
META = json.loads(str(FIXTURES["meta"]))


@pytest.mark.parametrize("name", sorted(META["schedules"]))
def test_values_match_keras_at_every_step(name):
    entry = META["schedules"][name]
    schedule = getattr(keras.optimizers.schedules, entry["class_name"])(**entry["config"])
    values = [schedule(int(step)) for step in FIXTURES["schedule/steps"]]
    # Keras computes in float32: compare at float32 precision
    np.testing.assert_allclose(values, FIXTURES[f"schedule/{name}/values"], rtol=2e-6, atol=1e-8)
    assert schedule.get_config() == entry["keras_config"]
    clone = schedules.deserialize(schedules.serialize(schedule))
    assert type(clone) is type(schedule) and clone(17) == schedule(17)


def _regression_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.set_weights([FIXTURES["train/kernel0"], FIXTURES["train/bias0"]])
    return model


def test_fit_with_a_schedule_and_momentum_matches_keras():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.5)
    model = _regression_model()
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(FIXTURES["train/x"], FIXTURES["train/y"], batch_size=4, epochs=3, shuffle=False, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, FIXTURES["train/kernel"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, FIXTURES["train/bias"], rtol=1e-5, atol=1e-6)
    assert optimizer.iterations == int(FIXTURES["train/iterations"])
    assert optimizer.learning_rate == pytest.approx(float(FIXTURES["train/learning_rate"]), rel=1e-6)


@pytest.mark.parametrize("name", sorted(META["training_runs"]))
def test_fit_with_other_optimizers_on_schedules_matches_keras(name):
    run = META["training_runs"][name]
    schedule = getattr(keras.optimizers.schedules, run["schedule"])(**run["schedule_args"])
    model = _regression_model()
    model.compile(optimizer=getattr(keras.optimizers, run["optimizer"])(schedule, **run["optimizer_args"]),
                  loss="mse")
    model.fit(FIXTURES["train/x"], FIXTURES["train/y"], batch_size=4, epochs=3, shuffle=False, verbose=0)
    kernel, bias = model.get_weights()
    # the nesterov run ends at a learning rate of 0, where Keras's momentum still moves the weights
    np.testing.assert_allclose(kernel, FIXTURES[f"train/{name}/kernel"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bias, FIXTURES[f"train/{name}/bias"], rtol=1e-5, atol=1e-5)


def test_learning_rate_reads_the_schedule_at_the_current_step():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([2, 4], [0.5, 0.25, 0.125])
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    weight = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    optimizer.build([weight])
    seen = []
    for _ in range(6):
        seen.append(optimizer.learning_rate)
        assert optimizer.inner.param_groups[0]["lr"] in (seen[-1], seen[max(len(seen) - 2, 0)])
        optimizer.zero_grad()
        (weight * weight).sum().backward()
        optimizer.step()
        assert optimizer.inner.param_groups[0]["lr"] == seen[-1]  # the update used the step's value
    assert seen == [0.5, 0.5, 0.5, 0.25, 0.25, 0.125]
    with pytest.raises(TypeError, match="not settable"):
        optimizer.learning_rate = 0.1


def test_history_logs_the_scheduled_rate_with_a_callback_reading_it():
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.05, decay_steps=1, decay_rate=1.0)
    model = _regression_model()
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    rates = []
    reader = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: rates.append(model.optimizer.learning_rate))
    model.fit(FIXTURES["train/x"], FIXTURES["train/y"], batch_size=8, epochs=3, verbose=0, callbacks=[reader])
    assert rates == pytest.approx([0.05 / 3, 0.05 / 5, 0.05 / 7])


def test_callable_learning_rate_and_a_schedule_set_later():
    optimizer = keras.optimizers.SGD(learning_rate=lambda: 0.3)
    assert optimizer.learning_rate == pytest.approx(0.3)
    optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(0.2, decay_steps=10)
    assert optimizer.learning_rate == pytest.approx(0.2)


def test_schedule_survives_save_and_load(tmp_path):
    schedule = keras.optimizers.schedules.CosineDecayRestarts(0.1, first_decay_steps=2)
    model = _regression_model()
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), loss="mse")
    model.fit(FIXTURES["train/x"], FIXTURES["train/y"], batch_size=4, epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.optimizer._learning_rate, schedules.CosineDecayRestarts)
    assert restored.optimizer.iterations == 4
    assert restored.optimizer.learning_rate == pytest.approx(schedule(4))
    for trained in (model, restored):
        trained.fit(FIXTURES["train/x"], FIXTURES["train/y"], batch_size=4, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(restored.get_weights()[0], model.get_weights()[0], rtol=1e-6)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"ExponentialDecay: decay_steps must be > 0.*decay_steps=0"):
        keras.optimizers.schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="one entry fewer than values"):
        keras.optimizers.schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="strictly increasing"):
        keras.optimizers.schedules.PiecewiseConstantDecay([3, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="unknown learning rate schedule 'Nope'"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(TypeError, match="learning_rate must be a float"):
        keras.optimizers.Adam(learning_rate="fast")
    with pytest.raises(NotImplementedError, match="must override"):
        keras.optimizers.schedules.LearningRateSchedule()(3)


def test_custom_schedule_subclass():
    class Halving(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 1.0 / 2 ** step

    optimizer = keras.optimizers.SGD(learning_rate=Halving())
    weight = ember.tensor(np.zeros(1, np.float32), requires_grad=True)
    optimizer.build([weight])
    for _ in range(3):
        optimizer.zero_grad()
        (weight * -1.0).sum().backward()
        optimizer.step()
    np.testing.assert_allclose(weight.numpy(), [1.75])
