#!/usr/bin/env bash
# Recreate the benchmark environment from scratch: a venv holding PyTorch (CPU) next to Ember.
#
#     benchmarks/setup.sh              # creates .bench-venv in the repository root
#     benchmarks/setup.sh /tmp/venv    # or somewhere else
#
# PyTorch lives only here, to be compared against: it is never a dependency of Ember.
set -euo pipefail

repository="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repository/.bench-venv}"
python="${PYTHON:-python3}"

cd "$repository"
if [ -e "$venv" ]; then
    if [ ! -f "$venv/pyvenv.cfg" ]; then
        echo "setup.sh: $venv exists and is not a virtual environment (no pyvenv.cfg); not removing it" >&2
        exit 1
    fi
    rm -rf "$venv"
fi
"$python" -m venv "$venv"
"$venv/bin/pip" install torch==2.13.0 numpy
"$venv/bin/pip" install -e .
"$venv/bin/python" -c "import ember, numpy, torch; print('ember', ember.__version__, '| numpy', numpy.__version__, '| torch', torch.__version__)"
