"""When a tracked frame becomes a keyframe, the map points it inherits, and the poses that follow keyframes."""

import numpy as np
import pytest

from fixtures.vo import scene_frame, scene_pose
from slamfeat.vo.config import VOConfig
from slamfeat.vo.keyframes import append_keyframe, keyframe_due
from slamfeat.geometry.pose import invert_pose
from slamfeat.vo.map import Keyframe, PointMap
from slamfeat.vo.results import FrameResult, FrameStatus


@pytest.mark.parametrize("tracked, first_tracked, gap, due", [
    (100, 100, 1, False),
    (76, 100, 14, False),  # above 0.75 × 100 and 60 points, one frame short of the gap
    (74, 100, 1, True),  # thinned below 0.75 of the first frame after the keyframe
    (59, 90, 1, True),  # below 60 points
    (100, 100, 15, True),  # the gap
])
def test_keyframe_due(tracked, first_tracked, gap, due):
    assert keyframe_due(VOConfig(), tracked, first_tracked, gap) is due


def test_new_keyframe_observes_the_tracked_points():
    point_map = PointMap()
    point_map.add_points(np.zeros((14, 3)))
    ref = Keyframe(scene_frame(0, np.zeros((6, 2))), np.eye(4), np.array([-1, 10, 11, -1, 12, 13]), segment=2)
    point_map.keyframes.append(ref)
    inliers = np.array([[1, 3], [4, 0], [5, 2]])  # (ref keypoint, frame keypoint)
    new = append_keyframe(point_map, scene_frame(7, np.zeros((5, 2))), scene_pose(3.0), inliers, segment=2)
    assert point_map.keyframes[-1] is new and new.index == 7 and new.segment == 2
    assert new.point_ids.tolist() == [12, -1, 13, 10, -1]
    assert new.first_tracked is None


def test_new_keyframe_keeps_the_local_map_points_found_in_it():
    point_map = PointMap()
    point_map.add_points(np.zeros((12, 3)))
    ref = Keyframe(scene_frame(0, np.zeros((4, 2))), np.eye(4), np.array([10, 11, -1, -1]), segment=0)
    point_map.keyframes.append(ref)
    found = np.array([[3, 4], [7, 1]])  # (map point of an older keyframe, frame keypoint)
    new = append_keyframe(point_map, scene_frame(1, np.zeros((5, 2))), scene_pose(1.0), np.array([[0, 0]]),
                          segment=0, map_matches=found)
    assert new.point_ids.tolist() == [10, 7, -1, -1, 3]


def test_a_frame_pose_follows_its_keyframe_when_bundle_adjustment_moves_it():
    kf = Keyframe(scene_frame(0, np.zeros((4, 2))), scene_pose(2.0, (0.1, 0.0, 0.0)), np.full(4, -1))
    T_cam_world = scene_pose(5.0, (0.3, 0.1, 0.0))
    result = FrameResult(3, 0.1, FrameStatus.TRACKED, invert_pose(T_cam_world)).anchored(kf)
    assert np.allclose(result.final_pose(), invert_pose(T_cam_world))  # as tracked while the keyframe stays
    moved = scene_pose(-1.0, (0.0, 0.0, 0.2))
    kf.T_cam_world = moved @ kf.T_cam_world  # the adjustment moves the keyframe in its own camera frame
    assert np.allclose(result.final_pose(), invert_pose(T_cam_world @ invert_pose(scene_pose(2.0, (0.1, 0, 0)))
                                                        @ kf.T_cam_world))
    assert np.allclose(result.T_world_cam, invert_pose(T_cam_world))  # the pose as tracked stays
    # relative to the keyframe, nothing changed
    assert np.allclose(invert_pose(result.final_pose()) @ invert_pose(kf.T_cam_world),
                       T_cam_world @ invert_pose(scene_pose(2.0, (0.1, 0, 0))))
    assert FrameResult(4, 0.2, FrameStatus.LOST).anchored(kf).final_pose() is None
