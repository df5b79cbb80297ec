"""A save killed at any moment leaves the old file or the new one, never half of one; later saves of the same
file clean up the temporary files that killed saves left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

import ember
from ember.backend.files import atomic_writer

KILLS = 20
ELEMENTS = 4 * 1024 * 1024  # 16 MB of float32 per save: long enough that kills land mid-write

# saves {"step": k, "weights": full(k)} for k = start, start + 1, ... until killed
_SAVER = """
import sys
import numpy as np
import ember
path, start, elements = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
step = start
while True:
    ember.save({"step": step, "weights": np.full(elements, step, dtype=np.float32)}, path)
    step += 1
"""


def _leftovers(folder, name):
    return sorted(entry for entry in os.listdir(folder) if entry.startswith(f".{name}.") and entry.endswith(".part"))


def _check_complete(path, allowed_steps):
    state = ember.load(path)
    step = state["step"]
    assert step in allowed_steps
    np.testing.assert_array_equal(state["weights"], np.full(ELEMENTS, step, dtype=np.float32))
    return step


def test_kills_during_save_leave_a_complete_file_and_leftovers_are_cleaned(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    ember.save({"step": 0, "weights": np.full(ELEMENTS, 0, dtype=np.float32)}, path)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    rng = np.random.default_rng(0)
    last_step, intact, killed_mid_save = 0, 0, 0
    for _ in range(KILLS):
        start = last_step + 1
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), str(start), str(ELEMENTS)],
                                 stdout=subprocess.PIPE, env=environment)
        assert saver.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.8))
        saver.send_signal(signal.SIGKILL)
        saver.wait(timeout=10)
        saver.stdout.close()
        # the old complete file, or a complete file from one of the saves the child finished
        step = _check_complete(path, {last_step, *range(start, start + 10_000)})
        last_step, intact = step, intact + 1
        leftovers = _leftovers(tmp_path, path.name)
        killed_mid_save += bool(leftovers)
        assert len(leftovers) <= 1, f"leftovers of earlier kills were not cleaned: {leftovers}"
    assert intact == KILLS
    assert killed_mid_save, "no kill landed inside a save; the test exercised nothing"

    ember.save({"step": -1, "weights": np.full(ELEMENTS, -1, dtype=np.float32)}, path)
    assert _leftovers(tmp_path, path.name) == []
    _check_complete(path, {-1})


def test_cleanup_spares_other_files_and_newer_temporary_files(tmp_path):
    target = tmp_path / "model.safetensors"
    stale = tmp_path / ".model.safetensors.0123abcd.part"
    other_target = tmp_path / ".other.safetensors.0123abcd.part"
    user_file = tmp_path / "model.safetensors.part"
    unlike_ours = tmp_path / ".model.safetensors.notours.part"
    future = tmp_path / ".model.safetensors.89abcdef.part"
    for leftover in (stale, other_target, user_file, unlike_ours, future):
        leftover.write_bytes(b"half a save")
    old = time.time() - 60
    for leftover in (stale, other_target, user_file, unlike_ours):
        os.utime(leftover, (old, old))
    later = time.time() + 3600  # written after this save began (a save running beside it)
    os.utime(future, (later, later))

    with atomic_writer(target) as handle:
        handle.write(b"complete")

    assert target.read_bytes() == b"complete"
    assert not stale.exists()
    for kept in (other_target, user_file, unlike_ours, future):
        assert kept.exists(), kept.name
