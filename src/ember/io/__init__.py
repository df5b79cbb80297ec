"""Saving and loading: safetensors files and ``ember.save``/``ember.load`` for nested state (never pickle)."""
from .serialization import save, load
from .safetensors import save_file, load_file

__all__ = ["save", "load", "save_file", "load_file"]
