"""Writing files atomically (a temporary name beside the target, then ``os.replace``) and making
output folders."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..errors import BadInput


def input_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a file to read, ``what`` naming its kind in the messages ("pairs file").

    Raises:
        BadInput: a folder there, or nothing.
    """
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise BadInput(f"{path}: no such {what}")
    return path


def output_dir(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (with its parents) for writing outputs into.

    Raises:
        BadInput: it cannot be created or is not writable.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInput(f"{folder}: cannot create output folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"{folder}: output folder is not writable")
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A failure leaves any earlier file at ``path`` as it was.
    """
    path = Path(path)
    parent = output_dir(path.parent if str(path.parent) else Path("."))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write a JSON report atomically (numpy scalars and tensors become plain numbers)."""
    def default(o):
        if isinstance(o, (np.generic,)):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, torch.Tensor):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o)}")

    write_text_atomic(path, json.dumps(obj, indent=2, default=default) + "\n")
