"""The one warning for Keras arguments that Ember accepts, so that Keras code runs, but cannot honour."""
from __future__ import annotations

import warnings


def warn_no_effect(where: str, argument: str, value, reason: str, stacklevel: int = 3) -> None:
    """Warn that ``argument=value`` given to ``where`` changes nothing in Ember, and why."""
    warnings.warn(f"{where}: {argument}={value!r} has no effect in Ember: {reason}", UserWarning,
                  stacklevel=stacklevel)
