"""Matching every listed pair of a ``features.h5`` into a ``matches.h5`` (hloc's layouts).

A reader thread loads the features of the next batch while the matcher runs on this one, so the
matcher sets the pace. Results go to ``OUT.partial`` beside the output and are renamed onto it
at the end: an earlier output stays as it was if the run fails, and a run that was interrupted
resumes from the partial file (pairs already there are skipped, as are those in the output,
unless ``overwrite``). Under ``torchrun`` each process matches its share of the pairs into its
own shard file and rank 0 merges them (:mod:`slamfeat.distributed`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, Sequence

import h5py
import numpy as np
import torch

from ..distributed import current_shard
from ..errors import BadInput
from ..features import resolve_device
from ..features.base import Features
from ..io.h5 import (_read_features_group, check_maker, existing_pairs, list_feature_names, merge_shards, pair_key,
                     record_maker, start_partial, start_shard, write_matches_group)
from ..io.outputs import output_file, output_lock
from ..io.pairs import read_pairs
from ..progress import progress
from .matcher import MATCHERS, Matcher, MatcherConfig

_CACHE_IMAGES = 512  # features kept in memory between batches (pairs share images)


class _FeatureReader:
    """Features by image name from an open ``features.h5``, cached, checked once."""

    def __init__(self, path: Path, f: h5py.File):
        self.path, self.f = path, f
        self.cache: OrderedDict[str, Features] = OrderedDict()

    def __getitem__(self, name: str) -> Features:
        if name in self.cache:
            self.cache.move_to_end(name)
            return self.cache[name]
        feats = _read_features_group(self.f[name], name, self.path)
        if feats.descriptors.numel() and not bool(torch.isfinite(feats.descriptors).all()):
            raise BadInput(f"{self.path}: image {name!r} has NaN or infinite descriptors")
        self.cache[name] = feats
        if len(self.cache) > _CACHE_IMAGES:
            self.cache.popitem(last=False)
        return feats


def _descriptor_kind(f: h5py.File, name: str) -> tuple[int, bool] | None:
    """(D, binary) of an image's descriptors from the file's metadata; None without keypoints."""
    g = f[name]
    if "descriptors" not in g or g["keypoints"].shape[0] == 0:
        return None
    return int(g["descriptors"].shape[0]), bool(g.attrs.get("binary", False))


def _check_pairs(path: Path, f: h5py.File, pairs: Sequence[tuple[str, str]]) -> None:
    """Every named image is in the file, and the two sides of each pair have alike descriptors."""
    names = set(list_feature_names(f))
    kinds: dict[str, tuple[int, bool] | None] = {}
    for n0, n1 in pairs:
        for n in (n0, n1):
            if n not in names:
                raise BadInput(f"{path}: no features for image {n!r} named in the pairs")
            if n not in kinds:
                kinds[n] = _descriptor_kind(f, n)
        k0, k1 = kinds[n0], kinds[n1]
        if k0 is not None and k1 is not None and k0 != k1:
            what = "descriptor types (binary and float)" if k0[1] != k1[1] else "descriptor sizes"
            raise BadInput(f"{path}: pair {n0} {n1}: {what} differ between the two sides "
                           f"({k0[0]}{' bits' if k0[1] else ''} and {k1[0]}{' bits' if k1[1] else ''})")


def _batches(reader: _FeatureReader, pairs: Sequence[tuple[str, str]], batch_size: int) -> Iterator[list]:
    for s in range(0, len(pairs), batch_size):
        yield [(n0, n1, reader[n0], reader[n1]) for n0, n1 in pairs[s:s + batch_size]]


def _prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run ``iterator`` in a thread, ``depth`` items ahead; its exceptions surface here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in iterator:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as e:  # handed to the consumer
            q.put(e)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a waiting put
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def _up_to_date(f: h5py.File, pair: tuple[str, str], ids: dict[str, str]) -> bool:
    """The pair is in the matches file, made from the features the features file holds now."""
    key = pair_key(*pair)
    if key not in f or "matches0" not in f[key]:
        return False
    attrs = f[key].attrs
    return (str(attrs.get("features0", "")), str(attrs.get("features1", ""))) == (ids[pair[0]], ids[pair[1]])


def match_h5(features_path: str | os.PathLike, pairs: str | os.PathLike | Sequence[tuple[str, str]],
             out_path: str | os.PathLike, *, matcher: str | MatcherConfig = "nn", overwrite: bool = False, batch_size: int = 16,
             device: str | torch.device | None = None, features_model: str | None = None,
             **options: Any) -> dict[str, Any]:
    """Match the listed pairs of ``features_path`` into ``out_path`` (``matches.h5``).

    Args:
        features_path: a ``features.h5``.
        pairs: a pairs file (``name0 name1`` a line) or a list of name pairs.
        out_path: the ``matches.h5`` to write (pairs already there are kept and skipped).
        matcher: ``nn`` (:func:`match_batch`) or ``lightglue``, or a whole :class:`MatcherConfig`.
        overwrite: match pairs already in the output again.
        batch_size: pairs per batch.
        device: ``auto``, ``cpu``, ``cuda`` (None = auto).
        features_model: the extractor that made the features (name or checkpoint path): picks the nn defaults
            (SIFT's ratio test) and LightGlue's weights (a student's: its teacher's).
        options: :class:`MatcherConfig` fields (``mutual``, ``ratio``, ``distance_threshold``,
            ``filter_threshold``, ``weights``, ``max_memory_mb``) when ``matcher`` is a name.

    Returns:
        A report: pairs listed, matched now, skipped, time, pairs per second, mean matches per pair.

    Raises:
        BadInput: unreadable files, a pair naming an image absent from the features file,
            descriptors that differ in size between the two sides or hold NaN.
    """
    if isinstance(matcher, MatcherConfig):
        config = matcher
    else:
        known = set(MatcherConfig.__dataclass_fields__) - {"name"}
        unknown = set(options) - known
        if unknown:
            raise BadInput(f"matcher options {sorted(unknown)}: unknown; known: {sorted(known)}")
        config = MatcherConfig(str(matcher), **options)
    if batch_size < 1:
        raise BadInput(f"batch size {batch_size}: expected ≥ 1")
    features_path, out = Path(features_path), output_file(out_path, "matches file")
    pair_list = read_pairs(pairs) if isinstance(pairs, (str, os.PathLike)) else [tuple(p) for p in pairs]
    pair_list = list(OrderedDict.fromkeys(pair_list))  # each pair once
    dev = resolve_device(device)
    matcher_ = Matcher(config, features_model, dev)  # bad options fail before any file is touched
    if not features_path.is_file():
        raise BadInput(f"{features_path}: no such features file")
    try:
        fin = h5py.File(features_path, "r")
    except OSError:
        raise BadInput(f"{features_path}: not a readable HDF5 features file") from None
    maker = {"matcher": config.name, "options": matcher_.describe()}  # the options in force
    shard = current_shard()
    # one process writes the output: it holds the lock; the ranks of a torchrun share it
    with fin, (output_lock(out) if shard is None else contextlib.nullcontext()):
        _check_pairs(features_path, fin, pair_list)
        ids = {n: str(fin[n].attrs.get("features_id", "")) for pair in pair_list for n in pair}
        if shard is None:
            partial, _ = start_partial(out, existing_pairs, overwrite)
            share = pair_list
        else:  # this rank's share of the pairs, into its own shard file
            partial = shard.path(out)
            start_shard(partial, existing_pairs, overwrite)
            share = shard.take(pair_list)
        reader = _FeatureReader(features_path, fin)
        n_matches, t0 = 0, time.perf_counter()
        with h5py.File(partial, "a") as fout:
            # a shard of another run starts again; the output itself is checked below
            record_maker(fout, maker, out, overwrite or shard is not None, "matches")
            done = set() if overwrite else {p for p in share if _up_to_date(fout, p, ids)}
            if shard is not None and not overwrite and out.is_file():
                with h5py.File(out, "r") as earlier:
                    check_maker(earlier, maker, out, "matches")
                    done |= {p for p in share if _up_to_date(earlier, p, ids)}
            todo = [p for p in share if p not in done]
            bar = progress(_prefetch(_batches(reader, todo, batch_size)), desc="match",
                           total=(len(todo) + batch_size - 1) // batch_size, unit="batch")
            for batch in bar:
                results = matcher_.match_many([(f0, f1) for _, _, f0, f1 in batch], batch_size)
                for (n0, n1, _, _), (m0, s0) in zip(batch, results):
                    write_matches_group(fout, n0, n1, m0.numpy().astype(np.int32), s0.numpy(), (ids[n0], ids[n1]))
                    n_matches += int((m0 >= 0).sum())
                fout.flush()
        elapsed = time.perf_counter() - t0
        if shard is None:
            os.replace(partial, out)
    matched = len(todo)
    if shard is not None:
        shard.barrier()  # every shard complete
        if shard.leader:
            merge_shards(out, shard.all_paths(out), existing_pairs, maker=maker, overwrite=overwrite, what="matches")
        counts = shard.gather((matched, n_matches, elapsed))
        shard.barrier()  # the merged file is in place before any rank returns
        matched, n_matches = sum(c[0] for c in counts), sum(c[1] for c in counts)
        elapsed = max(c[2] for c in counts)
    return {"features": str(features_path), "matches": str(out), "matcher": config.name, "device": str(dev),
            "pairs": len(pair_list), "matched": matched, "skipped": len(pair_list) - matched,
            "time_s": elapsed, "pairs_per_s": matched / elapsed if matched and elapsed > 0 else None,
            "matches_per_pair": n_matches / matched if matched else None, "options": matcher_.describe(),
            "processes": shard.world if shard else 1}
