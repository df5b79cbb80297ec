"""Recurrent layers with ``torch.nn``'s names, parameters and layouts: ``RNN``, ``LSTM``, ``GRU`` and the single
steps ``RNNCell``, ``LSTMCell``, ``GRUCell``.

A layer computes the input projection of every time step with one GEMM per layer and direction, then runs the
recurrence (``ember.functions.recurrent``): while the ``fast_paths`` setting is on, as one sequence node per layer
and direction (``LSTMSequence``, ``GRUSequence``, ``RNNSequence``: back-propagation through time on arrays, the
hidden weight's gradient as one GEMM over all steps); otherwise, the reference path, as one cell node per step.
An LSTM with ``proj_size`` runs ``ProjectedLSTMSequence`` (the reference path: a cell and a product per step).
A ``PackedSequence`` input runs the same nodes with the per-step batch sizes, so that each step computes only
the sequences still running (the reference path: one cell per step on those rows).
"""
from __future__ import annotations

import math

import numpy as np

from ... import config
from ...autograd.tensor import Tensor
from ...backend.device import get_array_module
from ...functions.creation import zeros
from ...functions.indexing import getitem
from ...functions.dropout import dropout as dropout_function
from ...functions.linalg import affine, matmul
from ...functions.recurrent import GRUCell as GRUStep
from ...functions.recurrent import (GRUSequence, LSTMSequence, PackRows, PadRows, ProjectedLSTMSequence,
                                   RNNSequence)
from ...functions.recurrent import LSTMCell as LSTMStep
from ...functions.recurrent import RNNCell as RNNStep
from ...functions.shape import cat, split, stack
from .. import init
from ..utils.rnn import PackedSequence
from ._utils import check_size, new_parameter
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _step(mode: str, x: Tensor, state: tuple, weight_hh: Tensor, bias_hh: Tensor | None) -> tuple:
    """One cell node: the next state, as a tuple (h,) or (h, c)."""
    tensors = (x, *state, weight_hh) if bias_hh is None else (x, *state, weight_hh, bias_hh)
    if mode == "LSTM":
        return LSTMStep()(*tensors)
    if mode == "GRU":
        return (GRUStep()(*tensors),)
    return (RNNStep("tanh" if mode == "RNN_TANH" else "relu")(*tensors),)


def _projected(state: tuple, weight_hr: Tensor | None) -> tuple:
    """An LSTM step's (h, c) with h projected by weight_hr (P, H), as PyTorch's ``proj_size``."""
    return state if weight_hr is None else (matmul(state[0], weight_hr.mT), state[1])


def _sequence_node(mode: str, x: Tensor, state: tuple, weight_hh: Tensor, weight_hr: Tensor | None,
                   bias_hh: Tensor | None, reverse: bool, batch_sizes=None) -> tuple:
    """One sequence node over all steps of x (L, N, G * H): every step's states, as a tuple (hs,) or (hs, cs),
    each (L, N, ·); with ``batch_sizes`` the steps of a packed batch (zeros where rows did not run)."""
    weights = (weight_hh,) if weight_hr is None else (weight_hh, weight_hr)
    tensors = (x, *state, *weights) if bias_hh is None else (x, *state, *weights, bias_hh)
    if mode == "LSTM":
        node = LSTMSequence(reverse, batch_sizes) if weight_hr is None else ProjectedLSTMSequence(reverse,
                                                                                                  batch_sizes)
        return node(*tensors)
    if mode == "GRU":
        return (GRUSequence(reverse, batch_sizes)(*tensors),)
    return (RNNSequence("tanh" if mode == "RNN_TANH" else "relu", reverse, batch_sizes)(*tensors),)


def _sequence(mode: str, x: Tensor, state: tuple, weight_hh: Tensor, weight_hr: Tensor | None,
              bias_hh: Tensor | None, reverse: bool) -> tuple:
    """One sequence node over all steps of x (L, N, G * H): every step's hidden state (L, N, H) and the last
    state, as a tuple (h,) or (h, c)."""
    last = 0 if reverse else x.shape[0] - 1
    states = _sequence_node(mode, x, state, weight_hh, weight_hr, bias_hh, reverse)
    return states[0], tuple(values[last] for values in states)


