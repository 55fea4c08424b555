"""When a tracked frame becomes a keyframe, and how it joins the map."""

from __future__ import annotations

import numpy as np

from .config import VOConfig
from .map import Frame, Keyframe, PointMap


def keyframe_due(cfg: VOConfig, tracked: int, first_tracked: int, gap: int) -> bool:
    """Whether a frame with ``tracked`` PnP inliers, ``gap`` frames after the last keyframe, becomes one.

    ``first_tracked`` is the inlier count of the first frame after that keyframe: a keyframe is due
    when tracking has thinned to ``cfg.keyframe_min_ratio`` of it or below ``cfg.keyframe_min_points``,
    or after ``cfg.keyframe_max_gap`` frames.
    """
    return (tracked < cfg.keyframe_min_ratio * first_tracked or tracked < cfg.keyframe_min_points
            or gap >= cfg.keyframe_max_gap)


def tracked_point_ids(frame: Frame, ref: Keyframe, inliers: np.ndarray, map_matches: np.ndarray | None = None
                      ) -> np.ndarray:
    """``N`` map-point id per keypoint of a tracked ``frame`` (−1 where none): the points of ``ref`` its ``M×2``
    PnP ``inliers`` (``ref`` keypoint, frame keypoint) tracked, and the ``K×2`` ``map_matches`` (map point id,
    frame keypoint) of the local map."""
    point_ids = np.full(len(frame.keypoints), -1, np.int64)
    point_ids[inliers[:, 1]] = ref.point_ids[inliers[:, 0]]
    if map_matches is not None and len(map_matches):
        point_ids[map_matches[:, 1]] = map_matches[:, 0]
    return point_ids


def append_keyframe(point_map: PointMap, frame: Frame, T_cam_world: np.ndarray, inliers: np.ndarray,
                    segment: int, map_matches: np.ndarray | None = None) -> Keyframe:
    """Make ``frame`` a keyframe after the map's last one, observing the points its ``M×2`` PnP ``inliers``
    (last keyframe keypoint, frame keypoint) tracked and the ``K×2`` ``map_matches`` (map point id, frame
    keypoint) of the local map; returns it."""
    point_ids = tracked_point_ids(frame, point_map.keyframes[-1], inliers, map_matches)
    new = Keyframe(frame, T_cam_world, point_ids, segment)
    point_map.observe(point_ids[point_ids >= 0])
    point_map.keyframes.append(new)
    return new
