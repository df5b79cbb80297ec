"""Keras callbacks: hooks into ``fit``/``evaluate``/``predict``."""
from .base import Callback, CallbackList, History, ProgbarLogger

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]