class _PackedSteps:
    """Where the rows of a packed batch (time step after time step, sorted by decreasing length) lie in the
    padded (L, N) layout of the sequence nodes, from the per-step batch sizes."""

    def __init__(self, batch_sizes: np.ndarray, xp):
        self.batch_sizes = batch_sizes  # on the host: the nodes read it there
        self.steps, self.batch = len(batch_sizes), int(batch_sizes[0])
        running = batch_sizes[:, None] > np.arange(self.batch)[None, :]  # (L, N)
        step, rank = np.nonzero(running)  # row-major: the packed order
        lengths = running.sum(axis=0)
        # flat positions in (L, N), on the data's device: of each packed row, of each sequence's last step
        self.packed_positions = xp.asarray(step * self.batch + rank)
        self.last_positions = xp.asarray((lengths - 1) * self.batch + np.arange(self.batch))

    def pad(self, rows: Tensor) -> Tensor:
        """(sum of lengths, F) packed rows -> (L, N, F), zeros where sequences have ended."""
        padded = PadRows(self.packed_positions, self.steps * self.batch)(rows)
        return padded.reshape(self.steps, self.batch, rows.shape[1])

    def pack(self, padded: Tensor) -> Tensor:
        """(L, N, F) -> (sum of lengths, F) packed rows."""
        return PackRows(self.packed_positions)(padded.reshape(self.steps * self.batch, padded.shape[2]))

    def last(self, padded: Tensor, reverse: bool) -> Tensor:
        """Each sequence's final state (N, F): at its last step, or at step 0 in reverse."""
        if reverse:
            return padded[0]
        return PackRows(self.last_positions)(padded.reshape(self.steps * self.batch, padded.shape[2]))


def _carry(update: Tensor, carried: Tensor) -> Tensor:
    """The carried state (N, ·) with its first rows replaced by ``update``."""
    rows = update.shape[0]
    return update if rows == carried.shape[0] else cat([update, carried[rows:]], dim=0)


def _batch_sizes(layer: str, packed: PackedSequence) -> np.ndarray:
    """A PackedSequence's batch sizes as an int64 NumPy array, checked against its data."""
    sizes = packed.batch_sizes
    sizes = np.asarray(sizes.cpu().numpy() if isinstance(sizes, Tensor) else sizes)
    data = packed.data
    if sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iu" or (sizes <= 0).any() \
            or (np.diff(sizes) > 0).any():
        raise ValueError(f"{layer}: expected PackedSequence batch_sizes as a non-increasing 1-d array of positive "
                         f"ints, received {sizes.tolist()}")
    if not isinstance(data, Tensor) or data.ndim != 2 or int(sizes.sum()) != data.shape[0]:
        received = data.shape if isinstance(data, Tensor) else type(data).__name__
        raise ValueError(f"{layer}: expected PackedSequence data of shape ({int(sizes.sum())}, H_in) (the sum of "
                         f"batch_sizes {sizes.tolist()}), received {received}")
    return sizes.astype(np.int64)


def _indices(indices) -> np.ndarray | None:
    """A PackedSequence's sorted or unsorted indices on the host (they may have moved with ``.to``)."""
    if indices is None:
        return None
    return np.asarray(indices.cpu().numpy() if isinstance(indices, Tensor) else indices).astype(np.int64)


def _check_dtype(layer: str, input: Tensor, weight: Tensor) -> None:
    if input.dtype != weight.dtype:
        raise TypeError(f"{layer}: expected input of dtype {weight.dtype} (the parameters'), received {input.dtype}")


