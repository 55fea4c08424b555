"""Extract features of many images into a ``features.h5`` (hloc's layout)."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np
import torch

from .distributed import Shard, current_shard
from .errors import BadInput
from .features.base import Extractor, Features
from .io import IMAGE_SUFFIXES, image_to_tensor, list_images, read_image
from .io.h5 import (check_maker, feature_names, merge_shards, record_maker, start_partial, start_shard,
                    write_features_group)
from .io.outputs import file_digest, output_file, output_lock
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
                  overwrite: bool = False, batch_size: int = 1, workers: int = 2,
                  shard: Shard | None = None) -> dict:
    """Extract every image into ``out`` (``features.h5``).

    Worker threads read and decode the images ahead of the network, which runs on batches of up
    to ``batch_size`` images of one size (images are grouped by size, never padded, so a batch
    gives the features that one image at a time gives). Results go to ``OUT.partial``, flushed
    after each batch and renamed onto ``out`` at the end: a stopped run resumes where it was,
    images already in ``out`` are kept unless ``overwrite``, and a failure (an unreadable image)
    leaves an earlier ``out`` as it was.

    The file records what made it (the extractor's name, options, descriptor size and weights
    checksum) and each image's content fingerprint: an image already there is kept only when its
    file is unchanged (else extracted again), and a file made by another extractor is refused
    unless ``overwrite`` (which extracts every image again). ``OUT.lock`` keeps a second run out.

    Inside a ``torchrun`` launch (or with ``shard`` given) this process extracts only its share
    of the images into its own shard file, and rank 0 merges the shards into ``out``
    (:mod:`slamfeat.distributed`).

    Returns:
        ``{"images": n, "extracted": n_new, "keypoints_per_image": mean, "ms_per_image": mean,
        "batch_size": b, "processes": world}``; ``ms_per_image`` is the network's time.

    Raises:
        BadInput: an unreadable image, a batch size or worker count below 1, an ``out`` in use by
        another run or holding another extractor's features.
    """
    if batch_size < 1:
        raise BadInput(f"batch size {batch_size}: expected ≥ 1")
    if workers < 1:
        raise BadInput(f"reader workers {workers}: expected ≥ 1")
    out = output_file(out, "features file")
    shard = shard if shard is not None else current_shard()
    maker = extractor.signature()
    digests = {name: file_digest(path) for name, path in images}
    if shard is None:
        with output_lock(out):
            partial, _ = start_partial(out, feature_names, overwrite)
            with h5py.File(partial, "a") as f:
                record_maker(f, maker, out, overwrite, "features")
                todo = [(n, p) for n, p in images if overwrite or not _unchanged(f, n, digests[n])]
            stats = _extract_into(partial, todo, extractor, batch_size, workers, digests)
            os.replace(partial, out)
    else:
        done_before = set()
        if out.is_file() and not overwrite:
            with h5py.File(out, "r") as f:
                check_maker(f, maker, out, "features")
                done_before = {n for n, _ in images if _unchanged(f, n, digests[n])}
        partial = shard.path(out)
        start_shard(partial, feature_names, overwrite)
        with h5py.File(partial, "a") as f:
            record_maker(f, maker, partial, True, "features")  # a shard of another run starts again
            done = {n for n, _ in images if _unchanged(f, n, digests[n])} | done_before
        todo = [(n, p) for n, p in shard.take(list(images)) if n not in done]
        stats = _extract_into(partial, todo, extractor, batch_size, workers, digests)
        shard.barrier()  # every shard complete
        if shard.leader:
            merge_shards(out, shard.all_paths(out), feature_names, maker=maker, overwrite=overwrite)
        totals = [sum(col) for col in zip(*shard.gather(stats))]
        shard.barrier()  # the merged file is in place before any rank returns
        stats = tuple(totals)
    extracted, keypoints, seconds = stats
    return {"images": len(images), "extracted": extracted,
            "keypoints_per_image": keypoints / extracted if extracted else 0.0,
            "ms_per_image": 1000 * seconds / extracted if extracted else 0.0,
            "batch_size": batch_size, "processes": shard.world if shard else 1}


def _unchanged(f: h5py.File, name: str, digest: str) -> bool:
    """The file holds features of ``name`` made from an image file of this content."""
    return name in f and f[name].attrs.get("image_sha1") == digest


def _extract_into(path: Path, todo: list[tuple[str, Path]], extractor: Extractor, batch_size: int,
                  workers: int, digests: dict[str, str] | None = None) -> tuple[int, int, float]:
    """Extract ``todo`` into the open-able h5 file ``path``: (images, keypoints, network seconds)."""
    stats = [0, 0, 0.0]
    groups: dict[tuple, list[tuple[str, torch.Tensor]]] = {}

    def run(key: tuple) -> None:
        batch = groups.pop(key)
        t0 = time.perf_counter()
        images = torch.cat([t for _, t in batch])
        if extractor.device.type == "cuda":  # one copy from pinned memory, not a pageable one
            images = images.pin_memory().to(extractor.device, non_blocking=True)
        feats = extract_batch(extractor, images)
        stats[2] += time.perf_counter() - t0
        for (name, _), f in zip(batch, feats):
            write_features_group(h5, name, f, (digests or {}).get(name))
            stats[0] += 1
            stats[1] += len(f)
        h5.flush()

    with h5py.File(path, "a") as h5:
        try:
            for name, image in progress(_decoded(todo, workers, lookahead=max(2 * batch_size, 4 * workers)),
                                        "extract", total=len(todo)):
                key = (tuple(image.shape), image.dtype)
                groups.setdefault(key, []).append((name, image))
                if len(groups[key]) >= batch_size:
                    run(key)
                elif sum(map(len, groups.values())) >= _PENDING_BATCHES * batch_size:
                    run(max(groups, key=lambda k: len(groups[k])))  # many sizes: keep memory bounded
        except BadInput:  # an image that fails to read: what was read before it is kept for a resumed run
            for key in list(groups):
                run(key)
            raise
        for key in list(groups):
            run(key)
    return stats[0], stats[1], stats[2]


_PENDING_BATCHES = 4  # images waiting for a batch of their size, in batches


def _load(path: Path) -> torch.Tensor:
    """A ``1×C×H×W`` image: 8-bit images stay bytes (a quarter of the copy to a GPU; the extractor
    scales them by 1/255 there, as :func:`image_to_tensor` does), others floats in ``[0, 1]``."""
    image = read_image(path)
    if image.dtype != np.uint8:
        return image_to_tensor(image)
    channels = image[:, :, None] if image.ndim == 2 else image[:, :, :3]
    return torch.from_numpy(np.ascontiguousarray(channels)).permute(2, 0, 1)[None]


def _decoded(todo: list[tuple[str, Path]], workers: int, lookahead: int) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, 1×C×H×W image)`` in order, read and decoded by ``workers`` threads ``lookahead`` ahead.

    A read error surfaces when its image's turn comes, after the images before it.
    """
    if workers == 1 or len(todo) <= 1:
        for name, path in todo:
            yield name, _load(path)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="slamfeat-read")
    pending: deque = deque()
    items = iter(todo)
    try:
        for name, path in itertools.islice(items, lookahead):
            pending.append((name, pool.submit(_load, path)))
        while pending:
            name, future = pending.popleft()
            following = next(items, None)
            if following is not None:
                pending.append((following[0], pool.submit(_load, following[1])))
            yield name, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def extract_batch(extractor: Extractor, images: torch.Tensor) -> list[Features]:
    """Features of each image of a ``B×C×H×W`` batch (:meth:`Extractor.extract_batch`)."""
    return extractor.extract_batch(images)


def features_up_to_date(path: str | os.PathLike, images: Sequence[tuple[str, Path]], extractor: Extractor) -> bool:
    """True when ``path`` holds features of exactly these images (unchanged files) made by this
    extractor, so nothing needs extracting."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("made_by") != json.dumps(extractor.signature(), sort_keys=True, default=str):
                return False
            return all(_unchanged(f, n, file_digest(p)) for n, p in images)
    except OSError:
        return False


__all__ = ["collect_images", "extract_to_h5", "extract_batch", "features_up_to_date", "IMAGE_SUFFIXES"]
