"""Two-view geometry of the front end: map initialisation from an essential matrix, triangulation, PnP.

Pixels are undistorted ``(x, y)``; poses are world-to-camera ``T_cam_world`` (``4×4``, OpenCV axes).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .map import pose_matrix


@dataclass
class TwoViewResult:
    """Relative pose of view 1 from view 0 (``x1 = R x0 + t``, ``‖t‖ = 1``) and its points."""

    R: np.ndarray
    t: np.ndarray
    points: np.ndarray  # P×3 in view 0's camera frame (unit baseline)
    match_rows: np.ndarray  # P indices into the matches given
    parallax_deg: float


def triangulate(T0: np.ndarray, T1: np.ndarray, K: np.ndarray, x0: np.ndarray, x1: np.ndarray,
                max_reprojection_px: float = 2.0, min_angle_deg: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangulate matched pixels seen from two posed views and keep the well-conditioned points.

    Args:
        T0, T1: ``4×4`` world-to-camera poses.
        x0, x1: ``N×2`` undistorted pixels.
    Returns:
        ``(X N×3 world points, valid N bools, angle N degrees)``; valid = in front of both cameras,
        reprojection error under ``max_reprojection_px`` in both and ray angle above ``min_angle_deg``.
    """
    n = len(x0)
    if n == 0:
        return np.zeros((0, 3)), np.zeros(0, bool), np.zeros(0)
    P0, P1 = K @ T0[:3], K @ T1[:3]
    Xh = cv2.triangulatePoints(P0, P1, x0.T.astype(np.float64), x1.T.astype(np.float64))
    w = Xh[3]
    ok = np.abs(w) > 1e-12
    X = (Xh[:3] / np.where(ok, w, 1.0)).T
    valid = ok.copy()
    for T, x in ((T0, x0), (T1, x1)):
        Xc = X @ T[:3, :3].T + T[:3, 3]
        z = Xc[:, 2]
        valid &= z > 1e-9
        proj = Xc[:, :2] / np.where(z > 1e-9, z, 1.0)[:, None] * K[[0, 1], [0, 1]] + K[:2, 2]
        valid &= np.linalg.norm(proj - x, axis=1) < max_reprojection_px
    c0, c1 = -T0[:3, :3].T @ T0[:3, 3], -T1[:3, :3].T @ T1[:3, 3]
    r0, r1 = X - c0, X - c1
    cos = (r0 * r1).sum(1) / np.maximum(np.linalg.norm(r0, axis=1) * np.linalg.norm(r1, axis=1), 1e-12)
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    valid &= angle > min_angle_deg
    return X, valid, angle


def initialise_two_view(x0: np.ndarray, x1: np.ndarray, K: np.ndarray, ransac_px: float = 1.0,
                        min_points: int = 50, min_parallax_deg: float = 1.0,
                        max_reprojection_px: float = 2.0) -> TwoViewResult | None:
    """Relative pose and points from ``N`` matched undistorted pixels ``x0, x1`` (``N×2``).

    Essential matrix by RANSAC (OpenCV USAC with local optimisation), the cheirality test of ``recoverPose`` to pick among its four
    decompositions, then triangulation; None when too few points survive or the median ray angle
    (the parallax) is below ``min_parallax_deg``.
    """
    if len(x0) < max(min_points, 8):
        return None
    x0, x1 = np.ascontiguousarray(x0, np.float64), np.ascontiguousarray(x1, np.float64)
    E, mask = cv2.findEssentialMat(x0, x1, K, method=cv2.USAC_ACCURATE, prob=0.999, threshold=ransac_px)
    if E is None or E.shape[0] < 3 or mask is None or int(mask.sum()) < min_points:
        return None
    E = E[:3]
    _, R, t, pose_mask = cv2.recoverPose(E, x0, x1, K, mask=mask.copy())
    inliers = np.nonzero(pose_mask.ravel() > 0)[0]
    if len(inliers) < min_points:
        return None
    T0, T1 = np.eye(4), pose_matrix(R, t)
    X, valid, angle = triangulate(T0, T1, K, x0[inliers], x1[inliers], max_reprojection_px, min_angle_deg=0.0)
    if valid.sum() < min_points:
        return None
    parallax = float(np.median(angle[valid]))
    if parallax < min_parallax_deg:
        return None
    keep = valid & (angle > min_parallax_deg * 0.25)
    return TwoViewResult(R, t.ravel(), X[keep], inliers[keep], parallax)


def solve_pnp(X: np.ndarray, x: np.ndarray, K: np.ndarray, guess: np.ndarray | None = None,
              reprojection_px: float = 3.0, iterations: int = 100,
              min_inliers: int = 15) -> tuple[np.ndarray, np.ndarray] | None:
    """World-to-camera pose from ``N`` 3-D points ``X`` (``N×3``) and their pixels ``x`` (``N×2``).

    RANSAC PnP (from ``guess``, a ``4×4`` pose, when given), then Levenberg-Marquardt on the inliers.
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
    R, _ = cv2.Rodrigues(rvec)
    T = pose_matrix(R, tvec)
    # keep the inliers of the refined pose
    Xc = X @ R.T + tvec.ravel()
    z = Xc[:, 2]
    proj = Xc[:, :2] / np.where(z > 1e-9, z, 1.0)[:, None] * K[[0, 1], [0, 1]] + K[:2, 2]
    good = np.nonzero((z > 1e-9) & (np.linalg.norm(proj - x, axis=1) < reprojection_px))[0]
    if len(good) < min_inliers:
        return None
    return T, good
