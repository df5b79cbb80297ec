"""Tests of the benchmark suite's own logic, on Ember alone (PyTorch is not needed):

    .venv/bin/python -m pytest benchmarks -q

The padding, initial weights, FLOP counts and the correctness guard are checked against hand-computed values;
the comparison with PyTorch itself is ``run.py``'s job.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import frameworks
import micro
import run
from measure import calls_for, interleave
from training import Trainer, check_same_computation
from workloads import (
    CHAR_SEQUENCE, CHAR_VOCABULARY, WORKLOADS, build_model, define_models, gemm_shapes, initial_value,
    load_initial_weights, make_input, same_padding, text_pool, trainable_parameters,
)

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def ember():
    return frameworks.load("ember")


def _pool(workload, count=None, seed=0):
    generator = np.random.default_rng(seed)
    count = count or workload.batch_size
    if workload.inputs == "text":
        return text_pool(generator.integers(0, CHAR_VOCABULARY, 1000), count, seed)
    images = generator.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    return make_input(images, workload), generator.integers(0, 10, count, dtype=np.int64)


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (28, 3, 1, (1, 1)), (28, 6, 2, (2, 2)), (14, 6, 2, (2, 2)),  # convnet
    (28, 6, 1, (2, 3)), (28, 5, 2, (1, 2)), (14, 4, 2, (1, 1)),  # bn_convnet: asymmetric, as TensorFlow pads
    (5, 1, 1, (0, 0)), (7, 2, 3, (0, 1)), (3, 5, 2, (2, 2)),
])
def test_same_padding_matches_tensorflow(size, kernel, stride, expected):
    before, after = same_padding(size, kernel, stride)
    assert (before, after) == expected
    # TensorFlow's rule: the output has ceil(size / stride) pixels
    assert (size + before + after - kernel) // stride + 1 == math.ceil(size / stride)


def test_same_padding_rejects_non_positive():
    with pytest.raises(ValueError, match="same_padding"):
        same_padding(28, 0, 1)


def test_initial_values_are_keras_defaults():
    kernel = initial_value("conv1.conv.weight", (24, 1, 6, 6), seed=0)
    limit = math.sqrt(6 / (1 * 36 + 24 * 36))  # glorot_uniform with Keras' fans of a (6, 6, 1, 24) kernel
    assert kernel.dtype == np.float32 and kernel.shape == (24, 1, 6, 6)
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert abs(float(kernel.std()) - limit / math.sqrt(3)) < 0.1 * limit
    dense = initial_value("fc.weight", (10, 784), seed=0)
    assert np.abs(dense).max() <= math.sqrt(6 / 794)
    np.testing.assert_array_equal(initial_value("fc.weight", (10, 784), seed=0), dense)  # deterministic
    assert not np.array_equal(initial_value("fc.weight", (10, 784), seed=1), dense)
    assert not np.array_equal(initial_value("fc2.weight", (10, 784), seed=0), dense)
    np.testing.assert_array_equal(initial_value("fc.bias", (10,), 0), np.zeros(10, np.float32))
    np.testing.assert_array_equal(initial_value("bn1.weight", (24,), 0), np.ones(24, np.float32))
    assert initial_value("bn1.bias", (24,), 0).dtype == np.float32


def test_make_input_layouts():
    images = np.array([[[0, 255] * 14] * 28], dtype=np.uint8)
    gray = make_input(images, WORKLOADS["convnet"])
    assert gray.dtype == np.float32 and gray.shape == (1, 1, 28, 28)
    assert gray.min() == 0 and gray.max() == 1
    color = make_input(images, WORKLOADS["pytorch_cnn"])
    assert color.dtype == np.float32 and color.shape == (1, 3, 28, 28)
    assert color.min() == -1 and color.max() == 1
    np.testing.assert_array_equal(color[:, 0], color[:, 2])
    rows = make_input(images, WORKLOADS["lstm_mnist"])
    assert rows.dtype == np.float32 and rows.shape == (1, 28, 28)
    with pytest.raises(ValueError, match="char_lstm"):
        make_input(images, WORKLOADS["char_lstm"])


def test_text_pool_labels_are_the_next_characters():
    ids = np.arange(500) % 65
    inputs, labels = text_pool(ids, 8, seed=1)
    assert inputs.shape == labels.shape == (8, CHAR_SEQUENCE) and inputs.dtype == labels.dtype == np.int64
    np.testing.assert_array_equal(labels[:, :-1], inputs[:, 1:])
    np.testing.assert_array_equal(labels[:, -1], (inputs[:, -1] + 1) % 65)
    np.testing.assert_array_equal(text_pool(ids, 8, seed=1)[0], inputs)  # the seed fixes the windows


def _expected_gemms(batch):
    """Hand-counted (m, k, n) of each conv/linear layer."""
    return {
        "softmax": [(batch, 784, 10)],
        "mlp": [(batch, 784, 200), (batch, 200, 60), (batch, 60, 10)],
        "convnet": [(batch * 28 * 28, 1 * 9, 12), (batch * 14 * 14, 12 * 36, 24), (batch * 7 * 7, 24 * 36, 32),
                    (batch, 1568, 200), (batch, 200, 10)],
        "bn_convnet": [(batch * 28 * 28, 36, 24), (batch * 14 * 14, 24 * 25, 48), (batch * 7 * 7, 48 * 16, 64),
                       (batch, 3136, 200), (batch, 200, 10)],
        "pytorch_cnn": [(batch * 28 * 28, 27, 32), (batch * 28 * 28, 288, 64), (batch * 14 * 14, 576, 128),
                        (batch, 6272, 512), (batch, 512, 10)],
        "pytorch_cnn_fused": [(batch * 28 * 28, 27, 32), (batch * 28 * 28, 288, 64), (batch * 14 * 14, 576, 128),
                              (batch, 6272, 512), (batch, 512, 10)],
        "lstm_mnist": [(batch * 28, 28, 512), (batch * 28, 128, 512), (batch, 128, 10)],
        "char_lstm": [(batch * CHAR_SEQUENCE, 256, 1024), (batch * CHAR_SEQUENCE, 256, 1024)] * 2
                     + [(batch * CHAR_SEQUENCE, 256, 65)],
    }


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_gemm_shapes_and_flops(ember, name):
    workload = WORKLOADS[name]
    images, _ = _pool(workload, count=4)
    gemms = gemm_shapes(build_model(name, ember), ember, images)
    assert [(gemm["m"], gemm["k"], gemm["n"]) for gemm in gemms] == _expected_gemms(4)[name]
    assert all(gemm["flops"] == 2 * gemm["m"] * gemm["k"] * gemm["n"] for gemm in gemms)


def test_softmax_flops_by_hand(ember):
    data = {"x_train": np.zeros((128, 28, 28), np.uint8), "y_train": np.zeros(128, np.int64)}
    flops = run.count_flops(WORKLOADS["softmax"], ember, data)
    assert flops["forward_flops_per_step"] == 2 * 128 * 784 * 10
    assert flops["train_flops_per_step"] == 3 * 2 * 128 * 784 * 10
    assert flops["train_flops_per_epoch"] == pytest.approx(3 * 2 * 784 * 10 * 60000)
    run.add_floors(flops, rate_gflops=100.0)
    assert flops["floor_seconds_per_step"] == pytest.approx(3 * 2 * 128 * 784 * 10 / 100e9)
    assert flops["ceiling_images_per_second"] == pytest.approx(100e9 / (2 * 784 * 10))


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_models_build_with_identical_initial_weights(ember, name):
    model = build_model(name, ember)
    values = load_initial_weights(model, ember, seed=3)
    for parameter_name, parameter in model.named_parameters():
        np.testing.assert_array_equal(parameter.numpy(), values[parameter_name])
    images, _ = _pool(WORKLOADS[name], count=2)
    expected = (2, CHAR_VOCABULARY, CHAR_SEQUENCE) if name == "char_lstm" else (2, 10)
    assert model(ember.tensor(images)).shape == expected


def test_pytorch_cnn_is_the_example_class(ember):
    model = build_model("pytorch_cnn", ember)
    assert type(model).__module__ == "pytorch_style_cnn"
    generic = define_models(ember.module)["pytorch_cnn"]()
    assert [(n, tuple(p.shape)) for n, p in model.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in generic.named_parameters()]


def test_the_fused_workload_says_what_it_fused(ember):
    model = build_model("pytorch_cnn_fused", ember)
    assert "MaxPool2dReLU" in repr(model) and "fuse" in WORKLOADS["pytorch_cnn_fused"].description
    assert "MaxPool2dReLU" not in repr(build_model("pytorch_cnn", ember))


def test_batch_norm_scales_are_frozen(ember):
    model = build_model("bn_convnet", ember)
    frozen = [name for name, parameter in model.named_parameters() if not parameter.requires_grad]
    assert frozen == ["bn1.weight", "bn2.weight", "bn3.weight", "bn4.weight"]
    assert len(trainable_parameters(model)) == len(list(model.parameters())) - 4
    workload = WORKLOADS["bn_convnet"]
    trainer = Trainer(workload, ember, *_pool(workload))
    trainer.step()
    np.testing.assert_array_equal(model.bn1.weight.numpy(), np.ones(24, np.float32))
    np.testing.assert_array_equal(trainer.model.bn1.weight.numpy(), np.ones(24, np.float32))


def test_trainer_reduces_the_loss(ember):
    workload = WORKLOADS["mlp"]
    trainer = Trainer(workload, ember, *_pool(workload))
    trainer.step()
    first = trainer.loss_value()
    for _ in range(20):
        trainer.step()
    assert trainer.loss_value() < 0.5 * first
    assert trainer.steps_taken == 21


class _Perturbed(frameworks.Framework):
    """Ember with every weight nudged on assignment: a framework that computes something else."""

    def assign(self, parameter, array):
        super().assign(parameter, array * np.float32(1.01))


def test_check_passes_for_the_same_computation_and_fails_otherwise(ember):
    workload = WORKLOADS["convnet"]
    images, labels = _pool(workload)
    same = check_same_computation(workload, [ember, ember], images, labels)
    assert same["passed"] and same["loss_rel_err"] == 0 and same["max_grad_rel_err"] == 0
    assert same["first_layer"] == "conv1.conv.weight"
    different = check_same_computation(workload, [_Perturbed("ember", ember.module), ember], images, labels)
    assert not different["passed"]
    assert different["first_layer_grad_rel_err"] > 1e-3


def test_micro_cases_compare(ember):
    cases = {case.name: case for case in micro.build_cases()}
    assert len(cases) == 14
    case = cases["matmul_128x784x200"]
    grad_output = micro.grad_output_for(case)
    runners = [micro.Runner(case, ember, grad_output), micro.Runner(case, ember, grad_output)]
    assert micro.compare(runners) == {"errors": {"output": 0.0, "grad a": 0.0, "grad b": 0.0}, "passed": True}
    results = runners[0].results()
    np.testing.assert_allclose(results["output"], case.arrays["a"] @ case.arrays["b"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(results["grad a"], grad_output @ case.arrays["b"].T, rtol=1e-4, atol=1e-3)
    wrong = micro.Case(case.name, case.description, {"a": case.arrays["a"] * np.float32(1.01), "b": case.arrays["b"]},
                       case.expression, True, case.grad_output_shape, case.leaves)
    assert not micro.compare([micro.Runner(wrong, ember, grad_output), runners[1]])["passed"]


def test_interleave_alternates_and_calls_for_fills_the_target():
    order = []
    values = interleave({"ember": lambda: order.append("E") or 1.0, "torch": lambda: order.append("T") or 2.0}, 3)
    assert order == ["E", "T", "E", "T", "E", "T"]
    assert values == {"ember": [1.0] * 3, "torch": [2.0] * 3}
    assert calls_for(lambda: None, 0.0, minimum=7) == 7
    counter = []
    count = calls_for(lambda: counter.append(1), 0.01)
    assert count > 100 and len(counter) > 1


def test_calls_for_keeps_the_faster_of_two_timings_of_its_group():
    """One call stalled (as when another job starts on the host) does not make the count tiny: the group is
    timed twice and the faster estimate kept."""
    import time

    calls = []

    def call():
        calls.append(1)
        time.sleep(0.2 if len(calls) == 2 else 0.001)  # the first timed group stalls

    assert calls_for(call, 0.5, warmup=1) >= 100


def test_select_only():
    cases = ["matmul_a", "max_pool2x2"]
    assert run.select(None, cases) == (list(WORKLOADS), True, cases)
    assert run.select(["mlp", "softmax"], cases) == (["softmax", "mlp"], False, [])
    assert run.select(["micro"], cases) == ([], False, cases)
    assert run.select(["import", "max_pool2x2"], cases) == ([], True, ["max_pool2x2"])
    with pytest.raises(ValueError, match="unknown name"):
        run.select(["resnet"], cases)


def test_number_and_table_formatting():
    assert run.number(1234.5678) == "1,235"
    assert run.number(0.0012345) == "0.00123"
    assert run.number(None) == "-"
    table = run.format_table(["name", "value"], [["a", "1.5"], ["long name", "22"]]).splitlines()
    assert table[0] == "name       value" and table[2] == "a            1.5" and table[3] == "long name     22"


def test_random_data_when_mnist_is_absent(tmp_path):
    data = run.load_images(str(tmp_path), seed=0)
    assert data["source"].startswith("random")
    assert data["x_train"].dtype == np.uint8 and data["x_train"].shape[1:] == (28, 28)
    assert data["y_train"].dtype == np.int64 and data["x_test"].shape[0] == run.INFERENCE_IMAGES


def test_peak_rss_child_reports_its_own_peak(tmp_path):
    workload = WORKLOADS["softmax"]
    images, labels = _pool(workload, count=256)
    np.savez(tmp_path / "pool.npz", images=images, labels=labels)
    completed = subprocess.run([sys.executable, str(HERE / "peak_rss.py"), "ember", "softmax",
                                str(tmp_path / "pool.npz"), "--steps", "2"], capture_output=True, text=True,
                               check=True)
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["steps"] == 2 and math.isfinite(report["loss"])
    # Python, NumPy and Ember take tens of MB; far more would mean the parent's memory was counted
    assert 10 < report["peak_rss_mb"] < 400


def test_framework_process_runs_a_workload_and_a_micro_case():
    """The child process that timings run in: a checked step, training and inference repeats, a micro case,
    and an error that comes back with the child's traceback."""
    from isolation import FrameworkProcess

    workload = WORKLOADS["softmax"]
    images, labels = _pool(workload)
    process = FrameworkProcess("ember", 1)
    try:
        checked = process.call("checked_step", "softmax", images, labels, 0)
        assert set(checked) == {"loss", "gradients", "loss_after_step"} and math.isfinite(checked["loss"])
        report = run.compare_checked_steps(workload, [checked, checked])
        assert report["passed"] and report["max_grad_rel_err"] == 0
        process.call("start_training", "softmax", images, labels, 0)
        assert process.call("count_steps", 3, 1, 0.0, 1) == 3
        assert process.timed("time_steps", 3) > 0
        assert process.call("training_summary")["steps_taken"] == 4
        process.call("start_inference", images[:8], 4)
        assert process.call("time_inference", 2) > 0
        case = next(case for case in micro.build_cases() if case.name == "matmul_128x784x200")
        outputs = process.call("start_micro", case.name, 0, micro.grad_output_for(case))
        assert micro.compare_results(case.name, outputs, outputs)["passed"]
        assert process.call("time_micro", 1) > 0
        with pytest.raises(RuntimeError, match="KeyError"):
            process.call("start_training", "no such workload", images, labels, 0)
    finally:
        process.close()
    assert process.process.returncode == 0


