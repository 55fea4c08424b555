"""Run pycolmap's mapper on a database and report on the largest model it finds."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pycolmap

from ..progress import progress
from .model import camera_poses, largest_model, model_statistics, save_model
from .pose_error import pose_error

MAPPERS = ("incremental", "global")


COLMAP_INIT_MAX_ERROR = 4.0  # COLMAP's own bound on the initial pair's two-view error (px)


def run_mapper(database: str | os.PathLike, image_dir: str | os.PathLike, mapper: str = "incremental",
               num_images: int | None = None, seed: int = 0, refine_intrinsics: bool = True,
               init_max_error: float = COLMAP_INIT_MAX_ERROR) -> pycolmap.Reconstruction | None:
    """Map a database with pycolmap's ``incremental_mapping`` or ``global_mapping`` (GLOMAP).

    ``refine_intrinsics=False`` keeps the cameras of the database fixed (known calibration): on
    short sequences with a small baseline, refining the focal length can collapse it.
    ``init_max_error`` (px) bounds the two-view error of the incremental mapper's initial pair;
    when no initial pair passes a bound tighter than COLMAP's, its bound is tried next.

    Returns:
        the model with the most registered images, None when nothing could be reconstructed.
    """
    with tempfile.TemporaryDirectory(prefix="slamfeat-sparse-") as sparse:
        if mapper == "global":
            options = pycolmap.GlobalPipelineOptions(random_seed=seed, min_model_size=3)
            options.mapper.bundle_adjustment.refine_focal_length = refine_intrinsics
            options.mapper.bundle_adjustment.refine_extra_params = refine_intrinsics
            return largest_model(pycolmap.global_mapping(database, image_dir, sparse, options=options))
        if mapper != "incremental":
            raise ValueError(f"mapper {mapper!r}: expected one of {MAPPERS}")
        options = pycolmap.IncrementalPipelineOptions(
            random_seed=seed, min_model_size=3, ba_refine_focal_length=refine_intrinsics,
            ba_refine_extra_params=refine_intrinsics)
        for bound in dict.fromkeys([init_max_error, max(init_max_error, COLMAP_INIT_MAX_ERROR)]):
            options.mapper.init_max_error = bound
            with progress(None, "mapping", total=num_images) as bar:
                models = pycolmap.incremental_mapping(database, image_dir, sparse, options=options,
                                                      next_image_callback=lambda: bar.update(1))
            if largest_model(models) is not None:
                break
        return largest_model(models)


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
        report["pose_error"] = pose_error(camera_poses(model), truth) if model is not None else None
    report["export_s"] = time.perf_counter() - t0
    return report
