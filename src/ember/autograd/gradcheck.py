"""Finite-difference checks of gradients (first and second order), for float64 inputs."""
from __future__ import annotations

import warnings

import numpy as np

from .engine import grad
from .grad_mode import no_grad
from .tensor import Tensor


def _outputs_tuple(result):
    return (result,) if isinstance(result, Tensor) else tuple(result)


def _differentiable(outputs):
    return [out for out in outputs if out.dtype.kind == "f"]


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0,
              raise_exception: bool = True, nondet_tol: float = 0.0) -> bool:
    """Compare ``backward`` of ``fn(*inputs)`` with central differences.

    For a random vector ``v`` over the outputs, the analytic vector-Jacobian product ``vᵀJ`` (one backward)
    must match ``(f(x + eps·e_i) - f(x - eps·e_i))·v / 2eps`` for every input element ``i``. Inputs that
    require grad should be float64.

    Returns True, or raises ``AssertionError`` naming the input and the worst element (or returns False when
    ``raise_exception=False``). ``nondet_tol`` (PyTorch's tolerance between two backward passes) warns that
    it has no effect: one backward pass is compared with the finite differences.
    """
    if nondet_tol:
        warnings.warn(f"gradcheck: nondet_tol={nondet_tol!r} has no effect in Ember: backward runs once and is "
                      "compared with finite differences only", UserWarning, stacklevel=2)
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 for finite differences")
        if not inputs[i].array.flags.c_contiguous:  # perturbation below writes through a flat view
            inputs[i].array = inputs[i].array.copy()

    outputs = _differentiable(_outputs_tuple(fn(*inputs)))
    rng = np.random.default_rng(seed)
    vectors = [Tensor(_like_module(out.array, rng.standard_normal(out.shape))) for out in outputs]
    # An output that does not require grad has a zero analytic derivative; the finite differences below still
    # see it, so a function whose derivative was wrongly cut from the graph fails here.
    connected = [(out, v) for out, v in zip(outputs, vectors) if out.requires_grad]
    if connected:
        analytic = grad([out for out, _ in connected], [inputs[i] for i in checked],
                        grad_outputs=[v for _, v in connected], allow_unused=True)
    else:
        analytic = (None,) * len(checked)

    def projected(values):
        result = _differentiable(_outputs_tuple(fn(*values)))  # fn may itself differentiate: keep grad mode
        return sum(float((out.array * v.array).sum()) for out, v in zip(result, vectors))

    for position, i in enumerate(checked):
        x = inputs[i]
        numeric = np.zeros(x.shape, dtype=np.float64)
        flat = x.array.reshape(-1)  # a view: perturb in place and restore
        numeric_flat = numeric.reshape(-1)
        for k in range(flat.size):
            original = float(flat[k])
            flat[k] = original + eps
            plus = projected(inputs)
            flat[k] = original - eps
            minus = projected(inputs)
            flat[k] = original
            numeric_flat[k] = (plus - minus) / (2 * eps)
        got = analytic[position]
        got = np.zeros(x.shape) if got is None else _to_numpy(got.array)
        if got.shape != numeric.shape:
            return _fail(
                raise_exception, f"gradcheck: gradient of input {i} has shape {got.shape}, expected {numeric.shape}"
            )
        error = np.abs(got - numeric)
        bound = atol + rtol * np.abs(numeric)
        if not np.all(error <= bound):
            worst = np.unravel_index(np.argmax(error - bound), error.shape)
            return _fail(
                raise_exception,
                f"gradcheck: input {i} (shape {x.shape}) disagrees with finite differences at "
                f"{tuple(map(int, worst))}: "
                f"analytic {got[worst]:.6g} vs numeric {numeric[worst]:.6g} (max abs error {error.max():.3g})",
            )
    return True


def gradgradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0,
                  raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck the function ``inputs -> grad(fn(inputs), inputs, v, create_graph=True)``."""
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    rng = np.random.default_rng(seed + 1)
    with no_grad():  # only the output shapes are needed here
        shapes = [(out.shape, out.array) for out in _differentiable(_outputs_tuple(fn(*inputs)))]
    vectors = [Tensor(_like_module(data, rng.standard_normal(shape))) for shape, data in shapes]

    def first_derivatives(*values):
        outputs = _differentiable(_outputs_tuple(fn(*values)))
        grads = grad(outputs, [values[i] for i in checked], grad_outputs=vectors, create_graph=True, allow_unused=True)
        # keep every first derivative, even one that (wrongly) does not require grad: gradcheck compares it
        # against finite differences of the derivative itself
        return tuple(g if g is not None else values[i] * 0.0 for g, i in zip(grads, checked))

    return gradcheck(first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed + 2,
                     raise_exception=raise_exception)


def _like_module(reference, array: np.ndarray):
    if isinstance(reference, np.ndarray):
        return array.astype(reference.dtype)
    import cupy  # only reached with CuPy inputs

    return cupy.asarray(array, dtype=reference.dtype)


def _to_numpy(array):
    return array if isinstance(array, np.ndarray) else array.get()


def _fail(raise_exception: bool, message: str) -> bool:
    if raise_exception:
        raise AssertionError(message)
    return False
