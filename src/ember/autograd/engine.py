"""The backward engine: one iterative pass over the graph in reverse topological order.

Bookkeeping lives here, once, so that no op has to repeat it:
  * order: a node runs only after every node that consumes its outputs has run (dependency counting, no
    recursion, so graphs of any depth work);
  * broadcasting: a gradient whose shape differs from its input's is summed back to the input's shape;
  * accumulation: gradients for the same tensor add up; leaves receive theirs in ``.grad``;
  * memory: each node is released once passed, unless ``retain_graph``;
  * fast paths: a node's array-only ``backward_arrays`` runs instead of its ``backward`` whenever the
    backward pass is not recorded (no ``create_graph``) and the ``fast_paths`` setting is on.
"""
from __future__ import annotations

import sys

import numpy as np

from .. import config
from . import grad_mode
from .broadcast import sum_to
from .tensor import Tensor
from ..backend import threads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves they depend on."""
    tensors = _as_tuple(tensors)
    only = None
    if inputs is not None:
        only = {id(t) for t in _as_tuple(inputs)}
    _run(tensors, grad_tensors, retain_graph, create_graph, captures=None, accumulate_only=only)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Return d(outputs)/d(inputs) as a tuple, without touching any ``.grad``.

    Args:
        outputs: Tensor or sequence of Tensors to differentiate.
        inputs: Tensor or sequence of Tensors (leaves or intermediate results) to differentiate with respect to.
        grad_outputs: the vector in the vector-Jacobian product, one per output (default: ones for scalars).
        retain_graph: keep the graph for another backward (default: ``create_graph``).
        create_graph: record the gradient computation, so that the result can be differentiated again.
        allow_unused: return None for an input that ``outputs`` do not depend on, instead of raising.
    """
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"grad: inputs[{index}] must be a Tensor, received {type(tensor).__name__}")
        if not tensor.requires_grad:
            raise RuntimeError(f"grad: inputs[{index}] (shape {tensor.shape}) does not require grad")
    captures = {_key(tensor): None for tensor in inputs}
    _run(outputs, grad_outputs, retain_graph, create_graph, captures=captures, accumulate_only=None)
    result: list[Tensor | None] = []
    for index, tensor in enumerate(inputs):
        value = captures[_key(tensor)]
        if value is None and not allow_unused:
            raise RuntimeError(
                f"grad: inputs[{index}] (shape {tensor.shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        result.append(value)
    return tuple(result)


def _key(tensor: Tensor):
    """Where a tensor's gradient is collected: its producing node's output slot, or the leaf itself."""
    if tensor.creator is None:
        return id(tensor)
    return (id(tensor.creator), tensor._output_index)


def _as_tuple(value):
    if isinstance(value, Tensor):
        return (value,)
    return tuple(value)


def _root_gradients(tensors, grad_tensors):
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    else:
        grad_tensors = _as_tuple(grad_tensors) if not isinstance(grad_tensors, (list, tuple)) else tuple(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise ValueError(f"backward: got {len(tensors)} tensors but {len(grad_tensors)} gradients")
    gradients = []
    for tensor, gradient in zip(tensors, grad_tensors):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"backward: expected Tensors, received {type(tensor).__name__}")
        if not tensor.requires_grad:
            raise RuntimeError(
                f"backward: tensor of shape {tensor.shape} does not require grad and has no grad_fn; "
                "did you create the inputs with requires_grad=True, or run inside no_grad()?"
            )
        if gradient is None:
            if tensor.array.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for one-element outputs, received shape "
                    f"{tensor.shape}; pass gradient= with that shape"
                )
            xp = _xp(tensor.array)
            gradient = Tensor(xp.ones(tensor.shape, dtype=tensor.dtype))
        else:
            gradient = gradient if isinstance(gradient, Tensor) else Tensor(_xp(tensor.array).asarray(gradient))
            if gradient.shape != tensor.shape:
                raise ValueError(
                    f"backward: gradient shape {gradient.shape} does not match the tensor's shape {tensor.shape}"
                )
            # the engine may hand this array to a leaf's .grad: never alias the caller's array (a gradient that
            # requires grad stays as it is, so that create_graph can differentiate with respect to it)
            if not gradient.requires_grad:
                gradient = Tensor(gradient.array.copy(order="K"))  # in the same memory order
        gradients.append(gradient)
    return gradients


def _xp(array):
    from ..backend.device import get_array_module

    return get_array_module(array)


