"""ember.config: the one settings registry, override scopes, describe(), and its documentation page."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import config

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_override_is_scoped_nested_and_restored_after_errors():
    assert config.get("conv") == "direct" and config.source("conv") == "default"
    with config.override(conv="im2col", num_threads=1):
        assert config.get("conv") == "im2col" and config.source("conv") == "override"
        with config.override(conv="direct"):
            assert config.get("conv") == "direct" and config.get("num_threads") == 1
        assert config.get("conv") == "im2col"
    assert config.get("conv") == "direct" and config.get("num_threads") is None
    with pytest.raises(RuntimeError, match="inside"):
        with config.override(fast_paths=False):
            raise RuntimeError("inside")
    assert config.get("fast_paths") is True


def test_override_as_a_decorator():
    @config.override(kernels="numpy")
    def inside():
        return config.get("kernels")

    assert inside() == "numpy" and inside() == "numpy" and config.get("kernels") == "compiled"


def test_sources_in_order_override_set_environment_default(monkeypatch):
    monkeypatch.setenv("EMBER_PARALLEL_NUMBERS", "77")
    assert config.get("parallel_numbers") == 77 and config.source("parallel_numbers") == "$EMBER_PARALLEL_NUMBERS"
    config.set(parallel_numbers=5)
    assert config.get("parallel_numbers") == 5 and config.source("parallel_numbers") == "set"
    with config.override(parallel_numbers=9):
        assert config.get("parallel_numbers") == 9
    config.reset("parallel_numbers")
    assert config.get("parallel_numbers") == 77
    monkeypatch.delenv("EMBER_PARALLEL_NUMBERS")
    assert config.get("parallel_numbers") == 77  # the environment is read once, then again after reset
    config.reset("parallel_numbers")
    assert config.get("parallel_numbers") == 2**17 and config.source("parallel_numbers") == "default"


@pytest.mark.parametrize("values, error, message", [
    ({"kernels": "fortran"}, ValueError, r"kernels \(from override\): expected one of \('compiled', 'numpy'\)"),
    ({"num_threads": 0}, ValueError, r"num_threads \(from override\): expected at least 1"),
    ({"fast_paths": "yes please"}, ValueError, r"fast_paths \(from override\): cannot read 'yes please' as bool"),
    ({"conv_band_bytes": 1.5}, TypeError, r"conv_band_bytes \(from override\): expected int, received 1.5"),
    ({"threads": 2}, KeyError, r"no setting named 'threads'"),
])
def test_bad_values_are_refused_naming_the_setting(values, error, message):
    with pytest.raises(error, match=message):
        config.override(**values)
    assert config.get("kernels") == "compiled"


def test_environment_words_and_bad_environment_values(monkeypatch):
    monkeypatch.setenv("EMBER_KERNELS", " Off ")
    assert config.get("kernels") == "numpy"
    monkeypatch.setenv("EMBER_MALLOC", "0")
    assert config.get("malloc") == "system"
    monkeypatch.setenv("EMBER_NUM_THREADS", "two")
    with pytest.raises(ValueError, match=r"num_threads \(from \$EMBER_NUM_THREADS\): cannot read 'two' as int"):
        config.get("num_threads")


def test_describe_lists_every_setting_effect_and_the_paths_taken():
    x = ember.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4), requires_grad=True)
    with config.override(fast_paths=False):
        ember.relu(x).sum().backward()
        description = config.describe()
    assert set(description["settings"]) == set(config.SETTINGS)
    assert description["settings"]["fast_paths"] == {
        "value": False, "source": "override", "env": "EMBER_FAST_PATHS", "doc": config.SETTINGS["fast_paths"].doc}
    assert {"compiled kernels", "BLAS threads", "malloc"} <= set(description["effects"])
    assert description["paths"]["ReLU.forward"] == "forward"
    assert description["paths"]["ReLU.backward"] == "backward"
    ember.relu(x).sum().backward()
    assert config.paths()["ReLU.backward"] == "backward_arrays"
    text = str(config.describe())
    assert "fast_paths" in text and "Process-wide effects:" in text and "ReLU.backward: backward_arrays" in text


def test_describe_in_a_fresh_process_says_what_has_happened():
    script = "import ember; print(ember.config.describe())"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "compiled kernels: not loaded yet" in output and "(none ran yet)" in output


def test_override_is_seen_by_other_threads_and_scopes_close_in_any_order():
    seen = []
    first, second = config.override(num_threads=2), config.override(num_threads=3)
    first.__enter__()
    second.__enter__()
    thread = threading.Thread(target=lambda: seen.append(config.get("num_threads")))
    thread.start()
    thread.join()
    first.__exit__(None, None, None)  # closed before the inner one: the inner value stays
    assert seen == [3] and config.get("num_threads") == 3
    second.__exit__(None, None, None)
    assert config.get("num_threads") is None


def test_configuration_page_lists_every_setting_as_the_registry_declares_it():
    text = DOCS.read_text(encoding="utf-8")
    generated = re.search(r"<!-- generated .*? -->\n(.*?)\n<!-- end of generated table -->", text, re.S)
    assert generated, "docs/configuration.md lost its generated table markers"
    assert generated.group(1) == config.documentation_table(), (
        "docs/configuration.md is out of date: paste ember.config.documentation_table() between the markers")


def test_no_module_but_config_reads_the_environment():
    source = Path(ember.__file__).parent
    readers = [str(path.relative_to(source)) for path in source.rglob("*.py")
               if path.name != "config.py" and re.search(r"os\.environ|getenv\(", path.read_text(encoding="utf-8"))]
    assert readers == []


def test_config_imports_nothing_else_from_ember():
    import ast

    tree = ast.parse((Path(ember.__file__).parent / "config.py").read_text(encoding="utf-8"))
    imported = [node.module if isinstance(node, ast.ImportFrom) else alias.name
                for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names if isinstance(node, ast.Import) or alias is node.names[0]]
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    assert not relative and not [name for name in imported if name and name.split(".")[0] == "ember"]
