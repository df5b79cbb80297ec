"""Micro-benchmarks: single operations at the workloads' shapes, Ember against PyTorch on the same arrays.

Each case is an expression of ``nn.functional``-dialect calls written once; "forward" cases run under
``no_grad``, "forward+backward" cases make the floating inputs leaves, run the expression and back-propagate
a fixed upstream gradient (or ``backward()`` of a scalar loss). Before timing, the outputs and gradients of
the two frameworks are compared, as for the workloads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

FORWARD_TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 1e-3


@dataclass
class Case:
    """One micro-benchmark: input arrays, the expression, and whether it includes the backward pass."""

    name: str
    description: str
    arrays: dict[str, np.ndarray]
    expression: Callable  # (framework, tensors by name) -> output tensor
    backward: bool
    grad_output_shape: tuple | None = None  # None: a scalar output, back-propagated with backward()
    leaves: tuple[str, ...] = field(default=())


def _normal(generator, shape) -> np.ndarray:
    return generator.standard_normal(shape, dtype=np.float32)


def _conv_cases(generator) -> list[Case]:
    """The codelab's three batch-norm-convnet convolutions (TensorFlow "same" padding) and MY_NET's largest."""
    shapes = [
        # name, x shape, w shape, stride, (left, right, top, bottom) padding, output shape
        ("conv6x6_s1", (64, 1, 28, 28), (24, 1, 6, 6), 1, (2, 3, 2, 3), (64, 24, 28, 28)),
        ("conv5x5_s2", (64, 24, 28, 28), (48, 24, 5, 5), 2, (1, 2, 1, 2), (64, 48, 14, 14)),
        ("conv4x4_s2", (64, 48, 14, 14), (64, 48, 4, 4), 2, (1, 1, 1, 1), (64, 64, 7, 7)),
        ("conv3x3_p1", (64, 32, 28, 28), (64, 32, 3, 3), 1, (1, 1, 1, 1), (64, 64, 28, 28)),
    ]
    cases = []
    for name, x_shape, w_shape, stride, padding, out_shape in shapes:
        arrays = {"x": _normal(generator, x_shape), "w": _normal(generator, w_shape) * np.float32(0.1)}
        symmetric = padding[0] == padding[1] == padding[2] == padding[3]

        def expression(framework, tensors, stride=stride, padding=padding, symmetric=symmetric):
            x = tensors["x"]
            if symmetric:
                return framework.F.conv2d(x, tensors["w"], stride=stride, padding=padding[0])
            return framework.F.conv2d(framework.F.pad(x, padding), tensors["w"], stride=stride)

        pad_text = f"pad {padding[0]}" if symmetric else f"F.pad {padding}"
        description = f"x {x_shape} w {w_shape} stride {stride} {pad_text}"
        cases.append(Case(f"{name}_fwd", f"conv2d forward, {description}", arrays, expression, False))
        cases.append(Case(f"{name}_fwd_bwd", f"conv2d fwd+bwd, {description}", arrays, expression, True,
                          out_shape, ("x", "w")))
    return cases


def build_cases(seed: int = 0) -> list[Case]:
    """Every micro-benchmark, on arrays drawn once from a seeded generator."""
    generator = np.random.default_rng(seed)
    cases = _conv_cases(generator)
    for m, k, n in ((128, 784, 200), (64, 3136, 200)):
        arrays = {"a": _normal(generator, (m, k)), "b": _normal(generator, (k, n))}
        cases.append(Case(f"matmul_{m}x{k}x{n}", f"matmul ({m}, {k}) @ ({k}, {n}) fwd+bwd", arrays,
                          lambda framework, tensors: framework.module.matmul(tensors["a"], tensors["b"]), True,
                          (m, n), ("a", "b")))
    for batch, classes in ((128, 10), (512, 1000)):
        arrays = {"logits": _normal(generator, (batch, classes)),
                  "labels": generator.integers(0, classes, size=batch, dtype=np.int64)}
        cases.append(Case(f"cross_entropy_{batch}x{classes}", f"softmax cross-entropy ({batch}, {classes}) fwd+bwd",
                          arrays, lambda framework, tensors: framework.F.cross_entropy(tensors["logits"],
                                                                                       tensors["labels"]),
                          True, None, ("logits",)))
    bn_shape = (64, 48, 14, 14)
    arrays = {"x": _normal(generator, bn_shape), "weight": np.ones(48, dtype=np.float32),
              "bias": np.zeros(48, dtype=np.float32), "running_mean": np.zeros(48, dtype=np.float32),
              "running_var": np.ones(48, dtype=np.float32)}
    cases.append(Case("batch_norm2d", f"batch_norm train {bn_shape} fwd+bwd", arrays,
                      lambda framework, tensors: framework.F.batch_norm(
                          tensors["x"], tensors["running_mean"], tensors["running_var"], tensors["weight"],
                          tensors["bias"], training=True),
                      True, bn_shape, ("x", "weight", "bias")))
    pool_shape = (64, 64, 28, 28)
    cases.append(Case("max_pool2x2", f"max_pool2d 2x2 {pool_shape} fwd+bwd", {"x": _normal(generator, pool_shape)},
                      lambda framework, tensors: framework.F.max_pool2d(tensors["x"], 2), True,
                      (64, 64, 14, 14), ("x",)))
    return cases


class Runner:
    """One case on one framework: tensors made once, ``call()`` runs the expression (and its backward)."""

    def __init__(self, case: Case, framework, grad_output: np.ndarray | None):
        self.case = case
        self.framework = framework
        # running statistics are updated in place: each framework gets its own copy
        self.tensors = {name: framework.tensor(array.copy(), requires_grad=case.backward and name in case.leaves)
                        for name, array in case.arrays.items()}
        self.grad_output = None if grad_output is None else framework.tensor(grad_output)

    def call(self):
        if not self.case.backward:
            with self.framework.no_grad():
                return self.case.expression(self.framework, self.tensors)
        for name in self.case.leaves:
            self.tensors[name].grad = None
        output = self.case.expression(self.framework, self.tensors)
        if self.grad_output is None:
            output.backward()
        else:
            output.backward(self.grad_output)
        return output

    def results(self) -> dict[str, np.ndarray]:
        """The output and (for backward cases) the leaves' gradients of one call, as NumPy copies."""
        values = {"output": self.framework.to_numpy(self.call()).copy()}
        if self.case.backward:
            for name in self.case.leaves:
                values[f"grad {name}"] = self.framework.to_numpy(self.tensors[name].grad).copy()
        return values


