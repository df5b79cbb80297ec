"""Export a model, check the file with ONNX's full checker, and compare onnxruntime with Ember."""
from __future__ import annotations

import numpy as np

import ember
from ember import keras

RTOL, ATOL = 1e-4, 1e-5


def load_checked(path):
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    return model


def run_onnx(path, feeds: dict) -> list:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def ember_outputs(model, *inputs) -> list:
    model.eval()
    tensors = [ember.tensor(x) for x in inputs]
    with ember.no_grad():
        # a Keras model takes several inputs as one list
        result = model(tensors) if isinstance(model, keras.Model) and len(tensors) > 1 else model(*tensors)
    flat = []

    def collect(item):
        if isinstance(item, ember.Tensor):
            flat.append(item.numpy())
        else:
            for part in item:
                collect(part)

    collect(result)
    return flat


def assert_matches(path, model, inputs: list, names: list) -> list:
    """onnxruntime's outputs on ``inputs`` equal Ember's (rtol 1e-4, atol 1e-5); returns them."""
    load_checked(path)
    got = run_onnx(path, dict(zip(names, inputs)))
    expected = ember_outputs(model, *inputs)
    assert len(got) == len(expected)
    for ours, theirs in zip(expected, got):
        assert theirs.shape == ours.shape
        assert theirs.dtype == ours.dtype
        np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=ATOL)
    return got
