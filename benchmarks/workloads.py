"""The training workloads (MNIST images, MNIST rows, tiny Shakespeare characters), written once against the
PyTorch dialect and built on Ember or on PyTorch.

Nothing here imports a framework at module level: ``frameworks.load("ember")`` or ``frameworks.load("torch")``
hands one in, so a subprocess measuring one framework's memory never imports the other.

    framework = frameworks.load("torch")
    model = build_model("bn_convnet", framework)
    load_initial_weights(model, framework, seed=0)
"""
from __future__ import annotations

import functools
import importlib.util
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
PYTORCH_STYLE_EXAMPLE = REPOSITORY / "examples" / "pytorch_style_cnn.py"
EPOCH_IMAGES = 60000
CHAR_VOCABULARY, CHAR_SEQUENCE = 65, 100  # tiny Shakespeare's characters; characters per training sequence
CHAR_EPOCH_SEQUENCES = 1003854 // CHAR_SEQUENCE  # the 90% training split of tiny Shakespeare, cut into sequences


@dataclass(frozen=True)
class Workload:
    """One benchmark workload: its model, batch size and input layout."""

    name: str
    batch_size: int
    channels: int  # 1: images in [0, 1] (the codelab); 3: grey repeated and normalised to [-1, 1] (MY_NET)
    description: str
    # "images": (N, C, 28, 28) images; "rows": (N, 28, 28) images read row by row, one row a time step;
    # "text": (N, CHAR_SEQUENCE) character ids, labelled with the next character at every position
    inputs: str = "images"
    epoch_samples: int = EPOCH_IMAGES

    @property
    def steps_per_epoch(self) -> float:
        """samples / batch: the projected epoch counts a partial last batch as a fraction of a step."""
        return self.epoch_samples / self.batch_size

    @property
    def recurrent(self) -> bool:
        return self.inputs != "images"


