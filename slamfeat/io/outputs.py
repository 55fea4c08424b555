"""Guarding outputs before the work starts, and recording what made them.

- :func:`check_distinct`: no output may be another output or an input (``--json`` onto the
  features file would replace it).
- :func:`output_file` / :func:`output_folder`: the place can be written (not a folder where a file
  goes, not a file where a folder goes, a writable parent), checked before a long job runs.
- :func:`output_lock`: a lock file ``OUT.lock`` beside an output; a second run on the same output
  is refused with one line instead of both writing into it.
- :func:`file_digest`: the content fingerprint of an input (images, weights) that an output
  records, so a resumed run can tell what still matches.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from ..errors import BadInput


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_distinct(outputs: Mapping[str, str | os.PathLike | None],
                   inputs: Mapping[str, str | os.PathLike | Iterable[str | os.PathLike] | None] = {}) -> None:
    """Raise :class:`BadInput` when two outputs are one path, or an output is an input.

    Args:
        outputs: what each output is (``"features file"``) → its path (None = not written).
        inputs: what each input is → its path or paths (None = not given).
    """
    outs = [(what, Path(p)) for what, p in outputs.items() if p is not None]
    for i, (what, path) in enumerate(outs):
        for other, path2 in outs[i + 1:]:
            if _same(path, path2):
                raise BadInput(f"{path}: given as both the {what} and the {other}; give two different paths")
    for what_in, value in inputs.items():
        if value is None:
            continue
        paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        for p in map(Path, paths):
            for what, path in outs:
                if _same(path, p):
                    raise BadInput(f"{path}: the {what} would overwrite the {what_in}; give another output path")


def _writable_parent(path: Path, what: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise BadInput(f"{path}: cannot write the {what}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"{path}: cannot write the {what}: {existing} is not writable")


def output_file(path: str | os.PathLike, what: str = "output") -> Path:
    """Check that a file can be written at ``path`` (before the work that makes it).

    Raises:
        BadInput: ``path`` is a folder, or its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{path}: is a folder; the {what} is a file: give a file name")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
        raise BadInput(f"{path}: the {what} is not writable")
    _writable_parent(path, what)
    return path


def output_folder(path: str | os.PathLike, what: str = "output folder", create: bool = True) -> Path:
    """Check (and create) a folder that outputs are written into.

    Raises:
        BadInput: ``path`` is a file, or cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadInput(f"{path}: is a file; the {what} must be a folder")
    _writable_parent(path, what)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"{path}: cannot create the {what} ({e.strerror})") from None
    if path.exists() and not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"{path}: the {what} is not writable")
    return path


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of an output: ``OUT.lock`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(lock: Path) -> tuple[int | None, str]:
    try:
        fields = lock.read_text().split()
        return int(fields[0]), fields[1] if len(fields) > 1 else ""
    except (OSError, ValueError, IndexError):
        return None, ""


@contextlib.contextmanager
def output_lock(output: str | os.PathLike) -> Iterator[Path]:
    """Hold ``OUT.lock`` while a run writes ``output``.

    The lock file holds the process id and host of the run. A lock whose process is gone (on this
    host) is taken over; a live one makes this run stop before it touches anything.

    Raises:
        BadInput: another run holds the lock.
    """
    lock = lock_path(output)
    _writable_parent(lock, "lock file")
    lock.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid, where = _holder(lock)
            if pid is not None and where == host and not _alive(pid):
                lock.unlink(missing_ok=True)  # left by a run that was killed
                continue
            raise BadInput(f"{output}: in use by another slamfeat run (pid {pid} on {where or 'unknown host'}); "
                           f"wait for it, or delete {lock} if no run is writing there") from None
        except OSError as e:
            raise BadInput(f"{lock}: cannot create the lock file ({e.strerror})") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {host}\n")
        break
    else:
        raise BadInput(f"{output}: in use by another slamfeat run (delete {lock} if none is running)")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-1 of a file's bytes (the content fingerprint recorded beside what was made from it)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


__all__ = ["check_distinct", "output_file", "output_folder", "output_lock", "lock_path", "file_digest"]
