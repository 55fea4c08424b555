"""Detection and matching metrics between two images with a known point transfer, and the pose
AUC of relative-pose evaluations (:func:`pose_auc`).

The functions are warp-agnostic: the caller projects each image's keypoints into the other image
(a homography, or depth and pose) and says which keypoints the other image sees. Conventions:

- ``keypoints0`` ``N0×2``, ``keypoints1`` ``N1×2``: pixel ``(x, y)``, ``(0, 0)`` = centre of the
  top-left pixel.
- ``keypoints0_in_1`` ``N0×2``: keypoints of image 0 projected into image 1 (any value, NaN
  included, where not covisible); ``keypoints1_in_0`` likewise the other way.
- ``covisible0`` ``N0`` bool: the keypoint projects inside image 1 (and, for depth warps, is not
  occluded there); ``covisible1`` likewise.
- ``matches0`` ``N0`` int: index into ``keypoints1`` of the match of each keypoint of image 0,
  −1 where unmatched (the output of a mutual-nearest-neighbour matcher).

All distances are in pixels of the image the points are compared in.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from ..errors import BadInput

DEFAULT_THRESHOLDS = tuple(range(1, 11))


def _as_points(points, name: str) -> np.ndarray:
    a = np.asarray(points, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, 2)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{name}: expected N×2 points, got shape {a.shape}")
    return a


def _as_matches(matches0, n0: int) -> np.ndarray:
    m = np.asarray(matches0, dtype=np.int64).reshape(-1)
    if m.shape[0] != n0:
        raise ValueError(f"matches0: {m.shape[0]} entries for {n0} keypoints")
    return m


def _nearest_distance(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance of each of ``points`` (P×2) to its nearest of ``targets`` (T×2, finite); inf when T = 0
    or the point is not finite."""
    if len(points) == 0:
        return np.zeros(0)
    if len(targets) == 0:
        return np.full(len(points), np.inf)
    from scipy.spatial import cKDTree

    d = np.full(len(points), np.inf)
    finite = np.isfinite(points).all(axis=1)
    if finite.any():
        d[finite] = cKDTree(targets).query(points[finite], k=1)[0]
    return d


def reprojection_errors(keypoints1, matches0, keypoints0_in_1) -> np.ndarray:
    """Distance in image 1 between each match's projected keypoint and its matched keypoint.

    Returns:
        ``M`` float64, one per matched row of ``matches0`` in row order (NaN where the projection
        is NaN).
    """
    kp1 = _as_points(keypoints1, "keypoints1")
    kp0_in_1 = _as_points(keypoints0_in_1, "keypoints0_in_1")
    m = _as_matches(matches0, len(kp0_in_1))
    rows = np.flatnonzero(m >= 0)
    if len(rows) == 0:
        return np.zeros(0)
    return np.linalg.norm(kp0_in_1[rows] - kp1[m[rows]], axis=1)


def correct_matches(keypoints0, keypoints1, matches0, keypoints0_in_1, threshold: float) -> np.ndarray:
    """Which matches are correct: the matched keypoint lies within ``threshold`` px of the
    projection of its partner.

    Returns:
        ``M`` bool, one per matched row of ``matches0`` (``matches0 >= 0``) in row order.
    """
    _as_points(keypoints0, "keypoints0")
    err = reprojection_errors(keypoints1, matches0, keypoints0_in_1)
    with np.errstate(invalid="ignore"):
        return err <= threshold


