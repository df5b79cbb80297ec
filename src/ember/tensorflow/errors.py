"""``tf.errors``: the exception types ops raise."""
from ._tensor import InvalidArgumentError

OpError = InvalidArgumentError

__all__ = ["InvalidArgumentError", "OpError"]
