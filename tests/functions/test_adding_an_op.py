"""docs/adding-an-op.md runs: its code blocks are executed here, in the order the page shows them.

The page's example op (softsign) is not part of Ember: the blocks define it in a namespace of this test,
which puts it on ``ember`` for the duration of each test, as the family's ``__all__`` would.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ember

from . import test_op_table
from .op_table import OpCase, away_from, randn

PAGE = Path(__file__).resolve().parents[2] / "docs" / "adding-an-op.md"


def code_blocks() -> list[tuple[str, str]]:
    """``(where, code)`` for each python block of the page; ``where`` is its first line, a comment naming
    the file the code belongs in."""
    blocks = []
    for body in re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S):
        first, _, code = body.partition("\n")
        assert first.startswith("# "), f"a code block of {PAGE.name} must start with '# <file it belongs in>'"
        blocks.append((first[2:], code))
    return blocks


def as_package_code(code: str) -> str:
    """Relative imports of a family module, made absolute to run outside the package."""
    return code.replace("from ..", "from ember.").replace("from .", "from ember.functions.")


@pytest.fixture
def page(monkeypatch):
    """The page's blocks, executed in order: the reference op, its op-table case, the op with fast paths
    (replacing the first), and the fast-path test."""
    blocks = code_blocks()
    assert [where.split(",")[0] for where, _ in blocks] == [
        "src/ember/functions/activation.py", "tests/functions/cases_activation.py",
        "src/ember/functions/activation.py", "tests/functions/test_softsign.py",
    ]
    (_, reference), (_, case), (_, fast), (_, test) = blocks
    namespace: dict = {}
    exec(compile(as_package_code(reference), f"{PAGE}:reference", "exec"), namespace)
    monkeypatch.setattr(ember, "softsign", namespace["softsign"], raising=False)
    (op_case,) = eval(textwrap.dedent(case), {"OpCase": OpCase, "ember": ember, "np": np, "away_from": away_from,
                                               "randn": randn})
    fast_namespace: dict = {}  # the same file with the class replaced: the wrapper runs the new class
    exec(compile(as_package_code(reference), f"{PAGE}:reference", "exec"), fast_namespace)
    exec(compile(as_package_code(fast), f"{PAGE}:fast paths", "exec"), fast_namespace)
    test_namespace: dict = {}
    exec(compile(test, f"{PAGE}:test", "exec"), test_namespace)
    return {"reference": namespace, "case": op_case, "fast": fast_namespace, "test": test_namespace}


def run_op_table(case: OpCase) -> None:
    """Every check the op table runs on a case."""
    test_op_table.test_forward_matches_numpy_and_keeps_float32(case)
    test_op_table.test_fast_paths_give_the_reference_paths_numbers(case)
    for fast_paths in (True, False):
        test_op_table.test_gradcheck_float64(case, fast_paths)
    test_op_table.test_double_backward_float64(case)


def test_the_reference_op_passes_the_op_table(page):
    case = page["case"]
    assert case.name == "softsign" and case.op is page["reference"]["softsign"]
    run_op_table(case)
    y = ember.softsign(ember.tensor([-3, 0, 1]))  # integer input: the default float dtype
    assert y.dtype == ember.float32
    np.testing.assert_allclose(y.numpy(), [-0.75, 0.0, 0.5])


def test_the_op_with_fast_paths_passes_the_op_table_and_its_own_test(page, monkeypatch):
    softsign = page["fast"]["softsign"]
    assert page["fast"]["Softsign"].fast_forward == ("forward_split",)
    monkeypatch.setattr(ember, "softsign", softsign)  # the wrapper now runs the class with fast paths
    run_op_table(page["case"])
    page["test"]["test_softsign_fast_paths_run_and_give_the_reference_numbers"]()


def test_the_fast_paths_decline_what_they_do_not_take(page, monkeypatch):
    monkeypatch.setattr(ember, "softsign", page["fast"]["softsign"])
    x = ember.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    with ember.config.override(parallel_numbers=2**62):  # too small to split
        ember.softsign(x).sum().backward()
    paths = ember.config.paths()
    assert paths["Softsign.forward"] == "forward"  # forward_split declined
    assert paths["Softsign.backward"] == "backward_arrays"  # the whole pass on this thread
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + np.abs(x.numpy())) ** 2, rtol=1e-6)
    (grad,) = ember.grad(ember.softsign(x).sum(), x, create_graph=True)
    assert ember.config.paths()["Softsign.backward"] == "backward"  # recorded: the Ember ops
    (second,) = ember.grad(grad.sum(), x)
    np.testing.assert_allclose(second.numpy(), -2 * np.sign(x.numpy()) / (1 + np.abs(x.numpy())) ** 3, rtol=1e-5)
