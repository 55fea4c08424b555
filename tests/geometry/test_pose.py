"""Rigid poses: algebra, rotation angles, pose errors."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from slamfeat.geometry.pose import (angle_error_R, angle_error_t, invert_pose, pose_error, pose_matrix, relative_pose,
                                    rotation_angle_deg, transform)


def _pose(rotvec, t):
    return pose_matrix(Rotation.from_rotvec(rotvec).as_matrix(), t)


def test_relative_pose_maps_camera0_to_camera1():
    T0, T1 = _pose([0.1, -0.2, 0.3], [1, 2, 3]), _pose([-0.3, 0.1, 0.05], [-2, 0.5, 1])
    X_world = np.random.default_rng(1).normal(size=(10, 3))
    X0, X1 = transform(invert_pose(T0), X_world), transform(invert_pose(T1), X_world)
    assert np.allclose(transform(relative_pose(T0, T1), X0), X1)


def test_angle_errors():
    R = Rotation.from_rotvec([0, 0, np.radians(7)]).as_matrix()
    assert angle_error_R(R, np.eye(3)) == pytest.approx(7.0)
    assert angle_error_t(np.array([1, 0, 0]), np.array([0, 2, 0])) == pytest.approx(90.0)


def test_rotation_angle_is_accurate_near_zero_and_batched():
    angles = np.array([1e-6, 0.5, 90.0, 179.0])
    R = Rotation.from_rotvec(np.radians(angles)[:, None] * np.array([[0.0, 0.6, 0.8]])).as_matrix()
    assert rotation_angle_deg(R) == pytest.approx(angles, rel=1e-6)


def test_invert_pose_and_pose_matrix():
    T = _pose([0.3, -0.1, 0.2], [1.0, -2.0, 0.5])
    assert np.allclose(invert_pose(T) @ T, np.eye(4))
    assert np.allclose(pose_matrix(T[:3, :3], T[:3, 3]), T)


def test_pose_error_folds_the_sign_of_the_translation():
    T = _pose([0.0, 0.1, 0.0], [1.0, 0.0, 0.0])
    assert pose_error(T, T[:3, :3], -T[:3, 3]) == pytest.approx((0.0, 0.0), abs=1e-6)
    err_R, err_t = pose_error(T, np.eye(3), np.array([0.0, 1.0, 0.0]))
    assert err_R == pytest.approx(np.degrees(0.1)) and err_t == pytest.approx(90.0)
