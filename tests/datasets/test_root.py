"""The data root (argument, EMBER_DATA, default) and the layouts searched inside it."""
from __future__ import annotations

from pathlib import Path

import pytest

from ember.datasets.root import ALL_FILES, SPLIT_FILES, data_root, dataset_folder, locate_files


def touch_files(folder: Path, names, suffix: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}{suffix}").write_bytes(b"")


def test_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EMBER_DATA", raising=False)
    assert data_root() == tmp_path / "home" / ".cache" / "ember" / "datasets"
    monkeypatch.setenv("EMBER_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root("~/data") == tmp_path / "home" / "data"
    monkeypatch.setenv("EMBER_DATA", "")  # empty means unset
    assert data_root() == tmp_path / "home" / ".cache" / "ember" / "datasets"
    assert dataset_folder("fashion-mnist", tmp_path) == tmp_path / "fashion-mnist"


@pytest.mark.parametrize(
    "dataset, layout", [("mnist", "mnist"), ("mnist", "MNIST/raw"), ("mnist", ""),
                        ("fashion-mnist", "fashion-mnist"), ("fashion-mnist", "FashionMNIST/raw")],
)
def test_layouts_found(tmp_path, dataset, layout):
    folder = tmp_path / layout if layout else tmp_path
    touch_files(folder, ALL_FILES, suffix=".gz")
    found = locate_files(dataset, SPLIT_FILES["train"], tmp_path)
    assert found == {name: folder / f"{name}.gz" for name in SPLIT_FILES["train"]}


def test_uncompressed_file_preferred_and_env_root_used(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    touch_files(folder, SPLIT_FILES["test"], suffix=".gz")
    touch_files(folder, SPLIT_FILES["test"][:1])
    monkeypatch.setenv("EMBER_DATA", str(tmp_path))
    found = locate_files("mnist", SPLIT_FILES["test"])
    assert found[SPLIT_FILES["test"][0]] == folder / SPLIT_FILES["test"][0]
    assert found[SPLIT_FILES["test"][1]] == folder / f"{SPLIT_FILES['test'][1]}.gz"


def test_missing_files_explain_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_DATA", str(tmp_path))
    touch_files(tmp_path / "mnist", SPLIT_FILES["train"][:1])  # labels missing: this folder does not count
    with pytest.raises(FileNotFoundError) as info:
        locate_files("mnist", SPLIT_FILES["train"], display_name="MNIST")
    message = str(info.value)
    assert message.startswith(f"MNIST: dataset files not found under the data root '{tmp_path}' ($EMBER_DATA)")
    for searched in (tmp_path / "mnist", tmp_path / "MNIST" / "raw", tmp_path):
        assert f"  {searched}\n" in message
    assert "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]" in message
    assert "set EMBER_DATA" in message and "root=" in message and "download=True" in message


def test_unknown_dataset(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        locate_files("cifar", SPLIT_FILES["train"], tmp_path)
