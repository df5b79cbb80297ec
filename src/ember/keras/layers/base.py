"""``Layer``: a Keras layer is an ``ember.nn.Module`` that builds its weights from the first input it sees.

Keras conventions on top of Module: a unique snake_case ``name`` (``dense``, ``dense_1``, …), deferred
``build(input_shape)``, ``add_weight`` (trainable weights are Parameters, non-trainable ones are buffers),
``get_weights``/``set_weights`` in creation order, ``trainable``, regularization ``losses``, ``get_config``,
and the functional API (calling a layer on a ``KerasTensor`` records a graph instead of computing).
"""
from __future__ import annotations

import inspect
import re
from collections import defaultdict

import numpy as np

from ... import functions as F
from ...autograd.grad_mode import no_grad
from ...autograd.tensor import Tensor
from ...backend import dtypes
from ...nn import Module, ModuleList, Parameter
from .. import initializers, regularizers

_name_counts: defaultdict = defaultdict(int)


def to_snake_case(name: str) -> str:
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """``base`` the first time, then ``base_1``, ``base_2``, … (reset by ``clear_session``)."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Reset the automatic layer and model names."""
    _name_counts.clear()


class KerasTensor:
    """A symbolic input or output in the functional API: a shape (``None`` for the batch) and its producer."""

    def __init__(self, shape, dtype="float32", layer=None, inputs=(), name=None, output_index=None):
        self.shape = tuple(shape)
        self.output_index = output_index  # which output of a layer that returns several
        self.dtype = dtype
        self.layer = layer
        self.inputs = tuple(inputs)
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        producer = f", produced by '{self.layer.name}'" if self.layer is not None else ""
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}{producer}>"


def _is_symbolic(value) -> bool:
    if isinstance(value, KerasTensor):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, KerasTensor) for v in value)


def shape_of(value):
    """Shape of a Tensor/array, or a list of shapes for a list of them."""
    if isinstance(value, (list, tuple)):
        return [tuple(v.shape) for v in value]
    return tuple(value.shape)


