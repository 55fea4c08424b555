"""Run pycolmap's mapper on a database and report on the largest model it finds."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pycolmap

from ..progress import progress
from .model import camera_poses, largest_model, model_statistics, save_model
from .pose_error import aligned_pose_error

MAPPERS = ("incremental", "global")


COLMAP_INIT_MAX_ERROR = 4.0  # COLMAP's own bound on the initial pair's two-view error (px)


INITIAL_PAIR_RETRIES = 3  # further initial pairs tried when the first model leaves images out


def run_mapper(database: str | os.PathLike, image_dir: str | os.PathLike, mapper: str = "incremental",
               num_images: int | None = None, seed: int = 0, refine_intrinsics: bool = True,
               init_max_error: float = COLMAP_INIT_MAX_ERROR,
               retries: int = INITIAL_PAIR_RETRIES) -> pycolmap.Reconstruction | None:
    """Map a database with pycolmap's ``incremental_mapping`` or ``global_mapping`` (GLOMAP).

    The run is repeatable: the mapper's random seed is ``seed`` and it runs on one thread (the
    order in which threads finish would otherwise change the model from run to run).
    ``refine_intrinsics=False`` keeps the cameras of the database fixed (known calibration): on
    short sequences with a small baseline, refining the focal length can collapse it.
    ``init_max_error`` (px) bounds the two-view error of the incremental mapper's initial pair;
    when no initial pair passes a bound tighter than COLMAP's, its bound is tried next. When the
    best model leaves images out, up to ``retries`` more runs start from the next best-verified
    image pairs, and the model with the most registered images wins.

    Returns:
        the model with the most registered images, None when nothing could be reconstructed.
    """
    with tempfile.TemporaryDirectory(prefix="slamfeat-sparse-") as sparse:
        if mapper == "global":
            options = pycolmap.GlobalPipelineOptions(random_seed=seed, min_model_size=3, num_threads=1)
            options.mapper.bundle_adjustment.refine_focal_length = refine_intrinsics
            options.mapper.bundle_adjustment.refine_extra_params = refine_intrinsics
            return largest_model(pycolmap.global_mapping(database, image_dir, sparse, options=options))
        if mapper != "incremental":
            raise ValueError(f"mapper {mapper!r}: expected one of {MAPPERS}")
        options = pycolmap.IncrementalPipelineOptions(
            random_seed=seed, num_threads=1, min_model_size=3, ba_refine_focal_length=refine_intrinsics,
            ba_refine_extra_params=refine_intrinsics)
        options.mapper.random_seed = seed
        options.mapper.num_threads = 1
        best = None
        for bound in dict.fromkeys([init_max_error, max(init_max_error, COLMAP_INIT_MAX_ERROR)]):
            options.mapper.init_max_error = bound
            best = _better(best, _map_once(database, image_dir, sparse, options, num_images))
            if best is not None:
                break
        if best is None or (num_images is not None and best.num_reg_images() < num_images):
            tried = {_initial_pair(best)} if best is not None else set()
            for pair in [p for p in strongest_pairs(database) if p not in tried][:retries]:
                options.init_image_id1, options.init_image_id2 = pair
                best = _better(best, _map_once(database, image_dir, sparse, options, num_images))
                if num_images is not None and best is not None and best.num_reg_images() >= num_images:
                    break
        return best


def _map_once(database, image_dir, sparse, options, num_images) -> pycolmap.Reconstruction | None:
    shutil.rmtree(sparse, ignore_errors=True)
    os.makedirs(sparse, exist_ok=True)
    with progress(None, "mapping", total=num_images) as bar:
        models = pycolmap.incremental_mapping(database, image_dir, sparse, options=options,
                                              next_image_callback=lambda: bar.update(1))
    return largest_model(models)


def _registered(model: pycolmap.Reconstruction | None) -> tuple[int, int]:
    if model is None or model.num_points3D() == 0:
        return (0, 0)
    return (model.num_reg_images(), model.num_points3D())


def _better(a, b):
    """The model with more registered images (then more points); the earlier one on a tie."""
    return b if _registered(b) > _registered(a) else a


def _initial_pair(model: pycolmap.Reconstruction) -> tuple[int, int] | None:
    ids = sorted(model.reg_image_ids())
    return tuple(ids[:2]) if len(ids) >= 2 else None


def strongest_pairs(database: str | os.PathLike) -> list[tuple[int, int]]:
    """Image-id pairs of the database, most verified inlier matches first (ties by ids)."""
    with pycolmap.Database.open(database) as db:
        pair_ids, counts = db.read_two_view_geometry_num_inliers()
    pairs = [(int(n), tuple(int(i) for i in pycolmap.pair_id_to_image_pair(p))) for p, n in zip(pair_ids, counts)]
    return [pair for n, pair in sorted(pairs, key=lambda x: (-x[0], x[1])) if n > 0]


def summarise(model: pycolmap.Reconstruction | None, out_dir: str | os.PathLike,
              truth: Mapping[str, np.ndarray] | None = None) -> dict:
    """Save the model as ``out_dir/model/`` (COLMAP binary) and ``out_dir/points.ply`` and return
    its statistics, with ``pose_error`` when ``truth`` (name → 4×4 camera-to-world) is given."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    if model is not None and model.num_points3D() == 0:
        model = None
    report = model_statistics(model)
    if model is not None and model.num_points3D() > 0:
        save_model(model, out_dir / "model", out_dir / "points.ply")
        report["outputs"] = {"model": str(out_dir / "model"), "ply": str(out_dir / "points.ply")}
    if truth is not None:
        report["pose_error"] = aligned_pose_error(camera_poses(model), truth) if model is not None else None
    report["export_s"] = time.perf_counter() - t0
    return report
