"""onnx and onnxruntime stay optional: ``import ember`` never loads them, and exporting without them says
how to install them."""
from __future__ import annotations

import subprocess
import sys

import pytest

import ember
import ember.nn as nn
from tests.conftest import REPO_ROOT


def test_import_ember_does_not_import_onnx():
    code = ("import sys, ember, ember.onnx, ember.keras; m = ember.keras.Sequential; "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT,
                   env={"PYTHONPATH": str(REPO_ROOT / "src")})


def test_export_without_onnx_names_the_install_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "ember\[onnx\]"'):
        ember.onnx.export(nn.Linear(2, 2), ember.zeros(1, 2), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
