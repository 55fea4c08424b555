import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from slamfeat.geometry.camera import (angle_error_R, angle_error_t, epipolar_errors, estimate_relative_pose,
                                      intrinsics_from_fov, invert_pose, pose_auc, pose_error, project,
                                      relative_pose, sample_depth, transform, unproject, warp_keypoints_with_depth)


def _pose(rotvec, t):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def test_intrinsics_from_fov_airsim_default():
    K = intrinsics_from_fov(640, 480, 90.0)
    assert K[0, 0] == pytest.approx(320.0) and K[1, 1] == pytest.approx(320.0)
    assert K[:2, 2] == pytest.approx([319.5, 239.5])
    assert intrinsics_from_fov(640, 480, 60.0)[0, 0] == pytest.approx(320 / np.tan(np.radians(30)))


def test_project_unproject_round_trip():
    K = intrinsics_from_fov(320, 240, 75)
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 300, (50, 2))
    z = rng.uniform(1, 30, 50)
    p = unproject(kp, z, K)
    assert p[:, 2] == pytest.approx(z)
    assert np.allclose(project(p, K), kp)


def test_relative_pose_maps_camera0_to_camera1():
    T0, T1 = _pose([0.1, -0.2, 0.3], [1, 2, 3]), _pose([-0.3, 0.1, 0.05], [-2, 0.5, 1])
    X_world = np.random.default_rng(1).normal(size=(10, 3))
    X0, X1 = transform(invert_pose(T0), X_world), transform(invert_pose(T1), X_world)
    assert np.allclose(transform(relative_pose(T0, T1), X0), X1)


def test_warp_keypoints_with_depth_plane_and_occlusion():
    K = intrinsics_from_fov(64, 48, 90)
    depth0 = np.full((48, 64), 10.0, np.float32)
    T = np.eye(4)
    T[0, 3] = -1.0  # camera 1 is 1 m to the right: points move left by f·1/10 px
    kp0 = np.array([[20.0, 10.0], [40.5, 30.25], [2.0, 2.0]])
    kp1, cov = warp_keypoints_with_depth(kp0, depth0, K, K, T, depth1=depth0)
    assert np.allclose(kp1, kp0 - [K[0, 0] / 10, 0])
    assert cov.tolist() == [True, True, False]  # the last one leaves the image
    occluder = depth0.copy()
    occluder[:, :30] = 4.0
    _, cov = warp_keypoints_with_depth(kp0, depth0, K, K, T, depth1=occluder)
    assert cov.tolist() == [False, True, False]


def test_sample_depth_keeps_edges():
    depth = np.ones((10, 10), np.float32)
    depth[:, 5:] = 10.0
    d = sample_depth(depth, np.array([[2.5, 3.0], [4.4, 3.0], [4.6, 3.0], [-3, 0], [7.5, 2.0]]))
    assert d[:3].tolist() == [1.0, 1.0, 10.0] and np.isnan(d[3]) and d[4] == 10.0


def test_pose_auc_by_hand():
    assert pose_auc([0.0, 10.0], [5]) == pytest.approx([0.5])
    assert pose_auc([0.0, 0.0], [5, 10]) == pytest.approx([1.0, 1.0])
    assert pose_auc([2.0, np.inf], [4]) == pytest.approx([(0.5 * 2 * 0.5 + 2 * 0.5) / 4])  # ramp to 2°, then flat
    assert pose_auc([], [5]) == [0.0]


def test_angle_errors():
    R = Rotation.from_rotvec([0, 0, np.radians(7)]).as_matrix()
    assert angle_error_R(R, np.eye(3)) == pytest.approx(7.0)
    assert angle_error_t(np.array([1, 0, 0]), np.array([0, 2, 0])) == pytest.approx(90.0)


def _scene_pairs(T_0to1, K, n=200, seed=0):
    rng = np.random.default_rng(seed)
    X0 = np.c_[rng.uniform(-5, 5, (n, 2)), rng.uniform(5, 15, n)]
    return project(X0, K), project(transform(T_0to1, X0), K)


def test_estimate_relative_pose_exact_and_epipolar_errors():
    K = intrinsics_from_fov(640, 480, 90)
    T = _pose([0.02, -0.05, 0.01], [0.5, 0.1, 0.2])
    kp0, kp1 = _scene_pairs(T, K)
    R, t, inliers = estimate_relative_pose(kp0, kp1, K, K, 1.0)
    err_R, err_t = pose_error(T, R, t)
    assert err_R < 0.05 and err_t < 0.5 and inliers.mean() > 0.95
    assert np.all(epipolar_errors(kp0, kp1, K, K, T) < 1e-10)
    assert np.all(epipolar_errors(kp0, kp1 + [0, 15], K, K, T)[np.abs(kp0[:, 0] - kp1[:, 0]) > 5] > 5e-4)
    assert estimate_relative_pose(kp0[:4], kp1[:4], K, K) is None
