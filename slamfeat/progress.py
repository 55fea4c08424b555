"""Progress bars: tqdm, shown only once a task has run for about two seconds."""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str, total: int | None = None, **kwargs) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr that appears after two seconds."""
    return tqdm(iterable, desc=desc, total=total, delay=2.0, leave=False, dynamic_ncols=True, **kwargs)