def _reject_projection(layer: str, proj_size) -> None:
    if proj_size is not None:
        raise ValueError(f"{layer}: proj_size argument is only supported for LSTM, not RNN or GRU (received "
                         f"proj_size={proj_size!r})")


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters of each layer and direction, and the loop over time."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None, proj_size: int = 0):
        super().__init__()
        layer = type(self).__name__
        self.mode = mode
        self.input_size = check_size(input_size, "input_size", layer, 1)
        self.hidden_size = check_size(hidden_size, "hidden_size", layer, 1)
        self.num_layers = check_size(num_layers, "num_layers", layer, 1)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{layer}: dropout should be a number in [0, 1], received {dropout!r}")
        if isinstance(proj_size, int) and proj_size < 0:
            raise ValueError(f"{layer}: proj_size should be a positive integer or zero to disable projections, "
                             f"received {proj_size}")
        self.proj_size = check_size(proj_size, "proj_size", layer, 0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"{layer}: proj_size has to be smaller than hidden_size, received proj_size="
                             f"{self.proj_size} with hidden_size={self.hidden_size}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        gate_size = _GATES[mode] * self.hidden_size
        for index in range(self.num_layers):
            layer_input = self.input_size if index == 0 else self.output_size * self.num_directions
            for suffix in self._suffixes(index):
                setattr(self, f"weight_ih{suffix}", new_parameter((gate_size, layer_input), device, dtype))
                setattr(self, f"weight_hh{suffix}", new_parameter((gate_size, self.output_size), device, dtype))
                if self.bias:
                    setattr(self, f"bias_ih{suffix}", new_parameter((gate_size,), device, dtype))
                    setattr(self, f"bias_hh{suffix}", new_parameter((gate_size,), device, dtype))
                if self.proj_size:
                    setattr(self, f"weight_hr{suffix}", new_parameter((self.proj_size, self.hidden_size), device,
                                                                      dtype))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Features of h: proj_size when the LSTM projects its hidden state, else hidden_size."""
        return self.proj_size or self.hidden_size

    def _suffixes(self, index: int) -> list[str]:
        return [f"_l{index}", f"_l{index}_reverse"][:self.num_directions]

    def reset_parameters(self) -> None:
        """PyTorch's default: every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    def flatten_parameters(self) -> None:
        """Accepted for PyTorch code (which calls it for cuDNN); Ember's parameters need no flattening."""

    def _state_shape(self, batch: int | None, name: str = "h0") -> tuple:
        rows = self.num_layers * self.num_directions
        size = self.hidden_size if name == "c0" else self.output_size
        return (rows, size) if batch is None else (rows, batch, size)

    def _check_input(self, input: Tensor) -> None:
        layer = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{layer}: expected a Tensor or a PackedSequence input, received "
                            f"{type(input).__name__}")
        layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{layer}: expected input of shape {layout} or (L, H_in) with H_in = {self.input_size}, "
                f"received shape {input.shape}"
            )
        time_axis = 1 if self.batch_first and input.ndim == 3 else 0
        if input.shape[time_axis] == 0:
            raise ValueError(f"{layer}: expected a sequence of at least one step, received shape {input.shape}")
        _check_dtype(layer, input, self.weight_ih_l0)

    def _check_state(self, name: str, state, batch: int | None) -> None:
        layer = type(self).__name__
        expected = self._state_shape(batch, name)
        if not isinstance(state, Tensor) or state.shape != expected:
            received = state.shape if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"{layer}: expected {name} of shape {expected}, received {received}")
        _check_dtype(f"{layer} ({name})", state, self.weight_ih_l0)

    def _initial_states(self, hx, batch: int | None, input: Tensor) -> list[Tensor]:
        """h0 (and c0 for LSTM) as batched (layers * directions, N, ·) tensors."""
        names = ("h0", "c0") if self.mode == "LSTM" else ("h0",)
        if hx is None:
            return [zeros(self._state_shape(batch if batch is not None else 1, name), dtype=input.dtype,
                          device=input.device) for name in names]
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError(f"LSTM: expected hx as a tuple (h0, c0), received {type(hx).__name__}")
            states = list(hx)
        else:
            states = [hx]
        for name, state in zip(names, states):
            self._check_state(name, state, batch)
        return states if batch is not None else [state.unsqueeze(1) for state in states]

    def _folds_input_bias(self) -> bool:
        """Whether a direction's sequence node adds b_ih + b_hh to each step's gates, its input projection
        being the bare product x @ W_ih.T: with fast paths on, for an RNN or LSTM with biases (a GRU keeps b_hn
        inside the reset gate's product). The sum is the same, rounded in another order; the compiled
        sequence kernels then add one bias per step instead of a pass over every step's projection, and its
        gradient is one column sum of the gates' gradients instead of two."""
        return self.bias and self.mode != "GRU" and bool(config.get("fast_paths"))

    def _weights(self, suffix: str) -> tuple:
        """weight_hh, weight_hr (None without a projection) and the bias the sequence adds to each step's
        product (None without biases): b_hh, or b_ih + b_hh where ``_folds_input_bias``."""
        bias = getattr(self, f"bias_hh{suffix}") if self.bias else None
        if self._folds_input_bias():
            bias = getattr(self, f"bias_ih{suffix}") + bias
        return (getattr(self, f"weight_hh{suffix}"), getattr(self, f"weight_hr{suffix}") if self.proj_size else None,
                bias)

    def _direction(self, projection: Tensor, state: tuple, suffix: str, reverse: bool) -> tuple[Tensor, tuple]:
        """Run one direction of one layer over time from the input projection (L, N, G * H); every step's
        output (L, N, H_out) and the final state."""
        weight_hh, weight_hr, bias_hh = self._weights(suffix)
        if config.get("fast_paths"):  # one node for the whole sequence
            return _sequence(self.mode, projection, state, weight_hh, weight_hr, bias_hh, reverse)
        steps, batch = projection.shape[0], projection.shape[1]
        # one node: the L steps' (N, G * H) projections
        inputs = split(projection.reshape(steps * batch, projection.shape[2]), batch, dim=0)
        outputs: list = [None] * steps
        for t in (reversed(range(steps)) if reverse else range(steps)):
            state = _projected(_step(self.mode, inputs[t], state, weight_hh, bias_hh), weight_hr)
            outputs[t] = state[0]
        return stack(outputs, dim=0), state

    def _packed_direction(self, projection: Tensor, layout: _PackedSteps, state: tuple, suffix: str,
                          reverse: bool) -> tuple[Tensor, tuple]:
        """Run one direction of one layer over a packed batch from the input projection (sum of lengths,
        G * H), each step on its running sequences only; returns the packed output and the final states."""
        weight_hh, weight_hr, bias_hh = self._weights(suffix)
        if config.get("fast_paths"):  # one node for the whole sequence, on the padded layout
            states = _sequence_node(self.mode, layout.pad(projection), state, weight_hh, weight_hr, bias_hh,
                                    reverse, layout.batch_sizes)
            return layout.pack(states[0]), tuple(layout.last(values, reverse) for values in states)
        sizes = layout.batch_sizes.tolist()
        inputs = split(projection, sizes, dim=0)  # one node: each step's (batch_sizes[t], G * H) rows
        outputs: list = [None] * layout.steps
        for t in (reversed(range(layout.steps)) if reverse else range(layout.steps)):
            rows = sizes[t]
            running = tuple(value if rows == layout.batch else value[:rows] for value in state)
            result = _projected(_step(self.mode, inputs[t], running, weight_hh, bias_hh), weight_hr)
            outputs[t] = result[0]
            state = tuple(_carry(new, value) for new, value in zip(result, state))  # ended rows keep theirs
        return cat(outputs, dim=0), state

    def _run_layers(self, layer_input: Tensor, initial: list[Tensor], run_direction) -> tuple:
        """Every layer and direction; ``run_direction(projection, state, suffix, reverse)`` runs one from its
        input projection (·, G * H): (L, N, ·) steps, or a packed batch's (rows, ·). Returns the last layer's
        output (·, D * H_out) and the final states, each (layers * D, N, ·)."""
        finals: list[list[Tensor]] = [[] for _ in initial]
        for index in range(self.num_layers):
            if index > 0 and self.dropout > 0 and self.training:
                layer_input = dropout_function(layer_input, self.dropout, True)
            directions = []
            for direction, suffix in enumerate(self._suffixes(index)):
                input_bias = getattr(self, f"bias_ih{suffix}") if self.bias and not self._folds_input_bias() else None
                projection = affine(layer_input, getattr(self, f"weight_ih{suffix}"), input_bias, transposed=True)
                row = index * self.num_directions + direction
                output, state = run_direction(projection, tuple(states[row] for states in initial), suffix,
                                              direction == 1)
                directions.append(output)
                for final, value in zip(finals, state):
                    final.append(value)
            layer_input = directions[0] if len(directions) == 1 else cat(directions, dim=-1)
        return layer_input, [stack(final, dim=0) for final in finals]

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        self._check_input(input)
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        batch = input.shape[1]
        initial = self._initial_states(hx, batch if batched else None, input)

        output, last = self._run_layers(input, initial, self._direction)
        if not batched:
            output = output.squeeze(1)
            last = [state.squeeze(1) for state in last]
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (tuple(last) if self.mode == "LSTM" else last[0])

    def _forward_packed(self, packed: PackedSequence, hx) -> tuple:
        """A PackedSequence in, a PackedSequence out (same batch_sizes and indices); ``hx`` and the final
        states in the caller's batch order, as PyTorch (which permutes them with sorted_indices)."""
        layer = type(self).__name__
        sizes = _batch_sizes(layer, packed)
        data = packed.data
        if data.shape[1] != self.input_size:
            raise ValueError(f"{layer}: expected PackedSequence data of shape ({data.shape[0]}, {self.input_size}) "
                             f"(H_in = {self.input_size}), received {data.shape}")
        _check_dtype(layer, data, self.weight_ih_l0)
        xp = get_array_module(data.array)
        layout = _PackedSteps(sizes, xp)
        sorted_indices, unsorted_indices = _indices(packed.sorted_indices), _indices(packed.unsorted_indices)
        if unsorted_indices is None and sorted_indices is not None:  # as PyTorch's PackedSequence derives it
            unsorted_indices = np.argsort(sorted_indices)
        for name, indices in (("sorted_indices", sorted_indices), ("unsorted_indices", unsorted_indices)):
            if indices is not None and (indices.shape != (layout.batch,)
                                        or not np.array_equal(np.sort(indices), np.arange(layout.batch))):
                raise ValueError(f"{layer}: expected PackedSequence {name} as a permutation of {layout.batch} "
                                 f"sequences, received {indices.tolist()}")
        initial = self._initial_states(hx, layout.batch, data)
        if hx is not None and sorted_indices is not None:
            initial = [getitem(state, (slice(None), xp.asarray(sorted_indices))) for state in initial]

        def run_direction(projection, state, suffix, reverse):
            return self._packed_direction(projection, layout, state, suffix, reverse)

        output, last = self._run_layers(data, initial, run_direction)
        if unsorted_indices is not None:
            last = [getitem(state, (slice(None), xp.asarray(unsorted_indices))) for state in last]
        result = PackedSequence(output, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return result, (tuple(last) if self.mode == "LSTM" else last[0])

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            text += ", nonlinearity='relu'"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh)``, act ``tanh`` or ``relu``.

    Args:
        input_size: features of each step's input (H_in).
        hidden_size: features of the hidden state (H).
        num_layers: stacked layers, each reading the previous layer's output (default 1).
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.
        bias: learn ``bias_ih`` and ``bias_hh`` (default True).
        batch_first: input and output as (N, L, H) instead of (L, N, H) (h_n keeps its layout).
        dropout: dropout on each layer's output but the last, in training mode only (default 0).
        bidirectional: run a second direction from the last step to the first (default False).
        device, dtype: where and in which floating dtype to create the parameters.

    Shape:
        input ``(L, N, H_in)`` (``(N, L, H_in)`` with batch_first) or unbatched ``(L, H_in)``; h0
        ``(num_layers * D, N, H)`` or ``(num_layers * D, H)``, zeros when omitted (D = 2 if bidirectional).
        Returns ``output, h_n``: output ``(L, N, D * H)`` (the directions concatenated), h_n like h0, the
        last state of each layer and direction, direction-major within a layer.

        The input may also be a ``nn.utils.rnn.PackedSequence`` (``batch_first`` does not apply): the
        output is then a PackedSequence with the same ``batch_sizes`` and indices; each sequence's state
        stops at its own length and its reverse direction starts at its own last element; h0 and h_n are
        in the caller's batch order. Each step computes only the sequences still running.

    Attributes:
        weight_ih_l{k}[_reverse] ``(H, H_in)`` (``(H, D * H)`` for k > 0), weight_hh_l{k}[_reverse] ``(H, H)``,
        bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] ``(H,)``; all from U(-1/sqrt(H), 1/sqrt(H)).

    ``proj_size`` is LSTM's: passing it here raises ValueError, as in PyTorch.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, proj_size=None):
        _reject_projection("RNN", proj_size)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', received {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, device, dtype)


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gates i, f, g, o:
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``.

    Args: as ``RNN`` without ``nonlinearity``, and
        proj_size: when > 0, project the hidden state to this many features (P), ``h_t = (o * tanh(c_t)) @
            W_hr.T``; 0 <= proj_size < hidden_size (default 0, no projection).

    Shape:
        input as ``RNN`` (a PackedSequence too); ``hx = (h0, c0)``, h0 ``(num_layers * D, N, H_out)`` and c0
        ``(num_layers * D, N, H)`` (or without N, unbatched), zeros when omitted, H_out = P with a
        projection, else H. Returns ``output, (h_n, c_n)``: output ``(L, N, D * H_out)``, h_n and c_n like
        h0 and c0.

    Attributes:
        weight_ih_l{k}[_reverse] ``(4H, H_in)`` (``(4H, D * H_out)`` for k > 0), weight_hh_l{k}[_reverse]
        ``(4H, H_out)``, biases ``(4H,)``, the gates stacked in the order i, f, g, o; with proj_size,
        weight_hr_l{k}[_reverse] ``(P, H)``. All from U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype, proj_size=proj_size)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's gates r, z, n with the reset gate applied after the hidden product:
    ``n = tanh(x W_in.T + b_in + r * (h W_hn.T + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.

    Args, Shape: as ``RNN`` without ``nonlinearity``.

    Attributes:
        weight_ih_l{k}[_reverse] ``(3H, H_in)``, weight_hh_l{k}[_reverse] ``(3H, H)``, biases ``(3H,)``, the
        gates stacked in the order r, z, n.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None, *, proj_size=None):
        _reject_projection("GRU", proj_size)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype)


