"""examples/char_lstm.py on Ember and on PyTorch: the same program, the same data batches, the same initial
weights; the validation losses, the wall times and a sample of each.

    EMBER_DATA=../shared/data PYTHONPATH=src .bench-venv/bin/python benchmarks/char_lstm_compare.py --steps 300

The example runs as written on Ember; on PyTorch its marked import lines are replaced by ``import torch`` and
``import torch.nn as nn`` and its ``TinyShakespeare`` hands out ``torch`` tensors (the same NumPy-drawn windows).
Both models start from the same weights, drawn with NumPy from PyTorch's default initializations (Embedding
N(0, 1); LSTM and Linear U(-1/sqrt(fan), 1/sqrt(fan))). Each framework trains in a process of its own, one
after the other (PyTorch first), or with ``--together`` both at once, so that on a shared host both see the same
load for the whole run; only LSTM dropout's masks differ between them. Options after ``--`` go to
the example unchanged.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "examples" / "char_lstm.py"
BEGIN, END = "# --- the lines that differ from the PyTorch original", "# ------------"
TORCH_IMPORTS = "import torch\nimport torch.nn as nn\n"
LOSS_TOLERANCE = 0.03  # nats: the validation losses must agree this closely
RESULT_PREFIX = "RESULT "


def torch_source() -> str:
    """The example's source with its marked Ember imports replaced by PyTorch's."""
    source = EXAMPLE.read_text(encoding="utf-8")
    begin = source.index(BEGIN)
    end = source.index(END, begin + len(BEGIN))
    end = source.index("\n", end) + 1
    return source[:begin] + TORCH_IMPORTS + source[end:]


def initial_value(name: str, shape: tuple, seed: int, bound: float | None) -> np.ndarray:
    """A parameter's initial value drawn with NumPy (a generator of its own per name): U(-bound, bound), or
    N(0, 1) where ``bound`` is None."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if bound is None:
        return rng.standard_normal(shape).astype(np.float32)
    return (rng.uniform(-1, 1, shape) * bound).astype(np.float32)


def default_bound(model, name: str) -> float | None:
    """PyTorch's default initialization of the example's parameter ``name``: Embedding N(0, 1) (None); every
    LSTM weight and bias U(+-1/sqrt(hidden)); Linear's kaiming_uniform(a=sqrt(5)) and bias U(+-1/sqrt(in))."""
    if name.startswith("embedding"):
        return None
    if name.startswith("lstm"):
        return 1 / math.sqrt(model.lstm.hidden_size)
    return 1 / math.sqrt(model.head.in_features)


def load_program(framework: str):
    """The example as a module on ``framework`` (``"ember"`` or ``"torch"``)."""
    if framework == "ember":
        spec = importlib.util.spec_from_file_location("char_lstm", EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    import torch

    from ember.datasets import TinyShakespeare

    class TorchTinyShakespeare(TinyShakespeare):
        """Ember's loader (the same text, split and NumPy-drawn windows), its batches as torch tensors."""

        def get_batch(self, split, batch_size, block_size, generator=None):
            x, y = super().get_batch(split, batch_size, block_size, generator)
            return torch.from_numpy(x.numpy().copy()), torch.from_numpy(y.numpy().copy())

    module = type(sys)("char_lstm_torch")
    module.__dict__["TinyShakespeare"] = TorchTinyShakespeare
    module.__dict__["__file__"] = str(EXAMPLE)
    exec(compile(torch_source(), f"{EXAMPLE} (on PyTorch)", "exec"), module.__dict__)
    return module


def run_one(framework: str, example_args: list, seed: int, threads: int | None = None) -> dict:
    """Train with the example's ``main`` on ``framework`` with ``threads`` threads (default: the cores this
    process may use), every parameter set from ``initial_value`` first."""
    module = load_program(framework)
    count = threads or len(os.sched_getaffinity(0))
    if framework == "torch":
        import torch

        torch.set_num_threads(count)
    else:
        import ember

        ember.set_num_threads(count)
    original = module.CharLSTM

    class SameStart(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name, parameter in self.named_parameters():
                value = initial_value(name, tuple(parameter.shape), seed, default_bound(self, name))
                if framework == "torch":
                    with module.torch.no_grad():
                        parameter.copy_(module.torch.from_numpy(value))
                else:
                    parameter.array[...] = value

    module.CharLSTM = SameStart
    result = module.main(example_args + ["--seed", str(seed)])
    return {"framework": framework, **result}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-interval", type=int, default=100)
    parser.add_argument("--eval-iters", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--framework", choices=("ember", "torch"), help="run one framework in this process")
    parser.add_argument("--json", default=None, help="write both results to this file")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for each framework (default: the cores; 1 also sets OPENBLAS_NUM_THREADS=1)")
    parser.add_argument("--together", action="store_true",
                        help="train both at once (on a loaded host: the same conditions for both)")
    args, rest = parser.parse_known_args(argv)
    rest = [part for part in rest if part != "--"]
    example_args = ["--steps", str(args.steps), "--eval-interval", str(args.eval_interval), "--eval-iters",
                    str(args.eval_iters), *rest]
    if args.framework:
        result = run_one(args.framework, example_args, args.seed, args.threads)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    results = {}
    commands = {framework: [sys.executable, __file__, "--framework", framework, "--steps", str(args.steps),
                            "--eval-interval", str(args.eval_interval), "--eval-iters", str(args.eval_iters),
                            "--seed", str(args.seed), *(["--threads", str(args.threads)] if args.threads else []),
                            "--", *rest] for framework in ("torch", "ember")}
    environment = dict(os.environ)
    if args.threads == 1:  # Ember on one thread leaves OpenBLAS's own threads alone: set them to one too
        environment["OPENBLAS_NUM_THREADS"] = "1"
    if args.together:  # both at once: each sees the same (shared, loaded) host for the whole run
        running = {name: subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
                   for name, command in commands.items()}
        outputs = {name: process.communicate()[0] for name, process in running.items()}
        codes = {name: process.returncode for name, process in running.items()}
    else:
        outputs, codes = {}, {}
        for name, command in commands.items():
            completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=environment)
            outputs[name], codes[name] = completed.stdout, completed.returncode
    for framework, output in outputs.items():
        print(f"--- {framework}", flush=True)
        lines = output.splitlines()
        print("\n".join(line for line in lines if not line.startswith(RESULT_PREFIX)), flush=True)
        if codes[framework] != 0:
            print(f"{framework} failed (exit status {codes[framework]})")
            return 1
        results[framework] = json.loads(next(line for line in lines if line.startswith(RESULT_PREFIX))
                                        [len(RESULT_PREFIX):])
    ember, torch = results["ember"], results["torch"]
    val = {name: result["history"][-1]["val"] for name, result in results.items()}
    difference = val["ember"] - val["torch"]
    print(f"\nafter {args.steps} steps: validation loss Ember {val['ember']:.4f}, PyTorch {val['torch']:.4f} "
          f"(difference {difference:+.4f} nats; tolerance {LOSS_TOLERANCE})")
    print(f"wall time: Ember {ember['seconds']:.1f} s, PyTorch {torch['seconds']:.1f} s "
          f"(ratio {ember['seconds'] / torch['seconds']:.2f}); training steps alone {ember['training_seconds']:.1f} "
          f"vs {torch['training_seconds']:.1f} s (ratio {ember['training_seconds'] / torch['training_seconds']:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if abs(difference) <= LOSS_TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
