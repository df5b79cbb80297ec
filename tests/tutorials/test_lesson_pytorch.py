"""The "Neural network frameworks" lesson's PyTorch notebook (IntroPyTorch.ipynb), cell by cell after
``import torch`` became ``import ember as torch``. Expected strings are what the notebook prints under PyTorch.
The cells that update ``w.data`` in place (``x.data.add_``, ``w.data.sub_``, ``self.W.data.zero_()``) run as
written: ``Tensor.data`` is, as in PyTorch, a detached Tensor sharing the memory. The lesson draws its
classification data with scikit-learn; two Gaussian blobs stand in for it here."""
from __future__ import annotations

import numpy as np

import ember as torch


def blobs(n=100, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.5).astype(np.int32)
    features = (rng.standard_normal((n, 2)) + np.where(labels[:, None] == 1, 1.5, -1.5)).astype(np.float32)
    return np.split(features, [70, 85]), np.split(labels, [70, 85])


def test_tensor_cells():
    assert isinstance(torch.__version__, str)
    a = torch.tensor([[1, 2], [3, 4]])
    assert repr(a) == "tensor([[1, 2],\n        [3, 4]])"
    a = torch.randn(size=(10, 3))
    assert (a - a[0]).shape == (10, 3) and torch.exp(a)[0].numpy().shape == (3,)
    u = torch.tensor(5)
    assert str(u.add(torch.tensor(3))) == "tensor(8)"  # print("Result when adding out-of-place:", u.add(...))
    assert "{}".format(u.add(torch.tensor(3))) == "8"  # noqa: UP032 - str.format of a 0-d tensor: its item, as PyTorch
    u.add_(torch.tensor(3))
    assert repr(u) == "tensor(8)"
    s = torch.zeros_like(a[0])
    for row in a:
        s.add_(row)
    np.testing.assert_allclose(s.numpy(), torch.sum(a, axis=0).numpy(), rtol=1e-5)


def test_gradient_cells():
    a = torch.randn(size=(2, 2), requires_grad=True)
    b = torch.randn(size=(2, 2))
    c = torch.mean(torch.sqrt(torch.square(a) + torch.square(b)))
    c.backward()
    once = a.grad.numpy().copy()
    c = torch.mean(torch.sqrt(torch.square(a) + torch.square(b)))
    c.backward(retain_graph=True)
    c.backward(retain_graph=True)
    np.testing.assert_allclose(a.grad.numpy(), 3 * once, rtol=1e-5)  # accumulated: the cell prints 3x
    a.grad.zero_()
    c.backward()
    np.testing.assert_allclose(a.grad.numpy(), once, rtol=1e-5)
    assert repr(c).endswith(", grad_fn=<MeanBackward0>)")
    c = torch.sqrt(torch.square(a) + torch.square(b))
    c.backward(torch.eye(2))  # a vector-Jacobian product: only the diagonal's gradient is added
    expected = once + np.eye(2) * (a.detach().numpy() / c.detach().numpy())
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-5)


def test_gradient_descent_cell_updates_through_data():
    """The lesson's ``x.data.add_(-lr*gr)`` loop on (x1-3)² + (x2+2)²: PyTorch 2's printed line, to the digit."""
    x = torch.zeros(2, requires_grad=True)
    f = lambda x: (x - torch.tensor([3, -2])).pow(2).sum()  # noqa: E731 - the lesson's own spelling
    lr = 0.1
    for i in range(15):
        y = f(x)
        y.backward()
        gr = x.grad
        x.data.add_(-lr * gr)
        x.grad.zero_()
        line = "Step {}: x[0]={}, x[1]={}".format(i, x[0], x[1])  # noqa: UP032 - the lesson's spelling
    assert line == "Step 14: x[0]=2.894446849822998, x[1]=-1.929631233215332"


def test_linear_regression_cell_updates_through_data():
    """``train_on_batch`` with ``w.data.sub_(learning_rate * w.grad)``: PyTorch 2's printed losses and weights."""
    np.random.seed(13)
    train_x = np.linspace(0, 3, 120)
    train_labels = 2 * train_x + 0.9 + np.random.randn(*train_x.shape) * 0.5
    w = torch.tensor([100.0], requires_grad=True, dtype=torch.float32)
    b = torch.zeros(size=(1,), requires_grad=True)

    def train_on_batch(x, y):
        predictions = torch.matmul(x, w) + b
        loss = torch.mean(torch.square(y - predictions))
        loss.backward()
        w.data.sub_(0.1 * w.grad)
        b.data.sub_(0.1 * b.grad)
        w.grad.zero_()
        b.grad.zero_()
        return loss

    indices = np.random.permutation(len(train_x))
    features = torch.tensor(train_x[indices], dtype=torch.float32)
    labels = torch.tensor(train_labels[indices], dtype=torch.float32)
    lines = []
    for epoch in range(10):
        for i in range(0, len(features), 4):
            loss = train_on_batch(features[i:i + 4].view(-1, 1), labels[i:i + 4])
        lines.append("Epoch %d: last batch loss = %.4f" % (epoch, float(loss)))  # noqa: UP031
    assert lines[0] == "Epoch 0: last batch loss = 94.5247" and lines[-1] == "Epoch 9: last batch loss = 0.3382"
    assert repr((w, b)) == "(tensor([1.8617], requires_grad=True), tensor([1.0711], requires_grad=True))"


