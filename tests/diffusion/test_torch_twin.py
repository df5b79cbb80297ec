"""The PyTorch twin of the diffusion model agrees with Ember (forward, one training step, AdamW, DDIM).

Runs ``benchmarks/diffusion_torch_train.py --check`` in the benchmark venv, the Python named by
``EMBER_BENCH_PYTHON`` or ``.bench-venv/bin/python`` at the repository root; Ember's own environment never
imports PyTorch, so the test is skipped where neither exists."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench_python():
    named = os.environ.get("EMBER_BENCH_PYTHON")
    candidates = [Path(named)] if named else [ROOT / ".bench-venv" / "bin" / "python"]
    return next((str(path) for path in candidates if path.exists()), None)


def test_twin_agrees_with_ember():
    python = _bench_python()
    if python is None:
        pytest.skip("no benchmark venv with PyTorch: set EMBER_BENCH_PYTHON or create .bench-venv")
    environment = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    completed = subprocess.run(
        [python, str(ROOT / "benchmarks" / "diffusion_torch_train.py"), "--check", "--channels", "8", "--groups", "4",
         "--text-width", "16", "--threads", "1"],
        capture_output=True, text=True, env=environment, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "the twin agrees with Ember" in completed.stdout
    assert "losses Ember/PyTorch step 1" in completed.stdout
