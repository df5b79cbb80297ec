"""``ember.utils.data``: the names of PyTorch's ``torch.utils.data``, from ``ember.data``.

    from ember.utils.data import DataLoader, Dataset, TensorDataset, random_split, Subset
    from ember.utils.data.distributed import DistributedSampler
"""
from ...data import (
    BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler, Sampler,
    SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler, WorkerInfo,
    default_collate, default_convert, get_worker_info, random_split,
)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset", "random_split",
    "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler",
]
