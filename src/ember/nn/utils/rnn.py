"""Variable-length sequences for recurrent layers, as ``torch.nn.utils.rnn``: ``pad_sequence``,
``PackedSequence``, ``pack_padded_sequence``, ``pad_packed_sequence`` and ``pack_sequence``.

A ``PackedSequence`` holds the steps of a batch of sequences sorted by decreasing length, time step after
time step: ``data`` is (sum of lengths, *), and ``batch_sizes[t]`` is how many sequences are still running
at step t. Every conversion here is one gather (``getitem`` with an integer array) from the source tensor,
with one extra row holding the padding value where padding is made (packing gathers distinct rows, with
``PackRows``, whose gradient writes them back without a scatter-add), so gradients flow back from packed data
to the padded input and from a padded output to the packed data, and no Python loop runs over time steps.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ...autograd.tensor import Tensor
from ...backend.device import get_array_module
from ...functions.creation import full, tensor
from ...functions.indexing import getitem
from ...functions.recurrent import PackRows
from ...functions.shape import cat


class PackedSequence(NamedTuple):
    """A batch of sequences packed time step after time step (see the module's docstring).

    Fields, as PyTorch's:
        data: (sum of lengths, *) steps of the sequences sorted by decreasing length.
        batch_sizes: int64 (max length,): sequences still running at each step.
        sorted_indices: int64 (batch,): the original index of each sorted sequence; None when the input was
            already sorted (``enforce_sorted=True``).
        unsorted_indices: int64 (batch,): the inverse permutation; None with ``sorted_indices``.
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> PackedSequence:
        """``data`` and the index tensors moved or cast with ``Tensor.to``; ``batch_sizes`` stays on the CPU,
        as in PyTorch."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        device = data.device
        sorted_indices, unsorted_indices = (None if indices is None else indices.to(device)
                                            for indices in (self.sorted_indices, self.unsorted_indices))
        return PackedSequence(data, self.batch_sizes, sorted_indices, unsorted_indices)


def _index_tensor(values: np.ndarray, like: Tensor) -> Tensor:
    return tensor(values.astype(np.int64), device=like.device)


def _lengths(op: str, lengths) -> np.ndarray:
    """Lengths (a list, a NumPy array or a Tensor) as a 1-d int64 NumPy array."""
    values = lengths.numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise ValueError(f"{op}: expected lengths as a 1-d sequence of ints, received {values.dtype} array of "
                         f"shape {values.shape}")
    return values.astype(np.int64)


def _padding_row(source: Tensor, padding_value) -> Tensor:
    """One row shaped as ``source``'s rows, filled with ``padding_value`` in ``source``'s dtype."""
    return full((1,) + tuple(source.shape[1:]), padding_value, dtype=source.dtype, device=source.device)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_i, *) into one padded tensor.

    Args:
        sequences: a list of tensors (L_i, *) with the same trailing shape * and dtype.
        batch_first: return (B, T, *) instead of (T, B, *), T the longest length. Default False.
        padding_value: the value of padded positions, default 0.
        padding_side: ``"right"`` (default) pads after each sequence, ``"left"`` before it.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', received {padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: expected at least one sequence, received an empty list")
    trailing = tuple(sequences[0].shape[1:])
    for index, sequence in enumerate(sequences):
        if not isinstance(sequence, Tensor):
            raise TypeError(f"pad_sequence: sequence {index} is a {type(sequence).__name__}, expected a Tensor")
        if sequence.ndim == 0 or tuple(sequence.shape[1:]) != trailing:
            raise ValueError(
                f"pad_sequence: expected sequences of shape (L, {', '.join(map(str, trailing))}) like the first, "
                f"received shape {sequence.shape} for sequence {index}"
            )
    lengths = np.array([sequence.shape[0] for sequence in sequences], dtype=np.int64)
    longest = int(lengths.max())
    starts = np.cumsum(lengths) - lengths  # where each sequence begins in their concatenation
    steps = np.arange(longest)[:, None]  # (T, 1) against (B,) sequences
    first = longest - lengths if padding_side == "left" else np.zeros_like(lengths)  # first step holding data
    inside = (steps >= first) & (steps < first + lengths)
    positions = np.where(inside, starts + steps - first, lengths.sum())  # past the end: the padding row
    source = cat(sequences + [_padding_row(sequences[0], padding_value)], dim=0)
    return getitem(source, positions.T if batch_first else positions)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *) with ``batch_first``) of sequences of ``lengths``.

    With ``enforce_sorted`` (the default) the lengths must not increase along the batch; otherwise the
    sequences are sorted here and ``sorted_indices``/``unsorted_indices`` record the permutation.
    """
    op = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, received {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"{op}: expected a padded input of at least 2 dims (T, B, *), received shape {input.shape}")
    steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    layout = "(B, T, *)" if batch_first else "(T, B, *)"
    lengths = _lengths(op, lengths)
    if len(lengths) != batch:
        raise ValueError(f"{op}: expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                         f"(batch_size={batch} of input shape {input.shape}, {layout})")
    if (lengths <= 0).any():
        raise ValueError(f"{op}: Length of all samples has to be greater than 0, but found an element in "
                         f"'lengths' that is <= 0 (lengths {lengths.tolist()})")
    if (lengths > steps).any():
        raise ValueError(f"{op}: lengths must be at most the sequence length {steps} of input shape {input.shape} "
                         f"{layout}, received lengths {lengths.tolist()}")
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise ValueError(
                f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` is True (received "
                f"{lengths.tolist()}). You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX exportability."
            )
        order = np.arange(batch)
    else:
        order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    running = sorted_lengths[None, :] > np.arange(sorted_lengths[0])[:, None]  # (max length, B)
    step, rank = np.nonzero(running)  # row-major: step after step, sorted sequences within a step
    sequence = order[rank]
    positions = sequence * steps + step if batch_first else step * batch + sequence
    flat = input.reshape((steps * batch,) + tuple(input.shape[2:]))
    data = PackRows(get_array_module(flat.array).asarray(positions))(flat)  # distinct positions: no scatter-add
    batch_sizes = tensor(running.sum(axis=1).astype(np.int64))
    if enforce_sorted:
        return PackedSequence(data, batch_sizes, None, None)
    return PackedSequence(data, batch_sizes, _index_tensor(order, input), _index_tensor(np.argsort(order), input))


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo ``pack_padded_sequence``: returns the padded batch (T, B, *) (or (B, T, *) with ``batch_first``),
    sequences in their original order, and their int64 lengths.

    ``total_length`` pads to that many steps (at least the longest length), e.g. to match the input of a
    ``DataParallel``-style split; ``padding_value`` fills the padded positions.
    """
    op = "pad_packed_sequence"
    data = sequence.data
    batch_sizes = _lengths(op, sequence.batch_sizes)
    if batch_sizes.size == 0 or data.ndim == 0 or int(batch_sizes.sum()) != data.shape[0]:
        raise ValueError(f"{op}: batch_sizes {batch_sizes.tolist()} do not add up to the rows of data of shape "
                         f"{data.shape}")
    longest, batch = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < longest:
            raise ValueError(
                f"{op}: Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {longest}"
            )
        steps = int(total_length)
    else:
        steps = longest
    sorted_lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    unsorted = (np.arange(batch) if sequence.unsorted_indices is None
                else _lengths(op, sequence.unsorted_indices))  # sorted rank of each original sequence
    starts = np.concatenate([[0], np.cumsum(batch_sizes)])  # where each step begins in data
    step = np.arange(steps)[:, None]
    inside = step < sorted_lengths[unsorted][None, :]
    positions = np.where(inside, starts[np.minimum(step, longest)] + unsorted[None, :], data.shape[0])
    source = cat([data, _padding_row(data, padding_value)], dim=0)
    padded = getitem(source, positions.T if batch_first else positions)
    return padded, tensor(sorted_lengths[unsorted].astype(np.int64))


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *): ``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    sequences = list(sequences)
    padded = pad_sequence(sequences)  # checks the sequences
    lengths = [sequence.shape[0] for sequence in sequences]
    return pack_padded_sequence(padded, lengths, enforce_sorted=enforce_sorted)


__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence"]
