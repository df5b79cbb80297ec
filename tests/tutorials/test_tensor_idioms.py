"""The tensor idioms of PyTorch's introductory lessons, written against ``ember`` with only the import changed.

Expected strings are PyTorch's own output for the same values (PyTorch 2 prints four decimals, pads every
element to one width, and names ``grad_fn`` after the backward node)."""
import numpy as np
import pytest

import ember
from ember.utils.data import DataLoader, TensorDataset


# ------------------------------------------------------------------------------------------- creation
@pytest.mark.parametrize("make", [ember.zeros, ember.ones, ember.empty, ember.rand, ember.randn])
def test_creation_accepts_size_keyword_star_sizes_and_tuple(make):
    assert make(size=(10, 3)).shape == (10, 3)
    assert make(10, 3).shape == (10, 3)
    assert make((10, 3)).shape == (10, 3)
    assert make(size=[4]).shape == (4,)
    assert make(size=5).shape == (5,)
    assert make(size=(2, 2)).dtype == np.float32


def test_size_keyword_with_requires_grad_makes_a_leaf():
    b = ember.zeros(size=(1,), requires_grad=True)
    assert b.requires_grad and b.is_leaf and b.shape == (1,)


def test_size_given_twice_or_unknown_keyword_is_an_error():
    with pytest.raises(TypeError, match="randn: received both"):
        ember.randn(2, size=(2,))
    with pytest.raises(TypeError):
        ember.zeros(shape=(2,))


# ----------------------------------------------------------------------------------------- in place
def test_add_in_place_on_integer_scalar():
    u = ember.tensor(5)
    assert repr(u.add(ember.tensor(3))) == "tensor(8)"
    u.add_(ember.tensor(3))
    assert repr(u) == "tensor(8)"


def test_row_sum_by_add_in_place_matches_sum_over_axis():
    a = ember.randn(size=(10, 3))
    s = ember.zeros_like(a[0])
    for row in a:
        s.add_(row)
    np.testing.assert_allclose(s.numpy(), ember.sum(a, axis=0).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call", [
    lambda t: t.add_(1.0), lambda t: t.sub_(1.0), lambda t: t.mul_(2.0), lambda t: t.div_(2.0),
    lambda t: t.zero_(), lambda t: t.fill_(3.0), lambda t: t.copy_(ember.ones(2)), lambda t: t.clamp_(0, 1),
    lambda t: t.normal_(), lambda t: t.uniform_(-1, 1), lambda t: t.exp_(), lambda t: t.square_(),
])
def test_in_place_on_leaf_requiring_grad_raises_outside_no_grad_and_works_inside(call):
    leaf = ember.ones(size=(2,), requires_grad=True)
    with pytest.raises(RuntimeError, match="in place"):
        call(leaf)
    with ember.no_grad():
        assert call(leaf) is leaf
    assert leaf.requires_grad and leaf.is_leaf


def test_in_place_values():
    t = ember.tensor([1.0, 4.0])
    t.sub_(ember.tensor([1.0, 1.0])).mul_(2.0).div_(3.0)
    np.testing.assert_allclose(t.numpy(), [0.0, 2.0])
    np.testing.assert_allclose(ember.tensor([-2.0, 0.5, 3.0]).clamp_(0, 1).numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(ember.tensor([1.4, -2.6]).round_().numpy(), [1.0, -3.0])
    np.testing.assert_allclose(ember.tensor([2.0]).add_(ember.tensor([3.0]), alpha=2).numpy(), [8.0])


def test_normal_and_uniform_fill_with_the_asked_distribution_and_follow_the_seed():
    ember.manual_seed(0)
    normal = ember.empty(20000).normal_(2.0, 0.5)
    assert normal.dtype == np.float32
    assert abs(float(normal.mean()) - 2.0) < 0.02 and abs(float(normal.std()) - 0.5) < 0.02
    uniform = ember.empty(20000).uniform_(-3.0, 1.0)
    assert float(uniform.min()) >= -3.0 and float(uniform.max()) < 1.0
    assert abs(float(uniform.mean()) + 1.0) < 0.05
    ember.manual_seed(0)
    np.testing.assert_array_equal(ember.empty(20000).normal_(2.0, 0.5).numpy(), normal.numpy())
    with pytest.raises(TypeError, match="normal_: expected a floating tensor"):
        ember.zeros(3, dtype=ember.int64).normal_()


def test_gradient_descent_step_with_in_place_updates_under_no_grad():
    w = ember.randn(size=(2, 1), requires_grad=True)
    b = ember.zeros(size=(1,), requires_grad=True)
    x, y = ember.randn(8, 2), ember.randn(8, 1)
    before = w.detach().numpy().copy()
    loss = ((x @ w + b - y) ** 2).mean()
    loss.backward()
    with ember.no_grad():
        w.sub_(0.1 * w.grad)
        b.sub_(0.1 * b.grad)
    w.grad.zero_()
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((2, 1), np.float32))
    assert not np.allclose(w.detach().numpy(), before)