WORKLOADS = {
    workload.name: workload
    for workload in (
        Workload("softmax", 128, 1, "Linear 784->10"),
        Workload("mlp", 128, 1, "784->200->60->10, ReLU"),
        Workload("convnet", 128, 1, "codelab convnet: conv3x3/12, conv6x6/24 s2, conv6x6/32 s2, 200, 10"),
        Workload("bn_convnet", 64, 1, "codelab batch-norm convnet: conv6x6/24, 5x5/48 s2, 4x4/64 s2 + BN, 200 + BN, "
                                      "dropout 0.3, 10"),
        Workload("pytorch_cnn", 64, 3, "MY_NET of examples/pytorch_style_cnn.py at 28x28x3"),
        Workload("pytorch_cnn_fused", 64, 3, "pytorch_cnn with ember.nn.utils.fuse on Ember's side (ReLU -> "
                                             "MaxPool2d run pool-first; PyTorch's model as written)"),
        Workload("lstm_mnist", 128, 1, "LSTM(28->128) over MNIST's 28 rows (28 steps), last step -> Linear(128->10)",
                 inputs="rows"),
        Workload("char_lstm", 64, 1, "examples/char_lstm.py: Embedding(65, 256), 2-layer LSTM(256) (dropout 0.2), "
                                     "Linear(256->65), cross-entropy at each of 100 positions", inputs="text",
                 epoch_samples=CHAR_EPOCH_SEQUENCES),
    )
}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``padding="same"`` for one axis: ``(before, after)``, the odd pixel going after.

    The output has ``ceil(size / stride)`` pixels; the total padding is what that output needs,
    ``max((out - 1) * stride + kernel - size, 0)``.
    """
    if size < 1 or kernel < 1 or stride < 1:
        raise ValueError(f"same_padding: expected positive size, kernel and stride, received {(size, kernel, stride)}")
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@functools.lru_cache(maxsize=None)
def load_pytorch_style_net():
    """``MY_NET`` from ``examples/pytorch_style_cnn.py`` (the Ember model users copy)."""
    spec = importlib.util.spec_from_file_location("pytorch_style_cnn", PYTORCH_STYLE_EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MY_NET


def define_models(torch_like) -> dict:
    """The workloads' model classes written against ``torch_like`` (the ``torch`` or the ``ember`` module).

    The same source builds both sides; only the framework differs.
    """
    nn = torch_like.nn
    F = nn.functional

    class SameConv2d(nn.Module):
        """Conv2d with TensorFlow's "same" padding for a ``size`` x ``size`` input: symmetric padding goes to
        the convolution, asymmetric padding (one more pixel bottom/right) is an explicit ``F.pad``."""

        def __init__(self, in_channels, out_channels, kernel_size, stride, size, bias=True):
            super().__init__()
            before, after = same_padding(size, kernel_size, stride)
            self.pad = None if before == after else (before, after, before, after)
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                  padding=before if before == after else 0, bias=bias)

        def forward(self, x):
            if self.pad is not None:
                x = F.pad(x, self.pad)
            return self.conv(x)

    class Softmax(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(784, 10)

        def forward(self, x):
            return self.fc(self.flatten(x))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(784, 200)
            self.fc2 = nn.Linear(200, 60)
            self.fc3 = nn.Linear(60, 10)

        def forward(self, x):
            x = F.relu(self.fc1(self.flatten(x)))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    class Convnet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = SameConv2d(1, 12, 3, 1, 28)
            self.conv2 = SameConv2d(12, 24, 6, 2, 28)
            self.conv3 = SameConv2d(24, 32, 6, 2, 14)
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(7 * 7 * 32, 200)
            self.fc2 = nn.Linear(200, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.relu(self.conv3(x))
            x = F.relu(self.fc1(self.flatten(x)))
            return self.fc2(x)

    class BatchNormConvnet(nn.Module):
        """Keras' BatchNormalization(scale=False): the scale stays 1 (frozen); Keras' epsilon 1e-3 and
        momentum 0.99 (PyTorch's momentum 0.01)."""

        def __init__(self):
            super().__init__()
            self.conv1 = SameConv2d(1, 24, 6, 1, 28, bias=False)
            self.bn1 = nn.BatchNorm2d(24, eps=1e-3, momentum=0.01)
            self.conv2 = SameConv2d(24, 48, 5, 2, 28, bias=False)
            self.bn2 = nn.BatchNorm2d(48, eps=1e-3, momentum=0.01)
            self.conv3 = SameConv2d(48, 64, 4, 2, 14, bias=False)
            self.bn3 = nn.BatchNorm2d(64, eps=1e-3, momentum=0.01)
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(7 * 7 * 64, 200, bias=False)
            self.bn4 = nn.BatchNorm1d(200, eps=1e-3, momentum=0.01)
            self.dropout = nn.Dropout(0.3)
            self.fc2 = nn.Linear(200, 10)
            for norm in (self.bn1, self.bn2, self.bn3, self.bn4):
                norm.weight.requires_grad_(False)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = F.relu(self.bn2(self.conv2(x)))
            x = F.relu(self.bn3(self.conv3(x)))
            x = F.relu(self.bn4(self.fc1(self.flatten(x))))
            return self.fc2(self.dropout(x))

    class MY_NET(nn.Module):  # noqa: N801 - the example's name
        """examples/pytorch_style_cnn.py's network, line for line."""

        def __init__(self, image_size=28, num_classes=10):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 32, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 64, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(64, 128, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
            flat = 128 * (image_size // 4) * (image_size // 4)
            self.classifier = nn.Sequential(
                nn.Flatten(),
                nn.Dropout(0.5),
                nn.Linear(flat, 512),
                nn.ReLU(),
                nn.Dropout(0.5),
                nn.Linear(512, num_classes),
            )

        def forward(self, x):
            return self.classifier(self.features(x))

    class RowLSTM(nn.Module):
        """An image (N, 28, 28) read row by row: 28 steps of 28 pixels, the last hidden state classified."""

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(28, 128, batch_first=True)
            self.fc = nn.Linear(128, 10)

        def forward(self, x):
            output, _ = self.lstm(x)
            return self.fc(output[:, -1])

    class CharLSTM(nn.Module):
        """examples/char_lstm.py's model; the logits come out as (N, vocabulary, L), so that cross-entropy
        against the (N, L) next characters averages over every position (as the example's reshape does)."""

        def __init__(self, vocab_size=CHAR_VOCABULARY, embedding_dim=256, hidden_size=256, num_layers=2,
                     dropout=0.2):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, dropout=dropout,
                                batch_first=True)
            self.head = nn.Linear(hidden_size, vocab_size)

        def forward(self, ids):
            output, _ = self.lstm(self.embedding(ids))
            return self.head(output).transpose(1, 2)

    return {"softmax": Softmax, "mlp": MLP, "convnet": Convnet, "bn_convnet": BatchNormConvnet,
            "pytorch_cnn": MY_NET, "lstm_mnist": RowLSTM, "char_lstm": CharLSTM}


def build_model(name: str, framework):
    """A fresh model of workload ``name`` on ``framework``; Ember's ``pytorch_cnn`` is the example's own class,
    and ``pytorch_cnn_fused`` the same passed through ``ember.nn.utils.fuse`` (named so wherever it is used)."""
    if name not in WORKLOADS:
        raise ValueError(f"build_model: unknown workload {name!r}; expected one of {sorted(WORKLOADS)}")
    if name == "pytorch_cnn_fused":
        model = build_model("pytorch_cnn", framework)
        return framework.module.nn.utils.fuse(model) if framework.name == "ember" else model
    if name == "pytorch_cnn" and framework.name == "ember":
        return load_pytorch_style_net()(28)
    return define_models(framework.module)[name]()


def initial_value(name: str, shape: tuple, seed: int) -> np.ndarray:
    """Keras' defaults for parameter ``name``: glorot_uniform kernels, zero biases, unit batch-norm scales.

    Kernels are in PyTorch's layout, Linear ``(out, in)`` and Conv2d ``(out, in, kh, kw)``, so
    ``fan_in = shape[1] * kh * kw`` and ``fan_out = shape[0] * kh * kw`` as Keras counts them for its
    ``(in, out)`` and ``(kh, kw, in, out)`` kernels. Each parameter's generator is seeded from ``seed`` and its
    name, so the values do not depend on the order parameters are visited in.
    """
    if len(shape) >= 2:
        receptive_field = math.prod(shape[2:])
        fan_in, fan_out = shape[1] * receptive_field, shape[0] * receptive_field
        limit = np.float32(math.sqrt(6.0 / (fan_in + fan_out)))
        generator = np.random.default_rng([seed, zlib.crc32(name.encode())])
        return (generator.random(shape, dtype=np.float32) * 2 - 1) * limit
    # the only 1-d weights in these models are batch-norm scales
    fill = 1.0 if name.endswith("weight") else 0.0
    return np.full(shape, fill, dtype=np.float32)


def load_initial_weights(model, framework, seed: int = 0) -> dict:
    """Overwrite every parameter of ``model`` with ``initial_value``; returns the arrays by parameter name."""
    values = {}
    for name, parameter in model.named_parameters():
        values[name] = initial_value(name, tuple(parameter.shape), seed)
        framework.assign(parameter, values[name])
    return values


def trainable_parameters(model) -> list:
    """The parameters the optimizer updates (the frozen batch-norm scales left out)."""
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


def make_input(images: np.ndarray, workload: Workload) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` images as the workload's float32 NCHW input ((N, 28, 28) rows for "rows").

    One channel in [0, 1] as the codelab feeds its models; three channels in [-1, 1] as
    ``examples/pytorch_style_cnn.py``'s transforms make them (Grayscale(3), ToTensor, Normalize(0.5, 0.5)).
    """
    if workload.inputs == "text":
        raise ValueError(f"make_input: workload {workload.name} reads text (text_pool), not images")
    scaled = images.astype(np.float32)[:, None, :, :] / np.float32(255)
    if workload.inputs == "rows":
        return scaled[:, 0]
    if workload.channels == 1:
        return scaled
    return np.repeat((scaled - np.float32(0.5)) / np.float32(0.5), 3, axis=1)


def text_pool(ids: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` windows of ``CHAR_SEQUENCE`` character ids from ``ids`` at starts drawn by a NumPy generator
    seeded with ``seed``: inputs and next-character labels, each int64 ``(count, CHAR_SEQUENCE)``."""
    starts = np.random.default_rng(seed).integers(0, len(ids) - CHAR_SEQUENCE, size=count)
    windows = ids[starts[:, None] + np.arange(CHAR_SEQUENCE + 1)].astype(np.int64)
    return windows[:, :-1], windows[:, 1:]


def gemm_shapes(model, framework, batch: np.ndarray) -> list[dict]:
    """The forward GEMM of every Conv2d and Linear layer on ``batch``, as im2col + GEMM computes it.

    Each entry: ``{"layer", "m", "k", "n", "flops"}`` with ``flops = 2 * m * k * n`` (a multiply and an add per
    multiply-accumulate). Conv2d: ``m = N * H_out * W_out``, ``k = C_in / groups * kh * kw``, ``n = C_out``
    (times ``groups``); Linear: ``m`` = rows of the input, ``k = in_features``, ``n = out_features``. LSTM
    (batch_first), per layer: the input projection of all steps, ``m = N * L``, ``k`` = the layer's input size,
    ``n = 4 * hidden``, and the L hidden products counted as one, ``m = N * L``, ``k = hidden``, ``n = 4 * hidden``.
    """
    nn = framework.module.nn
    records, handles = [], []

    def record(name):
        def hook(module, inputs, output):
            if isinstance(module, nn.Conv2d):
                batch_size, channels, height, width = output.shape
                k = module.in_channels // module.groups * math.prod(module.kernel_size)
                m, n = batch_size * height * width, channels
            else:
                n, k = module.out_features, module.in_features
                m = math.prod(output.shape[:-1])
            records.append({"layer": name, "m": int(m), "k": int(k), "n": int(n), "flops": 2 * int(m * k * n)})
        return hook

    def record_lstm(name):
        def hook(module, inputs, output):
            rows, gates = int(math.prod(inputs[0].shape[:2])), 4 * module.hidden_size
            for layer in range(module.num_layers):
                size_in = module.input_size if layer == 0 else module.hidden_size
                for part, k in (("input", size_in), ("hidden", module.hidden_size)):
                    records.append({"layer": f"{name}.l{layer}.{part}", "m": rows, "k": k, "n": gates,
                                    "flops": 2 * rows * k * gates})
        return hook

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            handles.append(module.register_forward_hook(record(name)))
        elif isinstance(module, nn.LSTM):
            handles.append(module.register_forward_hook(record_lstm(name)))
    was_training = model.training
    model.eval()
    try:
        with framework.no_grad():
            model(framework.tensor(batch))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return records