def test_device_cell_runs_on_the_cpu():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    w = torch.tensor([100.0], requires_grad=True, dtype=torch.float32, device=device)
    b = torch.zeros(size=(1,), requires_grad=True, device=device)
    features = torch.tensor(np.linspace(0, 3, 8), dtype=torch.float32)
    loss = torch.mean(torch.square(features.to(device) - (torch.matmul(features.view(-1, 1).to(device), w) + b)))
    loss.backward()
    assert w.grad.shape == (1,) and str(w.device).startswith(device)


def test_classification_cells():
    (train_x, valid_x, _test_x), (train_labels, valid_labels, _test_labels) = blobs()

    class Network:
        def __init__(self):
            self.W = torch.randn(size=(2, 1), requires_grad=True)
            self.b = torch.zeros(size=(1,), requires_grad=True)

        def forward(self, x):
            return torch.matmul(x, self.W) + self.b

        def zero_grad(self):  # the lesson's own: it zeroes the weights through .data, not the gradients
            self.W.data.zero_()
            self.b.data.zero_()

        def update(self, lr=0.1):
            self.W.data.sub_(lr * self.W.grad)
            self.b.data.sub_(lr * self.b.grad)

    net = Network()
    dataset = torch.utils.data.TensorDataset(torch.tensor(train_x), torch.tensor(train_labels, dtype=torch.float32))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=16)
    first = list(dataloader)[0]  # noqa: RUF015 - the lesson's own spelling
    assert type(first) is list and first[0].shape == (16, 2) and first[1].dtype == torch.float32
    z = net.forward(first[0]).flatten()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(input=z, target=first[1])
    loss.backward()
    assert net.W.grad.shape == (2, 1)
    assert repr(net.b) == "tensor([0.], requires_grad=True)"

    def train_epoch(net, dataloader, lr=0.1):
        for (x, y) in dataloader:
            z = net.forward(x).flatten()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(input=z, target=y)
            net.zero_grad()
            loss.backward()
            net.update(lr)
        return loss

    for _epoch in range(15):
        loss = train_epoch(net, dataloader)
    assert np.isfinite(float(loss)) and net.W.requires_grad and net.W.grad_fn is None
    # zero_grad() zeroed the weights before the last update: W is -lr times the gradient accumulated so far
    np.testing.assert_allclose(net.W.detach().numpy(), -0.1 * net.W.grad.numpy(), rtol=1e-6)
    pred = torch.sigmoid(net.forward(torch.tensor(valid_x)))
    accuracy = torch.mean(((pred.view(-1) > 0.5) == (torch.tensor(valid_labels) > 0.5)).type(torch.float32))
    assert accuracy.shape == () and 0.0 <= float(accuracy) <= 1.0

    net = torch.nn.Linear(2, 1)
    assert repr(list(net.parameters())).startswith("[Parameter containing:\ntensor([[")
    optim = torch.optim.SGD(net.parameters(), lr=0.05)
    val_x, val_lab = torch.tensor(valid_x), torch.tensor(valid_labels)
    for ep in range(10):
        for (x, y) in dataloader:
            z = net(x).flatten()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
            optim.zero_grad()
            loss.backward()
            optim.step()
        acc = ((torch.sigmoid(net(val_x).flatten()) > 0.5).float() == val_lab).float().mean()
        line = f"Epoch {ep}: last batch loss = {loss}, val acc = {acc}"
    assert line.startswith("Epoch 9: last batch loss = 0.") and float(acc) > 0.9


def train(net, dataloader, val_x, val_lab, epochs=10, lr=0.05):
    optim = torch.optim.Adam(net.parameters(), lr=lr)
    for _ep in range(epochs):
        for (x, y) in dataloader:
            z = net(x).flatten()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
            optim.zero_grad()
            loss.backward()
            optim.step()
        acc = ((torch.sigmoid(net(val_x).flatten()) > 0.5).float() == val_lab).float().mean()
    return float(loss), float(acc)


def test_train_function_with_linear_sequential_and_class_networks():
    (train_x, valid_x, _), (train_labels, valid_labels, _) = blobs(seed=1)
    dataset = torch.utils.data.TensorDataset(torch.tensor(train_x), torch.tensor(train_labels, dtype=torch.float32))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=16)
    val_x, val_lab = torch.tensor(valid_x), torch.tensor(valid_labels)
    assert train(torch.nn.Linear(2, 1), dataloader, val_x, val_lab, lr=0.03)[1] > 0.9

    net = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Sigmoid(), torch.nn.Linear(5, 1))
    assert str(net) == ("Sequential(\n  (0): Linear(in_features=2, out_features=5, bias=True)\n  (1): Sigmoid()\n"
                        "  (2): Linear(in_features=5, out_features=1, bias=True)\n)")
    assert train(net, dataloader, val_x, val_lab)[1] > 0.9

    class MyNet(torch.nn.Module):
        def __init__(self, hidden_size=10, func=torch.nn.Sigmoid()):  # noqa: B008 - the lesson's default
            super().__init__()
            self.fc1 = torch.nn.Linear(2, hidden_size)
            self.func = func
            self.fc2 = torch.nn.Linear(hidden_size, 1)

        def forward(self, x):
            return self.fc2(self.func(self.fc1(x)))

    net = MyNet(func=torch.nn.ReLU())
    assert str(net) == ("MyNet(\n  (fc1): Linear(in_features=2, out_features=10, bias=True)\n  (func): ReLU()\n"
                        "  (fc2): Linear(in_features=10, out_features=1, bias=True)\n)")
    loss, _accuracy = train(net, dataloader, val_x, val_lab, lr=0.005)
    assert np.isfinite(loss)
