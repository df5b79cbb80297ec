#!/usr/bin/env bash
# Recreate the benchmark environment from scratch: a venv holding PyTorch (CPU), Keras 3 and TensorFlow (CPU)
# next to Ember.
#
#     benchmarks/setup.sh              # creates .bench-venv in the repository root
#     benchmarks/setup.sh /tmp/venv    # or somewhere else
#
# PyTorch, Keras and TensorFlow live only here, to be compared against: they are never dependencies of Ember.
# Keras runs on the PyTorch backend (KERAS_BACKEND=torch), e.g. for tests/keras/fixtures/make_keras_rnn_fixtures.py,
# and on TensorFlow's for tests/tensorflow/fixtures/make_tf_fixtures.py (KERAS_BACKEND=tensorflow).
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
"$venv/bin/pip" install keras==3.15.1 tensorflow-cpu==2.21.0
"$venv/bin/pip" install -e .
KERAS_BACKEND=torch "$venv/bin/python" -c "import ember, numpy, torch, keras; print('ember', ember.__version__, \
'| numpy', numpy.__version__, '| torch', torch.__version__, '| keras', keras.__version__)"
