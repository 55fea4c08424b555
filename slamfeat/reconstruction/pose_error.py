"""Camera-pose error of a reconstruction against ground truth, after a Sim(3) alignment.

Poses are camera-to-world ``4×4`` matrices in OpenCV camera axes (x right, y down, z forward),
the axes COLMAP uses too; only the images present in both sets are compared.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import BadInput
from ..geometry.alignment import rotation_alignment, scale_translation, umeyama_sim3
from ..geometry.pose import rotation_angle_deg


def trajectory_extent(centres: np.ndarray) -> float:
    """Diagonal of the bounding box of ``N×3`` camera centres (the trajectory's size)."""
    return float(np.linalg.norm(centres.max(0) - centres.min(0))) if len(centres) else 0.0


def aligned_pose_error(estimate: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray]) -> dict | None:
    """Median position and rotation errors of estimated camera poses after a Sim(3) alignment.

    Positions: the similarity ``s, R, t`` that maps the estimated camera centres onto the true
    ones (Umeyama's least squares) is applied to the estimated centres. Rotations: the estimated
    orientations are first turned by the rotation that best aligns them all (their chordal mean),
    because centres alone leave the rotation about the axis of a straight trajectory undetermined.

    Args:
        estimate: image name → ``4×4`` camera-to-world pose of the reconstruction (any scale).
        truth: image name → ``4×4`` camera-to-world ground-truth pose.

    Returns:
        ``{"images", "median_position_error" (truth units), "median_position_error_rel"
        (÷ the true trajectory's extent), "max_position_error", "median_rotation_error_deg",
        "max_rotation_error_deg", "scale"}``; None when fewer than 3 images are shared or
        the estimated centres all lie on one point.
    """
    names = sorted(set(estimate) & set(truth))
    if len(names) < 3:
        return None
    est = np.stack([np.asarray(estimate[n], dtype=np.float64) for n in names])
    gt = np.stack([np.asarray(truth[n], dtype=np.float64) for n in names])
    R_align = rotation_alignment(est[:, :3, :3], gt[:, :3, :3])
    try:
        R, t, s = umeyama_sim3(est[:, :3, 3], gt[:, :3, 3])
    except BadInput:  # centres on a line: take the rotation of the orientations
        R = R_align
        s, t = scale_translation(est[:, :3, 3] @ R.T, gt[:, :3, 3])
    if not s > 0:
        return None  # all estimated centres on one point
    centres = s * est[:, :3, 3] @ R.T + t
    position = np.linalg.norm(centres - gt[:, :3, 3], axis=1)
    rotation = rotation_angle_deg(np.swapaxes(gt[:, :3, :3], 1, 2) @ (R_align @ est[:, :3, :3]))
    extent = trajectory_extent(gt[:, :3, 3])
    return {"images": len(names),
            "median_position_error": float(np.median(position)),
            "median_position_error_rel": float(np.median(position) / extent) if extent > 0 else None,
            "max_position_error": float(position.max()),
            "median_rotation_error_deg": float(np.median(rotation)),
            "max_rotation_error_deg": float(rotation.max()),
            "scale": float(s)}
