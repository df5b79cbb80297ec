"""keras.distribution.DataParallel: fit on N ranks gives one process's weights and logs; rank 0 alone writes."""
import numpy as np
import pytest

import ember
from ember import keras


def make_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    generator = np.random.default_rng(4)
    return generator.standard_normal((32, 6)).astype(np.float32), generator.integers(0, 3, 32)


def test_fit_on_ranks_matches_one_process(world, data, tmp_path):
    rank, _size = world
    x, y = data
    single = make_model()
    single_history = single.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    try:
        if rank != 0:
            ember.manual_seed(100 + rank)  # a different initialisation: fit must start from rank 0's weights
        model = make_model() if rank == 0 else _reinitialised(make_model())
        log = tmp_path / f"log{rank}.csv"
        # shuffled batches: fit must give every rank rank 0's random state (rank 1 was reseeded above)
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0,
                            callbacks=[keras.callbacks.CSVLogger(str(log))])
        evaluated = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    finally:
        keras.distribution.set_distribution(None)
    for got, expected in zip(model.get_weights(), single.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(history.history["loss"], single_history.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(history.history["accuracy"], single_history.history["accuracy"], rtol=1e-6)
    expected = single.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(evaluated["loss"], expected["loss"], rtol=1e-5)
    assert log.exists() == (rank == 0)


def _reinitialised(model):
    model.set_weights([np.random.default_rng(9).standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def test_set_distribution_rejects_other_objects():
    with pytest.raises(TypeError, match=r"expected a keras\.distribution\.DataParallel"):
        keras.distribution.set_distribution("data_parallel")


def test_shard_splits_rows_of_nested_inputs(world):
    rank, size = world
    parallel = keras.distribution.DataParallel()
    x = np.arange(8 * 2).reshape(8, 2)
    sharded = parallel.shard({"a": x, "b": [x, None]})
    rows = slice(8 * rank // size, 8 * (rank + 1) // size)
    np.testing.assert_array_equal(sharded["a"], x[rows])
    np.testing.assert_array_equal(sharded["b"][0], x[rows])
    assert sharded["b"][1] is None


def test_list_devices_names_one_device_per_rank(world):
    _rank, size = world
    devices = keras.distribution.list_devices()
    assert devices == [f"cpu:{r}" for r in range(size)]
    assert keras.distribution.DataParallel(devices=devices).world_size == size
    with pytest.raises(ValueError, match=f"one device per rank: received {size + 1} devices for {size} ranks"):
        keras.distribution.DataParallel(devices=devices + ["cpu:99"])
