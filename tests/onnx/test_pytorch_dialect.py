"""ember.onnx.export on PyTorch-style models: the file passes ONNX's full check and onnxruntime gives
Ember's outputs at a batch size other than the traced one."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("onnx", reason='onnx is not installed: pip install "ember[onnx]"')
pytest.importorskip("onnxruntime", reason='onnxruntime is not installed: pip install "ember[onnx]"')

import ember
import ember.nn as nn
import ember.nn.functional as F
from tests.conftest import REPO_ROOT

from .helpers import assert_matches, load_checked

BATCH = {"input": {0: "batch"}, "output": {0: "batch"}}


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"onnx_example_{name}", REPO_ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _export(model, example, path, **options):
    options.setdefault("dynamic_axes", BATCH)
    ember.onnx.export(model, ember.tensor(example), path, **options)
    return path


def test_mlp_matches_at_another_batch_size(tmp_path, rng):
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4), nn.LogSoftmax(dim=1))
    path = _export(model, rng.standard_normal((3, 8)).astype(np.float32), tmp_path / "mlp.onnx")
    assert model.training  # export runs the model in eval mode, then restores its mode
    assert_matches(path, model, [rng.standard_normal((5, 8)).astype(np.float32)], ["input"])
    names = {init.name for init in load_checked(path).graph.initializer}
    assert {"0.weight", "0.bias", "3.weight", "3.bias"} <= names


def test_pytorch_style_cnn(tmp_path, rng):
    model = _example("pytorch_style_cnn").MY_NET(image_size=28)
    path = _export(model, rng.standard_normal((2, 3, 28, 28)).astype(np.float32), tmp_path / "cnn.onnx")
    assert_matches(path, model, [rng.standard_normal((3, 3, 28, 28)).astype(np.float32)], ["input"])


def test_lstm_classifier_like_sequential_mnist(tmp_path, rng):
    model = _example("sequential_mnist").RowLSTM(hidden_size=32)
    path = _export(model, rng.standard_normal((2, 1, 28, 28)).astype(np.float32), tmp_path / "lstm.onnx")
    assert_matches(path, model, [rng.standard_normal((5, 1, 28, 28)).astype(np.float32)], ["input"])
    ops = {node.op_type for node in load_checked(path).graph.node}
    assert "LSTM" in ops


class Recurrent(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.rnn = layer

    def forward(self, x):
        output, state = self.rnn(x)
        return output, state


@pytest.mark.parametrize("make", [
    lambda: nn.GRU(6, 5, batch_first=True),
    lambda: nn.GRU(6, 5, num_layers=2, bidirectional=True),
    lambda: nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True),
    lambda: nn.LSTM(6, 5, bias=False),
    lambda: nn.RNN(6, 5, num_layers=2, nonlinearity="relu", batch_first=True),
    lambda: nn.RNN(6, 5, bidirectional=True),
], ids=["gru", "gru-2-layer-bidirectional", "lstm-2-layer-bidirectional", "lstm-no-bias", "rnn-relu-2-layer",
        "rnn-bidirectional"])
def test_recurrent_layers(tmp_path, rng, make):
    model = Recurrent(make())
    batch_axis = 0 if model.rnn.batch_first else 1
    axes = {"input": {batch_axis: "batch"}, "output": {batch_axis: "batch"}, "h_n": {1: "batch"}}
    names = ["output", "h_n", "c_n"] if isinstance(model.rnn, nn.LSTM) else ["output", "h_n"]
    if isinstance(model.rnn, nn.LSTM):
        axes["c_n"] = {1: "batch"}
    shape = (2, 7, 6) if model.rnn.batch_first else (7, 2, 6)
    path = tmp_path / "rnn.onnx"
    ember.onnx.export(model, ember.tensor(rng.standard_normal(shape).astype(np.float32)), path,
                      output_names=names, dynamic_axes=axes)
    other = (4, 7, 6) if model.rnn.batch_first else (7, 4, 6)
    assert_matches(path, model, [rng.standard_normal(other).astype(np.float32)], ["input"])


def test_cells_embedding_and_layer_norm(tmp_path, rng):
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(20, 8)
            self.norm = nn.LayerNorm(8)
            self.cell = nn.LSTMCell(8, 6)
            self.gru = nn.GRUCell(6, 6)
            self.head = nn.Linear(6, 3)

        def forward(self, tokens):
            x = self.norm(self.embedding(tokens))
            h, c = self.cell(x[:, 0])
            h, c = self.cell(x[:, 1], (h, c))
            h = self.gru(h)
            return F.softmax(self.head(F.gelu(h)), dim=-1)

    model = Tagger()
    path = _export(model, rng.integers(0, 20, (2, 3)), tmp_path / "tagger.onnx")
    assert_matches(path, model, [rng.integers(0, 20, (5, 3))], ["input"])


def test_conv1d_pools_group_norm_and_elementwise(tmp_path, rng):
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(3, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
            self.norm_weight = nn.Parameter(ember.linspace(0.5, 1.5, 8))
            self.norm_bias = nn.Parameter(ember.linspace(-0.2, 0.2, 8))
            self.bn = nn.BatchNorm2d(8)
            self.pool = nn.AdaptiveAvgPool2d((3, 2))

        def forward(self, x):
            line = F.max_pool1d(F.relu(self.conv1(x.flatten(2)[:, :, :20])), 2)          # (N, 8, 10)
            grouped = F.group_norm(self.conv2(x), 2, self.norm_weight, self.norm_bias)
            image = F.leaky_relu(self.bn(grouped), 0.1)                                  # (N, 8, 5, 5)
            a = F.avg_pool2d(image, 3, stride=2, padding=1, count_include_pad=False)      # (N, 8, 3, 3)
            b = F.max_pool2d(image, 2, ceil_mode=True)                                   # (N, 8, 3, 3)
            c = self.pool(image).permute(0, 1, 3, 2).reshape(x.shape[0], 8, -1)          # (N, 8, 6)
            joined = ember.cat([a.flatten(1), b.flatten(1) * 0.5, c.flatten(1).sigmoid(), line.flatten(1)], dim=1)
            return joined.tanh() - joined.exp().clamp(max=2.0) / (joined.abs() + 1).sqrt() + F.elu(joined)

    model = Mixed()
    model.bn.running_mean.array[:] = np.linspace(-1, 1, 8, dtype=np.float32)
    model.bn.running_var.array[:] = np.linspace(0.5, 2, 8, dtype=np.float32)
    path = _export(model, rng.standard_normal((2, 3, 10, 10)).astype(np.float32), tmp_path / "mixed.onnx")
    assert_matches(path, model, [rng.standard_normal((4, 3, 10, 10)).astype(np.float32)], ["input"])


def test_file_object_and_static_shapes(tmp_path, rng):
    import io

    model = nn.Sequential(nn.Linear(4, 2), nn.Softmax(dim=1))
    buffer = io.BytesIO()
    ember.onnx.export(model, ember.tensor(rng.standard_normal((3, 4)).astype(np.float32)), buffer,
                      input_names=["x"], output_names=["probabilities"])
    path = tmp_path / "from_buffer.onnx"
    path.write_bytes(buffer.getvalue())
    proto = load_checked(path)
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [3, 4]
    assert_matches(path, model, [rng.standard_normal((3, 4)).astype(np.float32)], ["x"])


def test_unsupported_op_names_op_and_module_and_leaves_no_file(tmp_path, rng):
    class Loss(nn.Module):
        def forward(self, x):
            return F.cross_entropy(x, ember.tensor(np.array([0, 1])))

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Linear(4, 4), Loss())

        def forward(self, x):
            return self.block(x)

    path = tmp_path / "bad.onnx"
    with pytest.raises(NotImplementedError, match=r"no ONNX converter for op SoftmaxCrossEntropy .*module 'block\.1'"):
        ember.onnx.export(Outer(), ember.tensor(rng.standard_normal((2, 4)).astype(np.float32)), path)
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_the_previous_file(tmp_path, rng):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="dynamic_axes names 'missing'"):
        ember.onnx.export(model, ember.tensor(rng.standard_normal((2, 4)).astype(np.float32)), path,
                          dynamic_axes={"missing": {0: "batch"}})
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_bad_arguments_are_named(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="opset_version"):
        ember.onnx.export(model, ember.zeros(1, 4), tmp_path / "m.onnx", opset_version=7)
    with pytest.raises(TypeError, match=r"args\[0\]"):
        ember.onnx.export(model, [1, 2], tmp_path / "m.onnx")


def test_shape_indexing_and_reduction_ops(tmp_path, rng):
    class Ops(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(6, 6)
            self.register_buffer("table", ember.tensor(rng.standard_normal((6, 6)).astype(np.float32)))

        def forward(self, x):                                          # (N, 4, 6)
            y = self.linear(x)                                         # Linear on a 3-d input
            first, second = y.chunk(2, dim=2)                          # (N, 4, 3) each
            stacked = ember.stack([first, second.flip(1)], dim=1)      # (N, 2, 4, 3)
            padded = F.pad(stacked, (1, 2))                            # (N, 2, 4, 6)
            tiled = padded[:, :, 1:3].repeat(1, 1, 2, 1)               # (N, 2, 4, 6)
            values, _ = tiled.max(dim=3)                               # (N, 2, 4)
            mean = tiled.mean(dim=(1, 3))                              # (N, 4)
            var = y.var(dim=-1)                                        # (N, 4)
            picked = (y @ self.table)[:, [0, 2, 3], None, 1:]          # (N, 3, 1, 5)
            gated = ember.where(self.table[0, 1] > 0, picked.transpose(1, 3), picked.transpose(1, 3) * 2)
            total = ember.logsumexp(gated, dim=1).flatten(1) + gated.sum(dim=(1, 2)) ** 2
            return values.flatten(1), (mean * var).unsqueeze(1).expand(-1, 2, -1), total, F.softplus(y, beta=2)

    model = Ops()
    names = ["input", "values", "moments", "total", "softplus"]
    axes = {name: {0: "batch"} for name in names}
    path = tmp_path / "ops.onnx"
    ember.onnx.export(model, ember.tensor(rng.standard_normal((2, 4, 6)).astype(np.float32)), path,
                      input_names=names[:1], output_names=names[1:], dynamic_axes=axes)
    assert_matches(path, model, [rng.standard_normal((5, 4, 6)).astype(np.float32)], ["input"])


def test_values_computed_outside_recorded_ops_are_refused(tmp_path, rng):
    class Masked(nn.Module):
        def forward(self, x):
            return x * (x > 0).float()

    class Picked(nn.Module):
        def forward(self, x):
            return x[:, x[0].argmax()]

    example = ember.tensor(rng.standard_normal((2, 4)).astype(np.float32))
    for model in (Masked(), Picked()):
        with pytest.raises(NotImplementedError, match="changes with the inputs"):
            ember.onnx.export(model, example, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_dynamic_axes_as_lists_name_the_axes(tmp_path, rng):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    path = tmp_path / "list_axes.onnx"
    ember.onnx.export(model, ember.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32)), path,
                      input_names=["images"], output_names=["scores"], dynamic_axes={"images": [0], "scores": [0]})
    proto = load_checked(path)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "images_dynamic_axes_1"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "scores_dynamic_axes_1"
    assert_matches(path, model, [rng.standard_normal((6, 3, 4)).astype(np.float32)], ["images"])


def test_reshape_merging_two_dynamic_axes_is_refused(tmp_path, rng):
    class Merge(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0] * x.shape[1], x.shape[2]).reshape(x.shape[0], x.shape[1] * x.shape[2])

    with pytest.raises(NotImplementedError, match=r"Reshape .*2 axes that follow dynamic input sizes"):
        ember.onnx.export(Merge(), ember.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32)),
                          tmp_path / "m.onnx", dynamic_axes={"input": {0: "batch", 1: "time"}})


@pytest.mark.parametrize("opset", [17, 20])
def test_gelu_is_one_node_from_opset_20(tmp_path, rng, opset):
    model = nn.Sequential(nn.Linear(5, 6), nn.GELU(), nn.Linear(6, 2), nn.GELU(approximate="tanh"))
    path = _export(model, rng.standard_normal((2, 5)).astype(np.float32), tmp_path / "gelu.onnx",
                   opset_version=opset)
    ops = [node.op_type for node in load_checked(path).graph.node]
    assert ops.count("Gelu") == (2 if opset >= 20 else 0)  # exact and tanh forms
    assert ops.count("Tanh") == (0 if opset >= 20 else 1)
    assert_matches(path, model, [rng.standard_normal((4, 5)).astype(np.float32)], ["input"])


def test_user_defined_function_is_named_as_unsupported(tmp_path, rng):
    class Square(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, grad):  # pragma: no cover - not differentiated here
            raise NotImplementedError

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 3)

        def forward(self, x):
            return Square.apply(self.linear(x))

    with pytest.raises(NotImplementedError, match=r"no ONNX converter for op Square .*module '<Model>'"):
        ember.onnx.export(Model(), ember.tensor(rng.standard_normal((2, 3)).astype(np.float32)), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_less_common_ops(tmp_path, rng):
    class Rare(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.RNNCell(4, 4, nonlinearity="relu")
            self.register_buffer("order", ember.tensor(np.array([[2, 0, 1, 3]] * 4)))

        def forward(self, x):                                              # (N, 4)
            h = self.cell(x)
            square = ember.einsum("ni,nj->nij", h, x).tril()              # (N, 4, 4)
            rows = square + ember.gather(square[0], 1, self.order)        # (N, 4, 4)
            smooth = (rows.abs() + 1).log1p().rsqrt() ** 1.5 + 2 ** x.clamp(min=-1)[:, :, None]
            return smooth.cumsum(dim=1).sum(dim=2), ember.triu(square, 1).amax(dim=(1, 2))

    model = Rare()
    path = tmp_path / "rare.onnx"
    axes = {"input": {0: "batch"}, "output": {0: "batch"}, "output_1": {0: "batch"}}
    ember.onnx.export(model, ember.tensor(rng.standard_normal((2, 4)).astype(np.float32)), path, dynamic_axes=axes)
    ops = {node.op_type for node in load_checked(path).graph.node}
    assert {"RNN", "Einsum", "Trilu", "GatherElements", "CumSum", "ReduceMax"} <= ops
    assert_matches(path, model, [rng.standard_normal((5, 4)).astype(np.float32)], ["input"])


def test_gather_index_expanded_to_the_batch_is_refused(tmp_path, rng):
    class Expanded(nn.Module):
        def forward(self, x):
            index = ember.tensor(np.array([[1, 0]])).expand(x.shape[0], 2)
            return ember.gather(x, 1, index)

    with pytest.raises(NotImplementedError, match=r"Gather .*changes with the inputs"):
        ember.onnx.export(Expanded(), ember.tensor(rng.standard_normal((3, 2)).astype(np.float32)),
                          tmp_path / "m.onnx", dynamic_axes={"input": {0: "batch"}})
