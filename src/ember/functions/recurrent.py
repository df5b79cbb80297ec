"""Recurrent cells: one time step of an Elman RNN (tanh or relu), an LSTM and a GRU, with PyTorch's gate orders.

Each cell takes the step's input projection ``x = input @ W_ih.T + b_ih`` (computed for all time steps at once
by one GEMM in the layer), the previous state and the hidden-to-hidden weight ``W_hh`` (and bias ``b_hh``),
and computes the hidden projection ``h @ W_hh.T + b_hh`` itself, so that a layer runs one node per step.

Shapes, for a batch of N and hidden size H (G gates: 1 for RNN, 4 for LSTM, 3 for GRU):
x ``(N, G*H)``, h and c ``(N, H)``, W_hh ``(G*H, H)``, b_hh ``(G*H,)``.

* RNN: ``h' = act(x + h @ W_hh.T + b_hh)``.
* LSTM, gates i, f, g, o: ``c' = f * c + i * g``, ``h' = o * tanh(c')``.
* GRU, gates r, z, n, the reset gate applied after the hidden product:
  ``n = tanh(x_n + r * (h @ W_hn.T + b_hn))``, ``h' = (1 - z) * n + z * h``.

The sequence nodes (``RNNSequence``, ``LSTMSequence``, ``GRUSequence``, and ``ProjectedLSTMSequence`` for an
LSTM whose hidden state is projected, ``h' = (o * tanh(c')) @ W_hr.T``, h of size P < H and W_hh (4H, P)) run
every step of one layer and direction in one node; with ``batch_sizes`` they run a packed batch.

The reference ``backward`` recomputes the gates from the inputs with Ember ops, so that second derivatives
see how they depend on them; ``backward_arrays`` reads the gates saved by the forward pass.
"""
from __future__ import annotations

from typing import Union

import numpy as np

from .. import config
from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import compiled, threads
from ..backend.device import get_array_module
from .activation import sigmoid, tanh
from .linalg import matmul
from .shape import cat, split, stack


def _sigmoid_array(xp, x):
    half = x.dtype.type(0.5)
    return xp.tanh(x * half) * half + half  # stable for large |x|, as ember.sigmoid


def _hidden_projection(h, weight, bias):
    """``h @ W_hh.T + b_hh`` on arrays."""
    projection = threads.matmul(h, weight.T)
    if bias is not None:
        projection += bias
    return projection


