"""``tf.GradientTape`` on Ember's graph: the tape decides *what* to differentiate, Ember's engine does it.

Every op on a tensor that requires grad is recorded by Ember as it runs. A tape adds TensorFlow's rules: it
watches the trainable variables read while it records (or only what ``watch`` names), it makes watched
constants require grad while it records, and ``gradient`` asks Ember's engine for d(target)/d(sources), with
the backward pass itself recorded when an outer tape is recording (nested tapes: second derivatives).
"""
from __future__ import annotations

import contextlib
import enum

import numpy as np

from ..autograd import engine
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor as EmberTensor
from ._tensor import Tensor, tape_state, wrap
from .variables import Variable

__all__ = ["GradientTape", "UnconnectedGradients"]


class UnconnectedGradients(str, enum.Enum):
    """What ``gradient`` gives for a source the target does not depend on: None, or zeros."""

    NONE = "none"
    ZERO = "zero"


def _flatten(structure) -> list:
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    return [structure]


def _pack(structure, leaves):
    if isinstance(structure, dict):
        return {key: _pack(structure[key], leaves) for key in sorted(structure)}
    if isinstance(structure, (list, tuple)):
        items = [_pack(item, leaves) for item in structure]
        return type(structure)(*items) if hasattr(structure, "_fields") else type(structure)(items)
    return next(leaves)