class Layer(Module):
    """Base class of Keras layers.

    Subclasses override ``build(input_shape)`` (create weights with ``add_weight``) and
    ``call(inputs, training=None)``. ``input_shape=`` (without the batch dimension) builds the layer at once.

    Masks follow Keras's ``compute_mask`` protocol: the model runners (``Sequential``, functional ``Model``)
    pass each layer the mask of its input as ``mask=`` when its ``call`` takes one, and ask
    ``compute_mask(inputs, mask)`` for the mask of its output. A layer that sets ``supports_masking`` passes
    the mask through unchanged; others drop it. A direct call outside a model passes no mask unless given.
    """

    supports_masking = False

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None, input_shape=None,
                 batch_input_shape=None, input_dim=None, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments {sorted(kwargs)}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.built = False
        self._trainable = bool(trainable)
        self._weight_names: list = []
        self._regularized: list = []
        self._dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else dtypes.float32
        if input_shape is not None:
            batch_input_shape = (None,) + tuple(input_shape)
        elif input_dim is not None:
            batch_input_shape = (None, int(input_dim))
        self._batch_input_shape = tuple(batch_input_shape) if batch_input_shape is not None else None
        self._output_shape = None

    def __setattr__(self, name: str, value) -> None:
        # Keras tracks layers held in a list attribute (``self.blocks = [Block() for _ in range(4)]``): hold
        # them in a ModuleList, so that their weights are the model's and they follow train()/eval() and to().
        if isinstance(value, (list, tuple)) and value and all(isinstance(item, Module) for item in value):
            value = ModuleList(value)
        super().__setattr__(name, value)

    # ------------------------------------------------------------------------------------- building
    def build(self, input_shape) -> None:
        """Create the layer's weights for inputs of ``input_shape`` (batch dim included, may be None)."""

    def add_weight(self, name: str, shape, initializer="glorot_uniform", trainable: bool = True,
                   regularizer=None, dtype=None) -> Tensor:
        """Create, register and return a weight: a Parameter when trainable, else a buffer."""
        array = initializers.get(initializer)(tuple(int(s) for s in shape), dtype or self._dtype)
        array = np.asarray(array, dtype=dtypes.to_numpy_dtype(dtype or self._dtype))
        if trainable:
            weight = KerasWeight(Tensor(array), requires_grad=self._trainable)
            setattr(self, name, weight)
        else:
            weight = Tensor(array)
            self.register_buffer(name, weight)
        self._weight_names.append(name)
        if regularizer is not None:
            self._regularized.append((name, regularizers.get(regularizer)))
        return weight

    def _ensure_built(self, inputs) -> None:
        if not self.built:
            self.build(shape_of(inputs))
            self.built = True
            device = _device_of(inputs)
            if device is not None and device.type != "cpu":
                self.to(device)

    def build_from_shape(self, batch_input_shape) -> None:
        """Build for ``batch_input_shape`` (None batch allowed) and record the output shape with a dummy pass."""
        self._output_shape = self.compute_output_shape(batch_input_shape)

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch may be None), found by running zeros through the layer."""
        dummy = _dummy_input(input_shape, self)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                output = self(dummy)
        finally:
            self.train(was_training)
        batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        return _with_batch(shape_of(output), batch)

    # ------------------------------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        if args and _is_symbolic(args[0]):
            return self._call_symbolic(args[0], **kwargs)
        return super().__call__(*args, **kwargs)

    def forward(self, inputs, *args, training=None, **kwargs):
        self._ensure_built(inputs)
        self.check_input(inputs)
        if _accepts_training(type(self)):
            kwargs["training"] = self.training if training is None else training
        return self.call(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        return inputs

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's output, given its inputs and their mask (None: no mask)."""
        return mask if self.supports_masking else None

    def check_input(self, inputs) -> None:
        """Raise a clear ValueError when ``inputs`` cannot go through this built layer (override per layer)."""

    def _call_symbolic(self, inputs, **kwargs):
        shapes = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
        output_shape = self.compute_output_shape(shapes)
        self._output_shape = output_shape
        if isinstance(output_shape, list):
            return [KerasTensor(s, layer=self, inputs=_as_list(inputs), output_index=index)
                    for index, s in enumerate(output_shape)]
        return KerasTensor(output_shape, layer=self, inputs=_as_list(inputs))

    def input_error(self, expected: str, received) -> ValueError:
        """The three-part error: which layer, what it expected, what it received."""
        return ValueError(f"{type(self).__name__} '{self.name}': expected {expected}, received shape {received}")

    # -------------------------------------------------------------------------------------- weights
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for module in self.modules():
            if isinstance(module, Layer):
                module._trainable = bool(value)
        for parameter in self.parameters():
            parameter.requires_grad = bool(value)

    @property
    def weights(self) -> list:
        """Every weight in creation order (trainable and not), this layer's then its sublayers'."""
        found = [getattr(self, name) for name in self._weight_names]
        seen = {id(w) for w in found}
        for child in self.children():
            child_weights = child.weights if isinstance(child, Layer) else module_weights(child)
            for weight in child_weights:
                if id(weight) not in seen:
                    seen.add(id(weight))
                    found.append(weight)
        return found

    @property
    def trainable_weights(self) -> list:
        return [w for w in self.weights if isinstance(w, Parameter) and w.requires_grad]

    @property
    def non_trainable_weights(self) -> list:
        return [w for w in self.weights if not (isinstance(w, Parameter) and w.requires_grad)]

    def get_weights(self) -> list:
        """Copies of the weights as NumPy arrays, in creation order."""
        return [np.array(_host(w.array)) for w in self.weights]

    def set_weights(self, weights) -> None:
        """Load NumPy arrays (same order and shapes as ``get_weights``) into the weights."""
        targets = self.weights
        if len(weights) != len(targets):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': set_weights expected {len(targets)} arrays, received "
                f"{len(weights)}"
            )
        for index, (target, value) in enumerate(zip(targets, weights)):
            value = np.asarray(value)
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': weight {index} has shape {tuple(target.shape)}, "
                    f"received an array of shape {tuple(value.shape)}"
                )
            with no_grad():
                target.copy_(value)

    def count_params(self) -> int:
        return int(sum(w.numel() for w in self.weights))

    @property
    def losses(self) -> list:
        """Regularization penalties (scalar Tensors) of this layer and its sublayers, for the current weights."""
        penalties = [regularizer(getattr(self, name)) for name, regularizer in self._regularized]
        for child in self.children():
            if isinstance(child, Layer):
                penalties.extend(child.losses)
        return penalties

    @property
    def output_shape(self):
        if self._output_shape is None:
            raise AttributeError(f"layer '{self.name}' has no defined output shape yet: it has not been called")
        return self._output_shape

    # ---------------------------------------------------------------------------------------- config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def module_weights(module: Module) -> list:
    """The weights of a plain ``nn.Module`` inside a Keras model: parameters, then buffers."""
    return list(module.parameters()) + [b for b in module.buffers() if b.dtype.kind == "f"]


_training_signature_cache: dict = {}


def _accepts_training(cls) -> bool:
    if cls not in _training_signature_cache:
        parameters = inspect.signature(cls.call).parameters
        _training_signature_cache[cls] = "training" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        )
    return _training_signature_cache[cls]


_mask_signature_cache: dict = {}


def _accepts_mask(cls) -> bool:
    if cls not in _mask_signature_cache:
        _mask_signature_cache[cls] = "mask" in inspect.signature(cls.call).parameters
    return _mask_signature_cache[cls]


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _with_batch(shape, batch):
    if isinstance(shape, list):
        return [(batch,) + tuple(s[1:]) for s in shape]
    return (batch,) + tuple(shape[1:])


def _dummy_input(input_shape, layer: Module):
    device = None
    for parameter in layer.parameters():
        device = parameter.device
        break
    if isinstance(input_shape, list):
        return [_dummy_input(shape, layer) for shape in input_shape]
    shape = tuple(2 if s is None else s for s in input_shape)
    return F.zeros(shape, device=device)


def _device_of(inputs):
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    return first.device if isinstance(first, Tensor) else None


def _host(array):
    return array.get() if hasattr(array, "get") else array


class KerasWeight(Parameter):
    """A Keras layer's trainable weight: a ``Parameter`` that NumPy and matplotlib read directly
    (``np.asarray(layer.kernel)``), as Keras's variables allow, and so do tensors computed from Keras weights
    alone; PyTorch's parameters need ``detach()`` first."""

    _numpy_readable = True

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.detach().__array__(dtype, copy)
