"""Pinhole cameras, rigid poses and two-view geometry: pure numpy functions.

Conventions:

- Pixels ``(x, y)``, ``(0, 0)`` = centre of the top-left pixel; the image centre of a ``W×H``
  image is at ``((W - 1) / 2, (H - 1) / 2)``.
- Camera axes are OpenCV's: x right, y down, z forward (along the optical axis).
- ``T_world_cam`` is a ``4×4`` camera-to-world transform: ``X_world = T_world_cam @ X_cam``.
- ``T_0to1`` maps coordinates in camera 0 to coordinates in camera 1: ``X_1 = T_0to1 @ X_0``.
- Depth is planar: the z coordinate of the point in the camera frame, in metres.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np


def intrinsics_from_fov(width: int, height: int, fov_deg: float = 90.0) -> np.ndarray:
    """``3×3`` K of a camera with square pixels and horizontal field of view ``fov_deg``.

    ``f = W / (2 tan(fov / 2))`` (AirSim's default 90° gives ``f = W / 2``); the principal
    point is the image centre ``((W - 1) / 2, (H - 1) / 2)`` in slamfeat's pixel convention.
    """
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"field of view {fov_deg}° is not in (0, 180)")
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


def transform(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a ``4×4`` rigid transform to ``N×3`` points."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return p @ T[:3, :3].T + T[:3, 3]


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Inverse of a ``4×4`` rigid transform."""
    R, t = T[:3, :3], T[:3, 3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ t
    return out


def relative_pose(T_world_cam0: np.ndarray, T_world_cam1: np.ndarray) -> np.ndarray:
    """``T_0to1`` (``4×4``): maps camera-0 coordinates to camera-1 coordinates."""
    return invert_pose(T_world_cam1) @ T_world_cam0


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


def angle_error_R(R_est: np.ndarray, R_gt: np.ndarray) -> float:
    """Angle in degrees of the rotation ``R_est^T R_gt``."""
    cos = (np.trace(R_est.T @ R_gt) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def angle_error_t(t_est: np.ndarray, t_gt: np.ndarray) -> float:
    """Angle in degrees between two translation directions (the scale of a monocular estimate is
    unknown); 0 when the true translation is zero."""
    n = np.linalg.norm(t_est) * np.linalg.norm(t_gt)
    if np.linalg.norm(t_gt) < 1e-12:
        return 0.0
    if n < 1e-12:
        return 180.0
    cos = float(np.dot(t_est, t_gt) / n)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def pose_auc(errors_deg: Sequence[float], thresholds: Sequence[float] = (5, 10, 20)) -> list[float]:
    """Area under the recall-versus-error curve up to each threshold, normalised to [0, 1].

    The protocol of SuperGlue's evaluation: errors (degrees; inf for a failed estimate) sorted,
    recall interpolated piecewise-linearly between them.
    """
    errors = np.sort(np.asarray(errors_deg, dtype=np.float64).reshape(-1))
    if len(errors) == 0:
        return [0.0 for _ in thresholds]
    recall = (np.arange(len(errors)) + 1) / len(errors)
    errors = np.concatenate([[0.0], errors])
    recall = np.concatenate([[0.0], recall])
    aucs = []
    for t in thresholds:
        last = np.searchsorted(errors, t)
        e = np.concatenate([errors[:last], [t]])
        r = np.concatenate([recall[:last], [recall[last - 1]]])
        aucs.append(float(np.trapezoid(r, x=e) / t))
    return aucs


ESTIMATORS = {"usac": cv2.USAC_ACCURATE, "ransac": cv2.RANSAC}


def estimate_relative_pose(kp0: np.ndarray, kp1: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                           threshold_px: float = 1.0, confidence: float = 0.99999, estimator: str = "usac"
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Relative pose from matched pixels ``N×2`` by robust estimation of the essential matrix.

    The points are normalised with their own K, so the inlier threshold is ``threshold_px``
    divided by the mean focal length (SuperGlue's protocol). ``estimator``: ``usac`` (OpenCV's
    USAC_ACCURATE, with local optimisation) or ``ransac`` (plain RANSAC as in SuperGlue's
    evaluation, which keeps the best minimal sample: on short baselines its translation direction
    can be off by degrees even with exact matches).

    Returns:
        ``(R, t, inliers)``: ``R`` 3×3 and unit ``t`` (3,) mapping camera 0 to camera 1
        (``X_1 = R X_0 + s t``), ``inliers`` N bool; None with fewer than 5 matches or no solution.
    """
    kp0 = np.asarray(kp0, dtype=np.float64).reshape(-1, 2)
    kp1 = np.asarray(kp1, dtype=np.float64).reshape(-1, 2)
    if len(kp0) < 5:
        return None
    n0 = (kp0 - K0[:2, 2]) / np.diag(K0)[:2]
    n1 = (kp1 - K1[:2, 2]) / np.diag(K1)[:2]
    f_mean = np.mean([K0[0, 0], K0[1, 1], K1[0, 0], K1[1, 1]])
    E, mask = cv2.findEssentialMat(n0, n1, np.eye(3), threshold=threshold_px / f_mean, prob=confidence,
                                   method=ESTIMATORS[estimator])
    if E is None:
        return None
    best = None
    for Ei in np.split(E, len(E) // 3):  # several solutions may come back stacked
        # no depth limit: far points (small baseline) still vote for the right decomposition
        n, R, t, m = cv2.recoverPose(Ei, n0, n1, np.eye(3), distanceThresh=1e9, mask=mask.copy())[:4]
        if best is None or n > best[0]:
            best = (n, R, t.reshape(3), m.reshape(-1) > 0)
    return best[1], best[2], best[3]


def epipolar_errors(kp0: np.ndarray, kp1: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                    T_0to1: np.ndarray) -> np.ndarray:
    """Squared symmetric epipolar distance ``N`` of matched pixels, in normalised coordinates.

    The measure of SuperGlue's evaluation (a match is correct under 5e-4).
    """
    n0 = (np.asarray(kp0, dtype=np.float64).reshape(-1, 2) - K0[:2, 2]) / np.diag(K0)[:2]
    n1 = (np.asarray(kp1, dtype=np.float64).reshape(-1, 2) - K1[:2, 2]) / np.diag(K1)[:2]
    h0 = np.concatenate([n0, np.ones((len(n0), 1))], 1)
    h1 = np.concatenate([n1, np.ones((len(n1), 1))], 1)
    t = T_0to1[:3, 3]
    t_cross = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    E = t_cross @ T_0to1[:3, :3]
    Ep0 = h0 @ E.T
    Etp1 = h1 @ E
    d = np.sum(h1 * Ep0, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return d ** 2 * (1.0 / (Ep0[:, 0] ** 2 + Ep0[:, 1] ** 2) + 1.0 / (Etp1[:, 0] ** 2 + Etp1[:, 1] ** 2))


def pose_error(T_0to1: np.ndarray, R: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(rotation error, translation-direction error) in degrees of an estimate against ``T_0to1``.

    The essential matrix fixes the translation only up to sign, so the direction error is folded
    into [0, 90] (SuperGlue's protocol).
    """
    err_t = angle_error_t(t, T_0to1[:3, 3])
    return angle_error_R(R, T_0to1[:3, :3]), min(err_t, 180.0 - err_t)


__all__ = ["intrinsics_from_fov", "project", "unproject", "transform", "invert_pose", "relative_pose",
           "sample_depth", "warp_keypoints_with_depth", "angle_error_R", "angle_error_t", "pose_auc",
           "estimate_relative_pose", "epipolar_errors", "pose_error"]
