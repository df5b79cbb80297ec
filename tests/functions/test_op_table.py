"""Generic tests driven by the op table (see op_table.py): forward, dtype, gradcheck, double backward."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck

from .op_table import OpCase


def _collect_cases() -> list[OpCase]:
    cases = []
    package = Path(__file__).parent
    for module_info in pkgutil.iter_modules([str(package)]):
        if module_info.name.startswith("cases_"):
            module = importlib.import_module(f"{__package__}.{module_info.name}")
            cases.extend(module.CASES)
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"duplicate op-table names: {duplicates}"
    return cases


CASES = _collect_cases()


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def _tensors(arrays, dtype, requires_grad_positions):
    tensors = []
    for position, array in enumerate(arrays):
        if array.dtype.kind == "f":
            tensors.append(ember.tensor(array.astype(dtype), requires_grad=position in requires_grad_positions))
        else:
            tensors.append(ember.tensor(array))
    return tensors


def _grad_positions(case, arrays):
    if case.grad_inputs is not None:
        return set(case.grad_inputs)
    return {i for i, a in enumerate(arrays) if a.dtype.kind == "f"}


def test_op_table_is_substantial():
    assert len(CASES) >= 50


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_forward_matches_numpy_and_keeps_float32(case: OpCase):
    rng = np.random.default_rng(0)
    arrays = [np.asarray(a) for a in case.make_inputs(rng)]
    expected = _as_tuple(case.reference(*[a.copy() for a in arrays]))
    outputs = _as_tuple(case.op(*_tensors(arrays, np.float32, set())))
    assert len(outputs) == len(expected), f"{case.name}: {len(outputs)} outputs, reference gives {len(expected)}"
    rtol, atol = case.forward_tol
    for out, ref in zip(outputs, expected):
        ref = np.asarray(ref)
        assert out.shape == ref.shape, f"{case.name}: shape {out.shape}, reference {ref.shape}"
        if ref.dtype.kind == "f":
            assert out.dtype == np.float32, f"{case.name}: float32 inputs gave {out.dtype}"
        else:
            assert out.dtype.kind == ref.dtype.kind, f"{case.name}: dtype {out.dtype}, reference {ref.dtype}"
        np.testing.assert_allclose(out.numpy().astype(np.float64) if ref.dtype.kind == "f" else out.numpy(), ref,
                                   rtol=rtol, atol=atol, err_msg=case.name)


def _outputs_and_gradients(case: OpCase, arrays):
    """float32 outputs and input gradients of ``sum(output * upstream)`` (backward not recorded)."""
    positions = _grad_positions(case, arrays)
    tensors = _tensors(arrays, np.float32, positions)
    outputs = [out for out in _as_tuple(case.op(*tensors)) if out.dtype.kind == "f"]
    rng = np.random.default_rng(3)
    loss = None
    for out in outputs:
        if out.requires_grad:
            term = (out * ember.tensor(rng.standard_normal(out.shape).astype(np.float32))).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = [t.grad.numpy() for i, t in enumerate(tensors) if i in positions and t.grad is not None]
    return [out.numpy() for out in outputs], grads


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fast_paths_give_the_reference_paths_numbers(case: OpCase):
    """Every case with the fast paths on (compiled kernels, split passes, array-only backward) and off
    (reference forward and backward alone): the same outputs and gradients within float32 tolerance."""
    rng = np.random.default_rng(4)
    arrays = [np.asarray(a) for a in case.make_inputs(rng)]
    fast = _outputs_and_gradients(case, arrays)
    with ember.config.override(fast_paths=False):
        reference = _outputs_and_gradients(case, arrays)
    for kind, got_all, want_all in zip(("output", "gradient"), fast, reference):
        assert len(got_all) == len(want_all), f"{case.name}: {kind}s differ in number"
        for got, want in zip(got_all, want_all):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{case.name}: {kind}")


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gradcheck_float64(case: OpCase, fast_paths: bool):
    rng = np.random.default_rng(1)
    arrays = [np.asarray(a) for a in case.make_inputs(rng)]
    positions = _grad_positions(case, arrays)
    tensors = _tensors(arrays, np.float64, positions)
    rtol, atol = case.grad_tol
    with ember.config.override(fast_paths=fast_paths):
        assert gradcheck(case.op, tensors, rtol=rtol, atol=atol)


DOUBLE = [c for c in CASES if c.double_backward]


@pytest.mark.parametrize("case", DOUBLE, ids=[c.name for c in DOUBLE])
def test_double_backward_float64(case: OpCase):
    rng = np.random.default_rng(2)
    arrays = [np.asarray(a) for a in case.make_inputs(rng)]
    positions = _grad_positions(case, arrays)
    tensors = _tensors(arrays, np.float64, positions)
    rtol, atol = case.grad_tol
    assert gradgradcheck(case.op, tensors, rtol=rtol, atol=atol)
