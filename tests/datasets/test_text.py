"""TinyShakespeare on a small generated text (and on the real file when EMBER_DATA holds it)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.data import DataLoader
from ember.datasets import TextWindows, TinyShakespeare

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 3 + "Ünïcödé ✓\n"


def write_corpus(root: Path, content: bytes, sums: str | None = None) -> Path:
    folder = root / "tinyshakespeare"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "input.txt"
    path.write_bytes(content)
    if sums is not None:
        (folder / "SHA256SUMS").write_text(sums)
    return path


@pytest.fixture
def corpus(tmp_path):
    write_corpus(tmp_path, TEXT.encode("utf-8"))
    return TinyShakespeare(tmp_path)


def test_vocabulary_is_the_sorted_unique_characters_and_encoding_round_trips(corpus):
    assert corpus.chars == sorted(set(TEXT))
    assert corpus.vocab_size == len(set(TEXT))
    assert corpus.decode(corpus.data) == TEXT
    ids = corpus.encode("hear me")
    assert ids.dtype == np.int64 and corpus.decode(ids) == "hear me"
    assert corpus.decode(ember.tensor(ids)) == "hear me"
    assert corpus.data.dtype == np.uint16
    with pytest.raises(ValueError, match=r"character 'Z' is not in the vocabulary"):
        corpus.encode("Zebra")


def test_split_is_the_first_90_percent_and_the_last_10_percent(corpus):
    split = int(0.9 * len(TEXT))
    assert len(corpus.train_data) == split and len(corpus.val_data) == len(TEXT) - split
    np.testing.assert_array_equal(np.concatenate([corpus.train_data, corpus.val_data]), corpus.data)
    assert corpus.split("validation") is corpus.val_data
    with pytest.raises(ValueError, match="expected split 'train' or 'val'"):
        corpus.split("test")


def test_get_batch_gives_windows_and_their_next_characters(corpus):
    x, y = corpus.get_batch("train", batch_size=5, block_size=12, generator=np.random.default_rng(3))
    assert x.shape == y.shape == (5, 12) and x.dtype == y.dtype == ember.int64
    x, y = x.numpy(), y.numpy()
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    train_text = corpus.decode(corpus.train_data)
    for row_x, row_y in zip(x, y):
        start = train_text.find(corpus.decode(row_x) + corpus.decode(row_y[-1:]))
        assert start >= 0
    again = corpus.get_batch("train", 5, 12, generator=np.random.default_rng(3))[0].numpy()
    np.testing.assert_array_equal(again, x)
    with pytest.raises(ValueError, match=r"block_size < \d+ \(the 'val' split's length\)"):
        corpus.get_batch("val", 2, len(corpus.val_data))


def test_windows_are_a_map_style_dataset_for_the_data_loader(corpus):
    windows = corpus.windows("train", block_size=10)
    assert isinstance(windows, TextWindows)
    assert len(windows) == (len(corpus.train_data) - 11) // 10 + 1
    x, y = windows[len(windows) - 1]
    assert x.shape == y.shape == (10,)
    np.testing.assert_array_equal(x[1:], y[:-1])
    assert y[-1] == corpus.train_data[(len(windows) - 1) * 10 + 10]
    batches = list(DataLoader(windows, batch_size=4, shuffle=False))
    assert batches[0][0].shape == (4, 10)
    np.testing.assert_array_equal(batches[0][0].numpy()[1], windows[1][0])
    np.testing.assert_array_equal(batches[0][1].numpy()[1], windows[1][1])
    assert sum(batch[0].shape[0] for batch in batches) == len(windows)
    with pytest.raises(IndexError, match="out of range"):
        windows[len(windows)]


def test_non_utf8_is_refused_naming_the_file_and_the_offset(tmp_path):
    path = write_corpus(tmp_path, b"To be, or not \xff to be")
    with pytest.raises(ValueError, match=rf"{path}.*byte 0xff at byte offset 14"):
        TinyShakespeare(tmp_path)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    path = write_corpus(tmp_path, b"a" * 2000)
    with pytest.raises(ValueError, match=rf"{path}.*2,000 bytes is over the limit of 1,000 bytes"):
        TinyShakespeare(tmp_path, max_bytes=1000)


def test_checksums_are_verified_when_listed(tmp_path):
    content = TEXT.encode()
    good = hashlib.sha256(content).hexdigest()
    write_corpus(tmp_path, content, sums=f"{good}  input.txt\n")
    assert TinyShakespeare(tmp_path).decode(TinyShakespeare(tmp_path).data) == TEXT
    path = write_corpus(tmp_path, content + b"!")
    with pytest.raises(ValueError, match=rf"{path}.*SHA-256 .* differs from {good}"):
        TinyShakespeare(tmp_path)
    write_corpus(tmp_path, content, sums="not a checksum line\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS.*line 1 is not"):
        TinyShakespeare(tmp_path)
    write_corpus(tmp_path, content, sums=f"{good}  other.txt\n")  # lists other files only: nothing to check
    assert TinyShakespeare(tmp_path).vocab_size == len(set(TEXT))


def test_a_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)TinyShakespeare: input.txt not found.*tinyshakespeare"):
        TinyShakespeare(tmp_path / "empty")


def test_the_data_root_setting_is_used(tmp_path, monkeypatch):
    write_corpus(tmp_path, TEXT.encode())
    monkeypatch.delenv("EMBER_DATA", raising=False)
    with ember.config.override(data_root=str(tmp_path)):
        assert TinyShakespeare().path == tmp_path / "tinyshakespeare" / "input.txt"


def test_the_real_tiny_shakespeare():
    root = os.environ.get("EMBER_DATA")
    if not root or not (Path(root) / "tinyshakespeare" / "input.txt").is_file():
        pytest.skip("real tiny Shakespeare not found: set EMBER_DATA to a folder holding tinyshakespeare/input.txt")
    corpus = TinyShakespeare(root)
    assert len(corpus.data) == 1_115_394
    assert corpus.vocab_size == 65
    assert (len(corpus.train_data), len(corpus.val_data)) == (1_003_854, 111_540)
    assert corpus.decode(corpus.data[:14]) == "First Citizen:"
