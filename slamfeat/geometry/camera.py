"""Pinhole cameras: intrinsics, projection, depth sampling and depth-based keypoint warping.

Conventions (all of :mod:`slamfeat.geometry`):

- Pixels ``(x, y)``, ``(0, 0)`` = centre of the top-left pixel; the image centre of a ``W×H``
  image is at ``((W - 1) / 2, (H - 1) / 2)``.
- Camera axes are OpenCV's: x right, y down, z forward (along the optical axis).
- ``T_world_cam`` is a ``4×4`` camera-to-world transform: ``X_world = T_world_cam @ X_cam``.
- ``T_0to1`` maps coordinates in camera 0 to coordinates in camera 1: ``X_1 = T_0to1 @ X_0``.
- Depth is planar: the z coordinate of the point in the camera frame, in metres.
"""

from __future__ import annotations

import numpy as np

from ..errors import BadInput
from .pose import transform


def check_fov(fov_deg: float) -> float:
    """The one check of a horizontal field of view: a number of degrees in (0, 180).

    Raises:
        BadInput: naming the value.
    """
    try:
        value = float(fov_deg)
    except (TypeError, ValueError):
        raise BadInput(f"field of view {fov_deg!r}: not a number of degrees", option="fov") from None
    if not 0.0 < value < 180.0:
        raise BadInput(f"field of view {value:g}°: must be between 0 and 180 degrees (exclusive)", option="fov")
    return value


def intrinsics_from_fov(width: int, height: int, fov_deg: float = 90.0) -> np.ndarray:
    """``3×3`` K of a camera with square pixels and horizontal field of view ``fov_deg``.

    ``f = W / (2 tan(fov / 2))`` (AirSim's default 90° gives ``f = W / 2``); the principal
    point is the image centre ``((W - 1) / 2, (H - 1) / 2)`` in slamfeat's pixel convention.
    """
    check_fov(fov_deg)
    f = width / (2.0 * np.tan(np.radians(fov_deg) / 2.0))
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels ``N×2`` of camera-frame points ``N×3`` (points with z ≤ 0 give inf/NaN or mirrored
    values: check z before trusting them)."""
    p = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = p[:, :2] / p[:, 2:3]
    return xy * np.diag(K)[:2] + K[:2, 2]


def unproject(keypoints: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points ``N×3`` of pixels ``N×2`` at planar depths ``N`` (metres)."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    z = np.asarray(depth, dtype=np.float64).reshape(-1)
    xy = (kp - K[:2, 2]) / np.diag(K)[:2]
    return np.concatenate([xy * z[:, None], z[:, None]], axis=1)


def sample_depth(depth: np.ndarray, keypoints: np.ndarray, discontinuity: float = 0.05) -> np.ndarray:
    """Depth ``N`` at sub-pixel keypoints ``N×2`` of an ``H×W`` depth map.

    Bilinear where the four neighbouring depths agree within ``discontinuity`` (relative), the
    nearest pixel's depth across a depth edge (so that foreground and background never mix).
    Outside the image or where the depth is not positive and finite: NaN.
    """
    h, w = depth.shape
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    out = np.full(len(kp), np.nan)
    inside = (kp[:, 0] >= -0.5) & (kp[:, 0] <= w - 0.5) & (kp[:, 1] >= -0.5) & (kp[:, 1] <= h - 0.5)
    if not inside.any():
        return out
    x, y = kp[inside, 0].clip(0, w - 1), kp[inside, 1].clip(0, h - 1)
    x0, y0 = np.floor(x).astype(int).clip(0, w - 2), np.floor(y).astype(int).clip(0, h - 2)
    ax, ay = x - x0, y - y0
    d = np.stack([depth[y0, x0], depth[y0, x0 + 1], depth[y0 + 1, x0], depth[y0 + 1, x0 + 1]], 1).astype(np.float64)
    wts = np.stack([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay], 1)
    valid = np.isfinite(d) & (d > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = valid.all(1) & (d.max(1) <= d.min(1) * (1 + discontinuity))
        bilinear = (d * wts).sum(1)
    nearest = depth[np.rint(y).astype(int), np.rint(x).astype(int)].astype(np.float64)
    value = np.where(smooth, bilinear, nearest)
    value[~(np.isfinite(value) & (value > 0))] = np.nan
    out[inside] = value
    return out


def warp_keypoints_with_depth(kp0: np.ndarray, depth0: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                              T_0to1: np.ndarray, depth1: np.ndarray | None = None,
                              occlusion_tol: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Carry keypoints of image 0 into image 1 with image 0's depth and the relative pose.

    Args:
        kp0: ``N×2`` pixels in image 0.
        depth0: ``H0×W0`` planar depth of image 0 (metres; ≤ 0 or non-finite = unknown).
        K0, K1: ``3×3`` intrinsics.
        T_0to1: ``4×4`` camera-0 → camera-1 transform.
        depth1: ``H1×W1`` planar depth of image 1; when given, a point is covisible only if its
            depth in camera 1 agrees with ``depth1`` at its pixel within ``occlusion_tol``
            (relative), which removes occluded points. Without it, the image size of image 1 is
            taken as that of image 0.
        occlusion_tol: relative depth tolerance of the occlusion check.

    Returns:
        ``kp0_in_1`` ``N×2`` (NaN where the depth is unknown or the point is behind camera 1) and
        ``covisible`` ``N`` bool: known depth, in front of camera 1, inside image 1, not occluded.
    """
    z0 = sample_depth(depth0, kp0)
    p1 = transform(T_0to1, unproject(kp0, z0, K0))
    kp1 = project(p1, K1)
    ok = np.isfinite(z0) & (p1[:, 2] > 1e-6)
    kp1[~ok] = np.nan
    h1, w1 = (depth1 if depth1 is not None else depth0).shape[:2]
    with np.errstate(invalid="ignore"):
        inside = ok & (kp1[:, 0] >= -0.5) & (kp1[:, 0] <= w1 - 0.5) & (kp1[:, 1] >= -0.5) & (kp1[:, 1] <= h1 - 0.5)
    covisible = inside
    if depth1 is not None and inside.any():
        z1 = sample_depth(depth1, kp1[inside])
        with np.errstate(invalid="ignore"):
            agree = np.abs(z1 - p1[inside, 2]) <= occlusion_tol * p1[inside, 2]
        covisible = inside.copy()
        covisible[inside] = agree
    return kp1, covisible


__all__ = ["check_fov", "intrinsics_from_fov", "project", "unproject", "sample_depth", "warp_keypoints_with_depth"]
