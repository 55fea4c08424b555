"""Tracking against the local map: older keyframes' points found again by projection, and the pose they refine."""

import numpy as np
import pytest
import torch

from fixtures.vo import SCENE_K, project, scene_points, scene_pose
from slamfeat.features import Features
from slamfeat.geometry.pose import pose_matrix, refine_pose
from slamfeat.vo.config import VOConfig
from slamfeat.vo.local_map import search_by_projection, track_local_map
from slamfeat.vo.map import Frame, Keyframe, PointMap

N_POINTS = 150


def _frame(index, pixels, descriptors):
    f = Features(torch.from_numpy(pixels.astype(np.float32)), torch.linspace(1, 0, len(pixels)), descriptors, (320, 240))
    return Frame(index, index / 30.0, f, pixels.astype(np.float64))


class Scene:
    """Points 0–149; three keyframes of one segment: the oldest sees 0–99, the middle one 0–49, the last
    one 50–149. Every point has one descriptor, seen again with a little noise in each image."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.X = scene_points(N_POINTS, seed)
        self.desc = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(N_POINTS, 32))).float(), dim=1)
        self.rng = rng
        self.map = PointMap()
        self.map.add_points(self.X)
        seen = [np.arange(0, 100), np.arange(0, 50), np.arange(50, 150)]
        for k, (ids, yaw) in enumerate(zip(seen, (0.0, 1.0, 2.0))):
            T = scene_pose(yaw, (-0.1 * k, 0.0, 0.0))
            kf = Keyframe(_frame(k, project(T, self.X[ids]), self._noisy(ids)), T, ids.astype(np.int64), segment=0)
            self.map.keyframes.append(kf)

    def _noisy(self, ids):
        d = self.desc[ids] + 0.05 * torch.from_numpy(self.rng.normal(size=(len(ids), 32))).float()
        return torch.nn.functional.normalize(d, dim=1)

    def frame(self, T, ids, px_noise=0.3, distractors=40):
        """Frame at ``T`` seeing points ``ids`` (shuffled rows) plus keypoints with unrelated descriptors;
        returns it and the true point id of each row (−1 for the distractors)."""
        pixels = project(T, self.X[ids]) + self.rng.normal(0, px_noise, (len(ids), 2))
        extra = self.rng.uniform([0, 0], [320, 240], (distractors, 2))
        truth = np.concatenate([ids, np.full(distractors, -1)])
        desc = torch.cat([self._noisy(ids), torch.nn.functional.normalize(torch.randn(distractors, 32), dim=1)])
        order = self.rng.permutation(len(truth))
        return _frame(9, np.concatenate([pixels, extra])[order], desc[order]), truth[order]


def _turned(T, deg=0.0, shift=(0.0, 0.0, 0.0)):
    return pose_matrix(scene_pose(deg)[:3, :3], np.asarray(shift)) @ T


def test_points_of_older_keyframes_are_found_where_they_project():
    scene = Scene()
    T = scene_pose(2.5, (-0.35, 0.0, 0.0))
    frame, truth = scene.frame(T, np.arange(N_POINTS))
    # tracking against the last keyframe matched points 50–119
    tracked_ids = np.arange(50, 120)
    tracked_rows = np.array([np.nonzero(truth == i)[0][0] for i in tracked_ids])
    visible = (project(T, scene.X)[:, 0] >= 0) & (project(T, scene.X)[:, 0] < 320)
    found = search_by_projection(scene.map, frame, T, SCENE_K, VOConfig(local_map_keyframes=3), tracked_ids,
                                 tracked_rows)
    assert len(found) and (truth[found[:, 1]] == found[:, 0]).all()  # every one right
    assert not np.isin(found[:, 0], tracked_ids).any() and not np.isin(found[:, 1], tracked_rows).any()
    assert len(np.unique(found[:, 1])) == len(found)
    wanted = np.setdiff1d(np.nonzero(visible)[0], tracked_ids)
    assert len(found) >= 0.9 * len(wanted), (len(found), len(wanted))  # those of the older keyframes too
    assert (found[:, 0] < 50).sum() > 30
    # a window of the last keyframe only: points 0–49 are out of reach
    last_only = search_by_projection(scene.map, frame, T, SCENE_K, VOConfig(local_map_keyframes=1), tracked_ids,
                                     tracked_rows)
    assert len(last_only) and (last_only[:, 0] >= 50).all()


def test_nothing_is_found_from_a_pose_off_by_more_than_the_radius():
    scene = Scene()
    T = scene_pose(2.5, (-0.35, 0.0, 0.0))
    frame, _ = scene.frame(T, np.arange(N_POINTS), distractors=0)
    off = _turned(T, deg=4.0)  # about 20 px sideways at f = 300
    cfg = VOConfig(local_map_keyframes=3)
    none = np.zeros(0, np.int64)
    assert len(search_by_projection(scene.map, frame, off, SCENE_K, cfg, none, none)) == 0
    # and a point of a dead map point or of another segment is never looked for
    scene.map.alive[:] = False
    assert len(search_by_projection(scene.map, frame, T, SCENE_K, cfg, none, none)) == 0


@pytest.mark.parametrize("ratio, found", [(0.9, False), (1.0, True)])
def test_an_ambiguous_point_is_left_out(ratio, found):
    """Two keypoints a pixel apart with the same descriptor: the ratio test refuses to choose."""
    scene = Scene()
    T = scene_pose(2.5, (-0.35, 0.0, 0.0))
    frame, truth = scene.frame(T, np.array([10]), distractors=0)
    twin = _frame(9, np.concatenate([frame.keypoints, frame.keypoints + 1.0]),
                  torch.cat([frame.features.descriptors] * 2))
    none = np.zeros(0, np.int64)
    got = search_by_projection(scene.map, twin, T, SCENE_K, VOConfig(local_map_keyframes=3, local_map_ratio=ratio),
                               none, none)
    assert (len(got) == 1) is found and (not found or got[0, 0] == 10)


def test_the_local_map_pulls_a_poor_pose_back():
    scene = Scene()
    T = scene_pose(2.5, (-0.35, 0.0, 0.0))
    frame, truth = scene.frame(T, np.arange(N_POINTS), px_noise=0.2)
    tracked_ids = np.arange(100, 112)  # a dozen points
    tracked_rows = np.array([np.nonzero(truth == i)[0][0] for i in tracked_ids])
    poor = _turned(T, deg=0.2, shift=(0.005, 0.0, 0.01))  # about 1 px off
    out = track_local_map(scene.map, frame, poor, SCENE_K, VOConfig(local_map_keyframes=3, min_tracked_points=10),
                          tracked_ids, tracked_rows)
    assert out is not None
    refined, kept, found = out
    assert kept.all() and len(found) > 60 and (truth[found[:, 1]] == found[:, 0]).all()
    err = lambda A: np.linalg.norm((A @ np.linalg.inv(T))[:3, 3]) + np.linalg.norm(A[:3, :3] - T[:3, :3])
    # better than the same refinement on the tracked corner alone
    alone, _ = refine_pose(scene.X[tracked_ids], frame.keypoints[tracked_rows], SCENE_K, poor, 3.0, 10)
    assert err(refined) < 0.7 * err(alone) and err(refined) < 0.2 * err(poor), (err(refined), err(alone), err(poor))
