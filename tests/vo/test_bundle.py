"""Local bundle adjustment: perturbed poses and points go back to the truth."""

import numpy as np
from scipy.optimize._numdiff import approx_derivative
from scipy.spatial.transform import Rotation

from slamfeat.vo.bundle import _Problem, bundle_adjust
from slamfeat.geometry.pose import pose_matrix

K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])


def _window(n_kf=4, n_pts=150, seed=0):
    rng = np.random.default_rng(seed)
    X = np.stack([rng.uniform(-4, 4, n_pts), rng.uniform(-3, 3, n_pts), rng.uniform(6, 12, n_pts)], 1)
    poses = np.stack([pose_matrix(Rotation.from_euler("y", 2 * k, degrees=True).as_matrix(), [-0.5 * k, 0, 0])
                      for k in range(n_kf)])
    obs_kf = np.repeat(np.arange(n_kf), n_pts)
    obs_pt = np.tile(np.arange(n_pts), n_kf)
    Xc = np.einsum("nij,nj->ni", poses[obs_kf, :3, :3], X[obs_pt]) + poses[obs_kf, :3, 3]
    xy = Xc[:, :2] / Xc[:, 2:] * 300 + K[:2, 2]
    return poses, X, obs_kf, obs_pt, xy


def test_bundle_adjustment_undoes_a_perturbation():
    poses, X, obs_kf, obs_pt, xy = _window()
    rng = np.random.default_rng(1)
    noisy = poses.copy()
    for k in (2, 3):
        noisy[k, :3, :3] = Rotation.from_rotvec(rng.normal(0, 0.01, 3)).as_matrix() @ noisy[k, :3, :3]
        noisy[k, :3, 3] += rng.normal(0, 0.05, 3)
    fixed = np.array([True, True, False, False])
    result = bundle_adjust(noisy, fixed, X + rng.normal(0, 0.05, X.shape), obs_kf, obs_pt, xy, K, max_iterations=30)
    assert result.cost_after < 1e-3 * result.cost_before
    assert np.allclose(result.poses[:2], noisy[:2])  # fixed ones stay
    assert np.abs(result.poses[2:, :3, 3] - poses[2:, :3, 3]).max() < 5e-3
    assert np.median(result.errors) < 0.01


def test_jacobian_matches_finite_differences():
    poses, X, obs_kf, obs_pt, xy = _window(3, 20)
    problem = _Problem(poses[:, :3, :3], poses[:, :3, 3], np.array([1, 2]), obs_kf, obs_pt, xy, K, len(X))
    x = np.concatenate([np.zeros(12), X.ravel()])  # the rotation derivative is exact at a zero increment
    J = problem.jacobian(x).toarray()
    assert np.abs(J - approx_derivative(problem.residuals, x)).max() < 1e-6 * np.abs(J).max()
