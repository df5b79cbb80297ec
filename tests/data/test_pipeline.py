"""The tf.data dialect: sources, transformations, shuffling, caching, prefetching and cardinality."""
from __future__ import annotations

import gc
import threading
import time
import warnings

import numpy as np
import pytest

import ember
from ember.data import experimental
from ember.data.pipeline import (
    AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Pipeline, PipelineMethods,
)


def values(dataset) -> list:
    return [int(element) for element in dataset]


# ------------------------------------------------------------------------------------------- sources
def test_from_tensor_slices_array_keeps_rows_and_dtype():
    images = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    elements = list(Pipeline.from_tensor_slices(images))
    assert len(elements) == 4
    for row, element in zip(images, elements):
        assert element.dtype == np.float32 and element.shape == (2, 3)
        np.testing.assert_array_equal(element, row)


def test_from_tensor_slices_tuple_dict_and_nested():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    y = np.array([7, 8, 9], dtype=np.int64)
    pairs = list(Pipeline.from_tensor_slices((x, y)))
    assert [type(pair) for pair in pairs] == [tuple] * 3
    assert [int(label) for _, label in pairs] == [7, 8, 9]
    np.testing.assert_array_equal(pairs[2][0], [4.0, 5.0])

    records = list(Pipeline.from_tensor_slices({"image": x, "label": y}))
    assert set(records[1]) == {"image", "label"} and int(records[1]["label"]) == 8
    np.testing.assert_array_equal(records[1]["image"], [2.0, 3.0])

    nested = list(Pipeline.from_tensor_slices(({"a": x}, (y, y * 2))))
    first = nested[0]
    np.testing.assert_array_equal(first[0]["a"], [0.0, 1.0])
    assert int(first[1][0]) == 7 and int(first[1][1]) == 14


def test_from_tensor_slices_converts_tensors_and_lists():
    tensor = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(Pipeline.from_tensor_slices(tensor))
    assert isinstance(rows[0], np.ndarray) and rows[0].dtype == np.float32
    np.testing.assert_array_equal(rows[1], [3.0, 4.0])
    floats = list(Pipeline.from_tensor_slices([0.5, 1.5]))
    assert [element.dtype for element in floats] == [np.float32, np.float32] and float(floats[1]) == 1.5
    ints = list(Pipeline.from_tensor_slices([3, 4]))
    assert ints[0].dtype == np.int64 and values(ints) == [3, 4]


def test_from_tensor_slices_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"from_tensor_slices.*first dimension.*\(4, 3\).*\(5,\)"):
        Pipeline.from_tensor_slices((np.zeros((4, 3), np.float32), np.zeros(5, np.int64)))
    with pytest.raises(ValueError, match="scalar"):
        Pipeline.from_tensor_slices(np.float32(3.0))
    with pytest.raises(TypeError, match="from_tensor_slices.*set"):
        Pipeline.from_tensor_slices({1, 2})


def test_slices_are_read_only_views_of_the_source():
    source = np.zeros((3, 2), np.float32)
    element = next(iter(Pipeline.from_tensor_slices(source)))
    with pytest.raises(ValueError, match="read-only"):
        element += 1
    assert source.flags.writeable  # the caller's own array stays writable


def test_from_tensors_range_and_from_generator():
    single = list(Pipeline.from_tensors((np.ones(3, np.float32), 5)))
    assert len(single) == 1 and single[0][1].dtype == np.int64
    assert values(Pipeline.range(5)) == [0, 1, 2, 3, 4]
    assert values(Pipeline.range(2, 9, 3)) == [2, 5, 8]
    assert next(iter(Pipeline.range(3))).dtype == np.int64
    assert next(iter(Pipeline.range(3, output_type=np.float32))).dtype == np.float32
    assert Pipeline.range(2, 9, 3).cardinality() == 3

    def squares(count):
        for index in range(count):
            yield index, [float(index)] * 2

    generated = Pipeline.from_generator(squares, args=(3,))
    for _ in range(2):  # the generator is called again on each pass
        elements = list(generated)
        assert [int(index) for index, _ in elements] == [0, 1, 2]
        assert elements[2][1].dtype == np.float32
        np.testing.assert_array_equal(elements[2][1], [2.0, 2.0])
    assert generated.cardinality() == UNKNOWN_CARDINALITY

    typed = Pipeline.from_generator(squares, output_types=(np.int32, np.float16), output_shapes=((), (None,)),
                                    args=(2,))
    index, vector = list(typed)[1]
    assert index.dtype == np.int32 and vector.dtype == np.float16 and vector.shape == (2,)
    wrong = Pipeline.from_generator(squares, output_types=(np.int32, np.float32), output_shapes=((), (3,)),
                                    args=(1,))
    with pytest.raises(ValueError, match=r"from_generator.*\(3,\).*\(2,\)"):
        list(wrong)


