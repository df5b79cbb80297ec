"""Data loading in both dialects: PyTorch's datasets, samplers, ``DataLoader`` and image ``transforms``, and
``tf.data``'s pipelines (``Dataset.from_tensor_slices(...).map(...).batch(...)``, ``FixedLengthRecordDataset``).

    from ember.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True)

    from ember import data
    pipeline = data.Dataset.from_tensor_slices((images, labels)).shuffle(5000).batch(64).prefetch(data.AUTOTUNE)
"""
from . import experimental, transforms
from ._worker import WorkerInfo, get_worker_info
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .pipeline import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Pipeline, PipelineMethods
from .records import FixedLengthRecordDataset
from .sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset", "random_split",
    "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler", "transforms", "experimental", "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY",
    "Pipeline", "PipelineMethods", "FixedLengthRecordDataset",
]
