"""Starting a map from two views: when to try, wait or start over, and the first two keyframes."""

from __future__ import annotations

from enum import Enum

import numpy as np

from ..geometry.pose import pose_matrix
from ..geometry.two_view import TwoViewResult, initialise_two_view
from .config import VOConfig
from .map import Frame, Keyframe, PointMap
from .mapping import point_colors


class InitialisationStep(Enum):
    """What to do with a frame that does not start a map with the reference."""

    WAIT = "wait"  # keep the reference; the frame waits with it
    RESTART = "restart"  # the frame becomes the new reference


def try_two_view(ref: Frame, frame: Frame, pairs: np.ndarray, K: np.ndarray,
                 cfg: VOConfig) -> TwoViewResult | InitialisationStep:
    """The two-view geometry of ``ref`` and ``frame`` from their ``M×2`` matches, or the next step.

    Too few matches start over at once when under half of ``cfg.min_init_matches``; both too few
    matches and a failed two-view geometry start over when the reference is more than
    ``cfg.max_init_frames`` old, and wait otherwise.
    """
    too_old = frame.index - ref.index > cfg.max_init_frames
    if len(pairs) < cfg.min_init_matches:
        restart = len(pairs) < cfg.min_init_matches // 2 or too_old
        return InitialisationStep.RESTART if restart else InitialisationStep.WAIT
    two = initialise_two_view(ref.keypoints[pairs[:, 0]], frame.keypoints[pairs[:, 1]], K,
                              cfg.essential_ransac_px, cfg.min_init_points,
                              cfg.min_init_parallax_deg, cfg.triangulation_px)
    if two is None:
        return InitialisationStep.RESTART if too_old else InitialisationStep.WAIT
    return two


def reinitialisation_scale(speeds: list[float], gap: int) -> float:
    """Length of the two-view baseline of a re-initialisation ``gap`` frames long, at the recent median speed."""
    return max(float(np.median(speeds)), 1e-6) * gap


def seed_map(point_map: PointMap, ref: Frame, frame: Frame, pairs: np.ndarray, two: TwoViewResult,
             T_ref: np.ndarray, scale: float, segment: int) -> tuple[Keyframe, Keyframe]:
    """Add the two views as keyframes of ``segment`` and their points to the map.

    Args:
        pairs: ``P×2`` (ref keypoint, frame keypoint) matches of ``two``'s points, row for row.
        two: the two-view geometry (unit baseline, ``ref``'s camera frame).
        T_ref: ``4×4`` world-to-camera pose given to ``ref``.
        scale: the baseline's length in map units.
    Returns:
        The keyframes of ``ref`` and ``frame``.
    """
    T_rel = pose_matrix(two.R, two.t * scale)
    T_cur = T_rel @ T_ref
    X_world = (two.points * scale - T_ref[:3, 3]) @ T_ref[:3, :3]  # camera-0 frame to world
    ids = point_map.add_points(X_world, point_colors(frame, pairs[:, 1]))
    kf0 = Keyframe(ref, T_ref, np.full(len(ref.keypoints), -1, np.int64), segment)
    kf1 = Keyframe(frame, T_cur, np.full(len(frame.keypoints), -1, np.int64), segment)
    kf0.point_ids[pairs[:, 0]] = ids
    kf1.point_ids[pairs[:, 1]] = ids
    point_map.keyframes += [kf0, kf1]
    return kf0, kf1
