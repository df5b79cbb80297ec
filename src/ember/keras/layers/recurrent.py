"""Keras recurrent layers: ``SimpleRNN``, ``LSTM``, ``GRU``, and the wrappers ``Bidirectional``, ``TimeDistributed``.

Inputs are ``(batch, timesteps, features)``. Weights use Keras's names and layouts: ``kernel`` ``(features,
G·units)``, ``recurrent_kernel`` ``(units, G·units)`` and ``bias``, with Keras's gate orders (LSTM i, f, c, o;
GRU z, r, h). The input projection of every step is one product before the loop. With the default activations
the recurrence runs on the nodes of ``ember.functions.recurrent`` that ``nn.RNN``/``nn.LSTM``/``nn.GRU`` use:
while ``fast_paths`` is on and there is no mask or recurrent dropout, one sequence node for all steps
(back-propagation through time on arrays); otherwise one cell node per step. Keras's LSTM gates are PyTorch's
i, f, g, o in a transposed layout, and a GRU's z and r columns swap places; other activations, recurrent
dropout on a GRU and ``reset_after=False`` compose Ember ops.

Masks follow Keras: a ``(batch, timesteps)`` boolean mask (from ``Embedding(mask_zero=True)``, ``Masking`` or
``mask=``) makes a masked step carry the previous state forward; its output is the previous output, or zeros
when ``zero_output_for_mask`` (set by ``Bidirectional`` on layers that return sequences, as Keras does).
"""
from __future__ import annotations

import numpy as np

from ... import config
from ... import functions as F
from ...autograd.tensor import Tensor
from ...functions.linalg import affine
from ...functions.recurrent import GRUSequence, LSTMSequence, RNNSequence
from .. import activations, initializers, regularizers
from .base import Layer

_CELL_ACTIVATIONS = ("tanh", "relu")


def _activation_name(activation) -> str | None:
    try:
        return activations.serialize(activation)
    except TypeError:
        return None


def _check_dropout(layer: str, name: str, rate: float) -> float:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{layer}: {name} must be in [0, 1), received {rate}")
    return float(rate)