def test_step_profile_reports_time_and_page_faults(capsys):
    import step_profile

    step_profile.main(["step", "softmax", "--steps", "2"])
    out = capsys.readouterr().out
    assert out.startswith("softmax on Ember: median ") and out.rstrip().endswith("minor page faults per step (2 steps)")


def test_char_lstm_compare_changes_only_the_imports():
    import char_lstm_compare

    source = char_lstm_compare.EXAMPLE.read_text(encoding="utf-8")
    converted = char_lstm_compare.torch_source()
    assert "import ember" not in converted and "from ember" not in converted
    assert converted.count("import torch\nimport torch.nn as nn\n") == 1
    removed = [line for line in source.splitlines() if line not in converted.splitlines()]
    assert all("ember" in line or line.startswith("# ---") for line in removed) and len(removed) == 5


def test_char_lstm_compare_starts_ember_from_the_numpy_weights(tmp_path, capsys):
    import char_lstm_compare

    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("to be or not to be, that is the question.\n" * 30)
    arguments = ["--data-dir", str(tmp_path), "--steps", "0", "--eval-interval", "1", "--eval-iters", "1",
                 "--batch-size", "2", "--block-size", "8", "--embedding-dim", "4", "--hidden-size", "6",
                 "--length", "5", "--prompt", "to be"]
    first = char_lstm_compare.run_one("ember", arguments, seed=3)
    again = char_lstm_compare.run_one("ember", arguments, seed=3)
    assert first["history"][0]["val"] == again["history"][0]["val"]  # the same weights and batches
    assert char_lstm_compare.initial_value("head.bias", (5,), 3, 0.5).max() <= 0.5
    assert "step 0: train loss" in capsys.readouterr().out
