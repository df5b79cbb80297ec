"""Downloads against a local HTTP server on 127.0.0.1: checksums, fallback between mirrors, offline errors."""
from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from ember.datasets import MNIST, download
from ember.datasets.download import ChecksumError, DownloadError, fetch, sha256_file
from ember.datasets.root import ALL_FILES

from .conftest import write_dataset

GZ_NAMES = [f"{name}.gz" for name in ALL_FILES]


class _Server:
    """A static file server on an ephemeral loopback port that counts the files it serves."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def served(tmp_path, rng):
    """``(server, arrays)``: generated MNIST-style files behind a loopback server."""
    arrays = write_dataset(tmp_path / "served", rng)
    server = _Server(tmp_path / "served")
    yield server, arrays
    server.close()


@pytest.fixture
def unreachable_url():
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def use_mirrors(monkeypatch, mirrors, checksums):
    monkeypatch.setitem(download.MIRRORS, "mnist", tuple(mirrors))
    monkeypatch.setitem(download.SHA256, "mnist", {name: (digest,) for name, digest in checksums.items()})


def served_checksums(server) -> dict[str, str]:
    folder = Path(server.httpd.RequestHandlerClass.keywords["directory"])
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in GZ_NAMES}


def test_fetch_downloads_verifies_and_skips_present_files(served, tmp_path, monkeypatch, capsys):
    server, arrays = served
    use_mirrors(monkeypatch, [server.url], served_checksums(server))
    root = tmp_path / "root"
    folder = fetch("mnist", root)
    assert folder == root / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(GZ_NAMES)  # no temporary files left
    assert sorted(server.requests) == sorted(f"/{name}" for name in GZ_NAMES)
    assert "Downloading train-images-idx3-ubyte.gz" in capsys.readouterr().err
    dataset = MNIST(root, train=False)
    np.testing.assert_array_equal(dataset.data, arrays["t10k-images-idx3-ubyte"])
    fetch("mnist", root)  # everything present and valid: no request
    assert len(server.requests) == 4
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")  # a bad file is fetched again
    fetch("mnist", root)
    assert server.requests[4:] == ["/t10k-labels-idx1-ubyte.gz"]
    assert sha256_file(folder / "t10k-labels-idx1-ubyte.gz") == served_checksums(server)["t10k-labels-idx1-ubyte.gz"]


def test_dataset_download_flag(served, tmp_path, monkeypatch):
    server, arrays = served
    use_mirrors(monkeypatch, [server.url], served_checksums(server))
    with pytest.raises(FileNotFoundError, match="download=True"):
        MNIST(tmp_path / "root")
    dataset = MNIST(tmp_path / "root", download=True)
    np.testing.assert_array_equal(dataset.targets, arrays["train-labels-idx1-ubyte"])
    assert len(server.requests) == 4


def test_unreachable_mirror_falls_back_to_the_next(served, tmp_path, monkeypatch, unreachable_url):
    server, _ = served
    use_mirrors(monkeypatch, [unreachable_url, server.url + "missing/", server.url], served_checksums(server))
    folder = fetch("mnist", tmp_path / "root")
    assert all((folder / name).is_file() for name in GZ_NAMES)
    assert sorted(server.requests) == sorted([f"/missing/{name}" for name in GZ_NAMES] + [f"/{n}" for n in GZ_NAMES])


def test_checksum_mismatch_keeps_nothing(served, tmp_path, monkeypatch):
    server, _ = served
    checksums = served_checksums(server)
    wrong = "0" * 64
    checksums["train-labels-idx1-ubyte.gz"] = wrong
    use_mirrors(monkeypatch, [server.url], checksums)
    with pytest.raises(ChecksumError) as info:
        fetch("mnist", tmp_path / "root")
    assert isinstance(info.value, ValueError) and isinstance(info.value, DownloadError)
    message = str(info.value)
    assert "MNIST: could not download train-labels-idx1-ubyte.gz" in message
    assert f"expected {wrong}, received {served_checksums(server)['train-labels-idx1-ubyte.gz']}" in message
    assert "the file was not kept" in message
    folder = tmp_path / "root" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == ["train-images-idx3-ubyte.gz"]  # fetched before the bad one


def test_offline_error_says_how_to_place_files(tmp_path, monkeypatch, unreachable_url):
    use_mirrors(monkeypatch, [unreachable_url, unreachable_url + "second/"], {name: "0" * 64 for name in GZ_NAMES})
    with pytest.raises(DownloadError) as info:
        fetch("mnist", tmp_path / "root")
    assert not isinstance(info.value, ChecksumError) and isinstance(info.value, OSError)
    message = str(info.value)
    assert "could not reach any mirror" in message
    assert f"{unreachable_url}train-images-idx3-ubyte.gz: " in message
    assert f"{unreachable_url}second/train-images-idx3-ubyte.gz: " in message
    assert f"into {tmp_path / 'root' / 'mnist'}/" in message
    assert all(name in message for name in GZ_NAMES) and "EMBER_DATA" in message
    assert list((tmp_path / "root" / "mnist").iterdir()) == []
    with pytest.raises(DownloadError, match="could not reach any mirror"):
        MNIST(tmp_path / "root", download=True)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="fetch: unknown dataset 'cifar10'"):
        fetch("cifar10")


def test_known_checksums_accept_the_shared_mnist_files(mnist_data_root):
    folder = mnist_data_root / "mnist"
    for name in GZ_NAMES:
        assert sha256_file(folder / name) in download.SHA256["mnist"][name]
    listed = dict(line.split()[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert {name: digest in download.SHA256["mnist"][name] for name, digest in listed.items()} == {
        name: True for name in GZ_NAMES
    }
