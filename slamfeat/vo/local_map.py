"""Tracking against the local map: the points of the last few keyframes, found again by projection.

Tracking first places a frame against the last keyframe alone (:mod:`.tracking`). Through a fast
turn that keyframe sees less and less of what the frame sees, while older keyframes of the window
still hold points in view; a pose from a few dozen points then wanders in scale. This step, the
``TrackLocalMap`` of ORB-SLAM, projects the live points of the last ``cfg.local_map_keyframes``
keyframes that the frame has not matched yet into it from that first pose, takes for each the
frame keypoint within ``cfg.local_map_radius_px`` whose descriptor is most alike (at least
``cfg.local_map_min_similarity``, Lowe's ratio ``cfg.local_map_ratio`` against the next one in the
radius, one point per keypoint), and refines the pose on old and new correspondences together,
without RANSAC.

It needs no matcher: the descriptors are compared directly, so it works the same behind mutual NN
and LightGlue. A keyframe made from the frame keeps the new observations, which ties the keyframes
of the bundle-adjustment window together through older points.
"""

from __future__ import annotations

import numpy as np
import torch

from ..geometry.camera import project
from ..geometry.pose import refine_pose, transform
from ..matching.similarity import prepare, ratio_pass, to_similarity
from .config import VOConfig
from .map import Frame, PointMap


def local_points(point_map: PointMap, keyframes: int, skip: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """The live points of the last ``keyframes`` keyframes of the current segment, minus the ids ``skip``.

    Returns:
        ``(ids P, descriptors P×D)``: each point with its descriptor in the most recent keyframe observing it.
    """
    taken = np.zeros(len(point_map.xyz), bool)
    taken[skip] = True
    ids, descriptors = [], []
    for kf in reversed(point_map.window(keyframes)):
        rows = np.nonzero(kf.point_ids >= 0)[0]
        rows = rows[point_map.alive[kf.point_ids[rows]] & ~taken[kf.point_ids[rows]]]
        point = kf.point_ids[rows]
        point, first = np.unique(point, return_index=True)  # a keyframe observes a point once; be sure
        rows = rows[first]
        taken[point] = True
        ids.append(point)
        descriptors.append(kf.frame.features.descriptors[torch.from_numpy(rows)].cpu())
    if not ids:
        return np.zeros(0, np.int64), torch.zeros(0, 0)
    return np.concatenate(ids), torch.cat(descriptors)


def search_by_projection(point_map: PointMap, frame: Frame, T_cam_world: np.ndarray, K: np.ndarray,
                         cfg: VOConfig, skip_ids: np.ndarray, used_rows: np.ndarray) -> np.ndarray:
    """``M×2`` int64 (map point id, frame keypoint row) of local-map points found in ``frame`` by projection.

    Args:
        T_cam_world: ``4×4`` the frame's pose from tracking.
        skip_ids: map points already matched in the frame.
        used_rows: frame keypoints already matched.
    """
    empty = np.zeros((0, 2), np.int64)
    ids, desc = local_points(point_map, cfg.local_map_keyframes, skip_ids)
    if len(ids) == 0 or len(frame.keypoints) == 0:
        return empty
    Xc = transform(T_cam_world, point_map.xyz[ids])
    uv = project(Xc, K)  # only trusted in front of the camera
    w, h = frame.features.image_size
    inside = (Xc[:, 2] > 1e-9) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    if not inside.any():
        return empty
    ids, uv, desc = ids[inside], uv[inside], desc[torch.from_numpy(np.nonzero(inside)[0])]
    free = np.ones(len(frame.keypoints), bool)
    free[used_rows] = False
    rows = np.nonzero(free)[0]
    if len(rows) == 0:
        return empty
    near = torch.cdist(torch.from_numpy(uv), torch.from_numpy(frame.keypoints[rows])) < cfg.local_map_radius_px
    hit = near.any(1).numpy()
    if not hit.any():
        return empty
    ids, near, desc = ids[hit], near[torch.from_numpy(hit)], desc[torch.from_numpy(hit)]
    f = frame.features
    metric = "hamming" if f.binary else "cosine"
    p = prepare(desc[None].float(), f.descriptors[torch.from_numpy(rows)].cpu()[None].float(), None, None, metric,
                torch.float32)
    sim = p.raw(p.a[0] @ p.b[0].T).float()
    sim = torch.where(near, sim, torch.full_like(sim, -float("inf")))
    top = sim.topk(min(2, sim.shape[1]), dim=1)
    best, col = top.values[:, 0], top.indices[:, 0]
    second = top.values[:, 1] if top.values.shape[1] > 1 else torch.full_like(best, -float("inf"))
    dim = f.descriptors.shape[1]
    ok = ratio_pass(best, second, metric, dim, cfg.local_map_ratio) & (
        to_similarity(best, metric, dim) >= cfg.local_map_min_similarity)
    ok = ok.numpy()
    point, col, best = np.nonzero(ok)[0], col.numpy()[ok], best.numpy()[ok]
    # one point per keypoint: the most alike
    order = np.lexsort((-best, col))
    point, col = point[order], col[order]
    first = np.ones(len(col), bool)
    first[1:] = col[1:] != col[:-1]
    return np.stack([ids[point[first]], rows[col[first]]], 1).astype(np.int64)


def track_local_map(point_map: PointMap, frame: Frame, T_cam_world: np.ndarray, K: np.ndarray, cfg: VOConfig,
                    tracked_ids: np.ndarray, tracked_rows: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The frame's pose refined on its tracked points and the local-map points found by projection.

    Args:
        tracked_ids, tracked_rows: ``M`` map point ids and the frame keypoints that tracking matched to them.
    Returns:
        ``(T_cam_world 4×4, tracked inlier mask M, found K×2 (point id, keypoint row))``, or None when nothing
        was found or the refinement keeps too few points (then the tracking pose stands).
    """
    found = search_by_projection(point_map, frame, T_cam_world, K, cfg, tracked_ids, tracked_rows)
    if len(found) == 0:
        return None
    ids = np.concatenate([tracked_ids, found[:, 0]])
    rows = np.concatenate([tracked_rows, found[:, 1]])
    refined = refine_pose(point_map.xyz[ids], frame.keypoints[rows], K, T_cam_world, cfg.pnp_reprojection_px,
                          cfg.min_tracked_points)
    if refined is None:
        return None
    T, inliers = refined
    keep = np.zeros(len(ids), bool)
    keep[inliers] = True
    return T, keep[: len(tracked_ids)], found[keep[len(tracked_ids):]]
