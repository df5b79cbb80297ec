"""``ember.utils``: PyTorch's ``torch.utils`` place for ``ember.utils.data``."""
from . import data

__all__ = ["data"]
