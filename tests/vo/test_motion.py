"""The constant-velocity motion model: prediction, velocity only between neighbouring frames, speeds."""

import numpy as np

from fixtures.vo import scene_pose
from slamfeat.vo.motion import MotionModel


def test_constant_motion_is_predicted():
    step = scene_pose(2.0, (0.1, 0.0, 0.3))
    start = scene_pose(-5.0, (1.0, 2.0, 3.0))
    motion = MotionModel()
    T = start
    for index in range(3):
        motion.update(T, index)
        T = step @ T
    assert np.allclose(motion.velocity, step)
    assert np.allclose(motion.predict(), T)  # the pose of frame 3
    assert np.allclose(motion.speeds, [np.linalg.norm(step[:3, 3])] * 2)


def test_velocity_only_between_neighbouring_frames():
    motion = MotionModel()
    motion.update(scene_pose(0.0, (0, 0, 0)), 5)
    assert np.array_equal(motion.velocity, np.eye(4))  # nothing before frame 5
    motion.update(scene_pose(0.0, (0, 0, 1)), 7)  # frame 6 was not tracked
    assert np.array_equal(motion.velocity, np.eye(4)) and motion.speeds == []
    motion.update(scene_pose(0.0, (0, 0, 2)), 8)
    assert np.allclose(motion.velocity[:3, 3], [0, 0, 1]) and motion.speeds == [1.0]
    motion.refine(scene_pose(0.0, (0, 0, 2.5)))  # bundle adjustment moved frame 8
    assert motion.index == 8 and motion.T_cam_world[2, 3] == 2.5
    motion.stop()
    assert np.array_equal(motion.velocity, np.eye(4)) and motion.T_cam_world[2, 3] == 2.5
    motion.restart(np.eye(4), 20)
    assert motion.index == 20 and motion.speeds == [1.0]  # the speeds scale the next re-initialisation


def test_speeds_keep_the_last_twenty():
    motion = MotionModel()
    for index in range(30):
        motion.update(scene_pose(0.0, (0, 0, index * (index + 1) / 2)), index)  # frame k moves k units
    assert np.allclose(motion.speeds, np.arange(10, 30))
