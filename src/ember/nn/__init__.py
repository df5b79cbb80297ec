"""``ember.nn``: modules, parameters, containers, initialisers and ``functional``, with ``torch.nn``'s names.

    import ember.nn as nn
    import ember.nn.functional as F

    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    loss = F.cross_entropy(model(images), labels)
"""
from .parameter import Parameter
from .modules import *  # noqa: F403
from .modules import __all__ as _modules_all
from . import functional, init, utils
from . import parallel

__all__ = ["Parameter", "functional", "init", "utils", "parallel", *_modules_all]
