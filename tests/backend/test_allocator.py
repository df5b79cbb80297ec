"""The malloc tuning applied by ``import ember`` (backend/allocator.py) and its opt-out."""
import os
import subprocess
import sys

import pytest

from ember.backend import allocator


class RecordingLibc:
    def __init__(self, result=1):
        self.calls, self.result = [], result

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return self.result


def test_tuning_sets_the_mmap_and_trim_thresholds(monkeypatch):
    libc = RecordingLibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: libc)
    assert allocator.keep_freed_memory() is True
    assert libc.calls == [(allocator.M_MMAP_THRESHOLD, 32 * 2**20), (allocator.M_TRIM_THRESHOLD, 2**30)]


@pytest.mark.parametrize("value", ["system", "SYSTEM", "0", "off"])
def test_ember_malloc_opts_out(monkeypatch, value):
    libc = RecordingLibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: libc)
    monkeypatch.setenv("EMBER_MALLOC", value)
    assert allocator.keep_freed_memory() is False
    assert libc.calls == []


def test_the_tuning_follows_the_setting_both_ways(monkeypatch):
    from ember import config

    libc = RecordingLibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: libc)
    monkeypatch.setattr(allocator, "_tuned", True)
    with config.override(malloc="system"):  # glibc's initial thresholds back
        assert libc.calls == [(allocator.M_MMAP_THRESHOLD, 128 * 2**10), (allocator.M_TRIM_THRESHOLD, 128 * 2**10)]
        assert "left as the C library set it" in config.describe()["effects"]["malloc"]
    assert libc.calls[2:] == [(allocator.M_MMAP_THRESHOLD, 32 * 2**20), (allocator.M_TRIM_THRESHOLD, 2**30)]
    assert "glibc tuned by Ember" in config.describe()["effects"]["malloc"]


def test_a_refused_setting_is_reported(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: RecordingLibc(result=0))
    assert allocator.keep_freed_memory() is False


def test_without_glibc_nothing_is_changed(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert allocator.keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning applies on Linux only")
def test_import_applies_the_tuning_and_the_opt_out_in_a_fresh_process():
    script = "import ember; print(ember._malloc_tuned)"
    tuned = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    expected = "True" if allocator._glibc() is not None else "False"
    assert tuned.stdout.strip() == expected
    left_alone = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                env={**os.environ, "EMBER_MALLOC": "system"})
    assert left_alone.stdout.strip() == "False"
