"""Two views to a first map: the decision to try, wait or start over, and the map's scale and frame."""

import numpy as np
import pytest

from fixtures.vo import SCENE_K, project, same_rows, scene_frame, scene_points, scene_pose
from slamfeat.geometry.two_view import TwoViewResult
from slamfeat.vo.config import VOConfig
from slamfeat.vo.initialisation import InitialisationStep, reinitialisation_scale, seed_map, try_two_view
from slamfeat.vo.map import PointMap


def _views(baseline: float = 0.6, gap: int = 4):
    X = scene_points()
    T0, T1 = scene_pose(0.0), scene_pose(-3.0, (-baseline, 0.0, 0.0))
    return X, T0, T1, scene_frame(0, project(T0, X)), scene_frame(gap, project(T1, X))


def test_two_views_start_a_map_in_the_world_frame():
    X, T0, T1, ref, frame = _views()
    pairs = same_rows(len(X))
    two = try_two_view(ref, frame, pairs, SCENE_K, VOConfig())
    assert isinstance(two, TwoViewResult) and len(two.match_rows) > 150
    assert np.allclose(two.R, T1[:3, :3], atol=1e-3)
    # a re-initialisation from a known pose T_ref with the true baseline rebuilds the world as it was
    T_ref = scene_pose(10.0, (0.5, -0.2, 1.0))
    T_world_from_T0 = np.linalg.inv(T_ref)  # the new map's world: T_ref is camera 0's pose in it
    point_map = PointMap()
    kf0, kf1 = seed_map(point_map, ref, frame, pairs[two.match_rows], two, T_ref, 0.6, segment=3)
    assert point_map.keyframes == [kf0, kf1] and kf0.segment == kf1.segment == 3
    expected = X[two.match_rows] @ T_world_from_T0[:3, :3].T + T_world_from_T0[:3, 3]
    assert np.allclose(point_map.xyz, expected, atol=1e-3)
    assert np.allclose(kf1.T_cam_world, T1 @ T_ref, atol=1e-3)
    assert np.array_equal(kf0.point_ids[two.match_rows], np.arange(len(two.match_rows)))
    assert (kf1.point_ids >= 0).sum() == len(two.match_rows)


@pytest.mark.parametrize("matches, gap, step", [
    (40, 2, InitialisationStep.RESTART),  # under half the matches needed
    (60, 2, InitialisationStep.WAIT),  # too few yet; the reference is young
    (60, 25, InitialisationStep.RESTART),  # too few, and the reference is too old
])
def test_too_few_matches(matches, gap, step):
    X, _, _, ref, frame = _views(gap=gap)
    pairs = same_rows(matches)
    assert try_two_view(ref, frame, pairs, SCENE_K, VOConfig()) is step


def test_no_parallax_waits_then_starts_over():
    X = scene_points()
    T0, T1 = scene_pose(0.0), scene_pose(0.0, (-0.01, 0.0, 0.0))  # a baseline too short for 2°
    pairs = same_rows(len(X))
    young = try_two_view(scene_frame(0, project(T0, X)), scene_frame(3, project(T1, X)), pairs, SCENE_K, VOConfig())
    old = try_two_view(scene_frame(0, project(T0, X)), scene_frame(30, project(T1, X)), pairs, SCENE_K, VOConfig())
    assert (young, old) == (InitialisationStep.WAIT, InitialisationStep.RESTART)


def test_reinitialisation_scale_follows_the_recent_speed():
    assert reinitialisation_scale([0.1, 0.2, 0.3, 5.0], 3) == pytest.approx(0.75)
    assert reinitialisation_scale([0.0, 0.0], 2) == pytest.approx(2e-6)
