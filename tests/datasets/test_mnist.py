"""MNIST and FashionMNIST datasets and Keras-style load_data, on generated files and on the real MNIST."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import ember
from ember.data.dataset import Dataset
from ember.datasets import MNIST, FashionMNIST, fashion_mnist, mnist
from ember.datasets.idx import write_idx

from .conftest import TEST_SIZE, TRAIN_SIZE, write_dataset


# ------------------------------------------------------------------------------- generated files
def test_dataset_protocol(tiny_mnist):
    root, arrays = tiny_mnist
    train = MNIST(root=root)
    test = MNIST(root=root, train=False)
    assert isinstance(train, Dataset)
    assert len(train) == TRAIN_SIZE and len(test) == TEST_SIZE
    assert train.data.dtype == np.uint8 and train.data.shape == (TRAIN_SIZE, 28, 28)
    assert train.targets.dtype == np.int64 and train.targets.shape == (TRAIN_SIZE,)
    np.testing.assert_array_equal(train.data, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(test.targets, arrays["t10k-labels-idx1-ubyte"])
    image, label = train[3]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (28, 28)
    assert image.flags.writeable
    assert type(label) is int and label == arrays["train-labels-idx1-ubyte"][3]
    np.testing.assert_array_equal(train[-1][0], arrays["train-images-idx3-ubyte"][-1])
    assert train.root == root / "mnist"
    assert train.classes[:2] == ["0 - zero", "1 - one"] and train.class_to_idx["9 - nine"] == 9
    assert repr(train).splitlines()[:4] == [
        "Dataset MNIST", f"    Number of datapoints: {TRAIN_SIZE}", f"    Root location: {root / 'mnist'}",
        "    Split: Train",
    ]


def test_transforms_per_sample(tiny_mnist):
    root, arrays = tiny_mnist
    dataset = MNIST(root, transform=lambda image: image.astype(np.float32) / 255, target_transform=lambda y: y + 100)
    image, label = dataset[0]
    assert image.dtype == np.float32
    np.testing.assert_allclose(image, arrays["train-images-idx3-ubyte"][0] / np.float32(255))
    assert label == int(arrays["train-labels-idx1-ubyte"][0]) + 100


def test_index_errors(tiny_mnist):
    root, _ = tiny_mnist
    dataset = MNIST(root)
    with pytest.raises(IndexError, match=f"MNIST: index {TRAIN_SIZE} is out of range for {TRAIN_SIZE} samples"):
        dataset[TRAIN_SIZE]
    with pytest.raises(TypeError, match="expected an integer index, received slice; use get_batch"):
        dataset[1:3]
    with pytest.raises(IndexError, match=r"get_batch: index -13 is out of range for 12 samples"):
        dataset.get_batch([0, -13])
    with pytest.raises(TypeError, match=r"1-d sequence of integer indices, received float64 of shape \(2,\)"):
        dataset.get_batch([0.5, 1.0])


def test_get_batch_without_transform(tiny_mnist):
    root, arrays = tiny_mnist
    dataset = MNIST(root)
    indices = [4, 0, 11, 4]
    images, labels = dataset.get_batch(np.array(indices))
    assert isinstance(images, ember.Tensor) and images.dtype == np.uint8 and images.shape == (4, 28, 28)
    assert isinstance(labels, ember.Tensor) and labels.dtype == np.int64
    np.testing.assert_array_equal(images.numpy(), arrays["train-images-idx3-ubyte"][indices])
    np.testing.assert_array_equal(labels.numpy(), arrays["train-labels-idx1-ubyte"][indices])
    images, labels = dataset.get_batch(ember.tensor(indices))
    assert images.shape == (4, 28, 28)


def test_get_batch_target_transform_is_collated(tiny_mnist):
    root, arrays = tiny_mnist
    dataset = MNIST(root, target_transform=lambda y: float(y) * 0.5)
    _, labels = dataset.get_batch([1, 2])
    assert labels.dtype == np.float32
    np.testing.assert_allclose(labels.numpy(), arrays["train-labels-idx1-ubyte"][[1, 2]] * 0.5)
    dataset.target_transform = lambda y: ember.tensor([y, y])
    _, labels = dataset.get_batch([1, 2])
    np.testing.assert_array_equal(labels.numpy(), np.repeat(arrays["train-labels-idx1-ubyte"][[1, 2], None], 2, 1))


def test_get_batch_with_transform_uses_apply_batch(tiny_mnist, monkeypatch):
    root, arrays = tiny_mnist
    calls = []

    def apply_batch(transform, images):
        calls.append((transform, images.copy()))
        return images.astype(np.float32)[:, None] / 255  # a NumPy result: get_batch wraps it

    fake = types.ModuleType("ember.data.transforms")
    fake.apply_batch = apply_batch
    monkeypatch.setitem(sys.modules, "ember.data.transforms", fake)

    def transform(image):
        return image

    dataset = MNIST(root, transform=transform)
    images, labels = dataset.get_batch([2, 5])
    assert len(calls) == 1 and calls[0][0] is transform
    np.testing.assert_array_equal(calls[0][1], arrays["train-images-idx3-ubyte"][[2, 5]])
    assert isinstance(images, ember.Tensor) and images.shape == (2, 1, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(labels.numpy(), arrays["train-labels-idx1-ubyte"][[2, 5]])


def test_parsed_files_are_cached_and_shared_read_only(tiny_mnist):
    root, _ = tiny_mnist
    first, second = MNIST(root), MNIST(root)
    assert first.data is second.data
    assert not first.data.flags.writeable
    assert first.targets is not second.targets  # each instance may relabel its own copy
    original = int(second.targets[0])
    first.targets[0] = (original + 1) % 10
    assert second.targets[0] == original and MNIST(root).targets[0] == original


def test_file_replaced_on_disk_is_read_again(tiny_mnist):
    root, _ = tiny_mnist
    before = MNIST(root, train=False)
    write_idx(root / "mnist" / "t10k-labels-idx1-ubyte.gz", np.full(TEST_SIZE, 7, dtype=np.uint8))
    after = MNIST(root, train=False)
    assert (after.targets == 7).all() and not (before.targets == 7).all()


def test_inconsistent_files_raise(tmp_path, rng):
    write_dataset(tmp_path / "mnist", rng)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(TRAIN_SIZE - 1, dtype=np.uint8))
    with pytest.raises(ValueError, match=f"holds {TRAIN_SIZE} images but .* holds {TRAIN_SIZE - 1} labels"):
        MNIST(tmp_path)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.full(TEST_SIZE, 12, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"expected labels in \[0, 10\) .* found 12"):
        MNIST(tmp_path, train=False)
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", np.zeros((TEST_SIZE, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=r"to hold uint8 images \(N, H, W\), found float32"):
        MNIST(tmp_path, train=False)


def test_missing_files_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBER_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"MNIST: dataset files not found .*the root argument"):
        MNIST(tmp_path)


def test_fashion_mnist_layouts_and_classes(tmp_path, rng):
    arrays = write_dataset(tmp_path / "FashionMNIST" / "raw", rng, gzipped=False)
    dataset = FashionMNIST(tmp_path, train=False)
    assert dataset.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                               "Bag", "Ankle boot"]
    np.testing.assert_array_equal(dataset.data, arrays["t10k-images-idx3-ubyte"])
    assert repr(dataset).startswith("Dataset FashionMNIST")
    with pytest.raises(FileNotFoundError, match=r"(?s)FashionMNIST: .*/elsewhere/fashion-mnist\n"):
        FashionMNIST(tmp_path / "elsewhere")


def test_keras_load_data(tiny_mnist, tmp_path, rng):
    root, arrays = tiny_mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=root)
    assert x_train.dtype == np.uint8 and x_train.shape == (TRAIN_SIZE, 28, 28)
    assert y_train.dtype == np.uint8 and y_test.shape == (TEST_SIZE,)
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    x_train[0] = 0  # fresh arrays, as Keras returns: writable, and not the cache
    assert MNIST(root).data[0].any()
    fashion = write_dataset(tmp_path / "fashion-mnist", rng)
    (_, y_fashion), _ = fashion_mnist.load_data(tmp_path)
    np.testing.assert_array_equal(y_fashion, fashion["train-labels-idx1-ubyte"])


def test_keras_npz_path(tiny_mnist, tmp_path, monkeypatch):
    root, arrays = tiny_mnist
    archive = tmp_path / "mnist.npz"
    np.savez(archive, x_train=arrays["train-images-idx3-ubyte"][:3], y_train=arrays["train-labels-idx1-ubyte"][:3],
             x_test=arrays["t10k-images-idx3-ubyte"][:2], y_test=arrays["t10k-labels-idx1-ubyte"][:2])
    (x_train, y_train), (x_test, _) = mnist.load_data(path=archive)  # an existing Keras archive is read
    assert x_train.shape == (3, 28, 28) and x_test.shape == (2, 28, 28)
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"][:3])
    monkeypatch.setenv("EMBER_DATA", str(root))
    monkeypatch.chdir(root / "mnist")  # no mnist.npz here
    (x_train, _), _ = mnist.load_data(path="mnist.npz")  # Keras' cache-file name alone: the data root is used
    assert x_train.shape == (TRAIN_SIZE, 28, 28)
    np.savez(archive, x_train=x_train)
    with pytest.raises(ValueError, match=r"lacks the arrays \['x_test', 'y_test', 'y_train'\]"):
        mnist.load_data(path=archive)


# ----------------------------------------------------------------------------------- the real MNIST
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_through_the_data_root(mnist_data_root, monkeypatch):
    monkeypatch.setenv("EMBER_DATA", str(mnist_data_root))
    train, test = MNIST(), MNIST(train=False)  # found through $EMBER_DATA
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert test.data.shape == (10000, 28, 28) and test.targets.dtype == np.int64
    assert np.bincount(train.targets).tolist() == TRAIN_COUNTS
    assert np.bincount(test.targets).tolist() == TEST_COUNTS
    assert train.data.mean() == pytest.approx(33.318, abs=1e-3)
    images, labels = train.get_batch(np.arange(0, 60000, 1000))
    assert images.shape == (60, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(labels.numpy(), train.targets[::1000])
    assert train[0][1] == 5 and test[0][1] == 7  # the well-known first digits


def test_real_mnist_torchvision_layout_and_dataset_folder(mnist_data_root, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for source in (mnist_data_root / "mnist").glob("*.gz"):
        (raw / source.name).symlink_to(source)
    test = MNIST(root=tmp_path, train=False)
    assert test.root == raw and np.bincount(test.targets).tolist() == TEST_COUNTS
    direct = MNIST(root=mnist_data_root / "mnist", train=False)  # a root that is the dataset folder itself
    assert direct.data is test.data  # the same parsed file, from the cache


def test_real_mnist_load_data(mnist_data_root):
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=mnist_data_root)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.dtype == np.uint8 and y_test.dtype == np.uint8
    assert np.bincount(y_test).tolist() == TEST_COUNTS