class RNNCellBase(Module):
    """What the single-step cells share: weight_ih, weight_hh, bias_ih, bias_hh and the checks."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool, device, dtype):
        super().__init__()
        layer = type(self).__name__
        self.mode = mode
        self.input_size = check_size(input_size, "input_size", layer, 1)
        self.hidden_size = check_size(hidden_size, "hidden_size", layer, 1)
        self.bias = bool(bias)
        gate_size = _GATES[mode] * self.hidden_size
        self.weight_ih = new_parameter((gate_size, self.input_size), device, dtype)
        self.weight_hh = new_parameter((gate_size, self.hidden_size), device, dtype)
        if self.bias:
            self.bias_ih = new_parameter((gate_size,), device, dtype)
            self.bias_hh = new_parameter((gate_size,), device, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    def _check_input(self, input: Tensor) -> None:
        layer = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{layer}: expected a Tensor input, received {type(input).__name__}")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{layer}: expected input of shape (N, {self.input_size}) or ({self.input_size},), "
                f"received shape {input.shape}"
            )
        _check_dtype(layer, input, self.weight_ih)

    def _states(self, hx, input: Tensor, names: tuple) -> list[Tensor]:
        layer = type(self).__name__
        batched = input.ndim == 2
        expected = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if hx is None:
            return [zeros((input.shape[0] if batched else 1, self.hidden_size), dtype=input.dtype,
                          device=input.device) for _ in names]
        if len(names) == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError(f"{layer}: expected hx as a tuple (h0, c0), received {type(hx).__name__}")
            states = list(hx)
        else:
            states = [hx]
        for name, state in zip(names, states):
            if not isinstance(state, Tensor) or state.shape != expected:
                received = state.shape if isinstance(state, Tensor) else type(state).__name__
                raise ValueError(f"{layer}: expected {name} of shape {expected}, received {received}")
            _check_dtype(f"{layer} ({name})", state, self.weight_ih)
        return states if batched else [state.unsqueeze(0) for state in states]

    def _run(self, input: Tensor, hx, names: tuple) -> tuple:
        self._check_input(input)
        batched = input.ndim == 2
        states = self._states(hx, input, names)
        rows = input if batched else input.unsqueeze(0)
        projection = affine(rows, self.weight_ih, self.bias_ih, transposed=True)
        result = _step(self.mode, projection, tuple(states), self.weight_hh, self.bias_hh)
        return result if batched else tuple(state.squeeze(0) for state in result)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if self.mode == "RNN_RELU":
            text += ", nonlinearity='relu'"
        return text


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = act(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)``.

    Args: input_size, hidden_size, bias (default True), nonlinearity ``'tanh'`` (default) or ``'relu'``,
    device, dtype.

    Shape: input ``(N, H_in)`` or ``(H_in,)``; hx ``(N, H)`` or ``(H,)``, zeros when omitted; returns h'
    like hx. Parameters weight_ih ``(H, H_in)``, weight_hh ``(H, H)``, bias_ih, bias_hh ``(H,)``, from
    U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', received {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias,
                         device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._run(input, hx, ("hx",))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step, gates i, f, g, o: returns ``(h', c')``.

    Args: input_size, hidden_size, bias (default True), device, dtype.

    Shape: input ``(N, H_in)`` or ``(H_in,)``; hx ``(h, c)``, each ``(N, H)`` or ``(H,)``, zeros when
    omitted. Parameters weight_ih ``(4H, H_in)``, weight_hh ``(4H, H)``, biases ``(4H,)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx=None) -> tuple[Tensor, Tensor]:
        h, c = self._run(input, hx, ("h0", "c0"))
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step, gates r, z, n with the reset gate applied after the hidden product.

    Args: input_size, hidden_size, bias (default True), device, dtype.

    Shape: input ``(N, H_in)`` or ``(H_in,)``; hx ``(N, H)`` or ``(H,)``, zeros when omitted; returns h'.
    Parameters weight_ih ``(3H, H_in)``, weight_hh ``(3H, H)``, biases ``(3H,)``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._run(input, hx, ("hx",))[0]


__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]
