"""When a tracked frame becomes a keyframe, and the map points it inherits."""

import numpy as np
import pytest

from fixtures.vo import scene_frame, scene_pose
from slamfeat.vo.config import VOConfig
from slamfeat.vo.keyframes import append_keyframe, keyframe_due
from slamfeat.vo.map import Keyframe, PointMap


@pytest.mark.parametrize("tracked, first_tracked, gap, due", [
    (100, 100, 1, False),
    (61, 100, 14, False),  # above 0.6 × 100 and 60 points, one frame short of the gap
    (100, 200, 1, True),  # thinned below 0.6 of the first frame after the keyframe
    (59, 90, 1, True),  # below 60 points
    (100, 100, 15, True),  # the gap
])
def test_keyframe_due(tracked, first_tracked, gap, due):
    assert keyframe_due(VOConfig(), tracked, first_tracked, gap) is due


def test_new_keyframe_observes_the_tracked_points():
    point_map = PointMap()
    ref = Keyframe(scene_frame(0, np.zeros((6, 2))), np.eye(4), np.array([-1, 10, 11, -1, 12, 13]), segment=2)
    point_map.keyframes.append(ref)
    inliers = np.array([[1, 3], [4, 0], [5, 2]])  # (ref keypoint, frame keypoint)
    new = append_keyframe(point_map, scene_frame(7, np.zeros((5, 2))), scene_pose(3.0), inliers, segment=2)
    assert point_map.keyframes[-1] is new and new.index == 7 and new.segment == 2
    assert new.point_ids.tolist() == [12, -1, 13, 10, -1]
    assert new.first_tracked is None
