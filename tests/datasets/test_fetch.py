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


# ------------------------------------------------------------------------------------------ CIFAR-10
def write_cifar_archive(path: Path, rng, batch_size: int = 4, extra: dict | None = None) -> dict:
    """A CIFAR-10-shaped archive (five training batches and a test batch of pickled dicts, as the original)."""
    import io
    import pickle
    import tarfile

    from ember.keras.datasets import cifar10

    batches = {}
    with tarfile.open(path, "w:gz") as archive:
        for member in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH):
            batch = {b"batch_label": b"testing", b"labels": [int(v) for v in rng.integers(0, 10, batch_size)],
                     b"data": rng.integers(0, 256, (batch_size, 3072), dtype=np.uint8),
                     b"filenames": [b"x.png"] * batch_size, **(extra or {})}
            payload = pickle.dumps(batch, protocol=3)  # bytes as bytes, as the original's strings load
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
            batches[member] = batch
    return batches


def test_cifar10_downloads_once_and_returns_keras_arrays(tmp_path, monkeypatch, rng):
    from ember.keras.datasets import cifar10

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    batches = write_cifar_archive(mirror / cifar10.ARCHIVE, rng)
    digest = hashlib.sha256((mirror / cifar10.ARCHIVE).read_bytes()).hexdigest()
    monkeypatch.setattr(cifar10, "URLS", (mirror.as_uri() + "/" + cifar10.ARCHIVE,))
    monkeypatch.setattr(cifar10, "SHA256", (digest,))
    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "root"))
    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    assert (tmp_path / "root" / "cifar-10" / cifar10.ARCHIVE).is_file()
    assert x_train.shape == (20, 32, 32, 3) and y_train.shape == (20, 1) and x_test.shape == (4, 32, 32, 3)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    first = batches[cifar10.TRAIN_BATCHES[0]]
    # the stored rows are (3, 32, 32) planes: red, green, blue; Keras returns channels last
    np.testing.assert_array_equal(x_train[0, :, :, 1], first[b"data"][0, 1024:2048].reshape(32, 32))
    np.testing.assert_array_equal(y_test[:, 0], batches[cifar10.TEST_BATCH][b"labels"])
    (mirror / cifar10.ARCHIVE).unlink()  # present and verified: read without asking the mirror
    assert keras.datasets.cifar10.load_data()[0][0].shape == (20, 32, 32, 3)


def test_cifar10_refuses_pickles_that_name_other_globals(tmp_path, monkeypatch, rng):
    import os
    import pickle

    from ember.keras.datasets import cifar10

    folder = tmp_path / "cifar-10"
    folder.mkdir()
    write_cifar_archive(folder / cifar10.ARCHIVE, rng, extra={b"payload": os.getcwd})
    digest = hashlib.sha256((folder / cifar10.ARCHIVE).read_bytes()).hexdigest()
    monkeypatch.setattr(cifar10, "SHA256", (digest,))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        cifar10.load_data(tmp_path)


def test_cifar10_offline_names_the_archive_and_ember_data(tmp_path, monkeypatch, unreachable_url):  # noqa: F811
    from ember.keras.datasets import cifar10

    monkeypatch.setattr(cifar10, "URLS", (unreachable_url + cifar10.ARCHIVE,))
    with pytest.raises(DownloadError, match="EMBER_DATA") as caught:
        cifar10.load_data(tmp_path)
    assert cifar10.ARCHIVE in str(caught.value) and str(tmp_path / "cifar-10") in str(caught.value)
