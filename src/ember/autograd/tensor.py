"""``Tensor``: an array (NumPy or CuPy) plus a graph edge.

Tensor methods hold no math: arithmetic operators and methods such as ``sum``, ``reshape`` or ``to`` are
installed by the functions layer (``ember/functions/tensor_methods.py``), which keeps every formula in one
place. ``tensor.pyi`` beside this file lists the whole class, installed members included, for editors and
type checkers; ``tools/tensor_stub.py`` writes it and a test keeps it equal to what Tensor holds at run time.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import dtypes
from ..backend.device import Device, cupy_if_loaded, device_of, import_cupy
from .hooks import TensorHookHandle

if TYPE_CHECKING:
    from .function import Function


class Tensor:
    """A multi-dimensional array that can record the operations applied to it.

    Attributes:
        array: the underlying ``numpy.ndarray`` (or ``cupy.ndarray`` on a CUDA device).
        data: as in PyTorch, a new Tensor sharing ``array``, detached from the graph (see ``data``).
        grad: the accumulated gradient (a Tensor) after ``backward()``, or None.
        requires_grad: whether operations on this tensor are recorded for differentiation.
        creator: the node (``Function``) that produced this tensor; None for leaves. Alias: ``grad_fn``.
    """

    __slots__ = ("array", "grad", "requires_grad", "creator", "_output_index", "_retains_grad",
                 "_post_accumulate_grad_hooks", "__weakref__")
    array: Any  # numpy.ndarray, or cupy.ndarray on a CUDA device
    grad: Tensor | None
    requires_grad: bool
    creator: Function | None
    _output_index: int
    _retains_grad: bool
    _post_accumulate_grad_hooks: list | None  # None until a hook is registered: the engine skips it then
    __array_ufunc__ = None  # NumPy defers to Tensor's reflected operators (ndarray * Tensor -> Tensor)
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False) -> None:
        if not isinstance(data, np.ndarray):
            cupy = cupy_if_loaded()
            if cupy is None or not isinstance(data, cupy.ndarray):
                data = np.asarray(data)
        self.array = data
        self.grad = None
        self.requires_grad = False
        self.creator = None
        self._output_index = 0
        self._retains_grad = False
        self._post_accumulate_grad_hooks = None
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_node(cls, array, node: Function, index: int) -> Tensor:
        tensor = cls(array)
        tensor.requires_grad = True
        tensor.creator = node
        tensor._output_index = index
        return tensor

    # ------------------------------------------------------------------------------------------ facts
    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def device(self) -> Device:
        return device_of(self.array)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def grad_fn(self) -> Function | None:
        return self.creator

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def size(self, dim: int | None = None) -> tuple | int:
        """The shape as a tuple, or the length of dimension ``dim``."""
        if dim is None:
            return self.array.shape
        return self.array.shape[dim]

    def numel(self) -> int:
        return int(self.array.size)

    def element_size(self) -> int:
        return self.array.itemsize

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    # ------------------------------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU)."""
        if self.device.type != "cpu":
            raise TypeError(f"numpy(): tensor is on {self.device}; call .cpu() first to copy it to host memory")
        return self.array

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, received shape {self.shape}")
        return self.array.reshape(()).item() if isinstance(self.array, np.ndarray) else self.array.item()

    def tolist(self) -> Any:
        return self.array.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, received {self.dtype}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.array.size} elements is ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def __iter__(self) -> Iterator[Tensor]:
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.array.shape[0]))

    __hash__ = object.__hash__

    # ``to(...)`` itself is installed by the functions layer (it records a node); these call it.
    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Tensor:
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = f"cuda:{device}"
        return self.to(device)

    def type(self, dtype=None) -> str | Tensor:
        if dtype is None:
            return f"ember.{self.dtype}"
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    # ------------------------------------------------------------------------------------------ graph
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only); floating tensors only."""
        if requires_grad and self.array.dtype.kind not in "fc":
            raise TypeError(
                f"requires_grad_: only floating-point tensors can require gradients, received dtype {self.dtype}"
            )
        if not requires_grad and self.creator is not None:
            raise RuntimeError(
                "requires_grad_(False): this tensor is the output of an op; use .detach() to cut it from the graph"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new tensor sharing this data, cut from the graph."""
        return Tensor(self.array)

    @property
    def data(self) -> Tensor:
        """As in PyTorch: a new Tensor sharing this tensor's memory, cut from the graph (``requires_grad=False``).

        In-place methods on it change this tensor's numbers without being recorded or checked
        (``w.data.sub_(lr * w.grad)``); ``np.asarray(t.data)`` gives the numbers. ``t.array`` is the raw
        ``numpy.ndarray``/``cupy.ndarray`` itself.
        """
        return Tensor(self.array)

    @data.setter
    def data(self, value: Tensor) -> None:
        """``t.data = other``: ``t`` holds ``other``'s array from now on (shape and dtype may change), as in
        PyTorch; the graph and ``requires_grad`` of ``t`` are kept."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data: assigned value must be a Tensor, received {type(value).__name__}; "
                            "wrap it with ember.tensor(...)")
        self.array = value.array

    def detach_(self) -> Tensor:
        self.creator = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad(): tensor does not require grad")
        self._retains_grad = True

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> TensorHookHandle:
        """Call ``hook(self)`` during backward, as soon as this leaf's ``.grad`` holds the pass's gradient.

        The hook runs once per backward pass that reaches the leaf, right after its gradient is accumulated
        (not at the end of the pass), so that work on finished gradients (e.g. averaging them across
        processes) overlaps the rest of the backward pass. ``ember.grad()`` does not call it (``.grad`` is not
        touched). Returns a handle whose ``remove()`` unregisters the hook.
        """
        if self.creator is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors (no grad_fn) accumulate .grad; "
                               f"this tensor of shape {self.shape} was produced by {self.creator.name}")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: the tensor does not require grad")
        if self._post_accumulate_grad_hooks is None:
            self._post_accumulate_grad_hooks = []
        self._post_accumulate_grad_hooks.append(hook)
        return TensorHookHandle(self, hook)

    def __getstate__(self) -> tuple:
        """Copies and pickles keep every field but the post-accumulate-grad hooks (callbacks of this process,
        e.g. a ``DistributedDataParallel`` wrapper): ``copy.deepcopy(model)`` gives a model without them."""
        slots = {_PICKLED_NAMES.get(name, name): getattr(self, name) for name in Tensor.__slots__
                 if name != "__weakref__" and hasattr(self, name)}
        slots["_post_accumulate_grad_hooks"] = None
        return (getattr(self, "__dict__", None) or None, slots)

    def __setstate__(self, state: tuple) -> None:
        """Restore what ``__getstate__`` gave (the array is pickled under its former name, ``data``)."""
        attributes, slots = state
        for name, value in (slots or {}).items():
            object.__setattr__(self, _UNPICKLED_NAMES.get(name, name), value)
        if attributes:
            self.__dict__.update(attributes)

    def backward(
        self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False, inputs=None
    ) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad``.

        Args:
            gradient: d(loss)/d(self), same shape as self; may be omitted only for one-element tensors.
            retain_graph: keep the graph for another backward (default: ``create_graph``).
            create_graph: record the backward pass too, for higher-order gradients.
            inputs: accumulate only into these leaves.
        """
        from .engine import backward

        backward((self,), None if gradient is None else (gradient,), retain_graph, create_graph, inputs)

    # ------------------------------------------------------------------------- in-place data helpers
    # These change ``array`` directly and are not recorded: they serve initialisers and optimizers.
    def _check_inplace(self, op: str) -> None:
        from .grad_mode import is_grad_enabled

        if self.requires_grad and is_grad_enabled():
            kind = "a leaf tensor" if self.creator is None else "a tensor recorded in a graph"
            raise RuntimeError(
                f"{op}: {kind} that requires grad cannot be modified in place while recording; use the "
                "out-of-place form, or wrap the update in `with ember.no_grad():`"
            )

    def zero_(self) -> Tensor:
        self._check_inplace("zero_")
        self.array[...] = 0
        return self

    def fill_(self, value) -> Tensor:
        self._check_inplace("fill_")
        self.array[...] = value.array if isinstance(value, Tensor) else value
        return self

    def copy_(self, source) -> Tensor:
        self._check_inplace("copy_")
        array = source.array if isinstance(source, Tensor) else source
        xp = np if isinstance(self.array, np.ndarray) else import_cupy()
        self.array[...] = xp.asarray(array, dtype=self.array.dtype)
        return self

    def _inplace(self, op: str, other, ufunc_name: str) -> Tensor:
        self._check_inplace(op)
        value = other.array if isinstance(other, Tensor) else other
        xp = np if isinstance(self.array, np.ndarray) else import_cupy()
        getattr(xp, ufunc_name)(self.array, value, out=self.array, casting="same_kind")
        return self

    def add_(self, other, alpha=1) -> Tensor:
        if alpha != 1:
            other = (other.array if isinstance(other, Tensor) else other) * alpha
        return self._inplace("add_", other, "add")

    def sub_(self, other, alpha=1) -> Tensor:
        if alpha != 1:
            other = (other.array if isinstance(other, Tensor) else other) * alpha
        return self._inplace("sub_", other, "subtract")

    def mul_(self, other) -> Tensor:
        return self._inplace("mul_", other, "multiply")

    def div_(self, other) -> Tensor:
        return self._inplace("div_", other, "true_divide")

    def clamp_(self, min=None, max=None) -> Tensor:
        self._check_inplace("clamp_")
        xp = np if isinstance(self.array, np.ndarray) else import_cupy()
        xp.clip(self.array, min, max, out=self.array)
        return self

    # ------------------------------------------------------------------------------------------- repr
    def __repr__(self) -> str:
        """PyTorch's layout: ``tensor([[ 0.1234, -1.0000]], requires_grad=True)``, 4 decimals or scientific."""
        data = self.array if isinstance(self.array, np.ndarray) else self.array.get()
        body = np.array2string(
            data, separator=", ", prefix="tensor(", threshold=1000, edgeitems=3, max_line_width=LINE_WIDTH,
            formatter=_element_formatter(data),
        ).replace(", ...,", ",  ...,")  # PyTorch pads the summary mark within a row like an element
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if data.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_):
            extras.append(f"dtype=ember.{data.dtype}")
        if self.creator is not None:
            extras.append(f"grad_fn=<{backward_name(self.creator)}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + extra for extra in extras) + ")"

    def __format__(self, format_spec: str) -> str:
        """A 0-d tensor formats as its number (``f"{loss:.4f}"``); others as ``str`` (PyTorch's rule)."""
        if self.array.ndim == 0:
            return format(self.item(), format_spec)
        return object.__format__(self, format_spec)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """``np.asarray(t)``: the numbers, for NumPy and matplotlib. As in PyTorch, a tensor that requires grad
        must be detached first, and a CUDA tensor copied to the host; a tensor computed only from Keras weights
        (``(0.5 - W[0] * x - b) / W[1]``) converts directly, as Keras's values do."""
        if self.requires_grad and not _from_numpy_readable_leaves(self):
            raise RuntimeError(
                "np.asarray(tensor): the tensor requires grad; use tensor.detach() (or np.asarray(t.detach()))"
            )
        array = self.numpy()
        if dtype is not None and array.dtype != dtype:
            return array.astype(dtype)
        return array.copy() if copy else array


