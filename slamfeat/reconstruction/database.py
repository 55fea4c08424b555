"""A COLMAP database from slamfeat's features.h5 and matches.h5, written with ``pycolmap.Database``.

Images and cameras are imported by pycolmap (``import_images``); keypoints are shifted by +0.5 px
from slamfeat's convention ((0, 0) = centre of the top-left pixel) to COLMAP's ((0, 0) = its
top-left corner); the raw matches go in, and :func:`verify_pairs` (pycolmap's two-view
estimation, seeded) adds the two-view geometries (inlier matches) that the mapper uses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import pycolmap

from ..errors import BadInput
from ..io import atomic_path
from ..io.h5 import pair_key

COLMAP_PIXEL_OFFSET = 0.5  # slamfeat pixel centre (0, 0) -> COLMAP corner convention (0.5, 0.5)


def import_images(database: str | os.PathLike, image_dir: str | os.PathLike, names: Sequence[str],
                  camera_model: str = "SIMPLE_RADIAL", single_camera: bool = False,
                  camera_params: str = "") -> dict[str, int]:
    """Add ``names`` (relative to ``image_dir``) and their cameras to a database.

    ``camera_params`` is COLMAP's comma-separated list for ``camera_model`` (COLMAP pixel
    convention), empty to start from a guess that the mapper refines.

    Returns:
        image name → COLMAP image id.
    """
    options = pycolmap.ImageReaderOptions(camera_model=camera_model, camera_params=camera_params)
    mode = pycolmap.CameraMode.SINGLE if single_camera else pycolmap.CameraMode.AUTO
    pycolmap.import_images(database, image_dir, camera_mode=mode, image_names=list(names), options=options)
    with pycolmap.Database.open(database) as db:
        ids = {image.name: image.image_id for image in db.read_all_images()}
    missing = [n for n in names if n not in ids]
    if missing:
        raise BadInput(f"{Path(image_dir) / missing[0]}: pycolmap could not import this image")
    return ids


def write_database(database: str | os.PathLike, image_dir: str | os.PathLike, names: Sequence[str],
                   features_path: str | os.PathLike, matches_path: str | os.PathLike,
                   pairs: Sequence[tuple[str, str]], camera_model: str = "SIMPLE_RADIAL",
                   single_camera: bool = False, camera_params: str = "",
                   verification: pycolmap.TwoViewGeometryOptions | None = None, seed: int = 0) -> dict:
    """Write a complete COLMAP database atomically (an earlier file is replaced only on success).

    Args:
        names: the images, file names relative to ``image_dir``, all present in ``features_path``.
        pairs: the matched image pairs, all present in ``matches_path``.
        verification: options of the geometric verification (COLMAP's defaults when None).
        seed: the random seed of the verification's RANSAC (the same seed gives the same database).

    Returns:
        ``{"matches"}`` and the counts of :func:`database_statistics`.
    """
    database = Path(database)
    with atomic_path(database) as tmp:
        pycolmap.Database.open(tmp).close()  # the empty file becomes a database with COLMAP's tables
        ids = import_images(tmp, image_dir, names, camera_model, single_camera, camera_params)
        with pycolmap.Database.open(tmp) as db, h5py.File(features_path, "r") as features:
            for name in names:
                keypoints = features[name]["keypoints"][()].astype(np.float32).reshape(-1, 2)
                db.write_keypoints(ids[name], keypoints + COLMAP_PIXEL_OFFSET)
        num_matches = _write_matches(tmp, ids, matches_path, pairs)
        options = verification or pycolmap.TwoViewGeometryOptions()
        options.ransac.random_seed = int(seed)
        verify_pairs(tmp, [(ids[a], ids[b]) for a, b in pairs], options)
        stats = {"matches": num_matches, **database_statistics(tmp)}
    return stats


def verify_pairs(database: str | os.PathLike, pairs: Sequence[tuple[int, int]],
                 options: pycolmap.TwoViewGeometryOptions) -> None:
    """Geometric verification of the matches of image-id ``pairs``: the two-view geometry of each
    (inlier matches, F/E/H) is written to the database.

    pycolmap's ``verify_matches`` reads the pairs from a text file split at spaces, so image names
    with spaces would not verify; the same estimation runs here pair by pair from the ids.
    """
    with pycolmap.Database.open(database) as db:
        cameras = {image.image_id: db.read_camera(image.camera_id) for image in db.read_all_images()}
        keypoints: dict[int, np.ndarray] = {}
        seen = set()
        for id0, id1 in pairs:
            key = (min(id0, id1), max(id0, id1))
            if id0 == id1 or key in seen or not db.exists_matches(id0, id1):
                continue
            seen.add(key)
            for i in (id0, id1):
                if i not in keypoints:
                    keypoints[i] = np.asarray(db.read_keypoints(i), np.float64)[:, :2]
            matches = np.asarray(db.read_matches(id0, id1), np.uint32).reshape(-1, 2)
            geometry = pycolmap.estimate_two_view_geometry(cameras[id0], keypoints[id0], cameras[id1], keypoints[id1],
                                                           matches, options)
            db.write_two_view_geometry(id0, id1, geometry)


def database_statistics(database: str | os.PathLike) -> dict:
    """``images``, ``keypoints_per_image``, ``matched_pairs``, ``verified_pairs`` (pairs with a
    two-view geometry) and ``inlier_matches`` of a COLMAP database."""
    with pycolmap.Database.open(database) as db:
        images = db.num_images()
        return {"images": images, "keypoints_per_image": db.num_keypoints() / max(images, 1),
                "matched_pairs": db.num_matched_image_pairs(), "verified_pairs": db.num_verified_image_pairs(),
                "inlier_matches": db.num_inlier_matches()}


def _write_matches(database: Path, ids: dict[str, int], matches_path, pairs) -> int:
    total = 0
    with pycolmap.Database.open(database) as db, h5py.File(matches_path, "r") as f:
        for name0, name1 in pairs:
            id0, id1 = ids[name0], ids[name1]
            if id0 == id1 or db.exists_matches(id0, id1):
                continue  # a pair listed twice, or an image with itself
            matches0 = f[pair_key(name0, name1)]["matches0"][()]
            index0 = np.flatnonzero(matches0 >= 0)
            matches = np.stack([index0, matches0[index0]], 1).astype(np.uint32)
            db.write_matches(id0, id1, matches)
            total += len(matches)
    return total


def database_is_complete(database: str | os.PathLike, names: Sequence[str],
                         pairs: Sequence[tuple[str, str]]) -> bool:
    """True when ``database`` holds every image with keypoints and every pair with matches
    (so a second run can reuse it)."""
    if not Path(database).is_file():
        return False
    try:
        with pycolmap.Database.open(database) as db:
            ids = {image.name: image.image_id for image in db.read_all_images()}
            if any(n not in ids or not db.exists_keypoints(ids[n]) for n in names):
                return False
            return all(ids[a] == ids[b] or db.exists_matches(ids[a], ids[b]) for a, b in pairs)
    except Exception:  # not a database pycolmap can read: it is rebuilt
        return False