class GradientTape:
    """Records operations for automatic differentiation (TensorFlow's ``tf.GradientTape``).

        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(x @ w + b - y))
        dw, db = tape.gradient(loss, [w, b])

    Args:
        persistent: allow several ``gradient`` calls (default False: a second call raises RuntimeError).
        watch_accessed_variables: watch every trainable ``Variable`` read while recording (default True);
            with False, only what ``watch`` names is differentiated.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self._persistent = bool(persistent)
        self._watch_accessed_variables = bool(watch_accessed_variables)
        self._recording = False
        self._used = False
        self._variables: dict[int, Variable] = {}
        self._tensors: dict[int, EmberTensor] = {}
        self._flipped: dict[int, EmberTensor] = {}  # watched leaves whose requires_grad this tape turned on

    # ----------------------------------------------------------------------------------- recording
    def __enter__(self) -> GradientTape:
        if self._recording:
            raise ValueError("GradientTape: this tape is already recording (nested `with` of the same tape)")
        self._recording = True
        tape_state.active.append(self)
        for tensor in self._tensors.values():
            self._require_grad(tensor)
        return self

    def __exit__(self, *exc_info) -> None:
        self._recording = False
        if self in tape_state.active:
            tape_state.active.remove(self)
        self._release_flipped()

    def _require_grad(self, tensor: EmberTensor) -> None:
        if not tensor.requires_grad and tensor.creator is None and tensor.array.dtype.kind == "f":
            tensor.requires_grad = True
            self._flipped[id(tensor)] = tensor

    def _release_flipped(self) -> None:
        """Watched constants stop requiring grad once no recording tape watches them (ops after the tape
        are not recorded, as TensorFlow)."""
        for key, tensor in list(self._flipped.items()):
            if not any(key in tape._tensors for tape in tape_state.active if tape is not self):
                tensor.requires_grad = False
            del self._flipped[key]

    def _variable_accessed(self, variable: Variable) -> None:
        if self._recording and self._watch_accessed_variables:
            self._variables[id(variable)] = variable

    def watch(self, tensor) -> None:
        """Differentiate with respect to ``tensor`` (a tensor, a Variable, or a list/tuple/dict of them).
        Integer tensors are accepted and give None gradients, as TensorFlow."""
        for item in _flatten(tensor):
            if isinstance(item, Variable):
                self._variables[id(item)] = item
            elif isinstance(item, EmberTensor):
                self._tensors[id(item)] = item
                if self._recording:
                    self._require_grad(item)
            else:
                raise TypeError(f"GradientTape.watch: expected tensors or Variables, received {type(item).__name__}")

    @contextlib.contextmanager
    def stop_recording(self):
        """Run the body without recording (Ember records nothing in it, for any tape)."""
        if not self._recording:
            raise ValueError("GradientTape.stop_recording: the tape is not recording")
        self._recording = False
        try:
            with no_grad():
                yield
        finally:
            self._recording = True

    def reset(self) -> None:
        """Forget what was watched; the tape records afresh."""
        self._release_flipped()
        self._variables.clear()
        self._tensors.clear()

    def watched_variables(self) -> tuple:
        return tuple(self._variables.values())

    # ----------------------------------------------------------------------------------- gradients
    def gradient(self, target, sources, output_gradients=None, unconnected_gradients=UnconnectedGradients.NONE):
        """d(target)/d(sources) with the structure of ``sources``.

        ``target``: a tensor (a non-scalar one, or a list of tensors, is summed) ; ``sources``: a tensor, a
        Variable, or a nested list/tuple/dict of them. A source the target does not depend on (or an unwatched
        one, or an integer one) gives None, or zeros with ``unconnected_gradients="zero"``. Each gradient has
        its source's shape and dtype. ``output_gradients``: the weights of the target(s), in their shapes.
        """
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of gradients "
                               "(or jacobians)")
        self._used = True
        zero = UnconnectedGradients(unconnected_gradients) == UnconnectedGradients.ZERO
        flat_sources = _flatten(sources)
        leaves: list[EmberTensor | None] = []
        for index, source in enumerate(flat_sources):
            if isinstance(source, Variable):
                watched = id(source) in self._variables
                leaves.append(source._value if watched else None)
            elif isinstance(source, EmberTensor):
                watched = source.creator is not None or id(source) in self._tensors or source.requires_grad
                leaves.append(source if watched else None)
            else:
                raise TypeError(f"GradientTape.gradient: sources[{index}] must be a tensor or a Variable, received "
                                f"{type(source).__name__}")
        targets = [t._read() if isinstance(t, Variable) else t for t in _flatten(target)]
        weights = None if output_gradients is None else _flatten(output_gradients)
        pairs = [(t, None if weights is None else weights[i]) for i, t in enumerate(targets)
                 if isinstance(t, EmberTensor) and t.requires_grad and t.array.dtype.kind == "f"]
        wanted = [leaf for leaf in leaves if leaf is not None and leaf.array.dtype.kind == "f"]
        results: dict[int, EmberTensor | None] = {}
        if pairs and wanted:
            results = self._differentiate(pairs, wanted)
        gradients = []
        for source, leaf in zip(flat_sources, leaves):
            value = results.get(id(leaf)) if leaf is not None else None
            if value is None and zero:
                shape_of = source._value if isinstance(source, Variable) else source
                value = Tensor(np.zeros(shape_of.shape, shape_of.array.dtype))
            gradients.append(None if value is None else wrap(value))
        return _pack(sources, iter(gradients))

    def _differentiate(self, pairs, wanted) -> dict:
        # constants watched by this tape require grad again for the engine (they stopped when the tape closed)
        restore = [leaf for leaf in wanted if not leaf.requires_grad]
        for leaf in restore:
            leaf.requires_grad = True
        # recorded when a tape that can still differentiate it records (an outer one, or this one if persistent)
        create_graph = any(tape._recording and (tape is not self or self._persistent) for tape in tape_state.active)
        try:
            outputs = [t for t, _ in pairs]
            weights = [Tensor(np.ones(t.shape, t.array.dtype)) if w is None else _as_weight(w, t) for t, w in pairs]
            unique = list({id(leaf): leaf for leaf in wanted}.values())
            grads = engine.grad(outputs, unique, grad_outputs=weights, retain_graph=True,
                                create_graph=create_graph, allow_unused=True)
        finally:
            for leaf in restore:
                leaf.requires_grad = False
        return {id(leaf): value for leaf, value in zip(unique, grads)}


def _as_weight(weight, target: EmberTensor) -> EmberTensor:
    from ._tensor import convert_to_tensor

    weight = convert_to_tensor(weight, dtype=None if isinstance(weight, EmberTensor) else target.array.dtype)
    if tuple(weight.shape) != tuple(target.shape):
        raise ValueError(f"GradientTape.gradient: output_gradients of shape {tuple(weight.shape)} do not match the "
                         f"target's shape {tuple(target.shape)}")
    return weight
