"""Writing a file so that readers see either the old file or the complete new one, never half of it.

The temporary file beside the target is named ``.{name}.{8 hex digits}.part``. A process killed while writing
leaves one behind; the next save of the same target removes such leftovers (see ``remove_leftovers``).
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary handle on a temporary file beside ``path``; on success fsync it and rename it to ``path``.

    If the block raises, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    remove_leftovers(path, time.time_ns())
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    # os.open with 0o666 lets the umask decide the permissions, as for any file the user creates
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)


def remove_leftovers(path: Path, started_ns: int) -> None:
    """Remove the temporary files that killed saves of ``path`` left beside it.

    Only files named exactly as ``atomic_writer`` names them for this target, owned by this user and last
    modified before ``started_ns`` (the current save's start) are removed; a save running beside this one keeps
    writing to its file, so its modification time stays recent. Errors (a file already gone, a folder that
    cannot be listed) are ignored: cleaning up must never fail a save.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.part")
    folder = path.parent
    user = os.getuid() if hasattr(os, "getuid") else None
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            status = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False) or status.st_mtime_ns >= started_ns:
                continue
            if user is not None and status.st_uid != user:
                continue
            os.unlink(entry.path)
        except OSError:
            continue


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; folders cannot be opened this way on Windows, where rename is durable anyway."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
