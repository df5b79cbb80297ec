"""Datasets: TensorDataset, Subset, ConcatDataset, ChainDataset, random_split, and the import paths."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.data import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, index):
        if not 0 <= index < self.n:
            raise IndexError(index)
        return index * index

    def __len__(self):
        return self.n


class Stream(IterableDataset):
    def __init__(self, values):
        self.values = values

    def __iter__(self):
        return iter(self.values)


def test_pytorch_and_torchvision_import_paths():
    from ember import transforms
    from ember.utils.data import DataLoader, Dataset as UtilsDataset, Subset as UtilsSubset
    from ember.utils.data import TensorDataset as UtilsTensorDataset, random_split as utils_random_split
    import ember.utils.data

    assert DataLoader is ember.data.DataLoader
    assert UtilsDataset is Dataset and UtilsSubset is Subset and UtilsTensorDataset is TensorDataset
    assert utils_random_split is random_split
    assert ember.utils.data.default_collate is ember.data.default_collate
    assert transforms.Compose is ember.data.transforms.Compose
    assert transforms.apply_batch is ember.data.transforms.apply_batch


def test_tensor_dataset_items_and_length():
    x = ember.tensor(np.arange(12, dtype=np.float32).reshape(6, 2))
    y = np.arange(6, dtype=np.int64) * 10
    dataset = TensorDataset(x, y)
    assert len(dataset) == 6
    features, label = dataset[4]
    assert isinstance(features, ember.Tensor) and isinstance(label, ember.Tensor)
    np.testing.assert_array_equal(features.numpy(), [8.0, 9.0])
    assert label.item() == 40 and label.dtype == np.int64
    assert features.dtype == np.float32


def test_tensor_dataset_get_batch_contiguous_is_a_view_and_gather_is_exact():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.int64)
    dataset = TensorDataset(x, y)
    features, labels = dataset.get_batch(np.array([3, 4, 5]))
    np.testing.assert_array_equal(features.numpy(), x[3:6])
    assert np.shares_memory(features.numpy(), x)  # consecutive indices: a slice, no copy
    features, labels = dataset.get_batch(np.array([7, 0, 7, -1]))
    np.testing.assert_array_equal(features.numpy(), x[[7, 0, 7, -1]])
    np.testing.assert_array_equal(labels.numpy(), [7, 0, 7, 9])
    with pytest.raises(IndexError, match="index 10 is out of range for a dataset of 10"):
        dataset.get_batch(np.array([1, 10]))


def test_tensor_dataset_keeps_gradient_of_tensors_that_require_it():
    weights = ember.tensor(np.ones((4, 3), dtype=np.float32), requires_grad=True)
    (rows,) = TensorDataset(weights).get_batch(np.array([0, 2]))
    rows.sum().backward()
    np.testing.assert_array_equal(weights.grad.numpy(), [[1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0]])


def test_tensor_dataset_errors_name_the_sizes():
    with pytest.raises(ValueError, match=r"same size in dimension 0, received sizes \[5, 4\]"):
        TensorDataset(np.zeros((5, 2), dtype=np.float32), np.zeros(4, dtype=np.int64))
    with pytest.raises(TypeError, match="argument 1 is list"):
        TensorDataset(np.zeros(3, dtype=np.float32), [1, 2, 3])
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


def test_subset_maps_indices_and_forwards_get_batch():
    dataset = TensorDataset(np.arange(10, dtype=np.float32))
    subset = Subset(dataset, [9, 2, 5])
    assert len(subset) == 3
    assert subset[0][0].item() == 9.0
    (values,) = subset.get_batch(np.array([2, 0]))
    np.testing.assert_array_equal(values.numpy(), [5.0, 9.0])
    assert [sample[0].item() for sample in subset.__getitems__([1, 2])] == [2.0, 5.0]
    plain = Subset(Squares(10), [3, 4])
    assert not hasattr(plain, "get_batch")
    assert plain.__getitems__([1, 0]) == [16, 9]
    assert plain[1] == 16
    (picked,) = subset[[0, 2]]  # a list index is mapped whole, as in PyTorch
    np.testing.assert_array_equal(picked.numpy(), [9.0, 5.0])


def test_concat_dataset_indexing_and_add():
    first, second = Squares(3), Squares(2)
    concatenated = first + second
    assert isinstance(concatenated, ConcatDataset)
    assert len(concatenated) == 5
    assert [concatenated[i] for i in range(5)] == [0, 1, 4, 0, 1]
    assert concatenated[-1] == 1 and concatenated[-5] == 0
    assert concatenated.cumulative_sizes == [3, 5]
    with pytest.raises(IndexError, match="out of range for a dataset of 5"):
        concatenated[5]
    with pytest.raises(IndexError):
        concatenated[-6]
    with pytest.raises(TypeError, match="ChainDataset"):
        ConcatDataset([first, Stream([1])])
    with pytest.raises(ValueError, match="non-empty"):
        ConcatDataset([])


def test_chain_dataset_chains_streams():
    chained = Stream([1, 2]) + Stream([3])
    assert isinstance(chained, ChainDataset)
    assert list(chained) == [1, 2, 3]


def test_random_split_counts_are_disjoint_and_cover_everything():
    dataset = Squares(10)
    parts = random_split(dataset, [7, 3], generator=np.random.default_rng(0))
    assert [len(part) for part in parts] == [7, 3]
    indices = parts[0].indices + parts[1].indices
    assert sorted(indices) == list(range(10))
    assert all(isinstance(index, int) for index in indices)


def test_random_split_fractions_deal_the_remainder_from_the_first_split():
    parts = random_split(Squares(11), [0.5, 0.3, 0.2], generator=3)
    # floor(5.5)=5, floor(3.3)=3, floor(2.2)=2 → remainder 1 goes to the first split
    assert [len(part) for part in parts] == [6, 3, 2]
    assert sorted(parts[0].indices + parts[1].indices + parts[2].indices) == list(range(11))


def test_random_split_is_deterministic_for_a_seed_and_ember_manual_seed():
    first = random_split(Squares(20), [10, 10], generator=42)
    second = random_split(Squares(20), [10, 10], generator=np.random.default_rng(42))
    assert first[0].indices == second[0].indices
    ember.manual_seed(5)
    third = random_split(Squares(20), [10, 10])
    ember.manual_seed(5)
    fourth = random_split(Squares(20), [10, 10])
    assert third[0].indices == fourth[0].indices
    assert third[0].indices != list(range(10))


def test_random_split_errors():
    with pytest.raises(ValueError, match=r"sum to 9, but the dataset has 10 samples"):
        random_split(Squares(10), [5, 4])
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        random_split(Squares(10), [5, 5], generator="seed")
    with pytest.warns(UserWarning, match="length 0"):
        parts = random_split(Squares(2), [0.9, 0.1])
    assert [len(part) for part in parts] == [2, 0]


def test_base_classes_explain_what_to_implement():
    with pytest.raises(NotImplementedError, match="must implement __getitem__"):
        Dataset()[0]
    with pytest.raises(NotImplementedError, match="must implement __iter__"):
        iter(IterableDataset())
