"""conv functions."""
__all__ = []
