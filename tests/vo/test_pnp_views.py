"""Map points count the keyframes that saw them, and PnP poses a frame on the points three or more fixed."""

import numpy as np

from fixtures.vo import SCENE_K, project, same_rows, scene_frame, scene_points, scene_pose
from slamfeat.geometry.pose import invert_pose
from slamfeat.vo.config import VOConfig
from slamfeat.vo.keyframes import append_keyframe
from slamfeat.vo.map import Keyframe, PointMap
from slamfeat.vo.mapping import triangulate_new_points
from slamfeat.vo.tracking import localise


def test_a_point_counts_the_keyframes_that_observed_it():
    X = scene_points(50)
    poses = [scene_pose(0.0), scene_pose(0.0, (-0.4, 0.0, 0.0)), scene_pose(1.0, (-0.8, 0.0, 0.0))]
    kfs = [Keyframe(scene_frame(i, project(T, X)), T, np.full(len(X), -1, np.int64)) for i, T in enumerate(poses[:2])]
    point_map = PointMap()
    point_map.keyframes += kfs
    pairs = same_rows(len(X))
    triangulate_new_points(point_map, kfs[0], kfs[1], pairs, SCENE_K, VOConfig())
    ids = kfs[1].point_ids
    assert (ids >= 0).all() and (point_map.views[ids] == 2).all()  # made by two keyframes
    # a third keyframe tracks the first 30 of them
    inliers = same_rows(30)
    append_keyframe(point_map, scene_frame(2, project(poses[2], X)), poses[2], inliers, 0)
    assert (point_map.views[ids[:30]] == 3).all() and (point_map.views[ids[30:]] == 2).all()


def test_pnp_poses_the_frame_on_the_points_three_keyframes_fixed():
    """A keyframe holds 60 points seen by three keyframes and 140 triangulated by the last two in a turn,
    whose depth came out 0.8 of the truth (one scale for all of them, so they agree with a frame 0.8 as far
    away): PnP on every point follows the many; PnP on the well-seen ones finds the frame where it is."""
    X = scene_points(200, seed=4)
    T_kf, T_frame = scene_pose(0.0), scene_pose(-3.0, (-1.0, 0.05, -0.6))
    kf = Keyframe(scene_frame(0, project(T_kf, X)), T_kf, np.arange(200, dtype=np.int64))
    frame = scene_frame(1, project(T_frame, X))
    centre = invert_pose(T_kf)[:3, 3]
    fresh = np.arange(200) >= 60
    stored = X.copy()
    stored[fresh] = centre + 0.8 * (X[fresh] - centre)  # the same pixels in the keyframe, 0.8 of the depth
    point_map = PointMap()
    point_map.add_points(stored)
    point_map.observe(np.arange(60))
    point_map.keyframes.append(kf)
    pairs = same_rows(200)
    true_t = invert_pose(T_frame)[:3, 3]

    def placed(**options):
        found = localise(point_map, kf, frame, None, SCENE_K, VOConfig(**options), None, 200, pairs)
        return np.linalg.norm(invert_pose(found.T_cam_world)[:3, 3] - true_t) / np.linalg.norm(true_t), found

    error_all, _ = placed(pnp_min_views=0)
    error_seen, found = placed(pnp_min_views=3)
    assert error_all > 0.1  # pulled towards 0.8 of the step by the many points of the turn
    assert error_seen < 0.01
    assert set(found.inliers[:, 0]) >= set(range(60))
    # with too few well-seen points matched, every point poses the frame
    error_few, _ = placed(pnp_min_views=3, pnp_min_views_points=61)
    assert abs(error_few - error_all) < 1e-9


def test_a_frame_that_sees_too_few_map_points_is_not_placed():
    """Below ``min_tracked_points`` PnP inliers (50) a frame is not placed, however well its points agree: a frame
    posed on a few dozen points in a whip turn would seed new points from a poorly fixed baseline (stop 29)."""
    X = scene_points(80, seed=5)
    T_kf, T_frame = scene_pose(0.0), scene_pose(2.0, (-0.5, 0.0, -0.2))
    kf = Keyframe(scene_frame(0, project(T_kf, X)), T_kf, np.arange(80, dtype=np.int64))
    point_map = PointMap()
    point_map.add_points(X)
    point_map.keyframes.append(kf)
    frame = scene_frame(1, project(T_frame, X))
    for seen, placed in ((40, False), (60, True)):
        pairs = same_rows(seen)
        found = localise(point_map, kf, frame, None, SCENE_K, VOConfig(), None, 200, pairs)
        assert (found is not None) is placed, seen
    # the floor before stop 29 (20) placed it on 40 points, where it is
    pairs = same_rows(40)
    found = localise(point_map, kf, frame, None, SCENE_K, VOConfig(min_tracked_points=20), None, 200, pairs)
    assert np.allclose(found.T_cam_world, T_frame, atol=1e-6)