def _collect(root_nodes):
    """Count, for each reachable node, how many input edges of other reachable nodes point at it; and for each
    leaf with post-accumulate hooks, how many edges point at it (its gradient is final when all have run)."""
    pending_consumers: dict[int, int] = {}
    hooked_leaf_edges: dict[int, int] = {}
    nodes = {}
    stack = list(root_nodes)
    for node in root_nodes:
        nodes[id(node)] = node
        pending_consumers.setdefault(id(node), 0)
    while stack:
        node = stack.pop()
        if node._released:
            raise RuntimeError(node._freed_message())
        for tensor in node.inputs:
            creator = tensor.creator
            if creator is None:
                if tensor._post_accumulate_grad_hooks is not None and tensor.requires_grad:
                    hooked_leaf_edges[id(tensor)] = hooked_leaf_edges.get(id(tensor), 0) + 1
                continue
            if not tensor.requires_grad:
                continue
            key = id(creator)
            if key in pending_consumers:
                pending_consumers[key] += 1
            else:
                pending_consumers[key] = 1
                nodes[key] = creator
                stack.append(creator)
    return nodes, pending_consumers, hooked_leaf_edges


def _run(tensors, grad_tensors, retain_graph, create_graph, captures, accumulate_only):
    if retain_graph is None:
        retain_graph = create_graph
    gradients = _root_gradients(tensors, grad_tensors)

    leaf_grads: dict[int, list] = {}  # id(leaf) -> [leaf, gradient]
    slot_grads: dict[int, list] = {}  # id(node) -> list of gradients, one per output
    root_nodes = []
    for tensor, gradient in zip(tensors, gradients):
        if tensor.creator is None:
            _add_leaf(leaf_grads, tensor, gradient)
            continue
        node = tensor.creator
        slots = slot_grads.get(id(node))
        if slots is None:
            slots = slot_grads[id(node)] = [None] * len(node._output_specs)
            root_nodes.append(node)
        index = tensor._output_index
        slots[index] = gradient if slots[index] is None else slots[index] + gradient

    _, pending_consumers, hooked_leaf_edges = _collect(root_nodes)
    # leaves with post-accumulate hooks get .grad (and run their hooks) as soon as their last edge has run
    if captures is not None:
        hooked_leaf_edges = {}
    seen_arrays: set[int] = set()
    # A root node consumed by another root node must wait for it.
    ready = [node for node in root_nodes if pending_consumers[id(node)] == 0]

    previous_mode = grad_mode.state.enabled
    grad_mode._set(create_graph)
    try:
        with threads.deferring():  # leaves' gradients some backward_arrays compute beside the pass
            _propagate(ready, slot_grads, pending_consumers, hooked_leaf_edges, leaf_grads, captures,
                       accumulate_only, create_graph, retain_graph, seen_arrays)
    finally:
        grad_mode._set(previous_mode)

    if captures is not None:
        for key, (_, gradient) in leaf_grads.items():
            if key in captures:
                captures[key] = gradient
        return
    for leaf, gradient in leaf_grads.values():
        if accumulate_only is not None and id(leaf) not in accumulate_only:
            continue
        _accumulate(leaf, gradient, create_graph, seen_arrays)


def _propagate(ready, slot_grads, pending_consumers, hooked_leaf_edges, leaf_grads, captures, accumulate_only,
               create_graph, retain_graph, seen_arrays) -> None:
    """Run the nodes' backward in dependency order from ``ready``, collecting gradients into ``slot_grads``
    and the leaves' into ``leaf_grads``."""
    while ready:
        node = ready.pop()
        slots = slot_grads.pop(id(node), None)
        if slots is not None and captures is not None:
            for index, value in enumerate(slots):
                if (id(node), index) in captures and value is not None:
                    captures[(id(node), index)] = value
        if slots is not None:
            _retain_nonleaf_grads(node, slots)
        input_grads = _call_backward(node, slots, create_graph) if slots is not None else ()
        for tensor, gradient in zip(node.inputs, input_grads):
            if gradient is None or not tensor.requires_grad:
                continue
            if gradient.shape != tensor.shape:
                gradient = _reduce_to_shape(gradient, tensor, node)
            creator = tensor.creator
            if creator is None:
                _add_leaf(leaf_grads, tensor, gradient)
                continue
            creator_slots = slot_grads.get(id(creator))
            if creator_slots is None:
                creator_slots = slot_grads[id(creator)] = [None] * len(creator._output_specs)
            index = tensor._output_index
            existing = creator_slots[index]
            creator_slots[index] = gradient if existing is None else existing + gradient
        for tensor in node.inputs:
            creator = tensor.creator
            if creator is None:
                if hooked_leaf_edges and id(tensor) in hooked_leaf_edges:
                    _count_down_hooked_leaf(tensor, hooked_leaf_edges, leaf_grads, accumulate_only,
                                            create_graph, seen_arrays)
                continue
            if not tensor.requires_grad:
                continue
            remaining = pending_consumers[id(creator)] - 1
            pending_consumers[id(creator)] = remaining
            if remaining == 0:
                ready.append(creator)
        if not retain_graph:
            node._release()


