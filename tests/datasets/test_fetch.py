"""MNIST on first use: ``ember mnist`` and ``keras.datasets`` fetch the files into the data root (from a loopback
server or a file:// mirror here), and say how to place them by hand when no mirror can be reached."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ember import cli, keras
from ember.datasets import download
from ember.datasets.download import DownloadError
from ember.datasets.mnist import ensure_files
from ember.datasets.root import ALL_FILES
from ember.tutorials import mnist_codelab

from .conftest import write_dataset
from .test_download import GZ_NAMES, served, served_checksums, unreachable_url, use_mirrors  # noqa: F401


def test_ensure_files_downloads_on_first_use_then_finds_them(served, tmp_path, monkeypatch, capsys):  # noqa: F811
    server, _arrays = served
    use_mirrors(monkeypatch, [server.url], served_checksums(server))
    root = tmp_path / "fresh-machine"
    monkeypatch.setenv("EMBER_DATA", str(root))
    found = ensure_files()
    assert sorted(found) == sorted(ALL_FILES)
    assert all(path.parent == root / "mnist" for path in found.values())
    err = capsys.readouterr().err
    assert "MNIST: files not found" in err and "downloading them into" in err and "EMBER_DATA" in err
    assert "Downloading train-images-idx3-ubyte.gz" in err  # the progress bar
    assert len(server.requests) == 4
    assert ensure_files() == found  # present now: nothing fetched again, nothing printed
    assert len(server.requests) == 4 and capsys.readouterr().err == ""


def test_ember_mnist_fetches_then_trains(served, tmp_path, monkeypatch):  # noqa: F811
    server, _ = served
    use_mirrors(monkeypatch, [server.url], served_checksums(server))
    root = tmp_path / "data"
    monkeypatch.setenv("EMBER_DATA", str(root))
    trained = []

    def fake_run(arguments):
        trained.append(mnist_codelab.mnist_files(arguments.data_dir))  # the codelab finds the fetched files
        return 0

    monkeypatch.setattr(mnist_codelab, "run", fake_run)
    assert cli.main(["mnist", "--step", "dense", "--epochs", "1"]) == 0
    assert trained and trained[0]["train_images"] == root / "mnist" / "train-images-idx3-ubyte.gz"


def test_ember_mnist_offline_says_how_to_place_the_files(tmp_path, monkeypatch, capsys, unreachable_url):  # noqa: F811
    use_mirrors(monkeypatch, [unreachable_url], {name: "0" * 64 for name in GZ_NAMES})
    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(mnist_codelab, "run", lambda arguments: pytest.fail("must not train without data"))
    assert cli.main(["mnist", "--step", "dense"]) == 1
    err = capsys.readouterr().err
    assert "could not reach any mirror" in err and "EMBER_DATA" in err
    for name in GZ_NAMES:
        assert name in err
    assert not any((tmp_path / "empty" / "mnist").iterdir())  # nothing partial left behind


def test_file_mirror(tmp_path, monkeypatch, rng):
    mirror = tmp_path / "mirror"
    arrays = write_dataset(mirror, rng)
    checksums = {name: hashlib.sha256((mirror / name).read_bytes()).hexdigest() for name in GZ_NAMES}
    use_mirrors(monkeypatch, [mirror.as_uri() + "/"], checksums)
    found = ensure_files(tmp_path / "root")
    assert found["t10k-images-idx3-ubyte"] == tmp_path / "root" / "mnist" / "t10k-images-idx3-ubyte.gz"
    (_x_train, y_train), (x_test, _y_test) = keras.datasets.mnist.load_data(tmp_path / "root")
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])


def test_keras_datasets_load_data_downloads_like_keras(served, tmp_path, monkeypatch):  # noqa: F811
    server, arrays = served
    use_mirrors(monkeypatch, [server.url], served_checksums(server))
    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "cache"))
    (x_train, y_train), (x_test, _y_test) = keras.datasets.mnist.load_data()
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert x_train.shape == (12, 28, 28) and y_train.shape == (12,) and x_test.shape == (5, 28, 28)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    x_train[0, 0, 0] ^= 1  # fresh arrays, as Keras returns: writable and not shared
    assert keras.datasets.mnist.load_data()[0][0][0, 0, 0] == arrays["train-images-idx3-ubyte"][0, 0, 0]


def test_keras_fashion_mnist_reads_its_own_folder(tmp_path, monkeypatch, rng):
    arrays = write_dataset(tmp_path / "fashion-mnist", rng)
    monkeypatch.setenv("EMBER_DATA", str(tmp_path))
    monkeypatch.setattr(download, "MIRRORS", {})  # must not be asked
    (_x_train, _y_train), (_x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_keras_mnist_on_the_real_files(mnist_data_root):
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(mnist_data_root)
    assert (x_train.shape, y_train.shape, x_test.shape, y_test.shape) == (
        (60000, 28, 28), (60000,), (10000, 28, 28), (10000,))
    assert x_train.dtype == y_test.dtype == np.uint8
    assert int(y_train[0]) == 5 and int(y_test[0]) == 7  # the first digits of each split


def test_ensure_files_rejects_unknown_dataset():
    with pytest.raises(ValueError):
        ensure_files(Path("."), dataset="cifar")
    assert issubclass(DownloadError, OSError)
