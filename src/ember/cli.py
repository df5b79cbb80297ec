"""The ``ember`` command.

``ember mnist --step batchnorm`` trains a step of the MNIST codelab; ``ember gpt train`` / ``ember gpt sample``
train a character GPT on tiny Shakespeare and generate from it; ``ember demo`` fits a tiny network with
plain autodiff and prints its loss falling; ``ember export model.keras`` writes ``model.onnx``; ``ember run -n 4
train.py`` runs a script on 4 ranks through ``mpiexec`` (``docs/distributed.md``); ``ember diffusion train`` /
``ember diffusion sample --prompt seven`` train the text-conditioned digit diffusion model and draw from it.
"""
from __future__ import annotations

import argparse
import sys
import time


def demo(arguments) -> int:
    """Fit a 1-16-1 tanh network to sin(x) with plain autodiff and gradient descent."""
    import numpy as np

    import ember

    ember.manual_seed(arguments.seed)
    x = ember.linspace(-3.0, 3.0, 128).reshape(-1, 1)
    y = x.sin()
    w1 = (ember.randn(1, 16) * 0.8).requires_grad_()
    b1 = ember.zeros(16, requires_grad=True)
    w2 = (ember.randn(16, 1) * 0.3).requires_grad_()
    b2 = ember.zeros(1, requires_grad=True)
    parameters = [w1, b1, w2, b2]
    start = time.perf_counter()
    for step in range(arguments.steps + 1):
        prediction = (x @ w1 + b1).tanh() @ w2 + b2
        loss = ((prediction - y) ** 2).mean()
        loss.backward()
        with ember.no_grad():
            for p in parameters:
                p.array -= arguments.lr * p.grad.array
                p.grad = None
        if step % max(arguments.steps // 10, 1) == 0:
            print(f"step {step:5d}  loss {loss.item():.6f}")
    elapsed = time.perf_counter() - start
    print(f"fitted sin(x) with a 1-16-1 tanh network in {elapsed:.2f} s; final loss {loss.item():.6f}")
    return 0 if np.isfinite(loss.item()) else 1


def export(arguments) -> int:
    """Convert a ``.keras`` file, or a model script with its checkpoint, to ONNX and print the graph's inputs,
    outputs and opset."""
    from pathlib import Path

    from .keras.models import load_model
    from .onnx import import_onnx

    source = Path(arguments.model)
    target = Path(arguments.output) if arguments.output else source.with_suffix(".onnx")
    if source.suffix == ".py":
        onnx = import_onnx()
        status = _export_script(source, arguments.checkpoint, target, arguments.opset)
        if status:
            return status
    elif source.suffix != ".keras":
        print(f"ember export: expected a .keras file (saved with model.save) or a model script (.py, with "
              f"--checkpoint), received {str(source)!r}", file=sys.stderr)
        return 2
    else:
        onnx = import_onnx()
        model = load_model(str(source), compile=False)
        model.export(str(target), format="onnx", verbose=False, opset_version=arguments.opset)
    proto = onnx.load(str(target))

    def describe(value) -> str:
        shape = [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim]
        element = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        return f"{value.name} {element}[{', '.join(map(str, shape))}]"

    print(f"wrote {target} (ONNX opset {proto.opset_import[0].version}, {len(proto.graph.node)} nodes, "
          f"{sum(1 for _ in proto.graph.initializer)} initializers)")
    for value in proto.graph.input:
        print(f"  input  {describe(value)}")
    for value in proto.graph.output:
        print(f"  output {describe(value)}")
    if arguments.pytorch:
        if source.suffix != ".keras":
            print("ember export: --pytorch applies to .keras files", file=sys.stderr)
            return 2
        _write_pytorch_dialect(model, target)
    return 0


def _export_script(script, checkpoint, target, opset: int) -> int:
    """A PyTorch-dialect model to ONNX: ``script`` defines ``build_model()`` (an ``nn.Module``) and
    ``example_inputs()`` (a Tensor or a tuple of Tensors, the traced batch); ``checkpoint`` holds its
    ``state_dict`` (``ember.save`` or a plain safetensors file). Inputs are named ``input0``, ``input1``, …,
    outputs ``output0``, …, every one with a dynamic first (batch) axis."""
    import importlib.util

    import ember

    where = f"ember export: {script}"
    if checkpoint is None:
        print(f"{where}: a model script needs --checkpoint (its state_dict, saved with ember.save)",
              file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("ember_export_model", script)
    if spec is None or spec.loader is None:
        print(f"{where}: cannot be imported", file=sys.stderr)
        return 2
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [name for name in ("build_model", "example_inputs") if not callable(getattr(module, name, None))]
    if missing:
        print(f"{where}: the script must define {' and '.join(f'{name}()' for name in missing)}", file=sys.stderr)
        return 2
    model = module.build_model()
    model.load_state_dict(ember.load(checkpoint))
    model.eval()
    inputs = module.example_inputs()
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    with ember.no_grad():
        outputs = model(*inputs)
    count = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    input_names = [f"input{index}" for index in range(len(inputs))]
    output_names = [f"output{index}" for index in range(count)]
    ember.onnx.export(model, inputs, str(target), input_names=input_names, output_names=output_names,
                      dynamic_axes={name: {0: "batch"} for name in input_names + output_names},
                      opset_version=opset)
    return 0


def _write_pytorch_dialect(model, target) -> None:
    """Beside ``target``: ``<stem>.py`` building the model in the PyTorch dialect and ``<stem>.pt``, its
    state_dict, for the Sequential models that have such a form; else say why not."""
    import ember
    from ember.backend.files import atomic_writer
    from ember.onnx._keras import pytorch_dialect

    rewrite = pytorch_dialect(model)
    if isinstance(rewrite, str):
        print(f"no PyTorch-dialect files: {rewrite}")
        return
    source, state = rewrite
    code, checkpoint = target.with_suffix(".py"), target.with_suffix(".pt")
    with atomic_writer(code) as handle:
        handle.write(source.replace("<checkpoint>", checkpoint.name).encode())
    ember.save(state, checkpoint)
    print(f"wrote {code} (build_model()) and {checkpoint} (its state_dict)")


def mnist(arguments) -> int:
    """Train a codelab step; on first use, download MNIST into the data root (or say how to place it)."""
    from .datasets.download import DownloadError
    from .datasets.mnist import ensure_files
    from .tutorials import mnist_codelab

    try:
        ensure_files(arguments.data_dir)
    except DownloadError as error:
        print(f"ember mnist: {error}", file=sys.stderr)
        return 1
    return mnist_codelab.run(arguments)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description="Ember: train and inspect models from the shell.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="fit a tiny network to sin(x) with autodiff")
    demo_parser.add_argument("--steps", type=int, default=2000)
    demo_parser.add_argument("--lr", type=float, default=0.1)
    demo_parser.add_argument("--seed", type=int, default=0)
    demo_parser.set_defaults(run=demo)
    mnist_parser = commands.add_parser("mnist", help="train a step of the MNIST codelab and report test accuracy")
    from .tutorials import mnist_codelab

    mnist_codelab.add_arguments(mnist_parser)
    mnist_parser.set_defaults(run=mnist)
    export_parser = commands.add_parser("export", help="convert a .keras model file to ONNX")
    export_parser.add_argument("model", help="the .keras file (saved with model.save), or a model script (.py "
                                             "defining build_model() and example_inputs()) with --checkpoint")
    export_parser.add_argument("--checkpoint", help="with a model script: its state_dict (saved with ember.save)")
    export_parser.add_argument("output", nargs="?", help="the .onnx file to write (default: beside the model)")
    export_parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    export_parser.add_argument("--pytorch", action="store_true",
                               help="also write the PyTorch-dialect model (.py) and its state_dict (.pt), for "
                                    "Sequential models of Dense, Activation, Dropout and Flatten layers")
    export_parser.set_defaults(run=export)
    add_run_command(commands)
    gpt_parser = commands.add_parser("gpt", help="train a character GPT on tiny Shakespeare, or sample from it")
    from .tutorials import char_gpt

    char_gpt.add_arguments(gpt_parser)
    from .diffusion import cli as diffusion_cli

    diffusion_cli.add_parser(commands)
    return parser


def add_run_command(commands) -> None:
    run_parser = commands.add_parser(
        "run", help="launch a script on several ranks through mpiexec: ember run -n 4 train.py [args]",
        description="Run SCRIPT under mpiexec with this Python: the options before SCRIPT go to mpiexec (-n 4, "
                    "-hostfile hosts, -ppn 2, ...), those after it to the script.",
    )
    run_parser.add_argument("arguments", nargs=argparse.REMAINDER, help="[mpiexec options] SCRIPT.py [script args]")
    run_parser.set_defaults(run=lambda parsed: run_distributed(parsed.arguments))


def mpiexec_command(arguments: list, python: str = sys.executable) -> list:
    """The mpiexec command line for ``ember run ARGUMENTS``: mpiexec's options, then ``python SCRIPT args``
    (SCRIPT: the first argument ending in .py, or ``-m MODULE``)."""
    import os
    import shutil

    from .distributed._mpi import INSTALL_HINT

    beside_python = os.path.join(os.path.dirname(python), "mpiexec")
    mpiexec = beside_python if os.access(beside_python, os.X_OK) else shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit(f"ember run: mpiexec was not found beside {python} nor on PATH; {INSTALL_HINT}")
    for index, argument in enumerate(arguments):
        if argument.endswith(".py"):
            return [mpiexec, *arguments[:index], python, *arguments[index:]]
        if argument == "-m" and index + 1 < len(arguments):
            return [mpiexec, *arguments[:index], python, *arguments[index:]]
    raise SystemExit(f"ember run: expected a script (a .py file, or -m MODULE) among {arguments}")


def run_distributed(arguments: list) -> int:
    """``ember run -n 4 train.py``: run the script on 4 ranks through mpiexec; returns mpiexec's exit status."""
    import importlib.util
    import subprocess

    from .distributed._mpi import INSTALL_HINT

    if importlib.util.find_spec("mpi4py") is None:
        raise SystemExit(f"ember run: mpi4py is not installed; {INSTALL_HINT}")
    return subprocess.call(mpiexec_command(arguments))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"] and argv[1:2] not in (["-h"], ["--help"]):
        return run_distributed(argv[1:])  # argparse cannot pass options like -n through untouched
    arguments = build_parser().parse_args(argv)
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