def test_grad_zero_between_backward_passes():
    a = ember.randn(size=(2, 2), requires_grad=True)
    b = ember.randn(size=(2, 2))
    c = ember.mean(ember.sqrt(ember.square(a) + ember.square(b)))
    c.backward(retain_graph=True)
    once = a.grad.numpy().copy()
    c.backward(retain_graph=True)
    np.testing.assert_allclose(a.grad.numpy(), 2 * once, rtol=1e-6)
    a.grad.zero_()
    c.backward()
    np.testing.assert_allclose(a.grad.numpy(), once, rtol=1e-6)
    c = ember.sqrt(ember.square(a) + ember.square(b))
    c.backward(ember.eye(2))
    assert a.grad.shape == (2, 2)


# -------------------------------------------------------------------------------------------- format
def test_format_of_a_0d_tensor_formats_the_number():
    loss = ember.tensor(0.5123456, requires_grad=True) * 1
    assert format(loss, ".4f") == "0.5123"
    assert f"{loss:.2f}" == "0.51"
    assert f"{loss}" == str(float(np.float32(0.5123456)))  # PyTorch: item()'s format
    assert f"{ember.tensor(3)}" == "3"
    assert f"{ember.tensor([0.5])}" == "tensor([0.5000])"  # not 0-d: formatted as str, as in PyTorch


