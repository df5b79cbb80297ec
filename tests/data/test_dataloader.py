"""DataLoader: order, shuffling, batching routes (get_batch, __getitems__, per sample), collation, workers."""
from __future__ import annotations

import collections
import threading
import time
import warnings

import numpy as np
import pytest

import ember
from ember.data import (
    BatchSampler, DataLoader, Dataset, IterableDataset, RandomSampler, SequentialSampler, SubsetRandomSampler,
    TensorDataset, WeightedRandomSampler, default_collate, default_convert, get_worker_info, random_split,
)
from ember.data import transforms


class Range(Dataset):
    """Sample i is (float32 vector [i, i], label i) read one at a time; counts its reads."""

    def __init__(self, n):
        self.n = n
        self.reads = 0

    def __getitem__(self, index):
        self.reads += 1
        return np.full(2, index, dtype=np.float32), int(index)

    def __len__(self):
        return self.n


class BatchOnly(Dataset):
    """Has a get_batch fast path; reading one sample is an error."""

    def __init__(self, n):
        self.n = n
        self.calls = []

    def __getitem__(self, index):
        raise AssertionError("the loader must use get_batch, not __getitem__")

    def get_batch(self, indices):
        self.calls.append(np.array(indices))
        return ember.tensor(indices.astype(np.float32)), ember.tensor(indices)

    def __len__(self):
        return self.n


class ManyAtOnce(Range):
    """Has PyTorch's __getitems__; reading one sample is an error."""

    def __init__(self, n):
        super().__init__(n)
        self.calls = 0

    def __getitem__(self, index):
        raise AssertionError("the loader must use __getitems__")

    def __getitems__(self, indices):
        self.calls += 1
        return [(np.full(2, i, dtype=np.float32), i) for i in indices]


def labels_of(loader):
    return [batch[1].numpy().tolist() for batch in loader]


def test_order_without_shuffle_and_batch_structure():
    loader = DataLoader(Range(7), batch_size=3)
    batches = list(loader)
    assert labels_of(loader) == [[0, 1, 2], [3, 4, 5], [6]]
    features, labels = batches[0]
    assert features.shape == (3, 2) and features.dtype == np.float32
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(features.numpy(), [[0, 0], [1, 1], [2, 2]])
    assert len(loader) == 3


