"""Extract features of many images into a ``features.h5`` (hloc's layout)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import h5py

from .errors import BadInput
from .features.base import Extractor
from .h5 import feature_names, start_partial, write_features_group
from .io import IMAGE_SUFFIXES, list_images, read_image
from .progress import progress


def collect_images(inputs: Sequence[str | os.PathLike]) -> list[tuple[str, Path]]:
    """``(name, path)`` for image files and folders given on the command line.

    A folder contributes its images named relative to it; a file is named by its file name.

    Raises:
        BadInput: an input is missing, a folder holds no images, or two images get the same name.
    """
    out: list[tuple[str, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += [(q.name, q) for q in list_images(p)]
        elif p.is_file():
            out.append((p.name, p))
        else:
            raise BadInput(f"{p}: no such image file or folder")
    names = [n for n, _ in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise BadInput(f"two images share the name {sorted(dup)[0]!r}; give them in separate runs")
    if not out:
        raise BadInput("no images given")
    return out


def extract_to_h5(images: Sequence[tuple[str, Path]], extractor: Extractor, out: str | os.PathLike,
                  overwrite: bool = False) -> dict:
    """Extract every image into ``out`` (``features.h5``).

    Results go to ``OUT.partial``, flushed after each image and renamed onto ``out`` at the end:
    a stopped run resumes where it was, images already in ``out`` are kept unless ``overwrite``,
    and a failure (an unreadable image) leaves an earlier ``out`` as it was.

    Returns:
        ``{"images": n, "extracted": n_new, "keypoints_per_image": mean, "ms_per_image": mean}``.
    """
    out = Path(out)
    partial, done = start_partial(out, feature_names, overwrite)
    todo = [(n, p) for n, p in images if n not in done]
    counts, times = [], []
    with h5py.File(partial, "a") as f:
        for name, path in progress(todo, "extract"):
            image = read_image(path)
            t0 = time.perf_counter()
            feats = extractor.extract(image)
            times.append(time.perf_counter() - t0)
            counts.append(len(feats))
            write_features_group(f, name, feats)
            f.flush()
    os.replace(partial, out)
    return {"images": len(images), "extracted": len(todo),
            "keypoints_per_image": sum(counts) / len(counts) if counts else 0.0,
            "ms_per_image": 1000 * sum(times) / len(times) if times else 0.0}


__all__ = ["collect_images", "extract_to_h5", "IMAGE_SUFFIXES"]