def grad_output_for(case: Case, seed: int = 0) -> np.ndarray | None:
    if not case.backward or case.grad_output_shape is None:
        return None
    return np.random.default_rng(seed).standard_normal(case.grad_output_shape, dtype=np.float32)


def compare(runners: list[Runner]) -> dict:
    """Relative errors (``max |a - b| / max |b|``) of the first runner's results against the last one's."""
    return compare_results(runners[0].case.name, runners[0].results(), runners[-1].results(),
                           runners[0].framework.display, runners[-1].framework.display)


def compare_results(case_name: str, value: dict, reference: dict, value_name: str = "the first framework",
                    reference_name: str = "the reference") -> dict:
    """``compare`` on two frameworks' ``Runner.results()``, wherever they were computed."""
    errors = {}
    for name, expected in reference.items():
        if value[name].shape != expected.shape:
            raise RuntimeError(
                f"micro {case_name}: {name} has shape {value[name].shape} on {value_name} but {expected.shape} "
                f"on {reference_name}"
            )
        scale = max(float(np.max(np.abs(expected))), np.finfo(np.float32).tiny)
        errors[name] = float(np.max(np.abs(value[name].astype(np.float64) - expected))) / scale
    passed = all(error <= (FORWARD_TOLERANCE if name == "output" else GRADIENT_TOLERANCE)
                 for name, error in errors.items())
    return {"errors": errors, "passed": passed}
