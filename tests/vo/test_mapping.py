"""Map maintenance: new points only where neither keyframe has one, and the local bundle adjustment."""

import numpy as np

from fixtures.vo import SCENE_K, project, same_rows, scene_frame, scene_points, scene_pose
from slamfeat.vo.config import VOConfig
from slamfeat.vo.map import Keyframe, PointMap
from slamfeat.vo.mapping import adjust_local_window, point_colors, triangulate_new_points


def _keyframes(X, poses, segment=0):
    return [Keyframe(scene_frame(i, project(T, X)), T.copy(), np.full(len(X), -1, np.int64), segment)
            for i, T in enumerate(poses)]


def test_new_points_only_where_neither_keyframe_has_one():
    X = scene_points(100)
    ref, new = _keyframes(X, [scene_pose(0.0), scene_pose(-2.0, (-0.5, 0.0, 0.0))])
    point_map = PointMap()
    point_map.add_points(np.zeros((3, 3)))
    ref.point_ids[:3] = [0, 1, 2]  # already observed by ref
    point_map.keyframes += [ref, new]
    pairs = same_rows(len(X))
    triangulate_new_points(point_map, ref, new, pairs, SCENE_K, VOConfig())
    assert ref.point_ids[:3].tolist() == [0, 1, 2] and (new.point_ids[:3] == -1).all()
    made = new.point_ids[3:]
    assert (made >= 3).all() and np.array_equal(ref.point_ids[3:], made)
    assert np.allclose(point_map.xyz[made], X[3:], atol=1e-6)
    assert (point_map.colors[made] == 200).all()  # no image: grey


def test_local_bundle_adjustment_pulls_noisy_points_back():
    X = scene_points(80)
    poses = [scene_pose(0.0), scene_pose(-1.0, (-0.3, 0, 0)), scene_pose(-2.0, (-0.6, 0, 0.1))]
    point_map = PointMap()
    noisy = X + np.random.default_rng(1).normal(0, 0.02, X.shape)
    ids = point_map.add_points(noisy)
    point_map.keyframes = _keyframes(X, poses)
    for kf in point_map.keyframes:
        kf.point_ids[:] = ids
    assert adjust_local_window(point_map, SCENE_K, VOConfig())
    before = np.linalg.norm(noisy - X, axis=1).mean()
    after = np.linalg.norm(point_map.xyz - X, axis=1).mean()
    assert after < 0.2 * before, (before, after)
    assert point_map.alive.all()
    assert not adjust_local_window(point_map, SCENE_K, VOConfig(ba_window=0))  # switched off
    point_map.keyframes[-1].segment = 1  # a new segment alone: a window of one
    assert not adjust_local_window(point_map, SCENE_K, VOConfig())


def test_colours_come_from_the_image_at_the_keypoints():
    frame = scene_frame(0, np.array([[0.2, 0.4], [319.0, 239.0]]))
    frame.image = np.zeros((240, 320, 3), np.uint8)
    frame.image[0, 0] = (1, 2, 3)
    frame.image[239, 319] = (4, 5, 6)
    assert point_colors(frame, np.array([0, 1])).tolist() == [[1, 2, 3], [4, 5, 6]]
    assert point_colors(frame, np.zeros(0, np.int64)).shape == (0, 3)


def test_older_keyframes_hold_the_window_points_where_they_saw_them():
    """Window of two keyframes (the first held still), three older ones observing the same points: with them
    as fixed anchors the noisy points and the free keyframe come back much closer to the truth, and the
    anchors themselves do not move."""
    X = scene_points(80, seed=2)
    poses = [scene_pose(0.5 * k, (-0.25 * k, 0.02 * k, 0.05 * k)) for k in range(5)]
    errors = {}
    for anchors in (0, 3):
        point_map = PointMap()
        ids = point_map.add_points(X + np.random.default_rng(3).normal(0, 0.05, X.shape))
        point_map.keyframes = _keyframes(X, poses)
        for kf in point_map.keyframes:
            kf.point_ids[:] = ids
        point_map.keyframes[-1].T_cam_world = scene_pose(2.3, (-1.05, 0.1, 0.2))  # a poor start for the free one
        before = [kf.T_cam_world.copy() for kf in point_map.keyframes[:3]]
        assert adjust_local_window(point_map, SCENE_K, VOConfig(ba_window=2, ba_anchor_keyframes=anchors,
                                                                ba_iterations=20))
        T = point_map.keyframes[-1].T_cam_world
        errors[anchors] = (np.linalg.norm(point_map.xyz - X, axis=1).mean(),
                           np.linalg.norm(T[:3, 3] - poses[-1][:3, 3]))
        assert all(np.array_equal(b, kf.T_cam_world) for b, kf in zip(before, point_map.keyframes[:3]))
    assert errors[3][0] < 0.3 * errors[0][0] and errors[3][1] < 0.3 * errors[0][1], errors
