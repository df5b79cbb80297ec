"""``ember.transforms``: torchvision's ``transforms`` names, from ``ember.data.transforms``.

    from ember import transforms
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
"""
from .data.transforms import *  # noqa: F403
from .data.transforms import __all__  # noqa: F401
