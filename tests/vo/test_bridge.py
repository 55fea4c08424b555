"""Bridging lost frames: poses chained by two-view geometry from the last tracked frame."""

import numpy as np
import torch

from fixtures.vo import SCENE_K, project
from slamfeat.features import Features
from slamfeat.geometry.pose import invert_pose, pose_matrix, rotation_angle_deg
from slamfeat.matching.matcher import Matcher
from slamfeat.vo.bridge import Bridge
from slamfeat.vo.config import VOConfig
from slamfeat.vo.map import Frame

RNG = np.random.default_rng(3)
# points all around the camera's path, 6–12 units away, each with its own descriptor
_dirs = RNG.normal(size=(3000, 3)) * [1.0, 0.3, 1.0]
POINTS = _dirs / np.linalg.norm(_dirs, axis=1, keepdims=True) * RNG.uniform(6, 12, (3000, 1))
DESC = torch.nn.functional.normalize(torch.from_numpy(RNG.normal(size=(3000, 32))).float(), dim=1)


def _yaw(deg, t):
    a = np.radians(deg)
    R = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    return pose_matrix(R, -R @ np.asarray(t, float))  # world-to-camera of a camera at t, turned by deg


def _frame(index, T_cam_world, scramble=False):
    Xc = POINTS @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
    uv = project(T_cam_world, POINTS)
    seen = (Xc[:, 2] > 0.5) & (uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) & (uv[:, 1] < 240)
    px = uv[seen] + np.random.default_rng(index).normal(0, 0.3, (int(seen.sum()), 2))
    d = torch.randn(int(seen.sum()), 32, generator=torch.Generator().manual_seed(index)) if scramble else DESC[torch.from_numpy(np.nonzero(seen)[0])]
    f = Features(torch.from_numpy(px.astype(np.float32)), torch.ones(len(px)),
                 torch.nn.functional.normalize(d, dim=1), (320, 240))
    return Frame(index, index / 30.0, f, px)


def _path(turn_deg, steps, step=0.2):
    """World-to-camera poses of a camera that turns by ``turn_deg`` and moves ``step`` forward a frame."""
    poses, centre = [], np.zeros(3)
    for k in range(steps):
        poses.append(_yaw(turn_deg * k, centre))
        a = np.radians(turn_deg * k)
        centre = centre + step * np.array([-np.sin(a), 0.0, np.cos(a)])  # the camera's optical axis
    return poses


def test_a_fast_turn_is_chained_frame_by_frame():
    # 25° a frame (the 56° view keeps about half of the last one), 0.2 units forward a frame
    truth = _path(25.0, 5)
    bridge, matchers, cfg = Bridge(), [Matcher()], VOConfig()
    bridge.anchor(_frame(0, truth[0]), truth[0])
    for k in range(1, 5):
        assert bridge.extend(_frame(k, truth[k]), matchers, SCENE_K, cfg, speed=0.2)
    assert sorted(bridge.poses) == [1, 2, 3, 4] and bridge.links == 4
    errors = [rotation_angle_deg(bridge.poses[k][:3, :3] @ truth[k][:3, :3].T) for k in range(1, 5)]
    assert max(errors) < 1.0, errors  # turned by 100° in all
    # the chain's positions follow the true path (each step's direction from the essential matrix)
    centres = np.array([invert_pose(bridge.poses[k])[:3, 3] for k in range(1, 5)])
    true_centres = np.array([invert_pose(truth[k])[:3, 3] for k in range(1, 5)])
    # (the last tracked position, where a new map started before, is 0.2–0.8 away)
    assert np.abs(centres - true_centres).max() < 0.1, centres - true_centres


def test_a_link_that_fails_ends_the_chain():
    T0, T1, T2 = _yaw(0.0, (0, 0, 0)), _yaw(10.0, (0, 0, 0.2)), _yaw(20.0, (0, 0, 0.4))
    bridge, matchers, cfg = Bridge(), [Matcher()], VOConfig()
    bridge.anchor(_frame(0, T0), T0)
    assert bridge.extend(_frame(1, T1), matchers, SCENE_K, cfg, speed=0.2)
    assert not bridge.extend(_frame(2, T2, scramble=True), matchers, SCENE_K, cfg, speed=0.2)  # nothing matches
    assert bridge.frame is None and not bridge.extend(_frame(3, T2), matchers, SCENE_K, cfg, speed=0.2)
    assert sorted(bridge.poses) == [1]  # what was bridged before stays
    bridge.anchor(_frame(4, T2), T2)  # tracking again: a fresh chain
    assert bridge.poses == {} and bridge.frame.index == 4


class _Blind:
    """A matcher that matches nothing."""

    def match(self, f0, f1):
        return torch.full((len(f0),), -1), torch.zeros(len(f0))


def test_a_link_the_matcher_cannot_make_is_made_by_the_fallback():
    T0, T1 = _yaw(0.0, (0, 0, 0)), _yaw(20.0, (0, 0, 0.2))
    for matchers, linked in (([_Blind()], False), ([_Blind(), Matcher()], True)):
        bridge = Bridge()
        bridge.anchor(_frame(0, T0), T0)
        assert bridge.extend(_frame(1, T1), matchers, SCENE_K, VOConfig(), speed=0.2) is linked
        assert (1 in bridge.poses) is linked


def test_degenerate_geometry_ends_the_chain_without_raising(monkeypatch):
    import cv2

    import slamfeat.vo.bridge as bridge_module

    def fails(*args, **kwargs):
        raise cv2.error("degenerate")

    monkeypatch.setattr(bridge_module, "estimate_relative_pose", fails)
    T0, T1 = _yaw(0.0, (0, 0, 0)), _yaw(10.0, (0, 0, 0.2))
    bridge = Bridge()
    bridge.anchor(_frame(0, T0), T0)
    assert not bridge.extend(_frame(1, T1), [Matcher()], SCENE_K, VOConfig(), speed=0.2)
    assert bridge.frame is None and bridge.poses == {}
