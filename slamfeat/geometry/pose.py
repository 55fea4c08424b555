"""Rigid poses: ``4×4`` transforms, their algebra, rotation angles, pose errors and PnP.

Conventions as in :mod:`slamfeat.geometry.camera`: OpenCV camera axes; ``T_world_cam`` maps camera
to world coordinates; ``T_0to1`` maps camera-0 coordinates to camera-1 coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np


def pose_matrix(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The ``4×4`` rigid transform of rotation ``R`` (3×3) and translation ``t`` (3 values)."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.ravel(t)
    return T


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


def rotation_angle_deg(R: np.ndarray) -> np.ndarray:
    """Angle in degrees of rotation matrices ``...×3×3`` (accurate near 0° too, where ``arccos``
    of the trace is not)."""
    R = np.asarray(R, dtype=np.float64)
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    axis = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    return np.degrees(np.arctan2(np.linalg.norm(axis, axis=-1) / 2.0, cos))


def angle_error_R(R_est: np.ndarray, R_gt: np.ndarray) -> float:
    """Angle in degrees of the rotation ``R_est^T R_gt``."""
    return float(rotation_angle_deg(R_est.T @ R_gt))


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


def pose_error(T_0to1: np.ndarray, R: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(rotation error, translation-direction error) in degrees of an estimate against ``T_0to1``.

    The essential matrix fixes the translation only up to sign, so the direction error is folded
    into [0, 90] (SuperGlue's protocol).
    """
    err_t = angle_error_t(t, T_0to1[:3, 3])
    return angle_error_R(R, T_0to1[:3, :3]), min(err_t, 180.0 - err_t)


def solve_pnp(X: np.ndarray, x: np.ndarray, K: np.ndarray, guess: np.ndarray | None = None,
              reprojection_px: float = 3.0, iterations: int = 100,
              min_inliers: int = 15, refine_px: float | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """World-to-camera pose from ``N`` 3-D points ``X`` (``N×3``) and their pixels ``x`` (``N×2``).

    RANSAC PnP (from ``guess``, a ``4×4`` pose, when given), then Levenberg-Marquardt on the inliers;
    with ``refine_px`` below ``reprojection_px``, a second Levenberg-Marquardt on the inliers within
    ``refine_px`` of the first pose (when at least ``min_inliers``).
    Returns ``(T_cam_world 4×4, inlier row indices)`` or None.
    """
    if len(X) < max(min_inliers, 6):
        return None
    X = np.ascontiguousarray(X, np.float64)
    x = np.ascontiguousarray(x, np.float64)
    if guess is not None:
        rvec0, _ = cv2.Rodrigues(guess[:3, :3])
        tvec0 = guess[:3, 3].reshape(3, 1).copy()
        ok, rvec, tvec, inl = cv2.solvePnPRansac(X, x, K, None, rvec0, tvec0, True, iterations, reprojection_px,
                                                 0.999, flags=cv2.SOLVEPNP_ITERATIVE)
    else:
        ok, rvec, tvec, inl = cv2.solvePnPRansac(X, x, K, None, iterationsCount=iterations,
                                                 reprojectionError=reprojection_px, confidence=0.999,
                                                 flags=cv2.SOLVEPNP_SQPNP)
    if not ok or inl is None or len(inl) < min_inliers:
        return None
    inl = inl.ravel()
    rvec, tvec = cv2.solvePnPRefineLM(X[inl], x[inl], K, None, rvec, tvec)
    T = pose_matrix(cv2.Rodrigues(rvec)[0], tvec)
    if refine_px is not None and refine_px < reprojection_px:
        close = np.nonzero(reprojection_errors_px(X, x, K, T) < refine_px)[0]
        if len(close) >= min_inliers:
            rvec, tvec = cv2.solvePnPRefineLM(X[close], x[close], K, None, rvec, tvec)
            T = pose_matrix(cv2.Rodrigues(rvec)[0], tvec)
    # keep the inliers of the refined pose
    good = np.nonzero(reprojection_errors_px(X, x, K, T) < reprojection_px)[0]
    if len(good) < min_inliers:
        return None
    return T, good


def refine_pose(X: np.ndarray, x: np.ndarray, K: np.ndarray, T_cam_world: np.ndarray, reprojection_px: float = 3.0,
                min_inliers: int = 15, rounds: int = 2) -> tuple[np.ndarray, np.ndarray] | None:
    """World-to-camera pose refined from ``T_cam_world`` on ``N`` 3-D points ``X`` (``N×3``) and pixels ``x``
    (``N×2``), without RANSAC: ``rounds`` of Levenberg-Marquardt on the points within ``reprojection_px`` of
    the current pose (the pose-only optimisation of a tracker that already knows roughly where it is).

    Returns ``(T_cam_world 4×4, inlier row indices)`` or None below ``min_inliers``.
    """
    X = np.ascontiguousarray(X, np.float64)
    x = np.ascontiguousarray(x, np.float64)
    T = np.asarray(T_cam_world, np.float64)
    for _ in range(rounds):
        close = np.nonzero(reprojection_errors_px(X, x, K, T) < reprojection_px)[0]
        if len(close) < max(min_inliers, 6):
            return None
        rvec, _ = cv2.Rodrigues(T[:3, :3])
        rvec, tvec = cv2.solvePnPRefineLM(X[close], x[close], K, None, rvec, T[:3, 3].reshape(3, 1).copy())
        T = pose_matrix(cv2.Rodrigues(rvec)[0], tvec)
    good = np.nonzero(reprojection_errors_px(X, x, K, T) < reprojection_px)[0]
    if len(good) < min_inliers:
        return None
    return T, good


def reprojection_errors_px(X: np.ndarray, x: np.ndarray, K: np.ndarray, T_cam_world: np.ndarray) -> np.ndarray:
    """Pixel distance of each world point ``X`` (``N×3``) seen from ``T_cam_world`` to its pixel ``x``
    (``N×2``); infinite for points behind the camera."""
    Xc = X @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
    z = Xc[:, 2]
    proj = Xc[:, :2] / np.where(z > 1e-9, z, 1.0)[:, None] * K[[0, 1], [0, 1]] + K[:2, 2]
    return np.where(z > 1e-9, np.linalg.norm(proj - x, axis=1), np.inf)


__all__ = ["pose_matrix", "transform", "invert_pose", "relative_pose", "rotation_angle_deg", "angle_error_R",
           "angle_error_t", "pose_error", "solve_pnp", "reprojection_errors_px"]