def mean_matching_accuracy(keypoints0, keypoints1, matches0, keypoints0_in_1,
                           thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Fraction of matches that are correct at each threshold (D2-Net's per-pair MMA).

    Every match counts, covisible or not, as in D2-Net's HPatches protocol; a pair without
    any match scores 0.

    Returns:
        ``T`` float64, one per threshold.
    """
    _as_points(keypoints0, "keypoints0")
    err = reprojection_errors(keypoints1, matches0, keypoints0_in_1)
    if len(err) == 0:
        return np.zeros(len(thresholds))
    with np.errstate(invalid="ignore"):
        return np.array([float(np.mean(err <= t)) for t in thresholds])


def repeatability(keypoints0, keypoints1, keypoints0_in_1, keypoints1_in_0, covisible0, covisible1,
                  threshold: float) -> float:
    """SuperPoint's repeatability: among covisible keypoints, the share that have a covisible
    keypoint of the other image within ``threshold`` px after projection, both directions
    pooled: ``(r0 + r1) / (n0 + n1)``.

    Returns 0 when neither image has a covisible keypoint.
    """
    kp0, kp1 = _as_points(keypoints0, "keypoints0"), _as_points(keypoints1, "keypoints1")
    c0, c1 = np.asarray(covisible0, bool), np.asarray(covisible1, bool)
    p0 = _as_points(keypoints0_in_1, "keypoints0_in_1")[c0]
    p1 = _as_points(keypoints1_in_0, "keypoints1_in_0")[c1]
    n = len(p0) + len(p1)
    if n == 0:
        return 0.0
    r0 = int(np.sum(_nearest_distance(p0, kp1[c1]) <= threshold))
    r1 = int(np.sum(_nearest_distance(p1, kp0[c0]) <= threshold))
    return (r0 + r1) / n


def _covisible_correct(keypoints1, matches0, keypoints0_in_1, covisible0, covisible1,
                       threshold: float) -> np.ndarray:
    """Rows of image 0 whose match joins two covisible keypoints and is correct at ``threshold``."""
    kp1 = _as_points(keypoints1, "keypoints1")
    kp0_in_1 = _as_points(keypoints0_in_1, "keypoints0_in_1")
    m = _as_matches(matches0, len(kp0_in_1))
    c0, c1 = np.asarray(covisible0, bool), np.asarray(covisible1, bool)
    rows = np.flatnonzero(m >= 0)
    rows = rows[c0[rows] & c1[m[rows]]]
    with np.errstate(invalid="ignore"):
        ok = np.linalg.norm(kp0_in_1[rows] - kp1[m[rows]], axis=1) <= threshold
    return rows[ok]


def matching_score(keypoints0, keypoints1, matches0, keypoints0_in_1, keypoints1_in_0, covisible0,
                   covisible1, threshold: float) -> float:
    """Correct matches between covisible keypoints ÷ the mean number of covisible keypoints.

    A match is correct when its reprojection error is within ``threshold`` px in both images
    (image 0 projected into image 1 and image 1 projected back into image 0). Returns 0 when
    neither image has a covisible keypoint.
    """
    kp0 = _as_points(keypoints0, "keypoints0")
    c0, c1 = np.asarray(covisible0, bool), np.asarray(covisible1, bool)
    n = (int(c0.sum()) + int(c1.sum())) / 2
    if n == 0:
        return 0.0
    rows = _covisible_correct(keypoints1, matches0, keypoints0_in_1, c0, c1, threshold)
    m = _as_matches(matches0, len(kp0))
    kp1_in_0 = _as_points(keypoints1_in_0, "keypoints1_in_0")
    with np.errstate(invalid="ignore"):
        back = np.linalg.norm(kp1_in_0[m[rows]] - kp0[rows], axis=1) <= threshold
    return float(np.sum(back)) / n


def mrs(keypoints0, keypoints1, matches0, keypoints0_in_1, covisible0, covisible1, threshold: float) -> float:
    """slamfeat's matched-repeatability score (MRS) of one pair.

    ``MRS = (correct one-to-one matches between covisible keypoints) / min(n0, n1)``, with ``n0``,
    ``n1`` the numbers of covisible keypoints of each image. It is 1 only when every keypoint of
    the sparser covisible set is re-detected and correctly matched, so it scores detection and
    description together; it is 0 when ``min(n0, n1) = 0``. A keypoint of image 1 counts once even
    if several rows of ``matches0`` point at it.
    """
    c0, c1 = np.asarray(covisible0, bool), np.asarray(covisible1, bool)
    n = min(int(c0.sum()), int(c1.sum()))
    if n == 0:
        return 0.0
    _as_points(keypoints0, "keypoints0")
    rows = _covisible_correct(keypoints1, matches0, keypoints0_in_1, c0, c1, threshold)
    m = _as_matches(matches0, len(c0))
    return len(np.unique(m[rows])) / n


def mrs_curve(keypoints0, keypoints1, matches0, keypoints0_in_1, covisible0, covisible1,
              thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """:func:`mrs` at each threshold: ``T`` float64."""
    return np.array([mrs(keypoints0, keypoints1, matches0, keypoints0_in_1, covisible0, covisible1, t)
                     for t in thresholds])


__all__ = ["DEFAULT_THRESHOLDS", "reprojection_errors", "correct_matches", "mean_matching_accuracy",
           "repeatability", "matching_score", "mrs", "mrs_curve"]


def check_positive(**values: float) -> None:
    """Raise :class:`BadInput` unless each named value is a finite positive number."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise BadInput(f"{name} {value}: expected a positive number", option=name)


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