# --------------------------------------------------------------------------------------------- map
def test_map_unpacks_tuples_and_passes_dicts_whole():
    x = np.arange(4, dtype=np.float32)
    y = np.arange(4, dtype=np.int64)
    mapped = list(Pipeline.from_tensor_slices((x, y)).map(lambda feature, label: (feature * 2, label + 1)))
    assert [float(feature) for feature, _ in mapped] == [0.0, 2.0, 4.0, 6.0]
    assert [int(label) for _, label in mapped] == [1, 2, 3, 4]
    assert mapped[0][0].dtype == np.float32

    summed = list(Pipeline.from_tensor_slices({"a": x, "b": x}).map(lambda record: record["a"] + record["b"]))
    assert [float(value) for value in summed] == [0.0, 2.0, 4.0, 6.0]


def test_map_outputs_become_numpy():
    listed = list(Pipeline.range(2).map(lambda index: [index, index * 2]))
    assert listed[1] == (1, 2) and type(listed[1]) is tuple  # a list is read as a tuple, as tf.data does
    python = list(Pipeline.range(2).map(lambda index: float(index) / 2))
    assert python[1] == 0.5 and python[1].dtype == np.float32
    tensors = list(Pipeline.range(2).map(lambda index: ember.tensor([float(index)])))
    assert isinstance(tensors[1], np.ndarray) and tensors[1].dtype == np.float32


@pytest.mark.parametrize("num_parallel_calls", [4, AUTOTUNE])
def test_parallel_map_keeps_order(num_parallel_calls):
    thread_names = set()

    def slow_early(index):
        thread_names.add(threading.current_thread().name)
        time.sleep(0.003 if index < 20 else 0.0)  # the first elements finish last
        return index * 10

    dataset = Pipeline.range(100).map(slow_early, num_parallel_calls=num_parallel_calls)
    assert values(dataset) == [index * 10 for index in range(100)]
    assert values(dataset) == [index * 10 for index in range(100)]
    assert thread_names and all(name.startswith("ember-data-map") for name in thread_names)


def test_parallel_map_raises_the_function_error():
    def fail_at_seven(index):
        if index == 7:
            raise KeyError("bad record 7")
        return index

    with pytest.raises(KeyError, match="bad record 7"):
        list(Pipeline.range(50).map(fail_at_seven, num_parallel_calls=3))


def test_map_validates_arguments():
    with pytest.raises(TypeError, match="map.*callable"):
        Pipeline.range(3).map(5)
    with pytest.raises(ValueError, match="num_parallel_calls.*0"):
        Pipeline.range(3).map(abs, num_parallel_calls=0)


def test_filter():
    kept = Pipeline.range(10).filter(lambda value: value % 3 == 0)
    assert values(kept) == [0, 3, 6, 9]
    assert kept.cardinality() == UNKNOWN_CARDINALITY
    pairs = Pipeline.from_tensor_slices((np.arange(4), np.arange(4) * 2)).filter(lambda a, b: b > 2)
    assert [int(a) for a, _ in pairs] == [2, 3]
    with pytest.raises(TypeError, match="filter.*scalar boolean.*\\(2,\\)"):
        list(Pipeline.range(3).filter(lambda value: np.array([True, False])))


# ------------------------------------------------------------------------------------------- cache
def test_cache_fills_once():
    calls = []

    def record(value):
        calls.append(int(value))
        return value * 2

    cached = Pipeline.range(5).map(record).cache()
    assert values(cached) == [0, 2, 4, 6, 8]
    assert values(cached) == [0, 2, 4, 6, 8]
    assert calls == [0, 1, 2, 3, 4]


