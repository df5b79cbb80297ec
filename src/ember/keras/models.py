"""Keras models: ``Sequential``, the functional ``Model(inputs, outputs)``, and subclassed ``Model``.

A model is a ``Layer`` (so an ``nn.Module``) plus the training methods of ``Trainer`` (compile, fit, …).
Any ``nn.Module`` can be a layer of a ``Sequential``; a Keras model can be trained by a hand-written loop.
"""
from __future__ import annotations

from ..nn import Module
from ..autograd.grad_mode import no_grad
from .layers.base import KerasTensor, Layer, _accepts_mask, _accepts_training, to_snake_case, unique_name
from .layers.core import InputLayer
from .trainer import Trainer


def _call_layer(layer, inputs, training, mask=None):
    """Call a Keras layer with ``training`` (and ``mask`` when it has one and the layer's call takes it); plain
    ``nn.Module``s follow their own train()/eval() mode."""
    if not isinstance(layer, Layer):
        return layer(inputs)
    kwargs = {}
    if training is not None and _accepts_training(type(layer)):
        kwargs["training"] = training
    if mask is not None and _accepts_mask(type(layer)):
        kwargs["mask"] = mask
    return layer(inputs, **kwargs)


def _output_mask(layer, inputs, mask):
    """Keras's mask propagation: the mask of ``layer``'s output (None for plain ``nn.Module``s)."""
    return layer.compute_mask(inputs, mask) if isinstance(layer, Layer) else None


