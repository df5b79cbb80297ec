"""Character-level text: ``TinyShakespeare`` (Karpathy's char-rnn corpus) with nanoGPT's split and batches.

    from ember.datasets import TinyShakespeare
    corpus = TinyShakespeare()                # $EMBER_DATA/tinyshakespeare/input.txt, or ~/.cache/ember/datasets/...
    corpus.vocab_size                         # 65: the sorted unique characters
    corpus.decode(corpus.encode("To be"))     # 'To be'
    x, y = corpus.get_batch("train", batch_size=64, block_size=100)   # int64 Tensors (64, 100); y is x shifted by one
    windows = corpus.windows("val", block_size=100)                   # a map-style Dataset for DataLoader

The file is read as strict UTF-8 and refused with a ``ValueError`` naming it (and the byte offset of the first
bad byte) when it is not; files over ``max_bytes`` are refused before they are read. When a ``SHA256SUMS`` file
sits beside ``input.txt`` and lists it, the digest is checked.
"""
from __future__ import annotations

import hashlib
import operator
import os
import re
from pathlib import Path

import numpy as np

from ..autograd.tensor import Tensor
from ..data import _worker
from ..data.dataset import Dataset
from .root import ENV_VAR, _root_origin, data_root

__all__ = ["TinyShakespeare", "TextWindows", "read_text", "MAX_TEXT_BYTES"]

MAX_TEXT_BYTES = 100 * 2**20
_MAX_SUMS_BYTES = 2**20
_SUMS_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_SPLITS = ("train", "val")


def read_text(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The text of ``path`` decoded as strict UTF-8; a ``ValueError`` naming the file when it is not UTF-8 or is
    larger than ``max_bytes`` (checked before reading, and again on the bytes read, in case the file grew)."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"text file '{path}': {size:,} bytes is over the limit of {max_bytes:,} bytes (max_bytes)")
    with open(path, "rb") as stream:
        content = stream.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise ValueError(f"text file '{path}': more than the limit of {max_bytes:,} bytes (max_bytes)")
    try:
        return content.decode("utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"text file '{path}': expected UTF-8, found byte 0x{content[error.start]:02x} at byte offset "
            f"{error.start} ({error.reason})"
        ) from None


def _listed_digest(sums_path: Path, name: str) -> str | None:
    """The SHA-256 that ``sums_path`` (``sha256sum`` format) lists for ``name``, or None when it lists none."""
    if sums_path.stat().st_size > _MAX_SUMS_BYTES:
        raise ValueError(f"checksum file '{sums_path}': over {_MAX_SUMS_BYTES:,} bytes")
    try:
        lines = sums_path.read_bytes().decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"checksum file '{sums_path}': expected ASCII lines '<sha256>  <file name>'") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _SUMS_LINE.match(line)
        if match is None:
            raise ValueError(
                f"checksum file '{sums_path}': line {number} is not '<sha256>  <file name>': {line[:80]!r}"
            )
        if match.group(2) == name:
            return match.group(1).lower()
    return None


def _verify(path: Path) -> None:
    sums_path = path.parent / "SHA256SUMS"
    if not sums_path.is_file():
        return
    expected = _listed_digest(sums_path, path.name)
    if expected is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise ValueError(
            f"text file '{path}': SHA-256 {digest.hexdigest()} differs from {expected} listed in '{sums_path}'"
        )


def _locate(folder_name: str, file_name: str, root, display_name: str) -> Path:
    base = data_root(root)
    folders = [base / folder_name, base]
    for folder in folders:
        if (folder / file_name).is_file():
            return folder / file_name
    searched = "\n".join(f"  {folder}" for folder in folders)
    raise FileNotFoundError(
        f"{display_name}: {file_name} not found under the data root '{base}' ({_root_origin(root)}).\n"
        f"Looked in:\n{searched}\n"
        f"To fix: set {ENV_VAR} to a folder that holds {folder_name}/{file_name}, or pass root=<that folder>."
    )


