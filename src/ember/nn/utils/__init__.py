"""Utilities for modules and their parameters (``ember.nn.utils``)."""
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .fusion import MaxPool2dReLU, fuse
from . import rnn

__all__ = ["clip_grad_norm_", "clip_grad_value_", "fuse", "MaxPool2dReLU", "rnn"]
