"""Programs launched with ``mpiexec -n 2`` (and ``ember run``) from one pytest process: faults end every rank,
checkpoints resume on another world size, and a missing mpi4py gives the install line. Each launch has a
timeout, so a hang fails the test."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ember.cli import mpiexec_command

PROGRAMS = Path(__file__).parent / "programs"
SOURCE = str(Path(__file__).resolve().parents[2] / "src")

pytestmark = pytest.mark.skipif("PMI_RANK" in os.environ, reason="launches mpiexec itself: run it outside mpiexec")


def launch(ranks, *arguments, timeout=120):
    environment = dict(os.environ, PYTHONPATH=SOURCE + os.pathsep + os.environ.get("PYTHONPATH", ""),
                       OMP_NUM_THREADS="1", EMBER_NUM_THREADS="1")
    command = mpiexec_command(["-n", str(ranks), *map(str, arguments)])
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)


def test_a_rank_that_raises_ends_every_rank_with_its_traceback_once():
    start = time.monotonic()
    result = launch(2, PROGRAMS / "raise_on_one_rank.py", timeout=90)
    elapsed = time.monotonic() - start
    assert result.returncode != 0
    assert elapsed < 60
    assert "rank 0 passed the collective" not in result.stdout
    output = result.stdout + result.stderr
    assert output.count("ValueError: deliberate failure on rank 1") == 1, output
    assert "rank 1 raised; aborting all ranks" in output


def test_a_rank_that_dies_ends_every_rank():
    start = time.monotonic()
    result = launch(2, PROGRAMS / "exit_on_one_rank.py", timeout=90)
    assert result.returncode != 0
    assert time.monotonic() - start < 60
    assert "rank 0 passed the collective" not in result.stdout


def test_a_checkpoint_written_by_rank_0_resumes_on_any_world_size(tmp_path):
    saved = launch(2, PROGRAMS / "checkpoint_resume.py", "save", tmp_path)
    assert saved.returncode == 0, saved.stderr
    for ranks in (1, 2):
        resumed = launch(ranks, PROGRAMS / "checkpoint_resume.py", "resume", tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        # ranks print concurrently: lines may run together
        differences = re.findall(r"largest relative difference ([0-9.e+-]+?)(?=rank|\s|$)", resumed.stdout)
        assert len(differences) == ranks, resumed.stdout
        assert all(float(value) <= 1e-5 for value in differences), resumed.stdout


def test_ember_run_passes_options_to_mpiexec():
    environment = dict(os.environ, PYTHONPATH=SOURCE)
    result = subprocess.run([sys.executable, "-m", "ember.cli", "run", "-n", "2", str(PROGRAMS / "ranks.py")],
                            capture_output=True, text=True, timeout=60, env=environment)
    assert result.returncode == 0, result.stderr
    assert sorted(re.findall(r"rank \d of \d", result.stdout)) == ["rank 0 of 2", "rank 1 of 2"]


def test_without_mpi4py_the_error_names_the_install_line():
    program = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import ember, ember.nn, ember.distributed as dist\n"
        "try:\n"
        "    dist.init_process_group('mpi')\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
        "print(dist.is_available())\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=SOURCE))
    assert result.returncode == 0, result.stderr
    assert 'pip install "ember[distributed]"' in result.stdout
    assert result.stdout.strip().endswith("False")


def test_import_ember_does_not_load_mpi4py():
    program = "import sys, ember, ember.nn, ember.distributed, ember.keras; print('mpi4py' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=SOURCE))
    assert result.stdout.strip() == "False", result.stderr