class TinyShakespeare:
    """Tiny Shakespeare (1,115,394 characters, 65 distinct) as character ids, split as nanoGPT does.

    Args:
        root: the data root (holding ``tinyshakespeare/input.txt``) or that folder itself; default the
            ``data_root`` setting (``$EMBER_DATA``), else ``~/.cache/ember/datasets``.
        max_bytes: larger files are refused with a ``ValueError`` (default 100 MB).

    Attributes:
        path: the file read. ``text``: its content.
        chars: the vocabulary, the sorted unique characters; ``vocab_size`` its length.
        data: the whole text as ids, uint16 ``(N,)`` (int64 when the vocabulary passes 65,536).
        train_data, val_data: the first 90% and the last 10% of ``data`` (views).
    """

    folder_name = "tinyshakespeare"
    file_name = "input.txt"
    train_fraction = 0.9

    def __init__(self, root: str | os.PathLike | None = None, max_bytes: int = MAX_TEXT_BYTES):
        display_name = type(self).__name__
        self.path = _locate(self.folder_name, self.file_name, root, display_name)
        _verify(self.path)
        self.text = read_text(self.path, max_bytes)
        if len(self.text) < 2:
            raise ValueError(f"text file '{self.path}': expected at least 2 characters, found {len(self.text)}")
        # sorted unique code points = sorted(set(text)), and the id of every character, without a Python loop
        code_points = np.frombuffer(self.text.encode("utf-32-le"), dtype=np.uint32)
        unique, ids = np.unique(code_points, return_inverse=True)
        self.chars: list[str] = [chr(point) for point in unique]
        self._ids_by_char = {char: index for index, char in enumerate(self.chars)}
        dtype = np.uint16 if len(self.chars) <= 2**16 else np.int64
        self.data = ids.reshape(-1).astype(dtype)
        self.data.flags.writeable = False
        split = int(self.train_fraction * len(self.data))
        self.train_data = self.data[:split]
        self.val_data = self.data[split:]

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``'s characters, int64 ``(len(text),)``; a ``ValueError`` names a character outside
        the vocabulary."""
        try:
            return np.array([self._ids_by_char[char] for char in text], dtype=np.int64)
        except KeyError as error:
            raise ValueError(
                f"{type(self).__name__}.encode: character {error.args[0]!r} is not in the vocabulary of "
                f"{self.vocab_size} characters from '{self.path}'"
            ) from None

    def decode(self, ids) -> str:
        """The text of a sequence of ids (list, NumPy array or Tensor)."""
        if isinstance(ids, Tensor):
            ids = ids.numpy()
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(
                f"{type(self).__name__}.decode: expected ids in [0, {self.vocab_size}), "
                f"found {int(ids.min() if ids.min() < 0 else ids.max())}"
            )
        return "".join(self.chars[int(index)] for index in ids)

    def split(self, split: str) -> np.ndarray:
        """``train_data`` for ``"train"``, ``val_data`` for ``"val"`` (also ``"validation"``)."""
        if split == "train":
            return self.train_data
        if split in ("val", "validation"):
            return self.val_data
        raise ValueError(f"{type(self).__name__}: expected split 'train' or 'val', received {split!r}")

    def get_batch(self, split: str, batch_size: int, block_size: int, generator=None) -> tuple[Tensor, Tensor]:
        """nanoGPT's ``get_batch``: ``batch_size`` random windows of ``block_size`` ids from ``split``.

        Returns int64 Tensors ``x`` and ``y`` of shape ``(batch_size, block_size)``, ``y[:, t] == x[:, t + 1]``
        within the text (the next character). ``generator``: a ``numpy.random.Generator``, an int seed, or None
        for Ember's generator (seeded by ``ember.manual_seed``).
        """
        data = self.split(split)
        _check_block_size(type(self).__name__, block_size, len(data), split)
        rng = _worker.as_generator(generator, f"{type(self).__name__}.get_batch")
        starts = rng.integers(0, len(data) - block_size, size=int(batch_size))
        return _windows_at(data, starts, block_size)

    def windows(self, split: str, block_size: int, stride: int | None = None) -> TextWindows:
        """A map-style Dataset of ``(x, y)`` windows of ``split`` (every ``stride`` ids; default ``block_size``)."""
        return TextWindows(self.split(split), block_size, stride)

    def __repr__(self) -> str:
        return (
            f"Dataset {type(self).__name__}\n    Characters: {len(self.data):,} ({self.vocab_size} distinct)\n"
            f"    Split: train {len(self.train_data):,} / val {len(self.val_data):,}\n    File: {self.path}"
        )


def _check_block_size(owner: str, block_size: int, length: int, split: str) -> None:
    if int(block_size) < 1 or int(block_size) >= length:
        raise ValueError(
            f"{owner}: expected 1 <= block_size < {length} (the {split!r} split's length), received {block_size}"
        )


def _windows_at(data: np.ndarray, starts: np.ndarray, block_size: int) -> tuple[Tensor, Tensor]:
    offsets = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(block_size, dtype=np.int64)
    return Tensor(data[offsets].astype(np.int64)), Tensor(data[offsets + 1].astype(np.int64))


class TextWindows(Dataset):
    """Windows of a 1-d id array as a map-style Dataset: item ``i`` is ``(x, y)``, ``x = data[s:s + block_size]``
    and ``y = data[s + 1:s + block_size + 1]`` with ``s = i * stride`` (int64 arrays ``(block_size,)``).

    ``get_batch(indices)`` gives int64 Tensors ``(B, block_size)`` in one indexing, which ``DataLoader`` uses.
    """

    def __init__(self, data, block_size: int, stride: int | None = None):
        self.data = np.asarray(data)
        if self.data.ndim != 1:
            raise ValueError(f"TextWindows: expected 1-d ids, received shape {self.data.shape}")
        _check_block_size("TextWindows", block_size, len(self.data), "data")
        self.block_size = int(block_size)
        self.stride = self.block_size if stride is None else int(stride)
        if self.stride < 1:
            raise ValueError(f"TextWindows: expected stride >= 1, received {stride}")

    def __len__(self) -> int:
        return (len(self.data) - self.block_size - 1) // self.stride + 1

    def __getitem__(self, index) -> tuple[np.ndarray, np.ndarray]:
        index = operator.index(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"TextWindows: index {index} is out of range for {len(self)} windows")
        start = (index % len(self)) * self.stride
        window = self.data[start:start + self.block_size + 1].astype(np.int64)
        return window[:-1], window[1:]

    def get_batch(self, indices) -> tuple[Tensor, Tensor]:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        outside = indices[(indices < -len(self)) | (indices >= len(self))]
        if outside.size:
            raise IndexError(f"TextWindows.get_batch: index {int(outside[0])} is out of range for {len(self)} windows")
        return _windows_at(self.data, (indices % len(self)) * self.stride, self.block_size)
