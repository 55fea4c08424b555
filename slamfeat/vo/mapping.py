"""Map maintenance: new points between keyframes, local bundle adjustment, and what is let go."""

from __future__ import annotations

import numpy as np

from ..geometry.two_view import triangulate
from .bundle import bundle_adjust
from .config import VOConfig
from .map import Frame, Keyframe, PointMap


class BundleAdjustmentSkipped(ValueError):
    """The local window could not be adjusted (a non-finite start); the map is left as it was."""


def point_colors(frame: Frame, rows: np.ndarray) -> np.ndarray:
    """``M×3`` uint8 RGB of ``frame``'s image at keypoints ``rows`` (grey once the image is let go)."""
    if frame.image is None or len(rows) == 0:
        return np.full((len(rows), 3), 200, np.uint8)
    h, w = frame.image.shape[:2]
    xy = np.round(frame.features.keypoints[rows].cpu().numpy()).astype(np.int64)
    x, y = np.clip(xy[:, 0], 0, w - 1), np.clip(xy[:, 1], 0, h - 1)
    return frame.image[y, x, :3].astype(np.uint8)


def triangulate_new_points(point_map: PointMap, ref: Keyframe, new: Keyframe, pairs: np.ndarray, K: np.ndarray,
                           cfg: VOConfig) -> None:
    """New map points from the ``M×2`` matches ``pairs`` (ref keypoint, new keypoint) where neither keyframe has one.

    Points off by more than ``cfg.triangulation_px`` or seen under less than
    ``cfg.triangulation_min_angle_deg`` are not made.
    """
    if len(pairs) == 0:
        return
    free = (ref.point_ids[pairs[:, 0]] < 0) & (new.point_ids[pairs[:, 1]] < 0)
    pairs = pairs[free]
    X, valid, _ = triangulate(ref.T_cam_world, new.T_cam_world, K, ref.frame.keypoints[pairs[:, 0]],
                              new.frame.keypoints[pairs[:, 1]], cfg.triangulation_px, cfg.triangulation_min_angle_deg)
    pairs, X = pairs[valid], X[valid]
    ids = point_map.add_points(X, point_colors(new.frame, pairs[:, 1]))
    ref.point_ids[pairs[:, 0]] = ids
    new.point_ids[pairs[:, 1]] = ids


def adjust_local_window(point_map: PointMap, K: np.ndarray, cfg: VOConfig) -> bool:
    """Bundle-adjust the last ``cfg.ba_window`` keyframes of the current segment and the points they share.

    The first two keyframes of the window (one if it has two) stay fixed. Observations off by more than
    ``cfg.ba_outlier_px`` afterwards are dropped, and points behind a camera are removed from the map.

    Returns:
        Whether anything was adjusted (not when the window is off, shorter than two, or shares fewer
        than 10 points).
    Raises:
        BundleAdjustmentSkipped: the adjustment could not start; the map is unchanged.
    """
    window = point_map.window(cfg.ba_window)
    if cfg.ba_window <= 0 or len(window) < 2:
        return False
    obs_kf, obs_pt, obs_xy = _observations(window)
    # only points seen twice or more in the window constrain anything
    ids, inverse, counts = np.unique(obs_pt, return_inverse=True, return_counts=True)
    keep = counts[inverse] >= 2
    obs_kf, obs_xy = obs_kf[keep], obs_xy[keep]
    ids, local = np.unique(obs_pt[keep], return_inverse=True)
    if len(ids) < 10:
        return False
    fixed = np.zeros(len(window), bool)
    fixed[: 2 if len(window) > 2 else 1] = True
    if cfg.ba_anchor_keyframes > 0:  # older keyframes' observations of these points, their poses held still
        window, fixed, obs_kf, local, obs_xy = _with_anchors(point_map, window, fixed, ids, obs_kf, local, obs_xy,
                                                             cfg.ba_anchor_keyframes)
    poses = np.stack([kf.T_cam_world for kf in window])
    try:
        result = bundle_adjust(poses, fixed, point_map.xyz[ids], obs_kf, local, obs_xy, K,
                               cfg.ba_gate_px, cfg.ba_iterations)
    except ValueError as e:  # a non-finite start
        raise BundleAdjustmentSkipped(str(e)) from e
    for kf, T in zip(window, result.poses):
        kf.T_cam_world = T
    point_map.xyz[ids] = result.points
    bad_obs = result.errors > cfg.ba_outlier_px
    for k, kf in enumerate(window):
        drop = np.isin(kf.point_ids, ids[local[bad_obs & (obs_kf == k)]])
        kf.point_ids[drop] = -1
    # points behind a camera after adjustment are dropped everywhere
    Xc = np.einsum("nij,nj->ni", result.poses[obs_kf, :3, :3], result.points[local]) + result.poses[obs_kf, :3, 3]
    point_map.remove_points(np.unique(ids[local[Xc[:, 2] <= 0]]))
    return True


def _observations(keyframes: list[Keyframe]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(keyframe position O, point id O, pixel O×2)`` of every map-point observation of ``keyframes``."""
    obs_kf, obs_pt, obs_xy = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros((0, 2))]
    for k, kf in enumerate(keyframes):
        rows = np.nonzero(kf.point_ids >= 0)[0]
        obs_kf.append(np.full(len(rows), k))
        obs_pt.append(kf.point_ids[rows])
        obs_xy.append(kf.frame.keypoints[rows])
    return np.concatenate(obs_kf), np.concatenate(obs_pt), np.concatenate(obs_xy)


def _with_anchors(point_map: PointMap, window: list[Keyframe], fixed: np.ndarray, ids: np.ndarray, obs_kf: np.ndarray,
                  local: np.ndarray, obs_xy: np.ndarray, count: int):
    """The window extended by up to ``count`` keyframes of its segment before it that observe its points
    ``ids``, held still, with those observations (ORB-SLAM's local bundle adjustment does so: the older views
    keep the points, and with them the scale, where they were)."""
    start = next(i for i, kf in enumerate(point_map.keyframes) if kf is window[0])
    older = [kf for kf in point_map.keyframes[max(0, start - count):start] if kf.segment == window[0].segment]
    a_kf, a_pt, a_xy = _observations(older)
    seen = np.isin(a_pt, ids)
    if not seen.any():
        return window, fixed, obs_kf, local, obs_xy
    used = np.unique(a_kf[seen])
    anchors = [older[i] for i in used]
    position = np.searchsorted(used, a_kf[seen]) + len(window)
    return (window + anchors, np.concatenate([fixed, np.ones(len(anchors), bool)]),
            np.concatenate([obs_kf, position]), np.concatenate([local, np.searchsorted(ids, a_pt[seen])]),
            np.concatenate([obs_xy, a_xy[seen]]))


def release_old_images(point_map: PointMap) -> None:
    """Let go of the images of all keyframes but the last two (kept only for drawing and colours)."""
    for old in point_map.keyframes[:-2]:
        old.frame.image = None
