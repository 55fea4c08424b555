"""Two-view geometry: relative pose from an essential matrix (evaluation and map initialisation),
epipolar errors, triangulation.

Pixels are undistorted ``(x, y)``; the poses of :func:`triangulate` are world-to-camera
``T_cam_world`` (``4×4``, OpenCV axes).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .pose import pose_matrix, reprojection_errors_px

ESTIMATORS = {"usac": cv2.USAC_ACCURATE, "ransac": cv2.RANSAC}


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
    for T, x in ((T0, x0), (T1, x1)):  # in front of both cameras, close to both pixels
        valid &= reprojection_errors_px(X, x, K, T) < max_reprojection_px
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


__all__ = ["ESTIMATORS", "TwoViewResult", "estimate_relative_pose", "epipolar_errors", "initialise_two_view",
           "triangulate"]