# --------------------------------------------------------------------------------------- __array__
def test_numpy_asarray_gives_the_numbers():
    t = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    array = np.asarray(t)
    assert isinstance(array, np.ndarray) and array.dtype == np.float32
    np.testing.assert_array_equal(array, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(np.array(t, dtype=np.float64), [[1, 2], [3, 4]])
    assert np.array(t).base is not None or np.array(t) is not t.numpy()  # np.array copies
    assert np.asarray(ember.tensor(3)).shape == ()


def test_numpy_asarray_of_a_tensor_requiring_grad_raises_as_pytorch():
    with pytest.raises(RuntimeError, match=r"requires grad; use tensor\.detach"):
        np.asarray(ember.ones(2, requires_grad=True))
    np.testing.assert_array_equal(np.asarray(ember.ones(2, requires_grad=True).detach()), [1, 1])


def test_matplotlib_accepts_tensors():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.imshow(ember.rand(28, 28))
    axes.plot(ember.linspace(0, 1, 5), ember.arange(5.0))
    plt.close(figure)


# ---------------------------------------------------------------------------------------------- repr
@pytest.mark.parametrize("values, expected", [
    ([[1, 2], [3, 4]], "tensor([[1, 2],\n        [3, 4]])"),
    ([[1.0, -2.0], [3.0, 4.0]], "tensor([[ 1., -2.],\n        [ 3.,  4.]])"),
    ([0.0, 0.0], "tensor([0., 0.])"),
    ([1.5, float("nan"), float("inf")], "tensor([1.5000,    nan,    inf])"),
    ([1e-5, 1.0], "tensor([1.0000e-05, 1.0000e+00])"),
    ([123456.7, 1.0], "tensor([1.2346e+05, 1.0000e+00])"),
    ([1e9, 2e9], "tensor([1.0000e+09, 2.0000e+09])"),
    ([-1e-5, 1.0], "tensor([-1.0000e-05,  1.0000e+00])"),
    ([100.0, 1.5], "tensor([100.0000,   1.5000])"),
    ([[0.12345, -0.5], [2.0, 3.25]], "tensor([[ 0.1235, -0.5000],\n        [ 2.0000,  3.2500]])"),
])
def test_repr_matches_pytorch(values, expected):
    assert repr(ember.tensor(values)) == expected


def test_repr_wraps_rows_at_pytorch_width_and_summarises_large_tensors():
    row = np.array([-0.8862, -0.7678, -0.9972, 0.769, -0.6086, 1.3287, -0.3149, -0.5995, -0.6849, 0.5152,
                    0.8894, 0.1287], dtype=np.float32)
    assert repr(ember.tensor(row[None])) == (
        "tensor([[-0.8862, -0.7678, -0.9972,  0.7690, -0.6086,  1.3287, -0.3149, -0.5995,\n"
        "         -0.6849,  0.5152,  0.8894,  0.1287]])")
    big = np.linspace(-1, 1, 2000, dtype=np.float32)
    big[1000] = 1e-7  # hidden by the summary: it must not switch the shown elements to scientific notation
    assert repr(ember.tensor(big)) == "tensor([-1.0000, -0.9990, -0.9980,  ...,  0.9980,  0.9990,  1.0000])"


def test_repr_shows_requires_grad_grad_fn_and_dtype_like_pytorch():
    a = ember.tensor([[0.5, -1.0]], requires_grad=True)
    assert repr(a) == "tensor([[ 0.5000, -1.0000]], requires_grad=True)"
    assert repr(a.mean()) == "tensor(-0.2500, grad_fn=<MeanBackward0>)"
    assert repr(ember.tensor([0.1], dtype=ember.float64)) == "tensor([0.1000], dtype=ember.float64)"
    expected = {
        a.sum(): "SumBackward0", a.sum(1): "SumBackward1", a.mean(1): "MeanBackward1", a * 2: "MulBackward0",
        a + 1: "AddBackward0", a - 1: "SubBackward0",
        a / 2: "DivBackward0", -a: "NegBackward0", a.exp(): "ExpBackward0", a.relu(): "ReluBackward0",
        a.sigmoid(): "SigmoidBackward0", a.tanh(): "TanhBackward0", a @ a.T: "MmBackward0",
        a.reshape(2): "ViewBackward0", a ** 2: "PowBackward0", a.softmax(1): "SoftmaxBackward0",
        ember.nn.functional.linear(a, a, a[0, :1]): "AddmmBackward0",
        ember.nn.functional.cross_entropy(a, ember.tensor([1])): "NllLossBackward0",
    }
    for tensor, name in expected.items():
        assert repr(tensor).endswith(f"grad_fn=<{name}>)"), repr(tensor)


# --------------------------------------------------------------------------------------------- data
def test_dataloader_batch_of_a_tensor_dataset_is_a_list_as_pytorch_collate_gives():
    dataset = TensorDataset(ember.randn(10, 2), ember.arange(10))
    loader = DataLoader(dataset, batch_size=4, shuffle=True)
    batches = list(loader)
    assert all(type(batch) is list and len(batch) == 2 for batch in batches)
    features, labels = batches[0]
    assert features.shape == (4, 2) and labels.shape == (4,)
    assert type(next(iter(DataLoader(dataset, batch_size=4, collate_fn=None)))) is list


# --------------------------------------------------------------------- the lesson's cells, end to end
def test_gradient_descent_cell_prints_pytorchs_numbers():
    """The lesson's minimum of (x1-3)² + (x2+2)², its `x.data.add_(...)` written as the other PyTorch spelling,
    an update under `no_grad` (test_lesson_pytorch.py runs `.data`). The line is PyTorch 2's, to the character."""
    x = ember.zeros(2, requires_grad=True)
    f = lambda x: (x - ember.tensor([3, -2])).pow(2).sum()  # noqa: E731 - the lesson's own spelling
    for i in range(15):
        y = f(x)
        y.backward()
        with ember.no_grad():
            x.add_(-0.1 * x.grad)
        x.grad.zero_()
        line = "Step {}: x[0]={}, x[1]={}".format(i, x[0], x[1])  # noqa: UP032 - the lesson's spelling
    assert line == "Step 14: x[0]=2.894446849822998, x[1]=-1.929631233215332"


def test_linear_regression_cells_print_pytorchs_numbers():
    np.random.seed(13)
    train_x = np.linspace(0, 3, 120)
    train_labels = 2 * train_x + 0.9 + np.random.randn(*train_x.shape) * 0.5
    w = ember.tensor([100.0], requires_grad=True, dtype=ember.float32)
    b = ember.zeros(size=(1,), requires_grad=True)

    def train_on_batch(x, y):
        loss = ember.mean(ember.square(y - (ember.matmul(x, w) + b)))
        loss.backward()
        with ember.no_grad():
            w.sub_(0.1 * w.grad)
            b.sub_(0.1 * b.grad)
        w.grad.zero_()
        b.grad.zero_()
        return loss

    indices = np.random.permutation(len(train_x))
    features = ember.tensor(train_x[indices], dtype=ember.float32)
    labels = ember.tensor(train_labels[indices], dtype=ember.float32)
    lines = []
    for epoch in range(10):
        for i in range(0, len(features), 4):
            loss = train_on_batch(features[i:i + 4].view(-1, 1), labels[i:i + 4])
        lines.append("Epoch %d: last batch loss = %.4f" % (epoch, float(loss)))  # noqa: UP031
    assert lines[0] == "Epoch 0: last batch loss = 94.5247" and lines[-1] == "Epoch 9: last batch loss = 0.3382"
    assert repr((w, b)) == "(tensor([1.8617], requires_grad=True), tensor([1.0711], requires_grad=True))"


def test_classification_cells_with_tensor_dataset_and_dataloader():
    generator = np.random.default_rng(0)
    features = generator.standard_normal((200, 2)).astype(np.float32)
    classes = (features[:, 0] + features[:, 1] > 0).astype(np.int32)
    dataset = TensorDataset(ember.tensor(features[:150]), ember.tensor(classes[:150], dtype=ember.float32))
    dataloader = DataLoader(dataset, batch_size=16)
    first = list(dataloader)[0]  # noqa: RUF015 - as the lesson writes it
    assert type(first) is list and first[0].shape == (16, 2)
    ember.manual_seed(0)
    net = ember.nn.Sequential(ember.nn.Linear(2, 5), ember.nn.Sigmoid(), ember.nn.Linear(5, 1))
    optimizer = ember.optim.SGD(net.parameters(), lr=0.5)
    valid_x, valid_labels = ember.tensor(features[150:]), ember.tensor(classes[150:])
    for _ in range(20):
        for x, y in dataloader:
            loss = ember.nn.functional.binary_cross_entropy_with_logits(net(x).flatten(), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    accuracy = ((ember.sigmoid(net(valid_x).flatten()) > 0.5).float() == valid_labels).float().mean()
    report = f"last batch loss = {loss}, val acc = {accuracy}"
    assert report.startswith("last batch loss = 0.") and float(accuracy) > 0.9