def _from_numpy_readable_leaves(tensor: Tensor) -> bool:
    """Whether every leaf requiring grad that ``tensor`` was computed from lets NumPy read it (its class sets
    ``_numpy_readable``, as Keras weights do); False when the graph was already freed."""
    pending, seen, found = [tensor], set(), False
    while pending:
        current = pending.pop()
        if id(current) in seen or not current.requires_grad:
            continue
        seen.add(id(current))
        if current.creator is None:
            if not getattr(type(current), "_numpy_readable", False):
                return False
            found = True
        else:
            pending.extend(current.creator.inputs)
    return found


# Pickles keep the array under the name it had before ``Tensor.array`` (``data``), so the format is unchanged.
_PICKLED_NAMES = {"array": "data"}
_UNPICKLED_NAMES = {value: key for key, value in _PICKLED_NAMES.items()}

# PyTorch's 80 columns, counted as NumPy counts them (the separator after the last element on a line included).
LINE_WIDTH = 81

# Ember's primitive names -> the names PyTorch gives the same node (``grad_fn=<MeanBackward0>``).
_PYTORCH_BACKWARD_NAMES = {
    "Add": "AddBackward0", "Sub": "SubBackward0", "Mul": "MulBackward0", "Div": "DivBackward0",
    "Neg": "NegBackward0", "PowScalar": "PowBackward0", "Pow": "PowBackward1", "RPowScalar": "PowBackward2",
    "Exp": "ExpBackward0", "Log": "LogBackward0", "Log1p": "Log1PBackward0", "Sqrt": "SqrtBackward0",
    "Rsqrt": "RsqrtBackward0", "Sin": "SinBackward0", "Cos": "CosBackward0", "Abs": "AbsBackward0",
    "Clamp": "ClampBackward1", "Maximum": "MaximumBackward0", "Minimum": "MinimumBackward0",
    "Where": "WhereBackward0", "Cast": "ToCopyBackward0", "Clone": "CloneBackward0",
    "Tanh": "TanhBackward0", "Sigmoid": "SigmoidBackward0", "ReLU": "ReluBackward0", "ELU": "EluBackward0",
    "Softplus": "SoftplusBackward0", "Erf": "ErfBackward0", "Softmax": "SoftmaxBackward0",
    "LogSoftmax": "LogSoftmaxBackward0", "Sum": "SumBackward0", "SumDim": "SumBackward1",
    "Mean": "MeanBackward0", "MeanDim": "MeanBackward1",
    "Prod": "ProdBackward0", "CumSum": "CumsumBackward0", "LogSumExp": "LogsumexpBackward0",
    "MaxMin": "MaxBackward1", "MaxMinAlongDim": "MaxBackward0", "Reshape": "ViewBackward0",
    "Permute": "PermuteBackward0", "Concatenate": "CatBackward0", "Stack": "StackBackward0",
    "Flip": "FlipBackward0", "Tile": "RepeatBackward0", "Pad": "ConstantPadNdBackward0",
    "Index": "IndexBackward0", "Gather": "GatherBackward0", "MatMul": "MmBackward0", "Affine": "AddmmBackward0",
    "Einsum": "EinsumBackward0", "Conv2d": "ConvolutionBackward0", "MaxPool2d": "MaxPool2DWithIndicesBackward0",
    "AvgPool2d": "AvgPool2DBackward0", "BatchNorm": "NativeBatchNormBackward0",
    "LayerNorm": "NativeLayerNormBackward0", "Dropout": "NativeDropoutBackward0",
    "SoftmaxCrossEntropy": "NllLossBackward0", "BinaryCrossEntropy": "BinaryCrossEntropyBackward0",
    "BinaryCrossEntropyWithLogits": "BinaryCrossEntropyWithLogitsBackward0", "Huber": "HuberLossBackward0",
}


