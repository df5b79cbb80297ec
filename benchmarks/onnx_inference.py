"""Inference throughput of the MNIST models in Ember and in onnxruntime running Ember's ONNX export.

    PYTHONPATH=src .venv/bin/python benchmarks/onnx_inference.py [--repeats 5] [--seconds 0.5] [--threads 2]

Models: the codelab's dense network (784-200-60-10, relu), convnet and batch-norm convnet (Keras dialect),
and the PyTorch-style CNN on 1x28x28 images (PyTorch dialect). Each is exported once (batch axis dynamic),
checked to agree with Ember (rtol 1e-4, atol 1e-5), then timed at batch 256 and batch 1: the two runtimes
alternate, each repeat a group of calls filling ``--seconds``, the median repeat reported as images/s.
Ember runs in eval mode under no_grad; onnxruntime on its CPU provider with ``--threads`` intra-op threads,
told not to spin between runs (its default would keep the cores busy during Ember's turn).
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import calls_for, interleave, median, seconds_per_call, sgemm_rate

import ember
from ember.tutorials import mnist_codelab

ROOT = Path(__file__).resolve().parents[1]


def _pytorch_style_cnn():
    spec = importlib.util.spec_from_file_location("pytorch_style_cnn", ROOT / "examples" / "pytorch_style_cnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.MY_NET(image_size=28)
    model.features[0] = ember.nn.Conv2d(1, 32, kernel_size=3, padding=1)  # MNIST: one channel
    return model


MODELS = {
    "dense (784-200-60-10)": (lambda: mnist_codelab.dense_layers("relu"), (784,)),
    "convnet": (lambda: mnist_codelab.convnet(), (784,)),
    "batch-norm convnet": (lambda: mnist_codelab.batchnorm_convnet(), (784,)),
    "PyTorch-style CNN": (_pytorch_style_cnn, (1, 28, 28)),
}


def _session(model, image_shape, threads: int):
    import onnxruntime

    buffer = io.BytesIO()
    example = ember.tensor(np.random.default_rng(0).random((2,) + image_shape, dtype=np.float32))
    ember.onnx.export(model, example, buffer, dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # onnxruntime's threads spin after each run by default; spinning would take the cores from Ember's turn
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def _sgemm() -> str:
    """NumPy's float32 GEMM rate now, the host's state beside the figures (it moves with the host's load)."""
    rates = [sgemm_rate(size, size, size, 0.2, 3)["gflops"] for size in (1024, 256)]
    return f"sgemm 1024³ {rates[0]:.0f} GFLOP/s, 256³ {rates[1]:.0f} GFLOP/s"


def _rates(model, session, images: np.ndarray, seconds: float, repeats: int) -> tuple[float, float]:
    """Median images/s of Ember and of onnxruntime on ``images``, after checking that they agree."""
    tensor = ember.tensor(images)

    def run_ember():
        with ember.no_grad():
            return model(tensor)

    def run_onnx():
        return session.run(None, {"input": images})[0]

    np.testing.assert_allclose(run_onnx(), run_ember().numpy(), rtol=1e-4, atol=1e-5)
    ember_count, onnx_count = calls_for(run_ember, seconds), calls_for(run_onnx, seconds)
    times = interleave({"ember": lambda: seconds_per_call(run_ember, ember_count),
                        "onnx": lambda: seconds_per_call(run_onnx, onnx_count)}, repeats)
    return len(images) / median(times["ember"]), len(images) / median(times["onnx"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per repeat and runtime")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    arguments = parser.parse_args(argv)
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, ember {ember.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, {_sgemm()}")
    print("| model | batch | Ember images/s | onnxruntime images/s | onnxruntime / Ember |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    for name, (make, image_shape) in MODELS.items():
        ember.manual_seed(0)
        model = make()
        model.eval()
        session = _session(model, image_shape, arguments.threads)
        for batch in (256, 1):
            images = rng.random((batch,) + image_shape, dtype=np.float32)
            ember_rate, onnx_rate = _rates(model, session, images, arguments.seconds, arguments.repeats)
            print(f"| {name} | {batch} | {ember_rate:,.0f} | {onnx_rate:,.0f} | {onnx_rate / ember_rate:.2f}× |",
                  flush=True)
    print(f"after: load average {os.getloadavg()[0]:.1f}, {_sgemm()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
