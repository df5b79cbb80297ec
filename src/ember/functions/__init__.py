"""Functions layer: every differentiable primitive, one file per family, plus tensor creation.

Each family module defines its ``Primitive`` classes (forward on arrays, backward with Ember ops) and the
lowercase wrappers users call; this package re-exports the wrappers and installs Tensor's methods.
"""
from .creation import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .reduction import *  # noqa: F403
from .shape import *  # noqa: F403
from .indexing import *  # noqa: F403
from .linalg import *  # noqa: F403
from .activation import *  # noqa: F403
from .conv import *  # noqa: F403
from .pooling import *  # noqa: F403
from .normalization import *  # noqa: F403
from .dropout import *  # noqa: F403
from .loss import *  # noqa: F403
from .recurrent import *  # noqa: F403
from .upsampling import *  # noqa: F403
import importlib as _importlib

from . import tensor_methods as _tensor_methods

_FAMILIES = ("creation", "elementwise", "reduction", "shape", "indexing", "linalg", "activation", "conv",
             "pooling", "normalization", "dropout", "loss", "recurrent", "upsampling")
# Looked up by module path: ``from .dropout import *`` rebinds the name ``dropout`` to the function.
__all__ = [name for family in _FAMILIES for name in _importlib.import_module(f"{__name__}.{family}").__all__]

_tensor_methods.install()
