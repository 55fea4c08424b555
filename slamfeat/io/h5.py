"""Feature and match files in hloc's layout.

``features.h5``: one group per image name with ``keypoints`` (N×2 float32, pixel centres),
``scores`` (N float32), ``descriptors`` (D×N float32, transposed as hloc stores them) and
``image_size`` (w, h); a group attribute ``binary`` marks bit descriptors.

``matches.h5``: one group per pair ``name0/name1`` (a ``/`` inside an image name becomes ``-``,
as hloc does), datasets ``matches0`` (N0 int32, −1 unmatched) and ``matching_scores0`` (N0 float32).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator

import h5py
import numpy as np
import torch

from ..errors import BadInput
from ..features.base import Features
from .files import atomic_path, output_dir


def pair_key(name0: str, name1: str) -> str:
    """The group path of a pair in ``matches.h5``."""
    return f"{name0.replace('/', '-')}/{name1.replace('/', '-')}"


def _open(path: str | os.PathLike, what: str) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such {what} file")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise BadInput(f"{path}: not a readable HDF5 {what} file") from None


def write_features_group(f: h5py.File, name: str, feats: Features, image_digest: str | None = None) -> None:
    """Write one image's features into an open h5 file (replacing an earlier group).

    The group records ``image_sha1`` (the image file's content fingerprint, when given) and
    ``features_id``, a fingerprint of the features themselves, which the matches made from them
    record in turn.
    """
    if name in f:
        del f[name]
    g = f.create_group(name)
    a = feats.numpy()
    digest = hashlib.sha1()
    for key in ("keypoints", "scores", "descriptors"):
        digest.update(np.ascontiguousarray(a[key], dtype=np.float32).tobytes())
    g.attrs["features_id"] = digest.hexdigest()
    if image_digest is not None:
        g.attrs["image_sha1"] = image_digest
    g.create_dataset("keypoints", data=a["keypoints"].astype(np.float32))
    g.create_dataset("scores", data=a["scores"].astype(np.float32))
    g.create_dataset("descriptors", data=np.ascontiguousarray(a["descriptors"].T.astype(np.float32)))
    g.create_dataset("image_size", data=a["image_size"])
    g.attrs["binary"] = bool(feats.binary)


def write_features(path: str | os.PathLike, features: Iterable[tuple[str, Features]], append: bool = False) -> None:
    """Write ``(name, Features)`` pairs to ``path`` atomically; ``append`` keeps earlier groups."""
    with atomic_path(path) as tmp:
        if append and Path(path).is_file():
            shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a" if append else "w") as f:
            for name, feats in features:
                write_features_group(f, name, feats)


def _read_features_group(g: h5py.Group, name: str, path) -> Features:
    try:
        kp_raw = g["keypoints"][()]
        if kp_raw.size and (kp_raw.ndim != 2 or kp_raw.shape[1] != 2):
            raise BadInput(f"{path}: image {name!r} has keypoints of shape {'×'.join(map(str, kp_raw.shape))}, "
                           "expected N×2 (x, y)")
        kp = torch.from_numpy(kp_raw.astype(np.float32)).reshape(-1, 2)
        sc = torch.from_numpy(g["scores"][()].astype(np.float32)).reshape(-1)
        de_raw = g["descriptors"][()]
        if de_raw.size and de_raw.ndim != 2:
            raise BadInput(f"{path}: image {name!r} has descriptors of shape {'×'.join(map(str, de_raw.shape))}, "
                           "expected D×N")
        de = torch.from_numpy(np.ascontiguousarray(de_raw.astype(np.float32).T))
        size = tuple(int(v) for v in g["image_size"][()]) if "image_size" in g else (0, 0)
    except KeyError as e:
        raise BadInput(f"{path}: image {name!r} lacks dataset {e}") from None
    if de.shape[0] != kp.shape[0]:
        if de.numel() == 0:
            de = de.reshape(kp.shape[0], -1)
        else:
            raise BadInput(f"{path}: image {name!r} has {kp.shape[0]} keypoints but {de.shape[0]} descriptors")
    return Features(kp, sc, de, size, bool(g.attrs.get("binary", False)))


def read_features(path: str | os.PathLike, names: Iterable[str] | None = None) -> dict[str, Features]:
    """Features of ``names`` (all images when None) from a ``features.h5``.

    Raises:
        BadInput: the file is unreadable or lacks a requested image.
    """
    out = {}
    with _open(path, "features") as f:
        wanted = list(names) if names is not None else list_feature_names(f)
        for name in wanted:
            if name not in f or "keypoints" not in f[name]:
                raise BadInput(f"{path}: no features for image {name!r}")
            out[name] = _read_features_group(f[name], name, path)
    return out


def list_feature_names(f: h5py.File) -> list[str]:
    """Names of all image groups (nested names like ``seq/1.ppm`` included)."""
    names = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "keypoints" in obj:
            names.append(name)
    f.visititems(visit)
    return names


def feature_names(path: str | os.PathLike) -> list[str]:
    """Names of the images of a ``features.h5``."""
    with _open(path, "features") as f:
        return list_feature_names(f)


def write_matches_group(f: h5py.File, name0: str, name1: str, matches0: np.ndarray, scores0: np.ndarray,
                        features_ids: tuple[str, str] | None = None) -> None:
    """Write one pair's matches (replacing an earlier group); ``features_ids`` records which
    features of the two images they were made from."""
    key = pair_key(name0, name1)
    if key in f:
        del f[key]
    g = f.create_group(key)
    if features_ids is not None:
        g.attrs["features0"], g.attrs["features1"] = features_ids
    g.create_dataset("matches0", data=np.asarray(matches0, dtype=np.int32))
    g.create_dataset("matching_scores0", data=np.asarray(scores0, dtype=np.float32))


def read_matches(path: str | os.PathLike, name0: str, name1: str) -> tuple[np.ndarray, np.ndarray]:
    """``matches0`` (N0 int32, −1 unmatched) and ``matching_scores0`` of one pair."""
    with _open(path, "matches") as f:
        key = pair_key(name0, name1)
        if key not in f:
            raise BadInput(f"{path}: no matches for pair {name0} {name1}")
        return f[key]["matches0"][()], f[key]["matching_scores0"][()]


def existing_pairs(path: str | os.PathLike) -> set[str]:
    """Pair keys already present in a matches file (empty when there is none)."""
    if not Path(path).is_file():
        return set()
    keys = set()
    with _open(path, "matches") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and "matches0" in obj:
                keys.add(name)
        f.visititems(visit)
    return keys


def iter_features(path: str | os.PathLike) -> Iterator[tuple[str, Features]]:
    with _open(path, "features") as f:
        for name in list_feature_names(f):
            yield name, _read_features_group(f[name], name, path)


def start_partial(out: str | os.PathLike, keys_of: Callable[[Path], set[str] | list[str]],
                  overwrite: bool = False) -> tuple[Path, set[str]]:
    """The file ``OUT.partial`` to write into, and the keys it already holds (none when
    ``overwrite``: every key is written again).

    A long job writes its results there and renames it onto ``out`` at the end, so a stopped run
    resumes from what it had done, and ``out`` itself is never half-written. ``keys_of(path)``
    lists the keys of a file (raising :class:`BadInput` for a file of the wrong kind). A partial
    file cut short mid-write is started again from ``out``.
    """
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    try:
        done = set(keys_of(partial)) if partial.is_file() else None
    except Exception:  # h5py raises various types for a file cut short: start again
        done = None
    if done is None:
        if partial.exists():
            partial.unlink()
        output_dir(out.parent)
        if out.is_file():
            keys_of(out)
            shutil.copyfile(out, partial)
            done = set(keys_of(partial))
        else:
            h5py.File(partial, "w").close()
            done = set()
    return partial, (set() if overwrite else done)


def start_shard(path: str | os.PathLike, keys_of: Callable[[Path], set[str] | list[str]],
                overwrite: bool = False) -> set[str]:
    """Keys already in the shard file ``path`` of a multi-process run (created empty when missing,
    unreadable, or when ``overwrite``); see :mod:`slamfeat.distributed`."""
    path = Path(path)
    done = None
    if path.is_file() and not overwrite:
        try:
            done = set(keys_of(path))
        except Exception:  # a file cut short mid-write: start the shard again
            done = None
    if done is None:
        output_dir(path.parent)
        h5py.File(path, "w").close()
        done = set()
    return done


def _copy_group(src: h5py.File, dst: h5py.File, key: str) -> None:
    if key in dst:
        del dst[key]
    parent, _, leaf = key.rpartition("/")
    src.copy(src[key], dst.require_group(parent) if parent else dst, name=leaf)


def merge_shards(out: str | os.PathLike, shards: Iterable[Path],
                 keys_of: Callable[[Path], set[str] | list[str]], maker: dict | None = None,
                 overwrite: bool = False, what: str = "features") -> int:
    """Copy every group of the shard files into ``out`` (its earlier groups kept), atomically.

    The groups are copied as stored (same datasets, types and attributes); ``out`` is written as
    ``OUT.partial`` and renamed, and the shard files are removed once it is in place. Returns the
    number of groups copied. ``maker`` is recorded in ``out`` (see :func:`record_maker`).
    """
    shards = [Path(s) for s in shards]
    partial, _ = start_partial(out, keys_of)
    copied = 0
    with h5py.File(partial, "a") as dst:
        if maker is not None:
            record_maker(dst, maker, out, overwrite, what)
        for shard in shards:
            if not shard.is_file():
                continue
            keys = sorted(keys_of(shard))
            with h5py.File(shard, "r") as src:
                for key in keys:
                    _copy_group(src, dst, key)
            copied += len(keys)
    os.replace(partial, out)
    for shard in shards:
        shard.unlink(missing_ok=True)
    return copied


def check_maker(f: h5py.File, maker: dict, path: str | os.PathLike, what: str) -> None:
    """Raise :class:`BadInput` when an open output file records another maker than ``maker``
    (the settings of the extractor or matcher that made it) and holds results."""
    before = f.attrs.get("made_by")
    if before is not None and len(f) and before != json.dumps(maker, sort_keys=True, default=str):
        raise BadInput(f"{path}: holds {what} made with {difference(json.loads(before), maker)}; "
                       "write to another file, or overwrite it")


def record_maker(f: h5py.File, maker: dict, path: str | os.PathLike, overwrite: bool, what: str) -> None:
    """Record in an open output file what made it (``maker``: the extractor's or matcher's settings).

    A file that records another maker is emptied when ``overwrite``, else refused: its earlier
    results would sit beside new ones made otherwise.

    Raises:
        BadInput: the file holds results of another maker (without ``overwrite``).
    """
    now = json.dumps(maker, sort_keys=True, default=str)
    if not overwrite:
        check_maker(f, maker, path, what)
    elif f.attrs.get("made_by", now) != now:
        for key in list(f):
            del f[key]
    f.attrs["made_by"] = now


def difference(before: dict, now: dict, prefix: str = "") -> str:
    """The first setting that differs between two makers, as ``key OLD (now NEW)``."""
    for key in sorted(set(before) | set(now), key=lambda k: (k not in ("model", "matcher"), k)):
        a, b = before.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            if a != b:
                return difference(a, b, f"{prefix}{key}.")
        elif a != b:
            return f"{prefix}{key} {a} (now {b})"
    return "other settings"
