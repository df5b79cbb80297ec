"""The autograd layer stands alone, and ``tensor.pyi`` lists what Tensor holds once the functions layer has
installed its methods."""
from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ember

REPO_ROOT = Path(__file__).resolve().parents[2]
STUB = REPO_ROOT / "src" / "ember" / "autograd" / "tensor.pyi"
# Entries Python puts in every class namespace: not members a user calls, so the stub leaves them out.
PYTHON_INTERNALS = {"__module__", "__qualname__", "__doc__", "__dict__", "__slots__", "__weakref__",
                    "__annotations__", "__firstlineno__", "__static_attributes__", "__annotate__",
                    "__annotate_func__", "__slotnames__"}  # the last: copy/pickle's cache, once a Tensor was copied


def load_stub_tool():
    spec = importlib.util.spec_from_file_location("tensor_stub", REPO_ROOT / "tools" / "tensor_stub.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stub_tensor_class() -> ast.ClassDef:
    tree = ast.parse(STUB.read_text())
    (tensor,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Tensor"]
    return tensor


def test_stub_is_what_the_tool_writes():
    assert STUB.read_text() == load_stub_tool().render(), (
        "src/ember/autograd/tensor.pyi is out of date: run python tools/tensor_stub.py"
    )


def test_stub_lists_every_member_tensor_holds_at_run_time():
    """Checked against ``ember.Tensor`` itself, not through the tool: a method installed on Tensor without a
    line in the stub (or a line left over after a method is gone) fails here."""
    declared = {}
    for node in stub_tensor_class().body:
        if isinstance(node, ast.FunctionDef):
            if any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in node.decorator_list):
                continue  # the setter of a property declared just above
            decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
            declared[node.name] = "property" if "property" in decorators else "method"
        elif isinstance(node, ast.AnnAssign):
            declared[node.target.id] = "attribute"
    at_run_time = {}
    for name, value in vars(ember.Tensor).items():
        if name in PYTHON_INTERNALS:
            continue
        if isinstance(value, property):
            at_run_time[name] = "property"
        elif callable(value) or isinstance(value, classmethod):
            at_run_time[name] = "method"
        else:
            at_run_time[name] = "attribute"
    for name in ember.Tensor.__slots__:
        if name not in PYTHON_INTERNALS:
            at_run_time[name] = "attribute"
    missing = sorted(set(at_run_time) - set(declared))
    extra = sorted(set(declared) - set(at_run_time))
    assert not missing and not extra, f"not in the stub: {missing}; in the stub only: {extra}"
    assert declared == at_run_time
    # the methods the functions layer installs are among them
    for name in ("__add__", "__matmul__", "sum", "reshape", "relu", "to", "where", "relu_", "T"):
        assert name in declared


def test_stub_declares_the_installed_signatures():
    methods = {node.name: node for node in stub_tensor_class().body if isinstance(node, ast.FunctionDef)}
    assert ast.unparse(methods["reshape"].args) == "self, *shape"
    assert ast.unparse(methods["sum"].returns) == "Tensor"
    assert ast.unparse(methods["split"].returns) == "tuple[Tensor, ...]"
    assert ast.unparse(methods["equal"].returns) == "builtins.bool"  # Tensor.bool() shadows the builtin


def test_import_autograd_does_not_import_the_functions_layer():
    """Importing ``ember`` installs the functions layer, so the package is given a bare namespace here and
    ``ember.autograd`` is imported on its own: it must load only the settings and arrays layers, and its
    engine must run a user-defined Function without any op of the functions layer."""
    code = textwrap.dedent("""
        import importlib.util, sys, types

        import numpy as np

        spec = importlib.util.find_spec("ember")
        package = types.ModuleType("ember")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["ember"] = package  # the package without running ember/__init__.py

        from ember.autograd import Function, Tensor, grad

        class Cube(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return Tensor(x.array ** 3)

            @staticmethod
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                return Tensor(3 * x.array ** 2 * grad_output.array)

        x = Tensor(np.array([2.0]), requires_grad=True)
        (gradient,) = grad(Cube.apply(x), x)
        print(gradient.array.tolist())
        print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] == "ember")))
    """)
    source_root = str(Path(ember.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    gradient_line, modules_line = result.stdout.strip().splitlines()
    assert gradient_line == "[12.0]"
    modules = modules_line.split()
    assert "ember.autograd" in modules and "ember.functions" not in modules
    outside = [name for name in modules
               if name not in ("ember", "ember.config") and not name.startswith(("ember.autograd", "ember.backend"))]
    assert not outside, f"ember.autograd imported modules of higher layers: {outside}"
