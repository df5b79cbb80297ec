"""The compiled kernels' cache can be neither hijacked nor broken: no library is loaded from a place another
user can write, a damaged library is rebuilt instead of crashing the process, builds leave no temporary
files, and two processes building at once both end with one valid library.

Loading a bad library can kill the process that loads it, so those cases run in a subprocess (a regression
shows as a failing test, not a dead test runner)."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import ember
from ember import config
from ember.backend import compiled

SOURCE = Path(ember.__file__).resolve().parents[1]
OTHER_USER = 12345
USE_THE_KERNELS = """
import numpy as np
from ember.backend import compiled
kernels = compiled.kernels()
assert kernels is not None, compiled.status()
grad, y = np.ones(8, np.float32), np.arange(8, dtype=np.float32) - 4
out = np.empty_like(grad)
kernels.relu_backward(grad, y, out)
assert (out == (y > 0)).all()
print(kernels.path)
"""


def _run(cache: Path, code: str = USE_THE_KERNELS, **environment) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python with ``cache`` as EMBER_CACHE."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=_environment(cache, **environment))


def _environment(cache: Path, **environment) -> dict:
    return {**os.environ, "PYTHONPATH": str(SOURCE), "EMBER_CACHE": str(cache), **environment}


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> Path:
    """A library built by a separate process into a cache of its own: what a healthy cache holds."""
    if compiled.kernels() is None:
        pytest.skip(f"no compiled kernels to test: {compiled.status()}")
    cache = tmp_path_factory.mktemp("seed")
    result = _run(cache)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip())


def _copy_cache(seed: Path, cache: Path, record: bool = True) -> Path:
    """A cache holding the seed library (and its record, where it has one); the library's path in it."""
    folder = cache / "kernels"
    folder.mkdir(parents=True)
    shutil.copy2(seed, folder / seed.name)
    if record and seed.with_name(seed.name + ".sha256").exists():
        shutil.copy2(seed.with_name(seed.name + ".sha256"), folder)
    return folder / seed.name


@pytest.fixture
def private_temporary(monkeypatch, tmp_path) -> Path:
    """The system's temporary directory, for this test a folder of its own; the loader starts afresh."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
    return folder


@pytest.fixture
def copying_compiler(monkeypatch, seed):
    """Building copies the seed library instead of running the compiler (seconds saved per build)."""
    def compile_by_copying(compiler, flags, output):
        shutil.copyfile(seed, output)

    monkeypatch.setattr(compiled, "_compile", compile_by_copying, raising=False)


def _is_private_folder(folder: Path, temporary: Path) -> bool:
    info = folder.stat()
    return (folder.parent == temporary and info.st_uid == os.getuid() and info.st_mode & 0o777 == 0o700
            and folder.name != f"ember-{os.getuid()}")


def test_a_library_planted_in_the_old_temporary_folder_is_never_loaded(seed, private_temporary, copying_compiler,
                                                                        tmp_path):
    """Another user can create $TMPDIR/ember-<uid>/kernels/ and put a library there under the name the cache
    key gives; its constructor must not run when the user's own cache can be written."""
    marker = tmp_path / "constructor-ran"
    planted_source = tmp_path / "planted.c"
    planted_source.write_text('#include <stdio.h>\n__attribute__((constructor)) static void planted(void) {\n'
                              f'    FILE *file = fopen("{marker}", "w"); if (file) fclose(file);\n}}\n')
    planted = private_temporary / f"ember-{os.getuid()}" / "kernels" / seed.name
    planted.parent.mkdir(parents=True)
    subprocess.run([compiled._compiler(), "-shared", "-fPIC", "-o", str(planted), str(planted_source)], check=True)
    cache = tmp_path / "cache"
    with config.override(cache_dir=str(cache)):
        built = compiled.kernels()
    assert not marker.exists()
    assert built is not None and built.path == cache / "kernels" / seed.name


OWNED_BY_ANOTHER = f"belongs to user {OTHER_USER}"
UNTRUSTED = {  # what is wrong: (which path, how to make it so, the warning's words)
    "folder of another user": ("folder", lambda path: os.chown(path, OTHER_USER, -1), OWNED_BY_ANOTHER),
    "folder writable by group": ("folder", lambda path: path.chmod(0o775), "writable by group or others"),
    "folder writable by others": ("folder", lambda path: path.chmod(0o757), "writable by group or others"),
    "library of another user": ("library", lambda path: os.chown(path, OTHER_USER, -1), OWNED_BY_ANOTHER),
    "library writable by group": ("library", lambda path: path.chmod(0o775), "writable by group or others"),
    "library writable by others": ("library", lambda path: path.chmod(0o757), "writable by group or others"),
}


@pytest.mark.parametrize("case", list(UNTRUSTED))
def test_a_cache_another_user_could_write_is_refused(seed, private_temporary, copying_compiler, tmp_path, case):
    """A cached library, or its folder, that belongs to another user or that group or others may write is
    not loaded: a warning names it and what is wrong, and the kernels are built in a private folder."""
    which, spoil, words = UNTRUSTED[case]
    library = _copy_cache(seed, tmp_path / "cache")
    folder = library.parent
    folder.chmod(0o755)
    spoil(folder if which == "folder" else library)
    expected = re.escape(str(folder if which == "folder" else library)) + ".*" + words
    with config.override(cache_dir=str(tmp_path / "cache")), pytest.warns(RuntimeWarning, match=expected):
        built = compiled.kernels()
    assert built is not None and built.path.name == seed.name
    assert _is_private_folder(built.path.parent, private_temporary)


