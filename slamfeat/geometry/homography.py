"""Planar homographies: warping points, covisibility, corner error, robust estimation.

Convention: ``H`` (3×3) maps pixel ``(x, y, 1)`` of image 0 to image 1 up to scale, with
``(0, 0)`` the centre of the top-left pixel in both images (OpenCV's ``warpPerspective`` and
HPatches' ``H_1_k`` files use the same convention). An image of ``width × height`` pixels covers
``[-0.5, width - 0.5] × [-0.5, height - 0.5]``.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np


def warp_points(H: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a homography to points.

    Args:
        H: ``3×3`` homography.
        points: ``N×2`` pixel ``(x, y)``.
    Returns:
        ``N×2`` float64 warped points; NaN where a point maps to infinity (w ≈ 0) or behind
        the camera (w < 0, possible only for strong perspective).
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    H = np.asarray(H, dtype=np.float64)
    q = np.concatenate([p, np.ones((len(p), 1))], 1) @ H.T
    w = q[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = q[:, :2] / w
    out[(w[:, 0] <= 1e-12)] = np.nan
    return out


def inside_image(points: np.ndarray, image_size: Sequence[int], border: float = 0.0) -> np.ndarray:
    """``N`` bool: the point lies in the image of ``image_size = (width, height)``, at least
    ``border`` px from its edge (pixel-centre convention; NaN is outside)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    w, h = image_size
    with np.errstate(invalid="ignore"):
        return ((p[:, 0] >= -0.5 + border) & (p[:, 0] <= w - 0.5 - border)
                & (p[:, 1] >= -0.5 + border) & (p[:, 1] <= h - 0.5 - border))


def covisible_mask(H: np.ndarray, points: np.ndarray, image_size_other: Sequence[int]) -> np.ndarray:
    """``N`` bool: the points of image 0 that ``H`` carries inside image 1 of
    ``image_size_other = (width, height)``."""
    return inside_image(warp_points(H, points), image_size_other)


def image_corners(image_size: Sequence[int]) -> np.ndarray:
    """The four corners ``4×2`` of an image of ``(width, height)``: the centres of its corner pixels,
    clockwise from the top-left (the points SuperPoint's homography accuracy uses)."""
    w, h = image_size
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)


def corner_error(H_true: np.ndarray, H_estimated: np.ndarray | None, image_size: Sequence[int]) -> float:
    """Mean distance in image 1 between the corners of image 0 warped by the true and by the
    estimated homography; ``inf`` when there is no estimate or it sends a corner to infinity.

    Args:
        image_size: ``(width, height)`` of image 0.
    """
    if H_estimated is None:
        return float("inf")
    c = image_corners(image_size)
    err = np.linalg.norm(warp_points(H_true, c) - warp_points(H_estimated, c), axis=1)
    return float(np.mean(err)) if np.all(np.isfinite(err)) else float("inf")


def estimate_homography(points0: np.ndarray, points1: np.ndarray, threshold: float = 3.0,
                        confidence: float = 0.999, max_iterations: int = 10000,
                        seed: int = 0) -> tuple[np.ndarray | None, np.ndarray]:
    """Robust homography from matched points with OpenCV's RANSAC (``cv2.findHomography``).

    Args:
        points0, points1: ``M×2`` matched pixel coordinates in images 0 and 1.
        threshold: RANSAC inlier threshold in pixels of image 1.
        seed: seeds OpenCV's random generator, so that a run is reproducible.
    Returns:
        ``(H, inliers)``: ``3×3`` float64 mapping image 0 to image 1 (``None`` with fewer than
        four matches or when RANSAC fails) and ``M`` bool inlier flags.
    """
    p0 = np.asarray(points0, dtype=np.float64).reshape(-1, 2)
    p1 = np.asarray(points1, dtype=np.float64).reshape(-1, 2)
    inliers = np.zeros(len(p0), bool)
    if len(p0) < 4:
        return None, inliers
    cv2.setRNGSeed(seed)
    H, mask = cv2.findHomography(p0, p1, cv2.RANSAC, ransacReprojThreshold=threshold,
                                 maxIters=max_iterations, confidence=confidence)
    if H is None or not np.all(np.isfinite(H)):
        return None, inliers
    return H, mask.reshape(-1).astype(bool)


def scaling_homography(scale_x: float, scale_y: float) -> np.ndarray:
    """The ``3×3`` map from pixel coordinates of an image to those of the same image resized by
    ``(scale_x, scale_y)``, pixel-centre convention: ``x' + 0.5 = (x + 0.5) · s``."""
    return np.array([[scale_x, 0, 0.5 * scale_x - 0.5],
                     [0, scale_y, 0.5 * scale_y - 0.5],
                     [0, 0, 1]], dtype=np.float64)


def rescale_homography(H: np.ndarray, scale0: Sequence[float], scale1: Sequence[float]) -> np.ndarray:
    """``H`` between images resized by ``scale0 = (sx, sy)`` and ``scale1``: ``S1 · H · S0⁻¹``."""
    S0 = scaling_homography(*scale0)
    S1 = scaling_homography(*scale1)
    return S1 @ np.asarray(H, dtype=np.float64) @ np.linalg.inv(S0)


__all__ = ["warp_points", "inside_image", "covisible_mask", "image_corners", "corner_error",
           "estimate_homography", "scaling_homography", "rescale_homography"]
