"""One tracking step: match a frame to a keyframe's map points and solve its pose by PnP.

Poses are ``T_cam_world`` (world-to-camera, ``4×4``); pixels are the frame's undistorted keypoints.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..features import Features
from ..geometry.pose import refine_pose, solve_pnp
from ..matching import matches_to_indices
from ..matching.matcher import Matcher
from .config import VOConfig
from .map import Frame, Keyframe, PointMap


class Localisation(NamedTuple):
    """A frame placed against a keyframe.

    Attributes:
        T_cam_world: ``4×4`` world-to-camera pose.
        inliers: ``M×2`` (keyframe keypoint, frame keypoint) pairs that support it.
        pairs: ``M'×2`` every match between the two (the new points of a keyframe come from them).
        map_matches: ``K×2`` (map point id, frame keypoint) more points of the local map that support it
            (:mod:`.local_map`; none when that step is off).
    """

    T_cam_world: np.ndarray
    inliers: np.ndarray
    pairs: np.ndarray
    map_matches: np.ndarray = np.zeros((0, 2), np.int64)


def match_keypoints(f0: Features, f1: Features, matcher: Matcher) -> np.ndarray:
    """``M×2`` int64 index pairs ``(row in f0, row in f1)`` of matched keypoints; none below 8 keypoints."""
    if len(f0) < 8 or len(f1) < 8:
        return np.zeros((0, 2), np.int64)

    m0, _ = matcher.match(f0, f1)
    return matches_to_indices(m0).cpu().numpy().astype(np.int64).reshape(-1, 2)


def match_map_points(point_map: PointMap, kf: Keyframe, frame: Frame, matcher: Matcher) -> np.ndarray:
    """``M×2`` matches from the keyframe's keypoints that carry a live map point (fewer to match) to ``frame``'s."""
    ids = kf.point_ids
    rows = np.nonzero(ids >= 0)[0]
    rows = rows[point_map.alive[ids[rows]]]
    if len(rows) < 8:
        return np.zeros((0, 2), np.int64)
    f = kf.frame.features
    index = torch.from_numpy(rows)
    subset = Features(f.keypoints[index], f.scores[index], f.descriptors[index], f.image_size, f.binary)
    pairs = match_keypoints(subset, frame.features, matcher)
    pairs[:, 0] = rows[pairs[:, 0]]
    return pairs


def localise(point_map: PointMap, kf: Keyframe, frame: Frame, matcher: Matcher, K: np.ndarray, cfg: VOConfig,
             guess: np.ndarray | None, iterations: int, pairs: np.ndarray | None = None) -> Localisation | None:
    """PnP of ``frame`` against the live map points of ``kf``.

    Args:
        guess: ``4×4`` world-to-camera starting pose, or None for plain RANSAC.
        iterations: RANSAC iterations.
        pairs: ``M×2`` keyframe-to-frame matches when already made (else every keypoint is matched).
    Returns:
        The pose with its support, or None below ``cfg.min_tracked_points`` inliers.
    """
    if pairs is None:
        pairs = match_keypoints(kf.frame.features, frame.features, matcher)
    if len(pairs) == 0:
        return None
    ids = kf.point_ids[pairs[:, 0]]
    with_point = ids >= 0
    with_point[with_point] = point_map.alive[ids[with_point]]
    candidates, ids = pairs[with_point], ids[with_point]
    X, x = point_map.xyz[ids], frame.keypoints[candidates[:, 1]]
    found = None
    seen = point_map.views[ids] >= cfg.pnp_min_views if cfg.pnp_min_views > 2 else None
    if seen is not None and cfg.pnp_min_views_points <= seen.sum() < len(seen):
        # the pose from the points pnp_min_views or more keyframes have fixed, then refined once on every match
        # within the gate of it (the points of the last two keyframes only where they agree with it)
        found = solve_pnp(X[seen], x[seen], K, guess, cfg.pnp_reprojection_px, iterations,
                          cfg.min_tracked_points, cfg.pnp_refine_px)
        if found is not None:
            found = refine_pose(X, x, K, found[0], cfg.pnp_reprojection_px, cfg.min_tracked_points, rounds=1)
    if found is None:
        found = solve_pnp(X, x, K, guess, cfg.pnp_reprojection_px, iterations, cfg.min_tracked_points,
                          cfg.pnp_refine_px)
    if found is None:
        return None
    T, inliers = found
    return Localisation(T, candidates[inliers], pairs)


def place_frame(point_map: PointMap, kf: Keyframe, frame: Frame, matcher: Matcher, K: np.ndarray,
                cfg: VOConfig) -> np.ndarray | None:
    """``4×4`` world-to-camera pose of a frame that waited for the map ``kf`` opened, or None.

    Unlike :func:`localise`, every point ``kf`` observes counts (the map is brand new, none has died).
    """
    pairs = match_keypoints(kf.frame.features, frame.features, matcher)
    if len(pairs) == 0:
        X, x = np.zeros((0, 3)), np.zeros((0, 2))
    else:
        ids = kf.point_ids[pairs[:, 0]]
        has = ids >= 0
        X, x = point_map.xyz[ids[has]], frame.keypoints[pairs[has, 1]]
    found = solve_pnp(X, x, K, None, cfg.pnp_reprojection_px, cfg.pnp_iterations, cfg.min_tracked_points,
                      cfg.pnp_refine_px)
    return None if found is None else found[0]
