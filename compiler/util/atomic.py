"""Atomic output: write next to the target, then rename, so a failed run leaves nothing half-done.

Nothing the user gave is overwritten unless it is a previous output of the same kind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import EdgecError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_replaceable(path: str | os.PathLike, marker: str = "manifest.json") -> None:
    """Refuse an output path that holds anything but an earlier output (checked before any work)."""
    path = Path(path)
    if path.exists() and not (path.is_dir() and (path / marker).exists()):
        what = "a file" if path.is_file() else "a directory that is not an edgec artifact"
        raise EdgecError(f"output {path} exists and is {what}; choose another -o path (nothing was written)")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, marker: str = "manifest.json") -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds.

    An existing ``path`` is replaced only when it is a directory holding ``marker`` (an earlier
    output); anything else the user has there is refused, never deleted.
    """
    path = Path(path)
    check_replaceable(path, marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "artifact")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