def test_drop_last_and_len():
    assert len(DataLoader(Range(10), batch_size=4)) == 3
    loader = DataLoader(Range(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(Range(8), batch_size=4, drop_last=True)) == 2


def test_shuffle_visits_every_index_once_and_changes_between_epochs():
    loader = DataLoader(Range(50), batch_size=8, shuffle=True)
    first = sum(labels_of(loader), [])
    second = sum(labels_of(loader), [])
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert first != second
    assert first != list(range(50))


def test_same_seed_gives_the_same_order():
    ember.manual_seed(123)
    global_seeded = sum(labels_of(DataLoader(Range(30), batch_size=5, shuffle=True)), [])
    ember.manual_seed(123)
    assert sum(labels_of(DataLoader(Range(30), batch_size=5, shuffle=True)), []) == global_seeded
    by_seed = [labels_of(DataLoader(Range(30), batch_size=5, shuffle=True, seed=7)) for _ in range(2)]
    assert by_seed[0] == by_seed[1]
    by_generator = labels_of(DataLoader(Range(30), batch_size=5, shuffle=True, generator=np.random.default_rng(7)))
    assert by_generator == by_seed[0]
    # a loader's own generator gives fresh orders epoch after epoch, reproducibly
    loader = DataLoader(Range(30), batch_size=5, shuffle=True, seed=7)
    assert labels_of(loader) == by_seed[0] and labels_of(loader) != by_seed[0]


def test_default_collate_of_numbers_tuples_dicts_and_strings():
    batch = default_collate([(1, 0.5, True, "a"), (2, 1.5, False, "b")])
    assert isinstance(batch, list) and len(batch) == 4  # a tuple becomes a list, as in PyTorch
    assert batch[0].dtype == np.int64 and batch[0].numpy().tolist() == [1, 2]
    assert batch[1].dtype == np.float32 and batch[1].numpy().tolist() == [0.5, 1.5]
    assert batch[2].dtype == np.bool_
    assert batch[3] == ["a", "b"]
    mixed = default_collate([1, 2.5])
    assert mixed.dtype == np.float32 and mixed.numpy().tolist() == [1.0, 2.5]
    mapping = default_collate([{"x": np.zeros(3, dtype=np.float64), "y": 1}, {"x": np.ones(3), "y": 2}])
    assert mapping["x"].shape == (2, 3) and mapping["x"].dtype == np.float64  # arrays keep their dtype
    assert mapping["y"].numpy().tolist() == [1, 2]
    Pair = collections.namedtuple("Pair", "image label")
    pairs = default_collate([Pair(ember.zeros(2, 3), 0), Pair(ember.ones(2, 3), 1)])
    assert isinstance(pairs, Pair) and pairs.image.shape == (2, 2, 3)
    np.testing.assert_array_equal(pairs.image.numpy()[1], np.ones((2, 3)))
    scalars = default_collate([np.float32(1.5), np.float32(2.0)])
    assert scalars.dtype == np.float32 and scalars.shape == (2,)
    nested = default_collate([[1, [2.0, 3]], [4, [5.0, 6]]])
    assert nested[0].numpy().tolist() == [1, 4] and nested[1][1].numpy().tolist() == [3, 6]


def test_default_collate_errors_name_the_problem():
    with pytest.raises(RuntimeError, match=r"sample 0 has shape \(2,\) and sample 1 has shape \(3,\)"):
        default_collate([ember.zeros(2), ember.zeros(3)])
    with pytest.raises(RuntimeError, match="same number of fields"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(TypeError, match="found <class 'NoneType'>"):
        default_collate([None, None])


def test_default_collate_keeps_gradients_when_samples_require_them():
    weight = ember.tensor([1.0, 2.0], requires_grad=True)
    batch = default_collate([weight * 2, weight * 3])
    batch.sum().backward()
    np.testing.assert_allclose(weight.grad.numpy(), [5.0, 5.0])


def test_default_convert_for_unbatched_loading():
    converted = default_convert((np.arange(3), {"a": np.float32(2.0)}, "text", 4))
    assert isinstance(converted, list)
    assert isinstance(converted[0], ember.Tensor) and converted[0].dtype == np.arange(3).dtype
    assert isinstance(converted[1]["a"], ember.Tensor)
    assert converted[2:] == ["text", 4]


def test_fast_path_calls_get_batch_once_per_batch():
    dataset = BatchOnly(10)
    loader = DataLoader(dataset, batch_size=4)
    batches = list(loader)
    assert len(dataset.calls) == 3
    assert [call.tolist() for call in dataset.calls] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(call.dtype == np.int64 for call in dataset.calls)
    assert batches[2][1].numpy().tolist() == [8, 9]
    shuffled = BatchOnly(10)
    seen = sum((batch[1].numpy().tolist() for batch in DataLoader(shuffled, batch_size=4, shuffle=True)), [])
    assert len(shuffled.calls) == 3 and sorted(seen) == list(range(10))


def test_tensor_dataset_uses_the_fast_path_and_matches_the_per_sample_route():
    x = np.random.default_rng(0).standard_normal((23, 3)).astype(np.float32)
    y = np.arange(23, dtype=np.int64)
    dataset = TensorDataset(x, y)
    fast = list(DataLoader(dataset, batch_size=5, shuffle=True, seed=1))
    slow = list(DataLoader(dataset, batch_size=5, shuffle=True, seed=1, collate_fn=lambda s: default_collate(s)))
    assert len(fast) == len(slow) == 5
    for (fx, fy), (sx, sy) in zip(fast, slow):
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
        np.testing.assert_array_equal(fx.numpy(), x[fy.numpy()])


def test_getitems_route_is_collated():
    dataset = ManyAtOnce(7)
    batches = list(DataLoader(dataset, batch_size=3))
    assert dataset.calls == 3
    assert batches[1][1].numpy().tolist() == [3, 4, 5]
    assert batches[1][0].shape == (3, 2)


def test_custom_collate_fn_gets_the_samples():
    loader = DataLoader(Range(5), batch_size=2, collate_fn=lambda samples: [label for _, label in samples])
    assert list(loader) == [[0, 1], [2, 3], [4]]


def test_batch_size_none_yields_converted_samples():
    loader = DataLoader(Range(3), batch_size=None)
    samples = list(loader)
    assert len(loader) == 3 and len(samples) == 3
    features, label = samples[2]
    assert isinstance(features, ember.Tensor) and features.shape == (2,) and label == 2


def test_samplers_and_batch_sampler():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    assert list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False)) == [
        [0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    drawn = list(RandomSampler(range(5), generator=0))
    assert sorted(drawn) == [0, 1, 2, 3, 4]
    with_replacement = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=0))
    assert len(with_replacement) == 50 and set(with_replacement) == {0, 1, 2}
    longer = list(RandomSampler(range(4), num_samples=10, generator=0))
    assert len(longer) == 10 and sorted(longer[:4]) == [0, 1, 2, 3] and sorted(longer[4:8]) == [0, 1, 2, 3]
    assert sorted(SubsetRandomSampler([5, 7, 9], generator=1)) == [5, 7, 9]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], num_samples=200, generator=0))
    assert set(weighted) == {1, 3} and 100 < weighted.count(3) < 190
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], num_samples=2, replacement=False)
    loader = DataLoader(Range(6), sampler=SubsetRandomSampler([4, 5], generator=0), batch_size=4)
    assert sorted(labels_of(loader)[0]) == [4, 5]
    loader = DataLoader(Range(6), batch_sampler=[[5, 0], [2]])
    assert labels_of(loader) == [[5, 0], [2]] and len(loader) == 2


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(Range(3), sampler=SequentialSampler(range(3)), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler is mutually exclusive"):
        DataLoader(Range(3), batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(Range(3), batch_size=0)
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(Range(3), batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(Range(3), prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(Range(3), persistent_workers=True)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(Range(3), num_workers=-1)
    with pytest.raises(ValueError, match="either generator or seed"):
        DataLoader(Range(3), seed=1, generator=np.random.default_rng(1))
    with pytest.raises(ValueError, match="expected shuffle to be unspecified"):
        DataLoader(Stream(4), shuffle=True)

@pytest.mark.parametrize("argument, value", [("pin_memory", True), ("pin_memory_device", "cuda"),
                                             ("multiprocessing_context", "spawn")])
def test_arguments_without_effect_warn_and_defaults_do_not(argument, value):
    with pytest.warns(UserWarning, match=rf"DataLoader: {argument}='?{value}'? has no effect in Ember") as record:
        loader = DataLoader(Range(3), batch_size=2, **{argument: value})
    assert record[0].filename == __file__
    assert [labels.tolist() for _, labels in loader] == [[0, 1], [2]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataLoader(Range(3), pin_memory=False, pin_memory_device="", multiprocessing_context=None)


class Stream(IterableDataset):
    def __init__(self, n, fail_at=None):
        self.n = n
        self.fail_at = fail_at

    def __iter__(self):
        for i in range(self.n):
            if i == self.fail_at:
                raise ValueError(f"stream broke at {i}")
            yield np.float32(i)

    def __len__(self):
        return self.n


def test_iterable_dataset_batches_and_len():
    loader = DataLoader(Stream(7), batch_size=3)
    batches = [batch.numpy().tolist() for batch in loader]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(loader) == 3
    assert [b.numpy().tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    threaded = DataLoader(Stream(7), batch_size=3, num_workers=2)
    assert [batch.numpy().tolist() for batch in threaded] == batches
    with pytest.raises(ValueError, match="batch 1: ValueError: stream broke at 4"):
        list(DataLoader(Stream(7, fail_at=4), batch_size=3, num_workers=1))


def test_workers_yield_the_same_batches_in_the_same_order():
    x = np.arange(200, dtype=np.float32).reshape(100, 2)
    dataset = TensorDataset(x, np.arange(100))
    ember.manual_seed(3)
    serial = [batch[1].numpy().tolist() for batch in DataLoader(dataset, batch_size=7, shuffle=True)]
    ember.manual_seed(3)
    threaded = [batch[1].numpy().tolist() for batch in DataLoader(dataset, batch_size=7, shuffle=True, num_workers=2)]
    assert threaded == serial
    expected = labels_of(DataLoader(Range(20), batch_size=3))
    assert labels_of(DataLoader(Range(20), batch_size=3, num_workers=2)) == expected


class Slow(Range):
    def __getitem__(self, index):
        time.sleep(0.002 * ((index * 7) % 5))  # workers finish out of order
        return super().__getitem__(index)


def test_workers_keep_order_when_batches_finish_out_of_order():
    loader = DataLoader(Slow(40), batch_size=2, num_workers=3, prefetch_factor=3)
    assert labels_of(loader) == [[i, i + 1] for i in range(0, 40, 2)]


class Failing(Range):
    def __getitem__(self, index):
        if index == 13:
            raise KeyError("sample 13 is missing")
        return super().__getitem__(index)


def test_worker_exception_is_raised_in_the_main_thread_with_the_batch_index():
    loader = DataLoader(Failing(20), batch_size=4, num_workers=2)
    with pytest.raises(KeyError, match="batch 3") as caught:
        list(loader)
    assert "sample 13 is missing" in str(caught.value)
    assert isinstance(caught.value.__cause__, KeyError)


def test_random_transforms_in_a_dataset_match_for_any_num_workers():
    class Augmented(Dataset):
        def __init__(self):
            self.images = np.random.default_rng(0).integers(0, 256, size=(24, 8, 8), dtype=np.uint8)
            self.transform = transforms.Compose([transforms.RandomRotation(30), transforms.ToTensor()])

        def __len__(self):
            return len(self.images)

        def get_batch(self, indices):
            return transforms.apply_batch(self.transform, self.images[indices])

    results = []
    for workers in (0, 2, 3):
        ember.manual_seed(11)
        results.append([batch.numpy() for batch in DataLoader(Augmented(), batch_size=5, num_workers=workers)])
    for other in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(results[0], other))
    ember.manual_seed(12)
    changed = [batch.numpy() for batch in DataLoader(Augmented(), batch_size=5)]
    assert not all(np.array_equal(a, b) for a, b in zip(results[0], changed))


def test_worker_init_fn_and_worker_info():
    seen = []
    lock = threading.Lock()

    def init(worker_id):
        info = get_worker_info()
        with lock:
            seen.append((worker_id, info.id, info.num_workers))

    class Recording(Range):
        def __getitem__(self, index):
            assert get_worker_info() is not None and get_worker_info().dataset is self
            return super().__getitem__(index)

    assert get_worker_info() is None
    list(DataLoader(Recording(16), batch_size=2, num_workers=2, worker_init_fn=init))
    assert sorted(seen) == [(0, 0, 2), (1, 1, 2)]


def test_stopping_early_leaves_no_worker_threads_behind():
    def loader_threads():
        return {thread for thread in threading.enumerate() if thread.name.startswith("ember-data-worker")}

    before = loader_threads()
    for _ in range(3):
        iterator = iter(DataLoader(Slow(60), batch_size=2, num_workers=2))
        next(iterator)
        iterator.close()
    deadline = time.time() + 5
    while time.time() < deadline:
        alive = loader_threads() - before
        if not alive:
            break
        time.sleep(0.02)
    assert not alive


def test_persistent_workers_reuse_threads_across_epochs():
    loader = DataLoader(Range(12), batch_size=4, num_workers=2, persistent_workers=True)
    assert labels_of(loader) == labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    executor = loader._executor
    list(loader)
    assert loader._executor is executor


def test_timeout_raises_when_a_worker_is_too_slow():
    class Stuck(Range):
        def __getitem__(self, index):
            time.sleep(0.5)
            return super().__getitem__(index)

    with pytest.raises(RuntimeError, match="timed out after 0.05 s waiting for batch 0"):
        list(DataLoader(Stuck(2), batch_size=1, num_workers=1, timeout=0.05))


def test_subsets_from_random_split_keep_the_fast_path():
    dataset = TensorDataset(np.arange(30, dtype=np.float32), np.arange(30))
    calls = []
    original = dataset.get_batch

    def counting(indices):
        calls.append(len(indices))
        return original(indices)

    dataset.get_batch = counting
    train, _ = random_split(dataset, [20, 10], generator=0)
    labels = sum((batch[1].numpy().tolist() for batch in DataLoader(train, batch_size=8)), [])
    assert calls == [8, 8, 4]
    assert labels == train.indices


def test_any_iterable_without_getitem_is_loaded_as_a_stream():
    class Numbers:
        def __iter__(self):
            return iter([1.0, 2.0, 3.0])

    batches = [batch.numpy().tolist() for batch in DataLoader(Numbers(), batch_size=2)]
    assert batches == [[1.0, 2.0], [3.0]]