def _accumulate(leaf, gradient, create_graph: bool, seen_arrays: set) -> None:
    """Add a pass's gradient into ``leaf.grad``, then run the leaf's post-accumulate hooks."""
    if leaf.grad is None:
        if not create_graph:
            gradient = _owned(gradient, seen_arrays)
        leaf.grad = gradient
    else:
        with grad_mode.set_grad_enabled(create_graph):
            leaf.grad = leaf.grad + gradient
    if leaf._post_accumulate_grad_hooks is not None:
        with grad_mode.set_grad_enabled(False):
            for hook in tuple(leaf._post_accumulate_grad_hooks):
                hook(leaf)


def _count_down_hooked_leaf(leaf, hooked_leaf_edges, leaf_grads, accumulate_only, create_graph, seen_arrays):
    """One edge into a hooked leaf has run; after the last one, its gradient is final: accumulate it now."""
    remaining = hooked_leaf_edges[id(leaf)] - 1
    hooked_leaf_edges[id(leaf)] = remaining
    if remaining or id(leaf) not in leaf_grads:
        return
    if accumulate_only is not None and id(leaf) not in accumulate_only:
        return
    _, gradient = leaf_grads.pop(id(leaf))
    threads.finish_deferred()  # the hooks read it now
    _accumulate(leaf, gradient, create_graph, seen_arrays)


def _call_backward(node, slots, create_graph: bool):
    if any(slot is None for slot in slots):
        xp = _xp(node.inputs[0].array) if node.inputs else np
        slots = [
            Tensor(xp.zeros(shape, dtype=dtype)) if slot is None else slot
            for slot, (shape, dtype) in zip(slots, node._output_specs)
        ]
    if node._released:
        raise RuntimeError(node._freed_message())
    result = None
    if node.backward_arrays is not None and not create_graph and config.get("fast_paths"):
        result = node.backward_arrays(*[slot.array for slot in slots])
        config.record_path(f"{node.name}.backward", "backward" if result is None else "backward_arrays")
    elif node.backward_arrays is not None:
        config.record_path(f"{node.name}.backward", "backward")
    if result is None:
        result = type(node).backward(node, *slots)
    if type(result) is not tuple:
        result = (result,)
    positions = node._input_positions
    if positions is None:
        if len(result) != len(node.inputs):
            raise RuntimeError(f"{node.name}.backward returned {len(result)} gradients for {len(node.inputs)} inputs")
        return [value if value is None or isinstance(value, Tensor) else Tensor(value) for value in result]
    if len(result) < (positions[-1] + 1 if positions else 0):
        raise RuntimeError(
            f"{node.name}.backward returned {len(result)} gradients, expected one per forward argument "
            f"({positions[-1] + 1})"
        )
    grads = []
    for position in positions:
        value = result[position]
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(value)
        grads.append(value)
    return grads


def _reduce_to_shape(gradient, tensor, node):
    try:
        return sum_to(gradient, tensor.shape)
    except ValueError:
        raise RuntimeError(
            f"{node.name}.backward returned a gradient of shape {gradient.shape} for an input of shape "
            f"{tensor.shape}"
        ) from None


def _add_leaf(leaf_grads, leaf, gradient):
    entry = leaf_grads.get(id(leaf))
    if entry is None:
        leaf_grads[id(leaf)] = [leaf, gradient]
    else:
        threads.finish_deferred()  # a deferred gradient is read here
        entry[1] = entry[1] + gradient


def _retain_nonleaf_grads(node, slots):
    for index, ref in enumerate(node._outputs):
        output = ref()
        if output is not None and output._retains_grad and slots[index] is not None:
            gradient = slots[index]
            output.grad = gradient if output.grad is None else output.grad + gradient


def _owned(gradient, seen_arrays):
    """A gradient array handed to a leaf must belong to that leaf alone (in-place updates follow): a view is
    copied unless it is the only thing left holding its base (e.g. a reshaped or transposed GEMM result)."""
    array = gradient.array
    if id(array) in seen_arrays or not (getattr(array, "base", None) is None or _sole_view(array)):
        array = array.copy(order="K")
    seen_arrays.add(id(array))
    return Tensor(array)


def _sole_view(array) -> bool:
    """Whether ``array`` is a view of an owning array of its own type that nothing else references."""
    base = array.base
    if type(base) is not type(array) or base.base is not None or not hasattr(sys, "getrefcount"):
        return False
    # references: array.base, the local name ``base`` and getrefcount's argument
    return sys.getrefcount(base) <= 3