class _RNN(Layer):
    """The time loop shared by SimpleRNN, LSTM and GRU; subclasses define the weights and one step."""

    supports_masking = True
    gate_count = 1
    state_count = 1

    def __init__(self, units: int, activation="tanh", use_bias: bool = True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, **kwargs):
        super().__init__(**kwargs)
        layer = type(self).__name__
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{layer}: units must be a positive integer, received {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = _check_dropout(layer, "dropout", dropout)
        self.recurrent_dropout = _check_dropout(layer, "recurrent_dropout", recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras code; the loop is the same either way
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states: list | None = None

    # ------------------------------------------------------------------------------------- building
    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise self.input_error("a 3-d input (batch, timesteps, features) with known features",
                                   tuple(input_shape))
        features, width = int(input_shape[-1]), self.gate_count * self.units
        self.add_weight("kernel", (features, width), self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                        regularizer=self.recurrent_regularizer)
        if self.use_bias:
            self.add_weight("bias", self.bias_shape(), self.bias_initializer_array(),
                            regularizer=self.bias_regularizer)

    def bias_shape(self) -> tuple:
        return (self.gate_count * self.units,)

    def bias_initializer_array(self):
        return self.bias_initializer

    def check_input(self, inputs):
        if inputs.ndim != 3:
            raise self.input_error("a 3-d input (batch, timesteps, features)", tuple(inputs.shape))
        if inputs.shape[-1] != self.kernel.shape[0]:
            raise self.input_error(f"input with {self.kernel.shape[0]} features on the last axis",
                                   tuple(inputs.shape))

    def compute_output_shape(self, input_shape):
        # a functional model builds its layers as it is wired, so set_weights works before the first call
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * self.state_count
        return output

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * self.state_count if self.return_state else output_mask

    # -------------------------------------------------------------------------------------- states
    def reset_state(self) -> None:
        """Clear the states a ``stateful`` layer keeps between calls (the next call starts from zeros)."""
        self.states = None

    reset_states = reset_state

    def _initial_states(self, inputs, initial_state) -> list:
        batch = inputs.shape[0]
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != self.state_count or any(tuple(s.shape) != (batch, self.units) for s in states):
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': expected initial_state of {self.state_count} tensor(s) "
                    f"of shape {(batch, self.units)}, received shapes {[tuple(s.shape) for s in states]}")
            return [s if isinstance(s, Tensor) else F.tensor(np.asarray(s, dtype=inputs.dtype)) for s in states]
        if self.stateful and self.states is not None and self.states[0].shape[0] == batch:
            return list(self.states)
        return [F.zeros((batch, self.units), dtype=inputs.dtype, device=inputs.device)
                for _ in range(self.state_count)]

    # ------------------------------------------------------------------------------------- calling
    def call(self, inputs, initial_state=None, mask=None, training=None):
        states = self._initial_states(inputs, initial_state)
        batch, steps = inputs.shape[0], inputs.shape[1]
        if training and self.dropout > 0:  # one mask per sequence, as Keras
            ones = F.ones((batch, 1, inputs.shape[2]), dtype=inputs.dtype, device=inputs.device)
            inputs = inputs * F.dropout(ones, self.dropout, training=True)
        recurrent_mask = None
        if training and self.recurrent_dropout > 0:
            ones = F.ones((batch, self.units), dtype=inputs.dtype, device=inputs.device)
            recurrent_mask = F.dropout(ones, self.recurrent_dropout, training=True)
        if mask is None and recurrent_mask is None and config.get("fast_paths"):
            sequence = self.run_sequence(inputs, states)  # one node for all steps, or None where it declines
            if sequence is not None:
                return self._sequence_result(*sequence)
        projections = self.project_inputs(inputs)
        step_mask = None
        if mask is not None:
            mask_array = np.asarray(mask.array if isinstance(mask, Tensor) else mask)
            if mask_array.shape != (batch, steps):
                raise ValueError(f"{type(self).__name__} '{self.name}': expected a mask of shape {(batch, steps)}, "
                                 f"received {mask_array.shape}")
            step_mask = F.tensor(mask_array.astype(inputs.dtype), device=inputs.device).unsqueeze(-1)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        output = F.zeros((batch, self.units), dtype=inputs.dtype, device=inputs.device)
        outputs = []
        for t in order:
            new_output, new_states = self.step(projections[:, t], states, recurrent_mask)
            if step_mask is None:
                output, states = new_output, new_states
            else:
                keep = step_mask[:, t]
                states = [keep * new + (1.0 - keep) * old for new, old in zip(new_states, states)]
                held = 0.0 if self.zero_output_for_mask else (1.0 - keep) * output
                output = keep * new_output + held
            outputs.append(output)
        if self.stateful:
            self.states = [s.detach() for s in states]
        result = F.stack(outputs, dim=1) if self.return_sequences else output
        return [result, *states] if self.return_state else result

    def _sequence_result(self, hidden, states):
        """The layer's result from a sequence node's every hidden state ``(timesteps, batch, units)`` (time
        order) and final states; Keras's sequence output follows the processing order, reversed with
        ``go_backwards``."""
        if self.stateful:
            self.states = [s.detach() for s in states]
        if self.return_sequences:
            if self.go_backwards:
                hidden = F.flip(hidden, dims=(0,))
            result = hidden.permute(1, 0, 2)
        else:
            result = states[0]
        return [result, *states] if self.return_state else result

    def run_sequence(self, inputs, states: list):
        """All steps as one ``ember.functions.recurrent`` sequence node (when ``fast_paths`` is on, without a
        mask or recurrent dropout): every hidden state ``(timesteps, batch, units)`` in time order and the
        final states, or None where the layer's activations have no such node."""
        return None

    def project_inputs(self, inputs):
        """Every step's input projection ``inputs @ kernel + bias``: ``(batch, timesteps, G·units)``."""
        return affine(inputs, self.kernel, self.bias if self.use_bias else None)

    def _time_major_projection(self, inputs, kernel, bias):
        """``inputs @ kernel + bias`` with time first: ``(timesteps, batch, G·units)``, as the sequence nodes
        take it."""
        return affine(inputs.permute(1, 0, 2), kernel, bias)

    def step(self, projection, states: list, recurrent_mask):  # pragma: no cover - abstract
        raise NotImplementedError

    # --------------------------------------------------------------------------------------- config
    def get_config(self):
        return {
            **super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }

    def extra_repr(self):
        return f"name={self.name!r}, units={self.units}, return_sequences={self.return_sequences}"


class SimpleRNN(_RNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``.

    Weights: kernel ``(features, units)``, recurrent_kernel ``(units, units)``, bias ``(units,)``.
    Shape: ``(batch, timesteps, features)`` → ``(batch, units)``, or ``(batch, timesteps, units)`` with
    ``return_sequences``; ``return_state`` adds the final state ``(batch, units)``.
    """

    def run_sequence(self, inputs, states):
        name = _activation_name(self.activation)
        if name not in _CELL_ACTIVATIONS:
            return None
        x = self._time_major_projection(inputs, self.kernel, None)  # the node adds the bias to each step
        weights = (self.recurrent_kernel.mT, self.bias) if self.use_bias else (self.recurrent_kernel.mT,)
        hidden = RNNSequence(name, self.go_backwards)(x, states[0], *weights)
        return hidden, [hidden[0 if self.go_backwards else -1]]

    def step(self, projection, states, recurrent_mask):
        h = states[0]
        h_in = h if recurrent_mask is None else h * recurrent_mask
        name = _activation_name(self.activation)
        if name in _CELL_ACTIVATIONS:
            h_next = F.rnn_cell(projection, h_in, self.recurrent_kernel.mT, None, nonlinearity=name)
        else:
            h_next = self.activation(projection + F.matmul(h_in, self.recurrent_kernel))
        return h_next, [h_next]


class LSTM(_RNN):
    """Long short-term memory, gates i, f, c, o (Keras's order) along the last axis of the weights.

    ``c_t = f * c_{t-1} + i * activation(z_c)``, ``h_t = o * activation(c_t)`` with ``i, f, o =
    recurrent_activation(z)`` and ``z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias``.
    Weights: kernel ``(features, 4·units)``, recurrent_kernel ``(units, 4·units)``, bias ``(4·units,)`` (the
    forget gate's part initialised to ones with ``unit_forget_bias``). States: ``[h, c]``.
    """

    gate_count = 4
    state_count = 2

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def bias_initializer_array(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, initializer = self.units, self.bias_initializer

        def forget_ones(shape, dtype=None):
            return np.concatenate([initializer((units,), dtype), np.ones((units,), dtype=np.float32),
                                   initializer((2 * units,), dtype)])
        return forget_ones

    def run_sequence(self, inputs, states):
        if _activation_name(self.activation) != "tanh" or _activation_name(self.recurrent_activation) != "sigmoid":
            return None
        x = self._time_major_projection(inputs, self.kernel, None)  # the node adds the bias to each step
        weights = (self.recurrent_kernel.mT, self.bias) if self.use_bias else (self.recurrent_kernel.mT,)
        hidden, cells = LSTMSequence(self.go_backwards)(x, states[0], states[1], *weights)
        last = 0 if self.go_backwards else -1
        return hidden, [hidden[last], cells[last]]

    def step(self, projection, states, recurrent_mask):
        h, c = states
        h_in = h if recurrent_mask is None else h * recurrent_mask
        if _activation_name(self.activation) == "tanh" and _activation_name(self.recurrent_activation) == "sigmoid":
            h_next, c_next = F.lstm_cell(projection, h_in, c, self.recurrent_kernel.mT, None)
        else:
            z = projection + F.matmul(h_in, self.recurrent_kernel)
            z_i, z_f, z_c, z_o = F.split(z, self.units, dim=-1)
            gate = self.recurrent_activation
            c_next = gate(z_f) * c + gate(z_i) * self.activation(z_c)
            h_next = gate(z_o) * self.activation(c_next)
        return h_next, [h_next, c_next]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit, gates z, r, h (Keras's order) along the last axis of the weights.

    ``h_t = z * h_{t-1} + (1 - z) * activation(x_h + r * (h_{t-1} @ U_h + b_rh))`` with ``reset_after=True``
    (the default; bias ``(2, 3·units)``: input bias, then recurrent bias), or
    ``activation(x_h + (r * h_{t-1}) @ U_h)`` with ``reset_after=False`` (bias ``(3·units,)``).
    Weights: kernel ``(features, 3·units)``, recurrent_kernel ``(units, 3·units)``.
    """

    gate_count = 3

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 reset_after: bool = True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def project_inputs(self, inputs):
        bias = None
        if self.use_bias:
            bias = self.bias[0] if self.reset_after else self.bias
        return affine(inputs, self.kernel, bias)

    def _uses_cell(self, recurrent_mask) -> bool:
        return (self.reset_after and recurrent_mask is None and _activation_name(self.activation) == "tanh"
                and _activation_name(self.recurrent_activation) == "sigmoid")

    def _cell_order(self, weight, dim: int = 1):
        """Keras's gate blocks z, r, h reordered as the cells' r, z, n along ``dim``."""
        units = self.units
        blocks = [weight[:, :units], weight[:, units:2 * units], weight[:, 2 * units:]] if dim == 1 else \
            [weight[:units], weight[units:2 * units], weight[2 * units:]]
        return F.cat([blocks[1], blocks[0], blocks[2]], dim=dim)

    def run_sequence(self, inputs, states):
        if not self._uses_cell(None):
            return None
        input_bias = self._cell_order(self.bias[0], dim=0) if self.use_bias else None
        x = self._time_major_projection(inputs, self._cell_order(self.kernel), input_bias)
        tensors = [x, states[0], self._cell_order(self.recurrent_kernel).mT]
        if self.use_bias:
            tensors.append(self._cell_order(self.bias[1], dim=0))
        hidden = GRUSequence(self.go_backwards)(*tensors)
        return hidden, [hidden[0 if self.go_backwards else -1]]

    def step(self, projection, states, recurrent_mask):
        h = states[0]
        units = self.units
        if self._uses_cell(recurrent_mask):
            # the cell's gate order is r, z, n: swap Keras's first two blocks
            x = self._cell_order(projection)
            bias = self._cell_order(self.bias[1], dim=0) if self.use_bias else None
            h_next = F.gru_cell(x, h, self._cell_order(self.recurrent_kernel).mT, bias)
            return h_next, [h_next]
        h_in = h if recurrent_mask is None else h * recurrent_mask
        x_z, x_r, x_h = F.split(projection, units, dim=-1)
        gate = self.recurrent_activation
        if self.reset_after:
            inner = F.matmul(h_in, self.recurrent_kernel)
            if self.use_bias:
                inner = inner + self.bias[1]
            inner_z, inner_r, inner_h = F.split(inner, units, dim=-1)
            z, r = gate(x_z + inner_z), gate(x_r + inner_r)
            candidate = self.activation(x_h + r * inner_h)
        else:
            inner = F.matmul(h_in, self.recurrent_kernel[:, :2 * units])
            inner_z, inner_r = F.split(inner, units, dim=-1)
            z, r = gate(x_z + inner_z), gate(x_r + inner_r)
            candidate = self.activation(x_h + F.matmul(r * h_in, self.recurrent_kernel[:, 2 * units:]))
        h_next = z * h + (1.0 - z) * candidate
        return h_next, [h_next]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges their outputs.

    Args: layer (a SimpleRNN/LSTM/GRU; two new layers ``forward_<name>`` and ``backward_<name>`` are made
    from its config, as Keras does), merge_mode ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"`` or
    None (a list of both outputs), backward_layer (optional, with the opposite ``go_backwards``).
    The backward layer's sequence is flipped back to time order before merging. With ``return_state`` the
    states follow the output: forward's, then backward's. Layers that return sequences output zeros at
    masked steps. Weights: the forward layer's, then the backward layer's.
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, _RNN):
            raise ValueError(f"Bidirectional: expected a recurrent layer (SimpleRNN, LSTM, GRU), received "
                             f"{type(layer).__name__}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {_MERGE_MODES}, received {merge_mode!r}")
        if weights is not None:
            raise ValueError("Bidirectional: weights= is not supported; call set_weights() after building")
        if "batch_input_shape" not in kwargs and "input_shape" not in kwargs and layer._batch_input_shape:
            kwargs["batch_input_shape"] = layer._batch_input_shape
        super().__init__(**kwargs)
        config = {k: v for k, v in layer.get_config().items() if k != "batch_input_shape"}
        config["dtype"] = layer._dtype
        base = layer.name.removeprefix("forward_").removeprefix("backward_")
        self.forward_layer = type(layer).from_config({**config, "name": "forward_" + base})
        if backward_layer is None:
            backward_layer = type(layer).from_config({**config, "name": "backward_" + base,
                                                      "go_backwards": not layer.go_backwards})
        elif not isinstance(backward_layer, _RNN):
            raise ValueError(f"Bidirectional: backward_layer must be a recurrent layer, received "
                             f"{type(backward_layer).__name__}")
        self.backward_layer = backward_layer
        for attribute in ("stateful", "return_sequences", "return_state"):
            if getattr(self.forward_layer, attribute) != getattr(self.backward_layer, attribute):
                raise ValueError(f"Bidirectional: the forward and backward layers differ in {attribute}")
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Bidirectional: the forward and backward layers must differ in go_backwards")
        for sublayer in (self.forward_layer, self.backward_layer):
            sublayer.zero_output_for_mask = sublayer.return_sequences
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def build(self, input_shape):
        for sublayer in (self.forward_layer, self.backward_layer):
            if not sublayer.built:
                sublayer.build(input_shape)
                sublayer.built = True

    def check_input(self, inputs):
        self.forward_layer.check_input(inputs)

    def _merge(self, forward, backward):
        if self.merge_mode == "concat":
            return F.cat([forward, backward], dim=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "ave":
            return (forward + backward) * 0.5
        if self.merge_mode == "mul":
            return forward * backward
        return [forward, backward]

    def call(self, inputs, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        forward = self.forward_layer(inputs, initial_state=forward_state, mask=mask, training=training)
        backward = self.backward_layer(inputs, initial_state=backward_state, mask=mask, training=training)
        states: list = []
        if self.return_state:
            states = forward[1:] + backward[1:]
            forward, backward = forward[0], backward[0]
        if self.return_sequences:
            backward = F.flip(backward, dims=(1,))
        output = self._merge(forward, backward)
        if self.return_state:
            return (output if isinstance(output, list) else [output]) + states
        return output

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True
        shape = self.forward_layer.compute_output_shape(input_shape)
        states: list = []
        if self.return_state:
            shape, states = shape[0], shape[1:]
        if self.merge_mode == "concat":
            shape = shape[:-1] + (2 * shape[-1],)
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        if self.return_state:
            return outputs + states + states
        return outputs if self.merge_mode is None else shape

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        outputs = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            return outputs + [None] * (2 * self.forward_layer.state_count)
        return outputs if self.merge_mode is None else output_mask

    def reset_state(self) -> None:
        if not self.stateful:
            raise AttributeError(f"Bidirectional '{self.name}': the layer is not stateful")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def get_config(self):
        from ..saving import serialize_layer

        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize_layer(self.forward_layer), "backward_layer": serialize_layer(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        from ..saving import deserialize_layer

        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_layer(config["backward_layer"])
        return cls(**config)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: ``(batch, timesteps, ...)`` → ``(batch, timesteps, ...out)``.

    The steps are folded into the batch for one call of ``layer``; its weights are shared by every step.
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        from ...nn import Module

        if not isinstance(layer, Module):
            raise ValueError(f"TimeDistributed: expected a layer, received {type(layer).__name__}")
        super().__init__(**kwargs)
        self.layer = layer

    def check_input(self, inputs):
        if inputs.ndim < 3:
            raise self.input_error("an input of at least 3 dims (batch, timesteps, ...)", tuple(inputs.shape))

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise self.input_error("an input of at least 3 dims (batch, timesteps, ...)", tuple(input_shape))

    def call(self, inputs, training=None):
        batch, steps = inputs.shape[0], inputs.shape[1]
        folded = inputs.reshape((batch * steps,) + tuple(inputs.shape[2:]))
        if isinstance(self.layer, Layer) and training is not None:
            output = self.layer(folded, training=training)
        else:
            output = self.layer(folded)
        return output.reshape((batch, steps) + tuple(output.shape[1:]))

    def get_config(self):
        from ..saving import serialize_layer

        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config):
        from ..saving import deserialize_layer

        return cls(**{**config, "layer": deserialize_layer(config["layer"])})


__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed"]