class Model(Trainer, Layer):
    """A Keras model.

    Functional: ``Model(inputs=keras.Input(...), outputs=...)``. Subclassed: define layers in ``__init__`` (after
    ``super().__init__()``) and the computation in ``call(inputs, training=None)``.
    """

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        if inputs is None and type(self) not in (Model, Sequential):
            default = to_snake_case(type(self).__name__)
        else:
            default = "sequential" if isinstance(self, Sequential) else "functional"
        Layer.__init__(self, name=name or unique_name(default), **kwargs)
        Trainer.__init__(self)
        self._functional = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError(f"Model '{self.name}': give both inputs= and outputs= for a functional model")
            self._functional = _FunctionalGraph(self, inputs, outputs)
            self.built = True

    # ------------------------------------------------------------------------------------- calling
    def call(self, inputs, training=None):
        if self._functional is None:
            raise NotImplementedError(
                f"Model '{self.name}': a subclassed model must define call(self, inputs, training=None)"
            )
        return self._functional.run(inputs, training)

    @property
    def layers(self) -> list:
        if self._functional is not None:
            return self._functional.layers
        return [child for child in self.children()]

    def get_layer(self, name: str | None = None, index: int | None = None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if getattr(layer, "name", None) == name:
                return layer
        names = [layer.name for layer in self.layers]
        raise ValueError(f"Model '{self.name}': no layer named {name!r}; layers are {names}")

    @property
    def output_names(self) -> list | None:
        """Names of the layers that produce the outputs (None for a subclassed model)."""
        if self._functional is not None:
            return [tensor.layer.name for tensor in self._functional.outputs]
        if isinstance(self, Sequential):
            return [self._stack[-1].name] if self._stack and isinstance(self._stack[-1], Layer) else None
        return None

    # Keras 3's names for the weights, used by custom training loops:
    # ``optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))``
    @property
    def variables(self) -> list:
        """Every weight (trainable and not), in creation order; the same list as ``weights``."""
        return self.weights

    @property
    def trainable_variables(self) -> list:
        """The weights the optimizer updates; the same list as ``trainable_weights``."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list:
        """The weights no optimizer updates (frozen weights, BatchNormalization's moving statistics)."""
        return self.non_trainable_weights

    @property
    def inputs(self):
        return self._functional.inputs if self._functional is not None else None

    @property
    def outputs(self):
        return self._functional.outputs if self._functional is not None else None

    def export(self, filepath, format: str = "onnx", verbose: bool = True, input_signature=None,  # noqa: A002
               **kwargs) -> None:
        """Write the model for inference, as Keras 3's ``model.export``; Ember writes ``format="onnx"``.

        Inputs are named after the model's ``keras.Input``s, outputs ``output_0``, ...; the batch axis is
        dynamic. ``opset_version=`` (default 17) picks the ONNX opset. Needs ``pip install "ember[onnx]"``."""
        if format != "onnx":
            raise ValueError(f"Model '{self.name}'.export: Ember writes format='onnx' only, received {format!r}")
        if input_signature is not None:
            raise ValueError(f"Model '{self.name}'.export: input_signature is not supported; the inputs come from "
                             "the model's keras.Input shapes")
        from ..onnx._keras import export_keras

        export_keras(self, filepath, verbose=verbose, **kwargs)

    def get_config(self) -> dict:
        if self._functional is None:
            raise NotImplementedError(
                f"Model '{self.name}': a subclassed model has no layer config; save its weights with save_weights()"
            )
        return self._functional.get_config()


class Sequential(Model):
    """A linear stack of layers: ``Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(10)])``.

    Layers may be Keras layers or any ``nn.Module``. The model is built as soon as its input shape is known
    (from ``input_shape=`` on the first layer, a leading ``keras.Input``/``InputLayer``, or the first call).
    """

    def __init__(self, layers=None, name=None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self._stack: list = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Append a layer (a Keras layer, an ``nn.Module``, or a ``keras.Input`` as the first element)."""
        if isinstance(layer, KerasTensor):
            if self._stack or layer.layer is None:
                raise ValueError(f"Sequential '{self.name}': keras.Input can only be the first element")
            layer = layer.layer
        if not isinstance(layer, Module):
            raise TypeError(
                f"Sequential '{self.name}': expected a layer (an ember.nn.Module), received {type(layer).__name__}"
            )
        if isinstance(layer, InputLayer):
            if self._stack:
                raise ValueError(f"Sequential '{self.name}': an InputLayer can only be the first layer")
            self._batch_input_shape = layer._batch_input_shape
            self._input_name = layer.name  # the name the model's exported input takes
            return
        name = getattr(layer, "name", None)
        if name is not None and any(getattr(other, "name", None) == name for other in self._stack):
            raise ValueError(f"Sequential '{self.name}': two layers are named {name!r}; layer names must be unique")
        if not self._stack and isinstance(layer, Layer) and layer._batch_input_shape is not None:
            self._batch_input_shape = layer._batch_input_shape
        # registered by position, like nn.Sequential, so that weights files fit any instance of the architecture
        self.add_module(str(len(self._stack)), layer)
        self._stack.append(layer)
        self.built = False
        if self._batch_input_shape is not None:
            self.build(self._batch_input_shape)

    def pop(self):
        if not self._stack:
            raise TypeError(f"Sequential '{self.name}': there is no layer to remove")
        layer = self._stack.pop()
        del self._modules[str(len(self._stack))]
        self.built = False
        return layer

    @property
    def layers(self) -> list:
        return list(self._stack)

    def build(self, input_shape=None) -> None:
        """Build every layer for ``input_shape`` (batch dim included) and record each output shape."""
        input_shape = tuple(input_shape if input_shape is not None else self._batch_input_shape)
        shape = input_shape
        was_training = self.training
        self.eval()
        try:
            from .. import functions as F

            with no_grad():
                x = F.zeros(tuple(2 if s is None else s for s in shape), device=_device(self))
                for layer in self._stack:
                    x = _call_layer(layer, x, None)
                    if getattr(layer, "stateful", False):  # the shape-finding pass leaves no state behind
                        layer.reset_state()
                    if isinstance(layer, Layer):
                        layer._output_shape = (input_shape[0],) + tuple(x.shape[1:])
                    else:
                        layer._ember_output_shape = (input_shape[0],) + tuple(x.shape[1:])
        finally:
            self.train(was_training)
        self._output_shape = (input_shape[0],) + tuple(x.shape[1:])
        if self._batch_input_shape is None:
            self._batch_input_shape = (None,) + tuple(input_shape[1:])
        self.built = True

    def call(self, inputs, training=None):
        x, mask = inputs, None
        for layer in self._stack:
            x, mask = _call_layer(layer, x, training, mask), _output_mask(layer, x, mask)
        return x

    def get_config(self) -> dict:
        from .saving import serialize_layer

        return {
            "name": self.name,
            "batch_input_shape": list(self._batch_input_shape) if self._batch_input_shape else None,
            "layers": [serialize_layer(layer) for layer in self._stack],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .saving import deserialize_layer

        model = cls(name=config["name"])
        if config.get("batch_input_shape"):
            model._batch_input_shape = tuple(config["batch_input_shape"])
        for layer_config in config["layers"]:
            model.add(deserialize_layer(layer_config, custom_objects))
        return model


class _FunctionalGraph:
    """The layer graph of a functional model: nodes in topological order, run with a value per KerasTensor."""

    def __init__(self, model: Model, inputs, outputs):
        self.single_input = isinstance(inputs, KerasTensor)
        self.single_output = isinstance(outputs, KerasTensor)
        self.inputs = [inputs] if self.single_input else list(inputs)
        self.outputs = [outputs] if self.single_output else list(outputs)
        for tensor in self.inputs + self.outputs:
            if not isinstance(tensor, KerasTensor):
                raise TypeError(f"Model '{model.name}': inputs and outputs must come from keras.Input and layer calls")
        self.nodes = self._topological_nodes()
        self.layers = []
        for tensor in self.inputs:
            self.layers.append(tensor.layer)
        for node in self.nodes:
            if node.layer not in self.layers:
                self.layers.append(node.layer)
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"Model '{model.name}': layer names must be unique, received {names}")
        for index, layer in enumerate(self.layers):
            model.add_module(str(index), layer)  # by position: weights files fit any instance of the graph
        model._batch_input_shape = self.inputs[0].shape if self.single_input else None
        model._output_shape = self.outputs[0].shape if self.single_output else [o.shape for o in self.outputs]

    def _topological_nodes(self):
        input_ids = {id(t) for t in self.inputs}
        order, state = [], {}
        stack = [(t, False) for t in reversed(self.outputs)]
        while stack:
            tensor, expanded = stack.pop()
            if id(tensor) in input_ids or state.get(id(tensor)) == "done":
                continue
            if expanded:
                state[id(tensor)] = "done"
                order.append(tensor)
                continue
            if tensor.layer is None or isinstance(tensor.layer, InputLayer):
                raise ValueError(f"functional model: {tensor} does not depend on the model's inputs")
            stack.append((tensor, True))
            for parent in reversed(tensor.inputs):
                stack.append((parent, False))
        return order

    def run(self, inputs, training):
        values, masks, calls = {}, {}, {}
        given = [inputs] if self.single_input else list(inputs)
        if len(given) != len(self.inputs):
            raise ValueError(f"functional model: expected {len(self.inputs)} inputs, received {len(given)}")
        for symbolic, value in zip(self.inputs, given):
            symbolic.layer.check_input(value)
            values[id(symbolic)] = value
        for node in self.nodes:
            key = (id(node.layer),) + tuple(id(parent) for parent in node.inputs)
            if key not in calls:  # a layer with several outputs runs once for all of them
                arguments = [values[id(parent)] for parent in node.inputs]
                argument_masks = [masks.get(id(parent)) for parent in node.inputs]
                argument = arguments[0] if len(arguments) == 1 else arguments
                mask = argument_masks[0] if len(arguments) == 1 else (
                    None if all(m is None for m in argument_masks) else argument_masks)
                calls[key] = (_call_layer(node.layer, argument, training, mask),
                              _output_mask(node.layer, argument, mask))
            output, mask = calls[key]
            if node.output_index is not None:
                output = output[node.output_index]
                mask = mask[node.output_index] if isinstance(mask, (list, tuple)) else None
            values[id(node)], masks[id(node)] = output, mask
        results = [values[id(output)] for output in self.outputs]
        return results[0] if self.single_output else results

    def get_config(self):
        from .saving import serialize_functional

        return serialize_functional(self)


def _device(module: Module):
    for parameter in module.parameters():
        return parameter.device
    return None


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):  # noqa: A002
    """Rebuild a model written by ``model.save(path)`` (see ``ember.keras.saving``)."""
    from .saving import load_model as load

    return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