def backward_name(node: Function) -> str:
    """The name PyTorch prints for ``node`` in ``grad_fn=<...>``; ``<Name>Backward`` for ops it lacks."""
    name = getattr(node, "display_name", None) or node.name
    if name == "Sum" and getattr(node, "axes", None) is not None:
        name = "SumDim"  # PyTorch numbers the overload: sum() is SumBackward0, sum(dim) SumBackward1
    return _PYTORCH_BACKWARD_NAMES.get(name, f"{name}Backward")


def _element_formatter(data: np.ndarray) -> dict:
    """NumPy ``formatter`` for floating arrays that prints like PyTorch: integral values as ``1.``, else four
    decimals, or ``1.0000e+05`` when the finite magnitudes span more than 1000× or reach 1e8 or fall below
    1e-4; every element padded to one width."""
    if data.dtype.kind != "f" or data.size == 0:
        return {}
    if data.size > 1000:  # summarised as ``...``: like PyTorch, fit the format to the elements shown
        for axis, length in enumerate(data.shape):
            if length > 6:
                data = np.take(data, [0, 1, 2, length - 3, length - 2, length - 1], axis=axis)
    finite = data[np.isfinite(data)].astype(np.float64)
    magnitudes = np.abs(finite[finite != 0])
    integral = bool(np.all(finite == np.round(finite)))
    if magnitudes.size == 0:
        largest = smallest = 0.0
    else:
        largest, smallest = float(magnitudes.max()), float(magnitudes.min())
    scientific = magnitudes.size > 0 and (largest / smallest > 1000 or largest > 1e8 or (
        not integral and smallest < 1e-4))
    if scientific:
        spec = ".4e"
    elif integral:
        spec = ".0f"
    else:
        spec = ".4f"

    def text(value) -> str:
        if not np.isfinite(value):
            return str(float(value))  # nan, inf, -inf
        return format(float(value), spec) + ("." if spec == ".0f" else "")

    # The widest text is that of the smallest or the largest value, or of a non-finite one.
    candidates = [finite.min(), finite.max()] if finite.size else []
    if finite.size < data.size:
        candidates += [np.nan, np.inf, -np.inf if bool(np.any(np.isneginf(data))) else np.inf]
    width = max(len(text(value)) for value in candidates)
    return {"float_kind": lambda value: text(value).rjust(width)}


def parse_to_arguments(where: str, args, kwargs) -> tuple:
    """``(device, dtype)`` from ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` or keywords;
    either may be None. Shared by ``Tensor.to`` and ``Module.to``."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"{where}: unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, Device) or (isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda")):
            device = arg
        else:
            dtype = arg
    return (None if device is None else Device(device)), (None if dtype is None else dtypes.to_numpy_dtype(dtype))
