"""``ember.nn.parallel``: ``DistributedDataParallel``, as ``torch.nn.parallel`` names it."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