def test_a_cache_that_cannot_be_written_builds_in_a_private_folder(seed, private_temporary, copying_compiler,
                                                                 tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with config.override(cache_dir=str(blocker)):  # its kernels/ folder cannot be made
        built = compiled.kernels()
    assert built is not None and _is_private_folder(built.path.parent, private_temporary)


def _record(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def _recorded_correctly(library: Path) -> bool:
    data = library.read_bytes()
    return _record(library).read_text().split() == [str(len(data)), hashlib.sha256(data).hexdigest()]


def test_a_truncated_library_is_rebuilt_instead_of_crashing(seed, tmp_path):
    library = _copy_cache(seed, tmp_path / "cache")
    os.truncate(library, library.stat().st_size // 2)
    result = _run(tmp_path / "cache")
    assert result.returncode == 0, f"exit status {result.returncode}: {result.stderr[-2000:]}"
    assert "RuntimeWarning" in result.stderr and str(library) in result.stderr
    assert _recorded_correctly(library)
    again = _run(tmp_path / "cache")  # repaired: the next process loads it without a word
    assert again.returncode == 0 and "Warning" not in again.stderr


@pytest.mark.parametrize("damage", ["hash differs", "size differs", "record missing", "record unreadable"])
def test_a_library_that_does_not_match_its_record_is_rebuilt(seed, tmp_path, damage):
    library = _copy_cache(seed, tmp_path / "cache")
    size, digest = library.stat().st_size, "0" * 64
    if damage == "hash differs":
        _record(library).write_text(f"{size} {digest}\n")
    elif damage == "size differs":
        _record(library).write_text(f"{size + 1} {hashlib.sha256(library.read_bytes()).hexdigest()}\n")
    elif damage == "record missing":
        _record(library).unlink(missing_ok=True)
    else:
        _record(library).write_text("not a record")
    before = library.stat().st_ino
    result = _run(tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RuntimeWarning" in result.stderr and str(library) in result.stderr
    assert library.stat().st_ino != before and _recorded_correctly(library)  # rebuilt, through a rename


FAKE_COMPILERS = {  # each writes part of its output, then fails, is killed, or outlives the time allowed
    "fails": "echo partial > \"$out\"\necho 'cc: internal error' >&2\nexit 1\n",
    "is killed": "echo partial > \"$out\"\nkill -9 $$\n",
    "times out": "echo partial > \"$out\"\nexec sleep 30\n",
}


def _fake_compiler(folder: Path, behaviour: str) -> Path:
    compiler = folder / "cc"
    compiler.write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\n' + behaviour)
    compiler.chmod(0o755)
    return compiler


@pytest.mark.parametrize("behaviour", list(FAKE_COMPILERS))
def test_a_failed_build_leaves_no_temporary_files(monkeypatch, private_temporary, tmp_path, behaviour):
    compiler = _fake_compiler(tmp_path, FAKE_COMPILERS[behaviour])
    monkeypatch.setattr(compiled, "COMPILE_SECONDS", 2)
    failed = pytest.warns(RuntimeWarning, match="building the compiled kernels failed")
    with config.override(compiler=str(compiler), cache_dir=str(tmp_path / "cache")), failed:
        assert compiled.kernels() is None
    assert list((tmp_path / "cache" / "kernels").iterdir()) == []
    assert all(not any(folder.iterdir()) for folder in private_temporary.iterdir())


def test_a_build_killed_with_its_process_leaves_no_temporary_files(seed, private_temporary, copying_compiler,
                                                                   tmp_path):
    """A process killed while it builds cannot clean up; the next build in that cache removes what it left
    (once it is older than any build may take)."""
    compiler = _fake_compiler(tmp_path, "echo partial > \"$out\"\nexec sleep 60\n")
    cache = tmp_path / "cache"
    building = subprocess.Popen([sys.executable, "-c", "from ember.backend import compiled; compiled.kernels()"],
                                env=_environment(cache, CC=str(compiler)), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not [path for path in (cache / "kernels").glob("*") if path.stat().st_size]:
            assert time.monotonic() < deadline and building.poll() is None, "the build did not start"
            time.sleep(0.05)
    finally:
        os.killpg(building.pid, signal.SIGKILL)
        building.wait()
    left = list((cache / "kernels").iterdir())
    assert left, "the killed build left nothing to clean up"
    long_ago = time.time() - 24 * 3600
    for path in left:
        os.utime(path, (long_ago, long_ago))
    with config.override(cache_dir=str(cache)):
        built = compiled.kernels()
    assert built is not None
    assert sorted(path.name for path in (cache / "kernels").iterdir()) == sorted([seed.name, seed.name + ".sha256"])


def test_two_processes_building_at_once_both_load_one_valid_library(seed, tmp_path):
    cache = tmp_path / "cache"
    both = [subprocess.Popen([sys.executable, "-c", USE_THE_KERNELS], env=_environment(cache),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(process.wait(timeout=300), *process.communicate()) for process in both]
    for status, out, errors in results:
        assert status == 0 and "Warning" not in errors, errors[-2000:]
        assert Path(out.strip()) == cache / "kernels" / seed.name
    library = cache / "kernels" / seed.name
    assert sorted(path.name for path in library.parent.iterdir()) == sorted([library.name, library.name + ".sha256"])
    assert _recorded_correctly(library)


def test_no_compiler_still_gives_the_numpy_paths(monkeypatch, private_temporary, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc or clang on it
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    weight = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with config.override(compiler=None, cache_dir=str(tmp_path / "cache")):
            assert compiled.kernels() is None and "no C compiler found" in compiled.status()
            y = ember.functions.conv.conv2d(ember.Tensor(x), ember.Tensor(weight), padding=1)
    assert y.shape == (2, 4, 6, 6)
    assert not (tmp_path / "cache").exists()
