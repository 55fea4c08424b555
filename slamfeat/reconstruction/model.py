"""What a pycolmap reconstruction holds: its statistics, its camera poses, and saving it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

import numpy as np
import pycolmap

from ..errors import BadInput


def largest_model(models: Mapping[int, pycolmap.Reconstruction]) -> pycolmap.Reconstruction | None:
    """The model with the most registered images (then the most points); a model without any
    3-D point counts as empty. None when there is no model."""
    if not models:
        return None
    return max(models.values(), key=lambda r: (r.num_reg_images() if r.num_points3D() else 0, r.num_points3D()))


def model_statistics(model: pycolmap.Reconstruction | None) -> dict:
    """``registered_images``, ``points3D``, ``mean_reproj_error`` (px), ``mean_track_length``,
    ``mean_observations_per_image`` of a model (zeros and Nones for no model)."""
    if model is None or model.num_reg_images() == 0:
        return {"registered_images": 0, "points3D": 0, "mean_reproj_error": None,
                "mean_track_length": None, "mean_observations_per_image": None}
    return {"registered_images": int(model.num_reg_images()),
            "points3D": int(model.num_points3D()),
            "mean_reproj_error": float(model.compute_mean_reprojection_error()),
            "mean_track_length": float(model.compute_mean_track_length()),
            "mean_observations_per_image": float(model.compute_mean_observations_per_reg_image())}


def camera_poses(model: pycolmap.Reconstruction) -> dict[str, np.ndarray]:
    """Image name → ``4×4`` camera-to-world pose (OpenCV camera axes) of every registered image."""
    poses = {}
    for image_id in model.reg_image_ids():
        image = model.image(image_id)
        T = np.eye(4)
        T[:3] = image.cam_from_world().inverse().matrix()
        poses[image.name] = T
    return poses


def points_to_ply(model: pycolmap.Reconstruction, path: str | os.PathLike) -> int:
    """Write the model's 3-D points with their colours as a PLY point cloud (open3d); returns
    the number of points."""
    import open3d as o3d

    points = list(model.points3D.values())
    cloud = o3d.geometry.PointCloud()
    if points:
        cloud.points = o3d.utility.Vector3dVector(np.stack([p.xyz for p in points]).astype(np.float64))
        cloud.colors = o3d.utility.Vector3dVector(np.stack([p.color for p in points]).astype(np.float64) / 255.0)
    if not points:  # open3d refuses to write an empty cloud
        Path(path).write_text("ply\nformat ascii 1.0\nelement vertex 0\nproperty double x\nproperty double y\n"
                              "property double z\nend_header\n")
    elif not o3d.io.write_point_cloud(str(path), cloud):
        raise OSError(f"{path}: open3d could not write the point cloud")
    return len(points)


def save_model(model: pycolmap.Reconstruction, model_dir: str | os.PathLike, ply_path: str | os.PathLike) -> None:
    """Save ``model`` in COLMAP's binary format in ``model_dir`` (cameras.bin, images.bin,
    points3D.bin, ...) and its points as ``ply_path``; both replace earlier outputs only on success."""
    model_dir, ply_path = Path(model_dir), Path(ply_path)
    tmp_dir = model_dir.with_name(f".{model_dir.name}.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    try:
        tmp_dir.mkdir(parents=True)
    except OSError as e:
        raise BadInput(f"{model_dir.parent}: cannot write the model ({e.strerror})") from None
    tmp_ply = ply_path.with_name(f".{ply_path.stem}.tmp.ply")
    try:
        model.write(tmp_dir)
        points_to_ply(model, tmp_ply)
        shutil.rmtree(model_dir, ignore_errors=True)
        os.replace(tmp_dir, model_dir)
        os.replace(tmp_ply, ply_path)
    finally:  # a failure or Ctrl-C leaves no half-written model behind
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_ply.unlink(missing_ok=True)