def _hidden_projection_tensor(h: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    projection = matmul(h, weight.mT)
    return projection if bias is None else projection + bias


def _parameter_grads_arrays(needs, d_hidden, h, weight, has_bias):
    """Gradients of h (through the product only), W_hh and b_hh from the gradient of the hidden projection."""
    grad_h = threads.matmul(d_hidden, weight) if needs[1] else None
    grad_weight = threads.matmul(d_hidden.T, h) if needs[-2 if has_bias else -1] else None
    grad_bias = d_hidden.sum(axis=0) if has_bias and needs[-1] else None
    return grad_h, grad_weight, grad_bias


def _parameter_grads(needs, d_hidden: Tensor, h: Tensor, weight: Tensor, has_bias: bool):
    grad_h = matmul(d_hidden, weight) if needs[1] else None
    grad_weight = matmul(d_hidden.mT, h) if needs[-2 if has_bias else -1] else None
    grad_bias = d_hidden.sum(dim=0) if has_bias and needs[-1] else None
    return grad_h, grad_weight, grad_bias


def _with_bias(grads: tuple, grad_bias, has_bias: bool) -> tuple:
    return grads + (grad_bias,) if has_bias else grads


def _rnn_step_grads(needs, nonlinearity: str, has_bias: bool, h: Tensor, weight: Tensor, y: Tensor,
                    grad: Tensor) -> tuple:
    """An RNN step's gradients (x, h, W_hh[, b_hh]) in Ember ops, from its output y."""
    # relu is piecewise linear: its slope is a constant mask
    slope = 1.0 - y * y if nonlinearity == "tanh" else Tensor((y.array > 0).astype(grad.dtype))
    d_pre = grad * slope
    grad_h, grad_weight, grad_bias = _parameter_grads(needs, d_pre, h, weight, has_bias)
    return _with_bias((d_pre, grad_h, grad_weight), grad_bias, has_bias)


def _lstm_step_grads(needs, x: Tensor, h: Tensor, c: Tensor, weight: Tensor, bias: Tensor | None,
                     grad_h_next: Tensor, grad_c_next: Tensor) -> tuple:
    """An LSTM step's gradients (x, h, c, W_hh[, b_hh]) in Ember ops, the gates recomputed from the inputs."""
    size = c.shape[1]
    pre_i, pre_f, pre_g, pre_o = split(x + _hidden_projection_tensor(h, weight, bias), size, dim=1)
    i, f, g, o = sigmoid(pre_i), sigmoid(pre_f), tanh(pre_g), sigmoid(pre_o)
    tanh_c = tanh(f * c + i * g)
    d_c = grad_c_next + grad_h_next * o * (1.0 - tanh_c * tanh_c)
    d_gates = cat([d_c * g * i * (1.0 - i), d_c * c * f * (1.0 - f), d_c * i * (1.0 - g * g),
                   grad_h_next * tanh_c * o * (1.0 - o)], dim=1)
    has_bias = bias is not None
    grad_h, grad_weight, grad_bias = _parameter_grads(needs, d_gates, h, weight, has_bias)
    grad_c = d_c * f if needs[2] else None
    return _with_bias((d_gates, grad_h, grad_c, grad_weight), grad_bias, has_bias)


def _gru_step_grads(needs, x: Tensor, h: Tensor, weight: Tensor, bias: Tensor | None, grad: Tensor) -> tuple:
    """A GRU step's gradients (x, h, W_hh[, b_hh]) in Ember ops, the gates recomputed from the inputs."""
    size = h.shape[1]
    x_r, x_z, x_n = split(x, size, dim=1)
    h_r, h_z, h_n = split(_hidden_projection_tensor(h, weight, bias), size, dim=1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = tanh(x_n + r * h_n)
    d_pre_n = grad * (1.0 - z) * (1.0 - n * n)
    d_pre_r = d_pre_n * h_n * r * (1.0 - r)
    d_pre_z = grad * (h - n) * z * (1.0 - z)
    has_bias = bias is not None
    d_hidden = cat([d_pre_r, d_pre_z, d_pre_n * r], dim=1)
    grad_h, grad_weight, grad_bias = _parameter_grads(needs, d_hidden, h, weight, has_bias)
    if needs[1]:
        grad_h = grad_h + grad * z
    grad_x = cat([d_pre_r, d_pre_z, d_pre_n], dim=1) if needs[0] else None
    return _with_bias((grad_x, grad_h, grad_weight), grad_bias, has_bias)


class RNNCell(Primitive):
    """``h' = act(x + h @ W_hh.T + b_hh)`` with act ``tanh`` or ``relu``. Inputs: x, h, W_hh[, b_hh]."""

    def __init__(self, nonlinearity: str):
        self.nonlinearity = nonlinearity

    def forward(self, x, h, weight, bias=None):
        xp = get_array_module(x)
        pre = _hidden_projection(h, weight, bias)
        pre += x
        y = xp.tanh(pre) if self.nonlinearity == "tanh" else xp.maximum(pre, pre.dtype.type(0))
        self.has_bias = bias is not None
        self.save_for_backward(h, weight, y)
        return y

    def backward(self, grad):
        h, weight, y = self.saved_tensors
        return _rnn_step_grads(self.needs_input_grad, self.nonlinearity, self.has_bias, h, weight, y, grad)

    def backward_arrays(self, grad):
        h, weight, y = self.saved_arrays
        if self.nonlinearity == "tanh":
            d_pre = y * y
            d_pre -= 1
            d_pre *= -grad
        else:
            d_pre = grad * (y > 0)
        grad_h, grad_weight, grad_bias = _parameter_grads_arrays(
            self.needs_input_grad, d_pre, h, weight, self.has_bias)
        return _with_bias((d_pre, grad_h, grad_weight), grad_bias, self.has_bias)


class LSTMCell(Primitive):
    """One LSTM step, gates i, f, g, o. Inputs: x (N, 4H), h, c, W_hh[, b_hh]; outputs h', c'."""

    def forward(self, x, h, c, weight, bias=None):
        xp = get_array_module(x)
        size = c.shape[1]
        gates = _hidden_projection(h, weight, bias)
        gates += x
        activated = _sigmoid_array(xp, gates)
        activated[:, 2 * size:3 * size] = xp.tanh(gates[:, 2 * size:3 * size])
        i, f, g, o = (activated[:, k * size:(k + 1) * size] for k in range(4))
        c_next = f * c + i * g
        tanh_c = xp.tanh(c_next)
        h_next = o * tanh_c
        self.has_bias = bias is not None
        saved = (x, h, c, weight, activated, tanh_c)
        self.save_for_backward(*(saved + (bias,) if self.has_bias else saved))
        return h_next, c_next

    def backward(self, grad_h_next, grad_c_next):
        x, h, c, weight, _, _, *bias = self.saved_tensors
        return _lstm_step_grads(self.needs_input_grad, x, h, c, weight, bias[0] if bias else None, grad_h_next,
                                grad_c_next)

    def backward_arrays(self, grad_h_next, grad_c_next):
        _, h, c, weight, activated, tanh_c, *_ = self.saved_arrays
        size = c.shape[1]
        i, f, g, o = (activated[:, k * size:(k + 1) * size] for k in range(4))
        d_c = 1 - tanh_c * tanh_c
        d_c *= o
        d_c *= grad_h_next
        d_c += grad_c_next
        d_gates = get_array_module(h).empty_like(activated)
        d_i, d_f, d_g, d_o = (d_gates[:, k * size:(k + 1) * size] for k in range(4))
        d_i[...] = d_c * g * i * (1 - i)
        d_f[...] = d_c * c * f * (1 - f)
        d_g[...] = d_c * i * (1 - g * g)
        d_o[...] = grad_h_next * tanh_c * o * (1 - o)
        needs = self.needs_input_grad
        grad_h, grad_weight, grad_bias = _parameter_grads_arrays(needs, d_gates, h, weight, self.has_bias)
        grad_c = d_c * f if needs[2] else None
        return _with_bias((d_gates, grad_h, grad_c, grad_weight), grad_bias, self.has_bias)


class GRUCell(Primitive):
    """One GRU step, gates r, z, n, the reset gate applied after the hidden product. Inputs: x (N, 3H), h,
    W_hh[, b_hh]."""

    def forward(self, x, h, weight, bias=None):
        xp = get_array_module(x)
        size = h.shape[1]
        hidden = _hidden_projection(h, weight, bias)
        activated = _sigmoid_array(xp, x[:, :2 * size] + hidden[:, :2 * size])
        r, z = activated[:, :size], activated[:, size:]
        hidden_n = hidden[:, 2 * size:]
        n = xp.tanh(x[:, 2 * size:] + r * hidden_n)
        h_next = n + z * (h - n)
        self.has_bias = bias is not None
        saved = (x, h, weight, activated, n, hidden_n)
        self.save_for_backward(*(saved + (bias,) if self.has_bias else saved))
        return h_next

    def backward(self, grad):
        x, h, weight, _, _, _, *bias = self.saved_tensors
        return _gru_step_grads(self.needs_input_grad, x, h, weight, bias[0] if bias else None, grad)

    def backward_arrays(self, grad):
        _, h, weight, activated, n, hidden_n, *_ = self.saved_arrays
        xp = get_array_module(h)
        size = h.shape[1]
        r, z = activated[:, :size], activated[:, size:]
        d_x = xp.empty((h.shape[0], 3 * size), dtype=h.dtype)
        d_pre_r, d_pre_z, d_pre_n = (d_x[:, k * size:(k + 1) * size] for k in range(3))
        d_pre_n[...] = grad * (1 - z) * (1 - n * n)
        d_pre_r[...] = d_pre_n * hidden_n * r * (1 - r)
        d_pre_z[...] = grad * (h - n) * z * (1 - z)
        d_hidden = d_x.copy()
        d_hidden[:, 2 * size:] *= r
        needs = self.needs_input_grad
        grad_h, grad_weight, grad_bias = _parameter_grads_arrays(needs, d_hidden, h, weight, self.has_bias)
        if needs[1]:
            grad_h += grad * z
        return _with_bias((d_x, grad_h, grad_weight), grad_bias, self.has_bias)


# ------------------------------------------------------------------------------------ whole sequences
def _forward_order(steps: int, reverse: bool) -> range:
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _previous(t: int, steps: int, reverse: bool) -> int | None:
    """The step whose state step t reads, or None where it reads the initial state."""
    previous = t + 1 if reverse else t - 1
    return previous if 0 <= previous < steps else None


def _step_needs(needs: tuple, states: int, first: bool) -> tuple:
    """needs_input_grad of one step: its states' gradients are needed except at the sequence's first step."""
    return (needs[0],) + (needs[1:1 + states] if first else (True,) * states) + needs[1 + states:]


def _hidden_weight_grad(d_hidden, hs, h0, reverse: bool):
    """``sum_t d_hidden[t].T @ h_prev[t]`` as one GEMM over the steps that read a computed state, plus the
    step that reads h0."""
    gate_size, size = d_hidden.shape[2], hs.shape[2]
    first = d_hidden[-1] if reverse else d_hidden[0]
    grad = threads.matmul(first.T, h0)
    if d_hidden.shape[0] > 1:
        later = d_hidden[:-1] if reverse else d_hidden[1:]
        previous = hs[1:] if reverse else hs[:-1]
        grad += threads.matmul(later.reshape(-1, gate_size).T, previous.reshape(-1, size))
    return grad


def _sequence_team(batch: int, size: int, gates: int = 4) -> int:
    """Threads for a compiled LSTM (``gates`` 4) or GRU (3) sequence of ``batch`` rows and ``size`` hidden
    units: ``claim_cores()`` (which takes the cores from OpenBLAS, as for any chain of short GEMMs), or 1 when a
    step's product, 2 G N H² FLOPs, is below the ``parallel_gemm_flops`` setting (sampling one sequence:
    starting a thread would cost more than the step)."""
    team = threads.claim_cores()
    return team if 2.0 * gates * batch * size * size >= config.get("parallel_gemm_flops") else 1


def _sigmoid_into(x, out, half):
    """``sigmoid(x)`` into out, as ``_sigmoid_array`` computes it."""
    xp = get_array_module(x)
    xp.multiply(x, half, out=out)
    xp.tanh(out, out=out)
    out *= half
    out += half


class RNNSequence(Primitive):
    """An Elman RNN over a whole sequence (one direction of one layer): the steps of ``RNNCell`` in one node.
    Inputs: x (L, N, H) the input projections of every step, h0 (N, H), W_hh[, b_hh]; output the hidden
    state of every step (L, N, H), step t at index t in both directions (``reverse`` runs from L-1 to 0).
    ``batch_sizes`` (L,) runs a packed batch: only the first batch_sizes[t] rows at step t (see "packed
    batches" below).

    ``backward_arrays`` back-propagates through time on arrays, the weight gradient as one GEMM over all steps;
    the reference ``backward`` runs each step's reference gradients in Ember ops."""

    def __init__(self, nonlinearity: str, reverse: bool = False, batch_sizes=None):
        self.nonlinearity = nonlinearity
        self.reverse = reverse
        self.batch_sizes = _as_batch_sizes(type(self).__name__, batch_sizes)

    def forward(self, x, h0, weight, bias=None):
        if self.batch_sizes is not None:
            return _rnn_forward_packed(self, x, h0, weight, bias)
        xp = get_array_module(x)
        hs = xp.empty_like(x)
        h = h0
        for t in _forward_order(x.shape[0], self.reverse):
            pre = _hidden_projection(h, weight, bias)
            pre += x[t]
            h = xp.tanh(pre, out=hs[t]) if self.nonlinearity == "tanh" else xp.maximum(pre, pre.dtype.type(0),
                                                                                        out=hs[t])
        self.has_bias = bias is not None
        self.save_for_backward(h0, weight, hs)
        return hs

    def backward(self, grad_hs):
        if self.batch_sizes is not None:
            return _rnn_backward_packed(self, grad_hs)
        h0, weight, hs = self.saved_tensors
        needs, steps = self.needs_input_grad, hs.shape[0]
        grad_x: list = [None] * steps
        grad_h = grad_weight = grad_bias = None
        for t in reversed(_forward_order(steps, self.reverse)):
            previous = _previous(t, steps, self.reverse)
            grad = grad_hs[t] if grad_h is None else grad_hs[t] + grad_h
            grad_x[t], grad_h, d_weight, *d_bias = _rnn_step_grads(
                _step_needs(needs, 1, previous is None), self.nonlinearity, self.has_bias,
                h0 if previous is None else hs[previous], weight, hs[t], grad)
            grad_weight = _accumulate(grad_weight, d_weight)
            grad_bias = _accumulate(grad_bias, d_bias[0] if d_bias else None)
        return _with_bias((stack(grad_x, dim=0) if needs[0] else None, grad_h, grad_weight), grad_bias,
                          self.has_bias)

    def backward_arrays(self, grad_hs):
        if self.batch_sizes is not None:
            return _rnn_backward_arrays_packed(self, grad_hs)
        h0, weight, hs = self.saved_arrays
        xp = get_array_module(hs)
        needs, steps = self.needs_input_grad, hs.shape[0]
        d_pre = xp.empty_like(hs)
        grad_h = None
        for t in reversed(_forward_order(steps, self.reverse)):
            grad = grad_hs[t] if grad_h is None else xp.add(grad_h, grad_hs[t], out=grad_h)
            d = d_pre[t]
            if self.nonlinearity == "tanh":
                xp.multiply(hs[t], hs[t], out=d)
                d -= 1
                d *= -grad
            else:
                xp.multiply(grad, hs[t] > 0, out=d)
            first = _previous(t, steps, self.reverse) is None
            grad_h = threads.matmul(d, weight) if not first or needs[1] else None
        grad_weight = _hidden_weight_grad(d_pre, hs, h0, self.reverse) if needs[2] else None
        grad_bias = d_pre.reshape(-1, hs.shape[2]).sum(axis=0) if self.has_bias and needs[-1] else None
        return _with_bias((d_pre if needs[0] else None, grad_h, grad_weight), grad_bias, self.has_bias)


class LSTMSequence(Primitive):
    """An LSTM over a whole sequence (one direction of one layer): the steps of ``LSTMCell`` in one node.
    Inputs: x (L, N, 4H) the input projections of every step, h0, c0 (N, H), W_hh[, b_hh]; outputs h and c
    of every step, each (L, N, H), step t at index t in both directions (``reverse`` runs from L-1 to 0).
    ``batch_sizes`` (L,) runs a packed batch: only the first batch_sizes[t] rows at step t (see "packed
    batches" below).

    The forward pass keeps the activated gates of every step in one (L, N, 4H) array; ``backward_arrays``
    back-propagates through time on arrays, the weight gradient as one GEMM over all steps and the bias
    gradient as one sum. The reference ``backward`` runs each step's reference gradients in Ember ops.

    Fast path ``forward_compiled``: the whole sequence in C (kernels/lstm_sequence.c), a team of threads each
    running a block of the batch's rows through every step, each step one product on W_hh packed once
    (kernels/panel_gemm.c; the BLAS's GEMM for widths the panels do not take) and one pass of kernels/lstm.c
    for the gates, cell and hidden state; its backward likewise (``backward_compiled``), with W_hh's and the
    bias's gradients. Where NumPy loads no CBLAS GEMM, each step is a NumPy GEMM and one compiled pass."""

    fast_forward = ("forward_compiled",)

    def __init__(self, reverse: bool = False, batch_sizes=None):
        self.reverse = reverse
        self.batch_sizes = _as_batch_sizes(type(self).__name__, batch_sizes)

    def forward(self, x, h0, c0, weight, bias=None):
        if self.batch_sizes is not None:
            return _lstm_forward_steps(self, x, h0, c0, weight, None, bias)
        xp = get_array_module(x)
        steps, batch, gate_size = x.shape
        size = gate_size // 4
        gates = xp.empty_like(x)
        hs = xp.empty((steps, batch, size), dtype=x.dtype)
        cs, tanh_cs = xp.empty_like(hs), xp.empty_like(hs)
        half = x.dtype.type(0.5)
        h, c = h0, c0
        for t in _forward_order(steps, self.reverse):
            pre = _hidden_projection(h, weight, bias)
            pre += x[t]
            activated = gates[t]
            xp.tanh(pre[:, 2 * size:3 * size], out=activated[:, 2 * size:3 * size])
            for block in (slice(0, 2 * size), slice(3 * size, 4 * size)):
                _sigmoid_into(pre[:, block], activated[:, block], half)
            i, f, g, o = (activated[:, k * size:(k + 1) * size] for k in range(4))
            c = xp.multiply(f, c, out=cs[t])
            c += i * g
            tanh_c = xp.tanh(c, out=tanh_cs[t])
            h = xp.multiply(o, tanh_c, out=hs[t])
        self.has_bias = bias is not None
        saved = (x, h0, c0, weight, hs, cs, gates, tanh_cs)
        self.save_for_backward(*(saved + (bias,) if self.has_bias else saved))
        return hs, cs

    def backward(self, grad_hs, grad_cs):
        if self.batch_sizes is not None:
            return _lstm_backward_steps(self, grad_hs, grad_cs)
        x, h0, c0, weight, hs, cs, _, _, *bias = self.saved_tensors
        needs, steps = self.needs_input_grad, hs.shape[0]
        grad_x: list = [None] * steps
        grad_h = grad_c = grad_weight = grad_bias = None
        for t in reversed(_forward_order(steps, self.reverse)):
            previous = _previous(t, steps, self.reverse)
            h, c = (h0, c0) if previous is None else (hs[previous], cs[previous])
            grad_h_next = grad_hs[t] if grad_h is None else grad_hs[t] + grad_h
            grad_c_next = grad_cs[t] if grad_c is None else grad_cs[t] + grad_c
            grad_x[t], grad_h, grad_c, d_weight, *d_bias = _lstm_step_grads(
                _step_needs(needs, 2, previous is None), x[t], h, c, weight, bias[0] if bias else None,
                grad_h_next, grad_c_next)
            grad_weight = _accumulate(grad_weight, d_weight)
            grad_bias = _accumulate(grad_bias, d_bias[0] if d_bias else None)
        return _with_bias((stack(grad_x, dim=0) if needs[0] else None, grad_h, grad_c, grad_weight), grad_bias,
                          self.has_bias)

    def forward_compiled(self, x, h0, c0, weight, bias=None):
        """``forward`` with each step's elementwise part in one compiled pass; None (declined) for packed
        sequences, where the compiled kernels are unavailable, or for arrays other than NumPy float32/float64
        of the shapes ``forward`` takes."""
        if getattr(self, "batch_sizes", None) is not None:
            return None
        kernels = compiled.for_arrays(*(x, h0, c0, weight) + (() if bias is None else (bias,)))
        if kernels is None or x.ndim != 3 or x.shape[2] % 4 or 0 in x.shape:
            return None
        steps, batch, width = x.shape
        size = width // 4
        if h0.shape != (batch, size) or c0.shape != (batch, size) or weight.shape != (width, size) or (
                bias is not None and bias.shape != (width,)):
            return None
        # L short GEMMs in a row, each waiting for the last: OpenBLAS's own threads, spinning between them, lose
        # their core on a busy host and stall every step (10x slower steps measured), so Ember takes the cores
        # as for a convolution (OpenBLAS on one thread, Ember splitting its large GEMMs and passes itself)
        team = _sequence_team(batch, size)
        gates = np.empty(x.shape, dtype=x.dtype)
        hs, cs, tanh_cs = (np.empty((steps, batch, size), dtype=x.dtype) for _ in range(3))
        bias_array = np.zeros(width, x.dtype) if bias is None else np.ascontiguousarray(bias)
        gemm = threads.openblas_gemm(x.dtype)
        if gemm is not None:  # the whole sequence in C, its threads sharing every step (kernels/lstm_sequence.c)
            kernels.lstm_sequence_forward(np.ascontiguousarray(x), bias_array, np.ascontiguousarray(h0),
                                          np.ascontiguousarray(c0), np.ascontiguousarray(weight), gates, cs,
                                          tanh_cs, hs, self.reverse, team, gemm)
        else:  # no CBLAS to call from C: each step a NumPy GEMM, then one pass of kernels/lstm.c
            step = kernels.lstm_forward_steps(np.ascontiguousarray(x), bias_array, np.ascontiguousarray(c0),
                                              gates, cs, tanh_cs, hs)
            h = h0
            for t in _forward_order(steps, self.reverse):
                step(t, _previous(t, steps, self.reverse), np.ascontiguousarray(threads.matmul(h, weight.T)))
                h = hs[t]
        self.has_bias = bias is not None
        self.forward_was_compiled = True
        saved = (x, h0, c0, weight, hs, cs, gates, tanh_cs)
        self.save_for_backward(*(saved + (bias,) if self.has_bias else saved))
        return hs, cs

    def backward_compiled(self, grad_hs, grad_cs):
        """``backward_arrays`` with each step's elementwise part in one compiled pass and the hidden state's
        gradient as one GEMM into a buffer; None where the compiled kernels are unavailable."""
        _, h0, c0, weight, hs, cs, gates, tanh_cs, *_ = self.saved_arrays
        kernels = compiled.for_arrays(hs, grad_hs, grad_cs, c0, weight)
        if kernels is None:
            return None
        needs = self.needs_input_grad
        steps, batch, size = hs.shape
        d_gates = np.empty(gates.shape, dtype=gates.dtype)
        carry_c = np.zeros((2, batch, size), dtype=hs.dtype)
        gemm = threads.openblas_gemm(hs.dtype)
        if gemm is not None:  # the whole sequence in C, as forward_compiled's
            grad_h0 = np.empty((batch, size), dtype=hs.dtype)
            grad_weight = np.empty(weight.shape, dtype=hs.dtype) if needs[3] else None
            grad_bias = np.empty(4 * size, dtype=hs.dtype) if self.has_bias and needs[-1] else None
            parity = kernels.lstm_sequence_backward(
                np.ascontiguousarray(grad_hs), np.ascontiguousarray(grad_cs), gates, cs, np.ascontiguousarray(h0),
                np.ascontiguousarray(c0), tanh_cs, hs, np.ascontiguousarray(weight), d_gates, grad_h0, carry_c,
                grad_weight, grad_bias, self.reverse, needs[1], _sequence_team(batch, size), gemm)
            return _with_bias((d_gates if needs[0] else None, grad_h0 if needs[1] else None,
                               carry_c[parity] if needs[2] else None, grad_weight), grad_bias, self.has_bias)
        step = kernels.lstm_backward_steps(np.ascontiguousarray(grad_hs), np.ascontiguousarray(grad_cs), gates, cs,
                                           np.ascontiguousarray(c0), tanh_cs, d_gates, carry_c)
        carry_h = None  # d_gates @ W_hh of the step after
        parity = 0  # the step after's cell-state gradient is carry_c[parity]; the step writes the other one
        for t in reversed(_forward_order(steps, self.reverse)):
            previous = _previous(t, steps, self.reverse)
            step(t, previous, parity, carry_h)
            parity = 1 - parity
            if previous is not None or needs[1]:
                carry_h = np.ascontiguousarray(threads.matmul(d_gates[t], weight))
        grad_weight = _hidden_weight_grad(d_gates, hs, h0, self.reverse) if needs[3] else None
        grad_bias = d_gates.reshape(-1, 4 * size).sum(axis=0) if self.has_bias and needs[-1] else None
        return _with_bias((d_gates if needs[0] else None, carry_h if needs[1] else None,
                           carry_c[parity] if needs[2] else None, grad_weight), grad_bias, self.has_bias)

    def backward_arrays(self, grad_hs, grad_cs):
        if self.batch_sizes is not None:
            return _lstm_backward_steps_arrays(self, grad_hs, grad_cs)
        if getattr(self, "forward_was_compiled", False):
            grads = self.backward_compiled(grad_hs, grad_cs)
            if grads is not None:
                return grads
        _, h0, c0, weight, hs, cs, gates, tanh_cs, *_ = self.saved_arrays
        xp = get_array_module(hs)
        needs = self.needs_input_grad
        steps, batch, size = hs.shape
        d_gates = xp.empty_like(gates)
        d_c, scratch = xp.empty((batch, size), dtype=hs.dtype), xp.empty((batch, size), dtype=hs.dtype)
        grad_h = grad_c = None
        for t in reversed(_forward_order(steps, self.reverse)):
            previous = _previous(t, steps, self.reverse)
            c = c0 if previous is None else cs[previous]
            i, f, g, o = (gates[t, :, k * size:(k + 1) * size] for k in range(4))
            d_i, d_f, d_g, d_o = (d_gates[t, :, k * size:(k + 1) * size] for k in range(4))
            tanh_c = tanh_cs[t]
            grad_h_next = grad_hs[t] if grad_h is None else xp.add(grad_h, grad_hs[t], out=grad_h)
            xp.multiply(tanh_c, tanh_c, out=d_c)  # d_c = grad_c_next + grad_h_next * o * (1 - tanh_c ** 2)
            xp.subtract(1, d_c, out=d_c)
            d_c *= o
            d_c *= grad_h_next
            d_c += grad_cs[t]
            if grad_c is not None:
                d_c += grad_c
            xp.subtract(1, i, out=scratch)  # d_i = d_c * g * i * (1 - i)
            scratch *= i
            scratch *= g
            xp.multiply(scratch, d_c, out=d_i)
            xp.subtract(1, f, out=scratch)  # d_f = d_c * c * f * (1 - f)
            scratch *= f
            scratch *= c
            xp.multiply(scratch, d_c, out=d_f)
            xp.multiply(g, g, out=scratch)  # d_g = d_c * i * (1 - g ** 2)
            xp.subtract(1, scratch, out=scratch)
            scratch *= i
            xp.multiply(scratch, d_c, out=d_g)
            xp.subtract(1, o, out=scratch)  # d_o = grad_h_next * tanh_c * o * (1 - o)
            scratch *= o
            scratch *= tanh_c
            xp.multiply(scratch, grad_h_next, out=d_o)
            first = previous is None
            grad_h = threads.matmul(d_gates[t], weight) if not first or needs[1] else None
            grad_c = d_c * f if not first or needs[2] else None
        grad_weight = _hidden_weight_grad(d_gates, hs, h0, self.reverse) if needs[3] else None
        grad_bias = d_gates.reshape(-1, 4 * size).sum(axis=0) if self.has_bias and needs[-1] else None
        return _with_bias((d_gates if needs[0] else None, grad_h, grad_c, grad_weight), grad_bias, self.has_bias)


class GRUSequence(Primitive):
    """A GRU over a whole sequence (one direction of one layer): the steps of ``GRUCell`` in one node.
    Inputs: x (L, N, 3H) the input projections of every step, h0 (N, H), W_hh[, b_hh]; output the hidden
    state of every step (L, N, H), step t at index t in both directions (``reverse`` runs from L-1 to 0).
    ``batch_sizes`` (L,) runs a packed batch: only the first batch_sizes[t] rows at step t (see "packed
    batches" below).

    ``backward_arrays`` back-propagates through time on arrays, the weight gradient as one GEMM over all steps;
    the reference ``backward`` runs each step's reference gradients in Ember ops.

    Fast path ``forward_compiled``: the whole sequence in C (kernels/gru_sequence.c), as ``LSTMSequence``'s,
    each step one product on W_hh and one pass of the compiled GRU step (kernels/lstm.c); its backward
    likewise (``backward_compiled``). Where NumPy loads no CBLAS GEMM, each step is a NumPy GEMM and one
    compiled pass."""

    fast_forward = ("forward_compiled",)

    def __init__(self, reverse: bool = False, batch_sizes=None):
        self.reverse = reverse
        self.batch_sizes = _as_batch_sizes(type(self).__name__, batch_sizes)

    def forward(self, x, h0, weight, bias=None):
        if self.batch_sizes is not None:
            return _gru_forward_packed(self, x, h0, weight, bias)
        xp = get_array_module(x)
        steps, batch, gate_size = x.shape
        size = gate_size // 3
        gates = xp.empty((steps, batch, 2 * size), dtype=x.dtype)
        hs, ns, hidden_ns = (xp.empty((steps, batch, size), dtype=x.dtype) for _ in range(3))
        half = x.dtype.type(0.5)
        h = h0
        for t in _forward_order(steps, self.reverse):
            hidden = _hidden_projection(h, weight, bias)
            activated = xp.add(x[t, :, :2 * size], hidden[:, :2 * size], out=gates[t])
            _sigmoid_into(activated, activated, half)
            r, z = activated[:, :size], activated[:, size:]
            hidden_n = hidden_ns[t]
            hidden_n[...] = hidden[:, 2 * size:]
            n = xp.multiply(r, hidden_n, out=ns[t])
            n += x[t, :, 2 * size:]
            xp.tanh(n, out=n)
            h = xp.subtract(h, n, out=hs[t])
            h *= z
            h += n
        self.has_bias = bias is not None
        saved = (x, h0, weight, hs, gates, ns, hidden_ns)
        self.save_for_backward(*(saved + (bias,) if self.has_bias else saved))
        return hs

    def backward(self, grad_hs):
        if self.batch_sizes is not None:
            return _gru_backward_packed(self, grad_hs)
        x, h0, weight, hs, _, _, _, *bias = self.saved_tensors
        needs, steps = self.needs_input_grad, hs.shape[0]
        grad_x: list = [None] * steps
        grad_h = grad_weight = grad_bias = None
        for t in reversed(_forward_order(steps, self.reverse)):
            previous = _previous(t, steps, self.reverse)
            grad = grad_hs[t] if grad_h is None else grad_hs[t] + grad_h
            grad_x[t], grad_h, d_weight, *d_bias = _gru_step_grads(
                _step_needs(needs, 1, previous is None), x[t], h0 if previous is None else hs[previous], weight,
                bias[0] if bias else None, grad)
            grad_weight = _accumulate(grad_weight, d_weight)
            grad_bias = _accumulate(grad_bias, d_bias[0] if d_bias else None)
        return _with_bias((stack(grad_x, dim=0) if needs[0] else None, grad_h, grad_weight), grad_bias,
                          self.has_bias)

    def forward_compiled(self, x, h0, weight, bias=None):
        """``forward`` with each step's elementwise part in one compiled pass; None (declined) for packed
        sequences, where the compiled kernels are unavailable, or for arrays other than NumPy float32/float64
        of the shapes ``forward`` takes."""
        if getattr(self, "batch_sizes", None) is not None:
            return None
        kernels = compiled.for_arrays(*(x, h0, weight) + (() if bias is None else (bias,)))
        if kernels is None or x.ndim != 3 or x.shape[2] % 3 or 0 in x.shape:
            return None
        steps, batch, width = x.shape
        size = width // 3
        if h0.shape != (batch, size) or weight.shape != (width, size) or (
                bias is not None and bias.shape != (width,)):
            return None
        team = _sequence_team(batch, size, gates=3)
        gates = np.empty((steps, batch, 2 * size), dtype=x.dtype)
        hs, ns, hidden_ns = (np.empty((steps, batch, size), dtype=x.dtype) for _ in range(3))
        bias_array = np.zeros(width, x.dtype) if bias is None else np.ascontiguousarray(bias)
        gemm = threads.openblas_gemm(x.dtype)
        if gemm is not None:  # the whole sequence in C (kernels/gru_sequence.c), as LSTMSequence's
            kernels.gru_sequence_forward(np.ascontiguousarray(x), bias_array, np.ascontiguousarray(h0),
                                         np.ascontiguousarray(weight), gates, ns, hidden_ns, hs, self.reverse, team,
                                         gemm)
        else:  # no CBLAS to call from C: each step a NumPy GEMM, then one pass of kernels/lstm.c
            step = kernels.gru_forward_steps(np.ascontiguousarray(x), bias_array, np.ascontiguousarray(h0), gates,
                                             ns, hidden_ns, hs)
            h = h0
            for t in _forward_order(steps, self.reverse):
                step(t, _previous(t, steps, self.reverse), np.ascontiguousarray(threads.matmul(h, weight.T)))
                h = hs[t]
        self.has_bias = bias is not None
        self.forward_was_compiled = True
        saved = (x, h0, weight, hs, gates, ns, hidden_ns)
        self.save_for_backward(*(saved + (bias,) if self.has_bias else saved))
        return hs

    def backward_compiled(self, grad_hs):
        """``backward_arrays`` with each step's elementwise part in one compiled pass and the hidden product's
        gradient as one GEMM into a buffer; None where the compiled kernels are unavailable."""
        _, h0, weight, hs, gates, ns, hidden_ns, *_ = self.saved_arrays
        kernels = compiled.for_arrays(hs, grad_hs, h0, weight)
        if kernels is None:
            return None
        needs = self.needs_input_grad
        steps, batch, size = hs.shape
        d_x = np.empty((steps, batch, 3 * size), dtype=hs.dtype)
        d_hidden = np.empty_like(d_x)
        carry_z = np.zeros((2, batch, size), dtype=hs.dtype)
        gemm = threads.openblas_gemm(hs.dtype)
        if gemm is not None:  # the whole sequence in C, as forward_compiled's
            through_product = np.empty((batch, size), dtype=hs.dtype)  # the part of h0's gradient via W_hh
            grad_weight = np.empty(weight.shape, dtype=hs.dtype) if needs[2] else None
            grad_bias = np.empty(3 * size, dtype=hs.dtype) if self.has_bias and needs[-1] else None
            parity = kernels.gru_sequence_backward(
                np.ascontiguousarray(grad_hs), gates, ns, hidden_ns, hs, np.ascontiguousarray(h0),
                np.ascontiguousarray(weight), d_x, d_hidden, through_product, carry_z, grad_weight, grad_bias,
                self.reverse, needs[1], _sequence_team(batch, size, gates=3), gemm)
            grad_h = through_product + carry_z[parity] if needs[1] else None
            return _with_bias((d_x if needs[0] else None, grad_h, grad_weight), grad_bias, self.has_bias)
        step = kernels.gru_backward_steps(np.ascontiguousarray(grad_hs), gates, ns, hidden_ns, hs,
                                          np.ascontiguousarray(h0), d_x, d_hidden, carry_z)
        carry_gemm = None  # d_hidden @ W_hh of the step after
        parity = 0  # the step after's dh * z is carry_z[parity]; the step writes the other one
        for t in reversed(_forward_order(steps, self.reverse)):
            previous = _previous(t, steps, self.reverse)
            step(t, previous, parity, carry_gemm)
            parity = 1 - parity
            if previous is not None or needs[1]:
                carry_gemm = np.ascontiguousarray(threads.matmul(d_hidden[t], weight))
        grad_h = carry_gemm + carry_z[parity] if needs[1] else None
        grad_weight = _hidden_weight_grad(d_hidden, hs, h0, self.reverse) if needs[2] else None
        grad_bias = d_hidden.reshape(-1, 3 * size).sum(axis=0) if self.has_bias and needs[-1] else None
        return _with_bias((d_x if needs[0] else None, grad_h, grad_weight), grad_bias, self.has_bias)

    def backward_arrays(self, grad_hs):
        if self.batch_sizes is not None:
            return _gru_backward_arrays_packed(self, grad_hs)
        if getattr(self, "forward_was_compiled", False):
            grads = self.backward_compiled(grad_hs)
            if grads is not None:
                return grads
        _, h0, weight, hs, gates, ns, hidden_ns, *_ = self.saved_arrays
        xp = get_array_module(hs)
        needs = self.needs_input_grad
        steps, batch, size = hs.shape
        d_x = xp.empty((steps, batch, 3 * size), dtype=hs.dtype)
        d_hidden = xp.empty_like(d_x)
        scratch = xp.empty((batch, size), dtype=hs.dtype)
        grad_h = None
        for t in reversed(_forward_order(steps, self.reverse)):
            previous = _previous(t, steps, self.reverse)
            h = h0 if previous is None else hs[previous]
            r, z, n = gates[t, :, :size], gates[t, :, size:], ns[t]
            d_pre_r, d_pre_z, d_pre_n = (d_x[t, :, k * size:(k + 1) * size] for k in range(3))
            grad = grad_hs[t] if grad_h is None else xp.add(grad_h, grad_hs[t], out=grad_h)
            xp.multiply(n, n, out=scratch)  # d_pre_n = grad * (1 - z) * (1 - n ** 2)
            xp.subtract(1, scratch, out=scratch)
            xp.subtract(1, z, out=d_pre_n)
            d_pre_n *= grad
            d_pre_n *= scratch
            xp.subtract(1, r, out=scratch)  # d_pre_r = d_pre_n * h_n * r * (1 - r)
            scratch *= r
            scratch *= hidden_ns[t]
            xp.multiply(scratch, d_pre_n, out=d_pre_r)
            xp.subtract(1, z, out=scratch)  # d_pre_z = grad * (h - n) * z * (1 - z)
            scratch *= z
            xp.multiply(scratch, grad, out=d_pre_z)
            xp.subtract(h, n, out=scratch)
            d_pre_z *= scratch
            d_hidden[t, :, :2 * size] = d_x[t, :, :2 * size]
            xp.multiply(d_pre_n, r, out=d_hidden[t, :, 2 * size:])
            first = previous is None
            if not first or needs[1]:
                carry = threads.matmul(d_hidden[t], weight)
                carry += grad * z
                grad_h = carry
            else:
                grad_h = None
        grad_weight = _hidden_weight_grad(d_hidden, hs, h0, self.reverse) if needs[2] else None
        grad_bias = d_hidden.reshape(-1, 3 * size).sum(axis=0) if self.has_bias and needs[-1] else None
        return _with_bias((d_x if needs[0] else None, grad_h, grad_weight), grad_bias, self.has_bias)


# ------------------------------------------------------------ packed batches and the projected LSTM
# With ``batch_sizes`` (a NumPy int array of length L, non-increasing, batch_sizes[0] = N), a sequence node
# runs a batch sorted by decreasing length, as ``nn.utils.rnn.PackedSequence`` holds it: at step t only the
# first batch_sizes[t] rows are active, so each step computes those rows only and the other rows carry their
# state. Inputs and outputs keep the padded layout (L, N, ...); the outputs of inactive rows are zeros and the
# inputs there are not read. A forward node's row i stops at step lengths[i] - 1, so the carried state at the
# end is each sequence's last state; a reverse node's row i starts at step lengths[i] - 1 from h0[i].
_SequenceNode = Union["RNNSequence", "LSTMSequence", "GRUSequence", "ProjectedLSTMSequence"]
_LSTMNode = Union["LSTMSequence", "ProjectedLSTMSequence"]


def _as_batch_sizes(op: str, batch_sizes):
    """The per-step batch sizes as a 1-d int64 NumPy array (they index on the host), or None."""
    if batch_sizes is None:
        return None
    sizes = np.asarray(batch_sizes.numpy() if isinstance(batch_sizes, Tensor) else batch_sizes)
    if sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iu" or (sizes <= 0).any() \
            or (np.diff(sizes) > 0).any():
        raise ValueError(f"{op}: expected batch_sizes as a non-empty, non-increasing 1-d array of "
                         f"positive ints, received {sizes.tolist()}")
    return sizes.astype(np.int64)


def _step_sizes(op: _SequenceNode, steps: int, batch: int) -> list[int]:
    """Active rows of each step: ``op.batch_sizes``, or the whole batch at every step."""
    if op.batch_sizes is None:
        return [batch] * steps
    if len(op.batch_sizes) != steps or op.batch_sizes[0] != batch:
        raise ValueError(f"{op.name}: batch_sizes {op.batch_sizes.tolist()} do not fit an input of {steps} steps "
                         f"and batch {batch} (expected {steps} sizes, the first {batch})")
    return op.batch_sizes.tolist()


def _lengths(sizes: list[int], batch: int) -> np.ndarray:
    """Each row's number of steps, from the per-step batch sizes."""
    return (np.asarray(sizes)[:, None] > np.arange(batch)[None, :]).sum(axis=0)


def _previous_rows(join, states, initial, t: int, rows: int, sizes: list[int], reverse: bool):
    """The state that step t's first ``rows`` rows read: the previous step's for the rows that ran there, the
    initial state for rows that start at t (only in reverse, where shorter sequences start later). Works on
    arrays and on Tensors; ``join`` concatenates along the batch."""
    previous = _previous(t, len(sizes), reverse)
    if previous is None:
        return initial[:rows]
    ran = min(rows, sizes[previous])
    if ran == rows:
        return states[previous][:rows]
    return join([states[previous][:ran], initial[ran:rows]])


def _packed_hidden_weight_grad(d_hidden, hs, h0, reverse: bool, lengths: np.ndarray):
    """``sum_t d_hidden[t].T @ h_prev[t]`` over packed steps (inactive rows of d_hidden are zeros). Forward,
    every active row at step t > 0 ran at t - 1; in reverse, row i reads h0 at its first step lengths[i] - 1 and
    rows of hs that did not run are zeros, so one GEMM over the shifted steps plus one for h0 suffice."""
    if not reverse:
        return _hidden_weight_grad(d_hidden, hs, h0, reverse)
    xp = get_array_module(d_hidden)
    gate_size, size = d_hidden.shape[2], hs.shape[2]
    starts = d_hidden[xp.asarray(lengths - 1), xp.arange(d_hidden.shape[1])]
    grad = threads.matmul(starts.T, h0)
    if d_hidden.shape[0] > 1:
        grad += threads.matmul(d_hidden[:-1].reshape(-1, gate_size).T, hs[1:].reshape(-1, size))
    return grad


def _join_tensors(parts) -> Tensor:
    return cat(parts, dim=0)


def _carry(update: Tensor, carried: Tensor) -> Tensor:
    """The carried state (N, ·) with its first rows replaced by ``update``."""
    rows = update.shape[0]
    return update if rows == carried.shape[0] else cat([update, carried[rows:]], dim=0)


def _pad_rows(value: Tensor, batch: int) -> Tensor:
    """``value`` (rows, ·) with zero rows appended up to ``batch``."""
    rows = value.shape[0]
    if rows == batch:
        return value
    return cat([value, Tensor(get_array_module(value.array).zeros((batch - rows,) + value.shape[1:],
                                                                  dtype=value.dtype))], dim=0)


def _zeros_like_tensor(value: Tensor) -> Tensor:
    return Tensor(get_array_module(value.array).zeros(value.shape, dtype=value.dtype))


def _rnn_forward_packed(op: RNNSequence, x, h0, weight, bias):
    xp = get_array_module(x)
    steps, batch = x.shape[:2]
    sizes = _step_sizes(op, steps, batch)
    hs = xp.zeros_like(x)
    h = h0.copy()  # the carried state: rows that do not run keep theirs
    for t in _forward_order(steps, op.reverse):
        rows = sizes[t]
        pre = _hidden_projection(h[:rows], weight, bias)
        pre += x[t, :rows]
        if op.nonlinearity == "tanh":
            h[:rows] = xp.tanh(pre, out=hs[t, :rows])
        else:
            h[:rows] = xp.maximum(pre, pre.dtype.type(0), out=hs[t, :rows])
    op.has_bias = bias is not None
    op.save_for_backward(h0, weight, hs)
    return hs


def _single_state_backward_packed(op: RNNSequence | GRUSequence, grad_hs: Tensor, h0: Tensor, hs: Tensor,
                                  step_grads) -> tuple:
    """Reference back-propagation through packed steps of a one-state sequence (RNN, GRU) in Ember ops.
    ``step_grads(t, rows, h_prev, grad)`` gives one step's (x, h, W_hh[, b_hh]) gradients."""
    needs = op.needs_input_grad
    steps, batch = hs.shape[:2]
    sizes = _step_sizes(op, steps, batch)
    grad_x: list = [None] * steps
    grad_h = _zeros_like_tensor(h0)  # gradient of the carried state
    grad_weight = grad_bias = None
    for t in reversed(_forward_order(steps, op.reverse)):
        rows = sizes[t]
        h_prev = _previous_rows(_join_tensors, hs, h0, t, rows, sizes, op.reverse)
        step_grad_x, step_grad_h, d_weight, *d_bias = step_grads(t, rows, h_prev, grad_hs[t][:rows] + grad_h[:rows])
        grad_x[t] = _pad_rows(step_grad_x, batch)
        grad_h = _carry(step_grad_h, grad_h)
        grad_weight = _accumulate(grad_weight, d_weight)
        grad_bias = _accumulate(grad_bias, d_bias[0] if d_bias else None)
    return _with_bias((stack(grad_x, dim=0) if needs[0] else None, grad_h if needs[1] else None,
                       grad_weight if needs[2] else None), grad_bias if needs[-1] else None, op.has_bias)


def _all_needed(op: Primitive) -> tuple:
    return (True,) * len(op.needs_input_grad)


def _rnn_backward_packed(op: RNNSequence, grad_hs: Tensor) -> tuple:
    h0, weight, hs = op.saved_tensors

    def step_grads(t, rows, h_prev, grad):
        return _rnn_step_grads(_all_needed(op), op.nonlinearity, op.has_bias, h_prev, weight, hs[t][:rows], grad)

    return _single_state_backward_packed(op, grad_hs, h0, hs, step_grads)


def _rnn_backward_arrays_packed(op: RNNSequence, grad_hs) -> tuple:
    h0, weight, hs = op.saved_arrays
    xp = get_array_module(hs)
    needs = op.needs_input_grad
    steps, batch, size = hs.shape
    sizes = _step_sizes(op, steps, batch)
    d_pre = xp.zeros_like(hs)
    grad_h = xp.zeros_like(h0)
    for t in reversed(_forward_order(steps, op.reverse)):
        rows = sizes[t]
        grad = grad_h[:rows] + grad_hs[t, :rows]
        y = hs[t, :rows]
        if op.nonlinearity == "tanh":
            d_pre[t, :rows] = grad * (1 - y * y)
        else:
            d_pre[t, :rows] = grad * (y > 0)
        grad_h[:rows] = threads.matmul(d_pre[t, :rows], weight)
    grad_weight = (_packed_hidden_weight_grad(d_pre, hs, h0, op.reverse, _lengths(sizes, batch)) if needs[2]
                   else None)
    grad_bias = d_pre.reshape(-1, size).sum(axis=0) if op.has_bias and needs[-1] else None
    return _with_bias((d_pre if needs[0] else None, grad_h if needs[1] else None, grad_weight), grad_bias,
                      op.has_bias)


def _gru_forward_packed(op: GRUSequence, x, h0, weight, bias):
    xp = get_array_module(x)
    steps, batch, gate_size = x.shape
    size = gate_size // 3
    sizes = _step_sizes(op, steps, batch)
    gates = xp.zeros((steps, batch, 2 * size), dtype=x.dtype)
    hs, ns, hidden_ns = (xp.zeros((steps, batch, size), dtype=x.dtype) for _ in range(3))
    half = x.dtype.type(0.5)
    h = h0.copy()  # the carried state: rows that do not run keep theirs
    for t in _forward_order(steps, op.reverse):
        rows = sizes[t]
        hidden = _hidden_projection(h[:rows], weight, bias)
        activated = xp.add(x[t, :rows, :2 * size], hidden[:, :2 * size], out=gates[t, :rows])
        _sigmoid_into(activated, activated, half)
        r, z = activated[:, :size], activated[:, size:]
        hidden_n = hidden_ns[t, :rows]
        hidden_n[...] = hidden[:, 2 * size:]
        n = xp.multiply(r, hidden_n, out=ns[t, :rows])
        n += x[t, :rows, 2 * size:]
        xp.tanh(n, out=n)
        out = xp.subtract(h[:rows], n, out=hs[t, :rows])
        out *= z
        out += n
        h[:rows] = out
    op.has_bias = bias is not None
    saved = (x, h0, weight, hs, gates, ns, hidden_ns)
    op.save_for_backward(*(saved + (bias,) if op.has_bias else saved))
    return hs


def _gru_backward_packed(op: GRUSequence, grad_hs: Tensor) -> tuple:
    x, h0, weight, hs, _, _, _, *bias = op.saved_tensors

    def step_grads(t, rows, h_prev, grad):
        return _gru_step_grads(_all_needed(op), x[t][:rows], h_prev, weight, bias[0] if bias else None, grad)

    return _single_state_backward_packed(op, grad_hs, h0, hs, step_grads)


def _gru_backward_arrays_packed(op: GRUSequence, grad_hs) -> tuple:
    _, h0, weight, hs, gates, ns, hidden_ns, *_ = op.saved_arrays
    xp = get_array_module(hs)
    needs = op.needs_input_grad
    steps, batch, size = hs.shape
    sizes = _step_sizes(op, steps, batch)
    d_x = xp.zeros((steps, batch, 3 * size), dtype=hs.dtype)
    d_hidden = xp.zeros_like(d_x)
    grad_h = xp.zeros_like(h0)
    for t in reversed(_forward_order(steps, op.reverse)):
        rows = sizes[t]
        h = _previous_rows(xp.concatenate, hs, h0, t, rows, sizes, op.reverse)
        r, z, n = gates[t, :rows, :size], gates[t, :rows, size:], ns[t, :rows]
        grad = grad_h[:rows] + grad_hs[t, :rows]
        d_pre_n = grad * (1 - z) * (1 - n * n)
        d_x[t, :rows, :size] = d_pre_n * hidden_ns[t, :rows] * r * (1 - r)
        d_x[t, :rows, size:2 * size] = grad * (h - n) * z * (1 - z)
        d_x[t, :rows, 2 * size:] = d_pre_n
        d_hidden[t, :rows, :2 * size] = d_x[t, :rows, :2 * size]
        d_hidden[t, :rows, 2 * size:] = d_pre_n * r
        carry = threads.matmul(d_hidden[t, :rows], weight)
        carry += grad * z
        grad_h[:rows] = carry
    grad_weight = (_packed_hidden_weight_grad(d_hidden, hs, h0, op.reverse, _lengths(sizes, batch)) if needs[2]
                   else None)
    grad_bias = d_hidden.reshape(-1, 3 * size).sum(axis=0) if op.has_bias and needs[-1] else None
    return _with_bias((d_x if needs[0] else None, grad_h if needs[1] else None, grad_weight), grad_bias,
                      op.has_bias)


def _lstm_forward_steps(op: _LSTMNode, x, h0, c0, weight, weight_hr, bias):
    """LSTM steps over each step's active rows (all rows without ``op.batch_sizes``), the other rows carrying
    their state; with ``weight_hr`` (P, H) the hidden state is projected: ``h = (o * tanh(c)) @ weight_hr.T``."""
    xp = get_array_module(x)
    steps, batch, gate_size = x.shape
    size = gate_size // 4
    sizes = _step_sizes(op, steps, batch)
    gates = xp.zeros_like(x)
    hs = xp.zeros((steps, batch, h0.shape[1]), dtype=x.dtype)
    cs, tanh_cs = (xp.zeros((steps, batch, size), dtype=x.dtype) for _ in range(2))
    half = x.dtype.type(0.5)
    h, c = h0.copy(), c0.copy()  # the carried state: rows that do not run keep theirs
    for t in _forward_order(steps, op.reverse):
        rows = sizes[t]
        pre = _hidden_projection(h[:rows], weight, bias)
        pre += x[t, :rows]
        activated = gates[t, :rows]
        xp.tanh(pre[:, 2 * size:3 * size], out=activated[:, 2 * size:3 * size])
        for block in (slice(0, 2 * size), slice(3 * size, 4 * size)):
            _sigmoid_into(pre[:, block], activated[:, block], half)
        i, f, g, o = (activated[:, k * size:(k + 1) * size] for k in range(4))
        c_next = xp.multiply(f, c[:rows], out=cs[t, :rows])
        c_next += i * g
        tanh_c = xp.tanh(c_next, out=tanh_cs[t, :rows])
        if weight_hr is None:
            xp.multiply(o, tanh_c, out=hs[t, :rows])
        else:
            hs[t, :rows] = threads.matmul(o * tanh_c, weight_hr.T)
        h[:rows] = hs[t, :rows]
        c[:rows] = c_next
    op.has_bias = bias is not None
    op.save_for_backward(x, h0, c0, weight, weight_hr, bias, hs, cs, gates, tanh_cs)
    return hs, cs


def _lstm_grads_tuple(op: _LSTMNode, grad_x, grad_h, grad_c, grad_weight, grad_weight_hr, grad_bias,
                      projected: bool) -> tuple:
    """One gradient per input of LSTMSequence (x, h0, c0, W_hh[, b_hh]) or ProjectedLSTMSequence
    (x, h0, c0, W_hh, W_hr[, b_hh]), None where not needed."""
    grads = (grad_x, grad_h, grad_c, grad_weight) + ((grad_weight_hr,) if projected else ())
    grads = _with_bias(grads, grad_bias, op.has_bias)
    return tuple(grad if need else None for grad, need in zip(grads, op.needs_input_grad))


def _lstm_backward_steps(op: _LSTMNode, grad_hs: Tensor, grad_cs: Tensor) -> tuple:
    """Reference back-propagation through ``_lstm_forward_steps`` in Ember ops, step by step."""
    x, h0, c0, weight, weight_hr, bias, hs, cs, _, _ = op.saved_tensors
    steps, batch = hs.shape[:2]
    sizes = _step_sizes(op, steps, batch)
    grad_x: list = [None] * steps
    grad_h, grad_c = _zeros_like_tensor(h0), _zeros_like_tensor(c0)  # gradients of the carried state
    grad_weight = grad_weight_hr = grad_bias = None
    needs = (True,) * (5 if bias is not None else 4)
    for t in reversed(_forward_order(steps, op.reverse)):
        rows = sizes[t]
        h = _previous_rows(_join_tensors, hs, h0, t, rows, sizes, op.reverse)
        c = _previous_rows(_join_tensors, cs, c0, t, rows, sizes, op.reverse)
        grad_h_next = grad_hs[t][:rows] + grad_h[:rows]
        grad_c_next = grad_cs[t][:rows] + grad_c[:rows]
        x_t = x[t][:rows]
        if weight_hr is not None:
            grad_core, d_weight_hr = _projection_grads(x_t, h, c, weight, bias, weight_hr, grad_h_next)
            grad_weight_hr = _accumulate(grad_weight_hr, d_weight_hr)
            grad_h_next = grad_core
        step_grad_x, step_grad_h, step_grad_c, d_weight, *d_bias = _lstm_step_grads(
            needs, x_t, h, c, weight, bias, grad_h_next, grad_c_next)
        grad_x[t] = _pad_rows(step_grad_x, batch)
        grad_h, grad_c = _carry(step_grad_h, grad_h), _carry(step_grad_c, grad_c)
        grad_weight = _accumulate(grad_weight, d_weight)
        grad_bias = _accumulate(grad_bias, d_bias[0] if d_bias else None)
    return _lstm_grads_tuple(op, stack(grad_x, dim=0), grad_h, grad_c, grad_weight, grad_weight_hr, grad_bias,
                             weight_hr is not None)


def _projection_grads(x: Tensor, h: Tensor, c: Tensor, weight: Tensor, bias: Tensor | None, weight_hr: Tensor,
                      grad_h_next: Tensor) -> tuple[Tensor, Tensor]:
    """Through ``h' = (o * tanh(c')) @ W_hr.T`` in Ember ops: the gradient of ``o * tanh(c')`` and of W_hr,
    the step's gates recomputed from its inputs."""
    size = c.shape[1]
    pre_i, pre_f, pre_g, pre_o = split(x + _hidden_projection_tensor(h, weight, bias), size, dim=1)
    core = sigmoid(pre_o) * tanh(sigmoid(pre_f) * c + sigmoid(pre_i) * tanh(pre_g))
    return matmul(grad_h_next, weight_hr), matmul(grad_h_next.mT, core)


def _lstm_backward_steps_arrays(op: _LSTMNode, grad_hs, grad_cs) -> tuple:
    """Back-propagation through ``_lstm_forward_steps`` on arrays; the weight gradients as one GEMM each."""
    _, h0, c0, weight, weight_hr, _, hs, cs, gates, tanh_cs = op.saved_arrays
    xp = get_array_module(hs)
    steps, batch, size = cs.shape
    sizes = _step_sizes(op, steps, batch)
    d_gates = xp.zeros_like(gates)
    d_hs = None if weight_hr is None else xp.zeros_like(hs)  # gradient of every step's projected h
    grad_h, grad_c = xp.zeros_like(h0), xp.zeros_like(c0)  # gradients of the carried state
    for t in reversed(_forward_order(steps, op.reverse)):
        rows = sizes[t]
        c = _previous_rows(xp.concatenate, cs, c0, t, rows, sizes, op.reverse)
        i, f, g, o = (gates[t, :rows, k * size:(k + 1) * size] for k in range(4))
        tanh_c = tanh_cs[t, :rows]
        grad_h_next = grad_h[:rows] + grad_hs[t, :rows]
        if d_hs is not None:
            d_hs[t, :rows] = grad_h_next
            grad_h_next = threads.matmul(grad_h_next, weight_hr)
        d_c = grad_h_next * o * (1 - tanh_c * tanh_c)
        d_c += grad_cs[t, :rows]
        d_c += grad_c[:rows]
        d = d_gates[t, :rows]
        d[:, :size] = d_c * g * i * (1 - i)
        d[:, size:2 * size] = d_c * c * f * (1 - f)
        d[:, 2 * size:3 * size] = d_c * i * (1 - g * g)
        d[:, 3 * size:] = grad_h_next * tanh_c * o * (1 - o)
        grad_h[:rows] = threads.matmul(d, weight)
        grad_c[:rows] = d_c * f
    needs = op.needs_input_grad
    grad_weight = (_packed_hidden_weight_grad(d_gates, hs, h0, op.reverse, _lengths(sizes, batch)) if needs[3]
                   else None)
    grad_weight_hr = None
    if d_hs is not None and needs[4]:
        core = gates[:, :, 3 * size:] * tanh_cs  # o * tanh(c) of every step, zeros where rows did not run
        grad_weight_hr = threads.matmul(d_hs.reshape(-1, d_hs.shape[2]).T, core.reshape(-1, size))
    grad_bias = d_gates.reshape(-1, 4 * size).sum(axis=0) if op.has_bias and needs[-1] else None
    return _lstm_grads_tuple(op, d_gates, grad_h, grad_c, grad_weight, grad_weight_hr, grad_bias,
                             weight_hr is not None)


class PackRows(Primitive):
    """Rows gathered along the first axis, ``source[positions]`` for a source (M, *), the positions distinct
    (a PackedSequence's steps in a flattened (L * N, *) batch, or each sequence's last step). Its gradient is
    ``PadRows``: the rows written back, without the scatter-add a gather with repeated positions needs."""

    def __init__(self, positions):
        self.positions = positions

    def forward(self, source):
        self.source_rows = source.shape[0]
        return source[self.positions]

    def backward(self, grad):
        return PadRows(self.positions, self.source_rows)(grad)


class PadRows(Primitive):
    """Rows (R, *) written into zeros of shape (total, *) at distinct ``positions``: packed steps into the
    flattened padded layout of the sequence nodes. Its gradient is ``PackRows``."""

    def __init__(self, positions, total: int):
        self.positions = positions
        self.total = total

    def forward(self, rows):
        padded = get_array_module(rows).zeros((self.total,) + rows.shape[1:], dtype=rows.dtype)
        padded[self.positions] = rows
        return padded

    def backward(self, grad):
        return PackRows(self.positions)(grad)


class ProjectedLSTMSequence(Primitive):
    """An LSTM with a projected hidden state over a whole sequence (one direction of one layer), PyTorch's
    ``proj_size``: ``c' = f * c + i * g``, ``h' = (o * tanh(c')) @ W_hr.T``. Inputs: x (L, N, 4H) the input
    projections of every step, h0 (N, P), c0 (N, H), W_hh (4H, P), W_hr (P, H)[, b_hh (4H,)]; outputs h
    (L, N, P) and c (L, N, H) of every step, step t at index t in both directions.

    ``batch_sizes`` runs a packed batch as ``LSTMSequence`` does. ``backward_arrays`` back-propagates through
    time on arrays, each weight gradient as one GEMM over all steps; the reference ``backward`` runs each
    step's reference gradients in Ember ops."""

    has_bias = False  # set by the forward pass

    def __init__(self, reverse: bool = False, batch_sizes=None):
        self.reverse = reverse
        self.batch_sizes = _as_batch_sizes(type(self).__name__, batch_sizes)

    def forward(self, x, h0, c0, weight, weight_hr, bias=None):
        return _lstm_forward_steps(self, x, h0, c0, weight, weight_hr, bias)

    def backward(self, grad_hs, grad_cs):
        return _lstm_backward_steps(self, grad_hs, grad_cs)

    def backward_arrays(self, grad_hs, grad_cs):
        return _lstm_backward_steps_arrays(self, grad_hs, grad_cs)


def _accumulate(total, value):
    return value if total is None else (total if value is None else total + value)


# ------------------------------------------------------------------------------------------- wrappers
def _check_cell(op: str, gates: int, x: Tensor, states: tuple, weight: Tensor, bias: Tensor | None) -> None:
    if weight.ndim != 2:
        raise ValueError(f"{op}: expected a 2-d weight_hh, received shape {weight.shape}")
    size = weight.shape[1]
    batch = x.shape[0] if x.ndim == 2 else None
    if x.ndim != 2 or x.shape[1] != gates * size:
        raise ValueError(f"{op}: expected an input projection of shape (N, {gates * size}), received {x.shape}")
    if weight.shape[0] != gates * size:
        raise ValueError(f"{op}: expected weight_hh of shape ({gates * size}, H), received {weight.shape}")
    for state in states:
        if state.shape != (batch, size):
            raise ValueError(f"{op}: expected a state of shape ({batch}, {size}), received {state.shape}")
    if bias is not None and bias.shape != (gates * size,):
        raise ValueError(f"{op}: expected bias_hh of shape ({gates * size},), received {bias.shape}")
    dtypes = {t.dtype for t in (x, *states, weight) + ((bias,) if bias is not None else ())}
    if len(dtypes) != 1 or x.dtype.kind != "f":
        raise TypeError(f"{op}: expected tensors of one floating dtype, received {sorted(map(str, dtypes))}")


def _run(op: Primitive, tensors: tuple, bias: Tensor | None):
    return op(*tensors) if bias is None else op(*tensors, bias)


def rnn_cell(x: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None,
             nonlinearity: str = "tanh") -> Tensor:
    """One Elman RNN step ``act(x + h @ weight_hh.T + bias_hh)`` from the step's input projection x (N, H),
    the previous hidden state h (N, H), weight_hh (H, H) and bias_hh (H,); act is ``"tanh"`` or ``"relu"``."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: nonlinearity must be 'tanh' or 'relu', received {nonlinearity!r}")
    _check_cell("rnn_cell", 1, x, (h,), weight_hh, bias_hh)
    return _run(RNNCell(nonlinearity), (x, h, weight_hh), bias_hh)


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor,
              bias_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step (gates i, f, g, o) from the step's input projection x (N, 4H), the previous state h, c
    (N, H), weight_hh (4H, H) and bias_hh (4H,); returns ``(h', c')``."""
    _check_cell("lstm_cell", 4, x, (h, c), weight_hh, bias_hh)
    return _run(LSTMCell(), (x, h, c, weight_hh), bias_hh)


def gru_cell(x: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None) -> Tensor:
    """One GRU step (gates r, z, n; ``n = tanh(x_n + r * (h @ W_hn.T + b_hn))``) from the step's input
    projection x (N, 3H), the previous hidden state h (N, H), weight_hh (3H, H) and bias_hh (3H,)."""
    _check_cell("gru_cell", 3, x, (h,), weight_hh, bias_hh)
    return _run(GRUCell(), (x, h, weight_hh), bias_hh)


__all__ = ["rnn_cell", "lstm_cell", "gru_cell"]
