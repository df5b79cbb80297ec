"""Datasets on disk: MNIST and Fashion-MNIST (PyTorch- and Keras-style), tiny Shakespeare, the IDX format, the data
root, downloads.

    from ember.datasets import MNIST, FashionMNIST        # torchvision-style datasets
    from ember.datasets import mnist, fashion_mnist       # Keras-style: mnist.load_data()
    from ember.datasets import TinyShakespeare            # characters, nanoGPT's split and get_batch

Files are looked up under the data root: the ``root`` argument, else ``$EMBER_DATA``, else
``~/.cache/ember/datasets``.
"""
from . import download, fashion_mnist, idx, mnist, root, text
from .download import ChecksumError, DownloadError, fetch
from .fashion_mnist import FashionMNIST
from .idx import IDXFormatError, read_idx, write_idx
from .mnist import MNIST
from .root import data_root
from .text import TextWindows, TinyShakespeare, read_text

__all__ = [
    "MNIST", "FashionMNIST", "mnist", "fashion_mnist", "read_idx", "write_idx", "IDXFormatError", "fetch",
    "DownloadError", "ChecksumError", "data_root", "download", "idx", "root", "TinyShakespeare", "TextWindows",
    "read_text", "text",
]