def test_cache_filename_warns_that_it_has_no_effect(tmp_path):
    with pytest.warns(UserWarning, match=r"cache\(\): filename='.*cache' has no effect in Ember"):
        cached = Pipeline.range(3).cache(str(tmp_path / "cache"))
    assert values(cached) == [0, 1, 2] and not (tmp_path / "cache").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Pipeline.range(3).cache("")
    with pytest.raises(TypeError, match="filename must be a string"):
        Pipeline.range(3).cache(3)


def test_interrupted_first_pass_is_not_cached():
    calls = []

    def record(value):
        calls.append(int(value))
        return value

    cached = Pipeline.range(5).map(record).cache()
    assert values(cached.take(2)) == [0, 1]
    assert values(cached) == [0, 1, 2, 3, 4]  # a full pass, not the two elements seen so far
    assert values(cached) == [0, 1, 2, 3, 4]
    assert calls == [0, 1, 0, 1, 2, 3, 4]


def test_cached_arrays_are_read_only():
    cached = Pipeline.range(2).map(lambda value: np.full(3, value, np.float32)).cache()
    list(cached)
    element = next(iter(cached))
    with pytest.raises(ValueError, match="read-only"):
        element *= 2
    np.testing.assert_array_equal(next(iter(cached)), [0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------------------- shuffle
def test_shuffle_is_a_permutation_that_changes_each_pass():
    shuffled = Pipeline.range(100).shuffle(100)
    first, second = values(shuffled), values(shuffled)
    assert sorted(first) == list(range(100)) and sorted(second) == list(range(100))
    assert first != list(range(100)) and first != second


def test_shuffle_without_reshuffle_repeats_its_order():
    shuffled = Pipeline.range(50).shuffle(20, reshuffle_each_iteration=False)
    first = values(shuffled)
    assert first == values(shuffled) and sorted(first) == list(range(50)) and first != list(range(50))
    repeated = values(shuffled.repeat(2))
    assert repeated[:50] == repeated[50:] == first


def test_shuffle_is_reproducible_with_manual_seed_and_seed():
    ember.manual_seed(3)
    first = values(Pipeline.range(60).shuffle(60))
    ember.manual_seed(3)
    assert values(Pipeline.range(60).shuffle(60)) == first
    ember.manual_seed(4)
    assert values(Pipeline.range(60).shuffle(60)) != first

    one, two = Pipeline.range(60).shuffle(60, seed=11), Pipeline.range(60).shuffle(60, seed=11)
    one_passes, two_passes = [values(one), values(one)], [values(two), values(two)]
    assert one_passes == two_passes and one_passes[0] != one_passes[1]


def test_shuffle_buffer_bounds_how_far_elements_move():
    assert values(Pipeline.range(30).shuffle(1)) == list(range(30))
    buffer_size = 4
    order = values(Pipeline.range(200).shuffle(buffer_size))
    assert sorted(order) == list(range(200))
    # at output position i the buffer holds only inputs 0 .. i + buffer_size - 1
    assert all(value <= position + buffer_size - 1 for position, value in enumerate(order))
    assert order != list(range(200))


def test_shuffle_picks_uniformly():
    first_counts = np.zeros(4, np.int64)
    for seed in range(2000):
        first_counts[values(Pipeline.range(4).shuffle(4, seed=seed))[0]] += 1
    assert first_counts.min() > 420 and first_counts.max() < 580  # 500 expected, sd ~19


def test_shuffle_validates_buffer_size():
    with pytest.raises(ValueError, match=r"shuffle\(\): buffer_size.*>= 1.*0"):
        Pipeline.range(3).shuffle(0)


# -------------------------------------------------------------------------- repeat, take, skip, batch
def test_repeat_take_skip():
    assert values(Pipeline.range(3).repeat(2)) == [0, 1, 2, 0, 1, 2]
    assert values(Pipeline.range(3).repeat().take(7)) == [0, 1, 2, 0, 1, 2, 0]
    assert values(Pipeline.range(3).repeat(-1).take(4)) == [0, 1, 2, 0]
    assert values(Pipeline.range(3).repeat(0)) == []
    assert values(Pipeline.range(0).repeat()) == []  # finishes instead of looping forever
    assert values(Pipeline.range(5).take(-1)) == [0, 1, 2, 3, 4]
    assert values(Pipeline.range(5).skip(2)) == [2, 3, 4]
    assert values(Pipeline.range(5).skip(-1)) == []
    assert values(Pipeline.range(5).skip(1).take(2)) == [1, 2]
    with pytest.raises(ValueError, match=r"take\(\): count"):
        Pipeline.range(3).take(-2)


def test_batch_shapes_dtypes_and_last_partial_batch():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10, dtype=np.int64)
    batches = list(Pipeline.from_tensor_slices((x, y)).batch(4))
    assert [features.shape for features, _ in batches] == [(4, 3), (4, 3), (2, 3)]
    assert [labels.shape for _, labels in batches] == [(4,), (4,), (2,)]
    assert all(features.dtype == np.float32 and labels.dtype == np.int64 for features, labels in batches)
    np.testing.assert_array_equal(batches[2][0], x[8:])
    np.testing.assert_array_equal(batches[1][1], y[4:8])

    dropped = list(Pipeline.from_tensor_slices((x, y)).batch(4, drop_remainder=True))
    assert len(dropped) == 2 and dropped[-1][0].shape == (4, 3)

    scalars = list(Pipeline.range(5).batch(5))
    assert len(scalars) == 1 and scalars[0].dtype == np.int64
    np.testing.assert_array_equal(scalars[0], np.arange(5))


def test_batch_of_dicts_and_bytes():
    records = Pipeline.from_tensor_slices({"x": np.ones((3, 2), np.float32), "id": [b"a\x00", b"bc", b"d"]})
    batch = next(iter(records.batch(2)))
    assert batch["x"].shape == (2, 2) and batch["x"].dtype == np.float32
    assert batch["id"].dtype == object and list(batch["id"]) == [b"a\x00", b"bc"]  # trailing NUL kept


def test_batch_errors_name_shapes_and_dtypes():
    ragged = Pipeline.range(3).map(lambda value: np.zeros(int(value) + 1, np.float32))
    with pytest.raises(ValueError, match=r"batch\(\).*one shape.*\(1,\).*\(2,\)"):
        list(ragged.batch(3))
    mixed = Pipeline.range(2).map(lambda value: np.zeros(2, np.float32 if value == 0 else np.float64))
    with pytest.raises(ValueError, match=r"batch\(\).*one dtype.*float32.*float64"):
        list(mixed.batch(2))
    with pytest.raises(ValueError, match=r"batch\(\): batch_size"):
        Pipeline.range(3).batch(0)


def test_unbatch_inverts_batch():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    dataset = Pipeline.from_tensor_slices((x, np.arange(6))).batch(4).unbatch()
    elements = list(dataset)
    assert len(elements) == 6 and [int(label) for _, label in elements] == list(range(6))
    np.testing.assert_array_equal(elements[5][0], x[5])
    assert values(Pipeline.range(7).batch(3).unbatch()) == list(range(7))


# ------------------------------------------------------------------------ zip, concatenate, enumerate
def test_zip_tuple_dict_and_shortest():
    numbers, letters = Pipeline.range(5), Pipeline.from_tensor_slices(np.array(list("abc")))
    zipped = list(Pipeline.zip((numbers, letters)))
    assert [(int(number), str(letter)) for number, letter in zipped] == [(0, "a"), (1, "b"), (2, "c")]
    assert [int(number) for number, _ in Pipeline.zip(numbers, letters)] == [0, 1, 2]
    assert [int(number) for number, _ in Pipeline.zip(datasets=(numbers, letters))] == [0, 1, 2]
    nested = list(Pipeline.zip((numbers, (letters, numbers.skip(1)))))
    assert [(int(a), str(b), int(c)) for a, (b, c) in nested] == [(0, "a", 1), (1, "b", 2), (2, "c", 3)]
    as_dict = list(Pipeline.zip({"n": numbers, "l": letters}))
    assert int(as_dict[2]["n"]) == 2 and str(as_dict[2]["l"]) == "c"
    assert Pipeline.zip((numbers, letters)).cardinality() == 3
    with pytest.raises(TypeError, match="zip.*list"):
        Pipeline.zip(([1, 2], numbers))
    with pytest.raises(ValueError, match="zip.*at least one"):
        Pipeline.zip(())


def test_concatenate_and_enumerate():
    joined = Pipeline.range(3).concatenate(Pipeline.range(10, 12))
    assert values(joined) == [0, 1, 2, 10, 11] and joined.cardinality() == 5
    indexed = list(Pipeline.range(5, 8).enumerate(start=1))
    assert [(int(index), int(value)) for index, value in indexed] == [(1, 5), (2, 6), (3, 7)]
    assert indexed[0][0].dtype == np.int64


# -------------------------------------------------------------------------------------------- prefetch
def test_prefetch_yields_the_same_elements():
    source = Pipeline.from_tensor_slices((np.arange(20, dtype=np.float32), np.arange(20)))
    for buffer_size in (1, 3, AUTOTUNE, 0):
        fetched = list(source.prefetch(buffer_size))
        assert [(float(a), int(b)) for a, b in fetched] == [(float(i), i) for i in range(20)]


def test_prefetch_raises_the_producer_error():
    def fail_at_three(value):
        if value == 3:
            raise RuntimeError("decode failed at 3")
        return value

    seen = []
    with pytest.raises(RuntimeError, match="decode failed at 3"):
        for value in Pipeline.range(10).map(fail_at_three).prefetch(2):
            seen.append(int(value))
    assert seen == [0, 1, 2]


def _prefetch_threads() -> list:
    return [thread for thread in threading.enumerate() if thread.name == "ember-data-prefetch"]


def test_abandoned_prefetch_iterator_stops_its_thread():
    iterator = iter(Pipeline.range(10).repeat().prefetch(2).prefetch(1))
    assert int(next(iterator)) == 0
    assert len(_prefetch_threads()) >= 2
    del iterator
    gc.collect()
    deadline = time.monotonic() + 5.0
    while _prefetch_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _prefetch_threads() == []


# ----------------------------------------------------------------------------------------- cardinality
def test_cardinality_through_chains():
    base = Pipeline.range(10)
    assert base.cardinality() == 10 and len(base) == 10
    assert base.map(abs).cache().prefetch(2).shuffle(3).cardinality() == 10
    assert base.batch(3).cardinality() == 4 and base.batch(3, drop_remainder=True).cardinality() == 3
    assert base.take(4).cardinality() == 4 and base.take(40).cardinality() == 10
    assert base.skip(4).cardinality() == 6 and base.skip(40).cardinality() == 0
    assert base.repeat(3).cardinality() == 30
    assert base.repeat().cardinality() == INFINITE_CARDINALITY
    assert base.repeat().take(25).cardinality() == 25
    assert base.repeat().batch(4, drop_remainder=True).cardinality() == INFINITE_CARDINALITY
    assert Pipeline.range(0).repeat().cardinality() == 0
    assert base.filter(bool).cardinality() == UNKNOWN_CARDINALITY
    assert base.filter(bool).repeat().cardinality() == INFINITE_CARDINALITY
    assert base.filter(bool).take(3).cardinality() == UNKNOWN_CARDINALITY
    assert base.concatenate(base.repeat()).cardinality() == INFINITE_CARDINALITY
    assert Pipeline.zip((base, base.repeat())).cardinality() == 10
    assert experimental.cardinality(base.batch(5)) == 2
    assert experimental.AUTOTUNE == AUTOTUNE == -1
    with pytest.raises(TypeError, match="infinite"):
        len(base.repeat())
    with pytest.raises(TypeError, match="unknown"):
        len(base.filter(bool))
    assert bool(base.repeat())


# -------------------------------------------------------------------------------- map-style datasets
class SquaresDataset(PipelineMethods):
    """A map-style dataset (``__len__``/``__getitem__``) returning Tensors, as a PyTorch user writes one."""

    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int):
        return ember.tensor([float(index) ** 2]), index

    def __iter__(self):
        return (self[index] for index in range(len(self)))


def test_map_style_dataset_gets_the_pipeline_methods():
    dataset = SquaresDataset()
    assert dataset.cardinality() == 5
    batches = list(dataset.map(lambda square, index: (square + 1, index)).batch(2))
    assert len(batches) == 3 and dataset.batch(2).cardinality() == 3
    squares, indices = batches[1]
    assert isinstance(squares, np.ndarray) and squares.dtype == np.float32 and squares.shape == (2, 1)
    np.testing.assert_array_equal(squares[:, 0], [5.0, 10.0])
    assert indices.dtype == np.int64 and list(indices) == [2, 3]
    first = next(dataset.as_numpy_iterator())
    assert isinstance(first[0], np.ndarray)
    assert sorted(int(index) for _, index in dataset.shuffle(5)) == [0, 1, 2, 3, 4]
