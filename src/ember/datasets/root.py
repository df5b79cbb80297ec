"""Where datasets live on disk: the data root and the file layouts searched inside it.

The data root is the ``root`` argument, else the ``data_root`` setting of ``ember.config`` (the environment
variable ``EMBER_DATA``), else
``~/.cache/ember/datasets``. A root holds one folder per dataset (``mnist/``, ``fashion-mnist/``) with the
standard file names, gzipped or not. torchvision's layout (``<root>/MNIST/raw/``) is found too, and so is a
root that is itself the dataset folder.
"""
from __future__ import annotations

import os
from pathlib import Path

from .. import config

__all__ = [
    "ENV_VAR", "DEFAULT_ROOT", "SPLIT_FILES", "ALL_FILES", "FOLDERS", "data_root", "dataset_folder",
    "candidate_folders", "locate_files",
]

ENV_VAR = "EMBER_DATA"
DEFAULT_ROOT = Path("~/.cache/ember/datasets")

# split -> (images, labels) file names without the optional ".gz"
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = SPLIT_FILES["train"] + SPLIT_FILES["test"]

# dataset -> (Ember's folder, torchvision's folder), both relative to the data root
FOLDERS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
}


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$EMBER_DATA``, else ``~/.cache/ember/datasets`` (``~`` expanded)."""
    if root is None:
        root = config.get("data_root") or DEFAULT_ROOT
    return Path(root).expanduser()


def _root_origin(root) -> str:
    if root is not None:
        return "the root argument"
    if config.get("data_root"):
        origin = config.source("data_root")
        return origin if origin.startswith("$") else f"the data_root setting ({origin})"
    return "the default; $EMBER_DATA is not set"


def _check_dataset(dataset: str) -> None:
    if dataset not in FOLDERS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(FOLDERS)}")


def dataset_folder(dataset: str, root: str | os.PathLike | None = None) -> Path:
    """The folder Ember downloads ``dataset`` into: ``<data root>/<dataset>`` (``~/.cache/ember/datasets/mnist``)."""
    _check_dataset(dataset)
    return data_root(root) / FOLDERS[dataset][0]


def candidate_folders(dataset: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for ``dataset``'s files, in order."""
    _check_dataset(dataset)
    base = data_root(root)
    ember_folder, torchvision_folder = FOLDERS[dataset]
    return [base / ember_folder, base / torchvision_folder, base]


def _find(folder: Path, name: str) -> Path | None:
    # the uncompressed file first: it reads faster
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def locate_files(
    dataset: str, names, root: str | os.PathLike | None = None, display_name: str | None = None
) -> dict[str, Path]:
    """Find the files ``names`` (without ``.gz``) of ``dataset``: one folder that holds them all.

    Returns ``{name: path}``. Raises ``FileNotFoundError`` listing the folders searched and how to fix it.
    """
    names = tuple(names)
    folders = candidate_folders(dataset, root)
    for folder in folders:
        found = {name: _find(folder, name) for name in names}
        if all(path is not None for path in found.values()):
            return found
    display_name = display_name or dataset
    searched = "\n".join(f"  {folder}" for folder in folders)
    wanted = ", ".join(f"{name}[.gz]" for name in names)
    raise FileNotFoundError(
        f"{display_name}: dataset files not found under the data root '{data_root(root)}' "
        f"({_root_origin(root)}).\n"
        f"Looked for {wanted} in:\n{searched}\n"
        f"To fix: set {ENV_VAR} to a folder that holds {FOLDERS[dataset][0]}/, pass root=<that folder>, "
        f"or pass download=True to fetch the files into {dataset_folder(dataset, root)}."
    )
