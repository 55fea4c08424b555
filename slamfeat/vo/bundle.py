"""Local bundle adjustment over a window of keyframes with scipy's sparse least squares.

Unknowns: a rotation increment and a translation per free keyframe (``T_cam_world``,
``R = exp(δ) R₀``) and every point's world position. Residuals: reprojection errors in pixels
(undistorted pinhole). Outliers are gated out before the solve (observations whose error at
the start exceeds ``gate_px`` take no part) and the rest is plain least squares: scipy's robust
losses converge too slowly for the handful of iterations a frame-rate budget allows. The sparse Jacobian is written out
(the pinhole derivative chained with a left rotation increment), so an iteration costs one
residual and one Jacobian evaluation whatever the window size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import csr_matrix
from scipy.spatial.transform import Rotation

LSMR_ITERATIONS = 100  # an inexact inner solve per step is enough and keeps a step cheap


@dataclass
class BundleResult:
    poses: np.ndarray  # K×4×4 world-to-camera
    points: np.ndarray  # P×3 world
    errors: np.ndarray  # O reprojection errors in pixels after adjustment
    cost_before: float
    cost_after: float


def _unpack(params: np.ndarray, R0: np.ndarray, t0: np.ndarray, free_index: np.ndarray):
    n_free = len(free_index)
    delta = params[: 6 * n_free].reshape(n_free, 6)
    R, t = R0.copy(), t0.copy()
    if n_free:
        R[free_index] = Rotation.from_rotvec(delta[:, :3]).as_matrix() @ R0[free_index]
        t[free_index] = t0[free_index] + delta[:, 3:]
    return R, t, params[6 * n_free:].reshape(-1, 3)


class _Problem:
    """Residuals and their sparse Jacobian for fixed observations."""

    def __init__(self, R0, t0, free_index, obs_kf, obs_pt, obs_xy, K, n_points):
        self.R0, self.t0, self.free_index = R0, t0, free_index
        self.obs_kf, self.obs_pt, self.obs_xy, self.K = obs_kf, obs_pt, obs_xy, K
        n_obs, n_free = len(obs_kf), len(free_index)
        self.n_free = n_free
        slot = np.full(len(R0), -1, np.int64)
        slot[free_index] = np.arange(n_free)
        self.obs_slot = slot[obs_kf]
        self.free_obs = np.nonzero(self.obs_slot >= 0)[0]
        # column indices: 2 rows per observation, 3 point columns each, 6 pose columns when free
        rows_pt = np.repeat(2 * np.arange(n_obs)[:, None] + np.arange(2)[None], 3, axis=1)  # O×6
        cols_pt = np.tile(6 * n_free + 3 * obs_pt[:, None] + np.arange(3)[None], (1, 2))
        f = self.free_obs
        rows_pose = np.repeat(2 * f[:, None] + np.arange(2)[None], 6, axis=1)
        cols_pose = np.tile(6 * self.obs_slot[f][:, None] + np.arange(6)[None], (1, 2))
        self.rows = np.concatenate([rows_pt.ravel(), rows_pose.ravel()])
        self.cols = np.concatenate([cols_pt.ravel(), cols_pose.ravel()])
        self.shape = (2 * n_obs, 6 * n_free + 3 * n_points)

    def _camera_points(self, params):
        R, t, X = _unpack(params, self.R0, self.t0, self.free_index)
        RX = np.einsum("nij,nj->ni", R[self.obs_kf], X[self.obs_pt])
        return R, RX, RX + t[self.obs_kf]

    def residuals(self, params: np.ndarray) -> np.ndarray:
        _, _, Xc = self._camera_points(params)
        z = np.where(np.abs(Xc[:, 2]) > 1e-9, Xc[:, 2], 1e-9)
        uv = Xc[:, :2] / z[:, None] * self.K[[0, 1], [0, 1]] + self.K[:2, 2]
        return (uv - self.obs_xy).ravel()

    def jacobian(self, params: np.ndarray) -> csr_matrix:
        R, RX, Xc = self._camera_points(params)
        fx, fy = self.K[0, 0], self.K[1, 1]
        x, y = Xc[:, 0], Xc[:, 1]
        z = np.where(np.abs(Xc[:, 2]) > 1e-9, Xc[:, 2], 1e-9)
        zero = np.zeros_like(z)
        d_proj = np.stack([np.stack([fx / z, zero, -fx * x / z ** 2], 1),
                           np.stack([zero, fy / z, -fy * y / z ** 2], 1)], 1)  # O×2×3
        d_point = d_proj @ R[self.obs_kf]  # O×2×3
        f = self.free_obs
        # d(R X + t)/d(rotation increment) = -[R X]×, d/dt = I
        v = RX[f]
        skew = np.zeros((len(f), 3, 3))
        skew[:, 0, 1], skew[:, 0, 2] = -v[:, 2], v[:, 1]
        skew[:, 1, 0], skew[:, 1, 2] = v[:, 2], -v[:, 0]
        skew[:, 2, 0], skew[:, 2, 1] = -v[:, 1], v[:, 0]
        d_rot = -d_proj[f] @ skew
        d_pose = np.concatenate([d_rot, d_proj[f]], axis=2)  # F×2×6
        data = np.concatenate([d_point.reshape(-1), d_pose.reshape(-1)])
        return csr_matrix((data, (self.rows, self.cols)), shape=self.shape)


def bundle_adjust(poses: np.ndarray, fixed: np.ndarray, points: np.ndarray, obs_kf: np.ndarray,
                  obs_pt: np.ndarray, obs_xy: np.ndarray, K: np.ndarray, gate_px: float | None = 12.0,
                  max_iterations: int = 10) -> BundleResult:
    """Refine keyframe poses and points to minimise the robust reprojection error.

    Args:
        poses: ``K×4×4`` world-to-camera poses; ``fixed`` (``K`` bools) marks those held still
            (at least one, to fix the gauge).
        points: ``P×3`` world points.
        obs_kf, obs_pt: ``O`` keyframe and point index of each observation.
        obs_xy: ``O×2`` observed undistorted pixels.
        K: ``3×3`` intrinsics.
        gate_px: observations with a larger initial error are left out of the solve (None: none).
    Returns:
        adjusted poses and points, and the error of every observation (gated ones included).
    """
    poses = np.asarray(poses, np.float64)
    R0, t0 = poses[:, :3, :3].copy(), poses[:, :3, 3].copy()
    free_index = np.nonzero(~np.asarray(fixed, bool))[0]
    n_free = len(free_index)
    x0 = np.concatenate([np.zeros(6 * n_free), np.asarray(points, np.float64).ravel()])
    obs_kf, obs_pt, obs_xy = np.asarray(obs_kf), np.asarray(obs_pt), np.asarray(obs_xy, np.float64)
    everything = _Problem(R0, t0, free_index, obs_kf, obs_pt, obs_xy, K, len(points))
    residuals = everything.residuals
    r0 = residuals(x0)
    cost_before = float(np.sum(r0 ** 2))
    use = np.ones(len(obs_kf), bool)
    if gate_px is not None:
        use = np.linalg.norm(r0.reshape(-1, 2), axis=1) < gate_px
    if use.sum() < 3:
        return BundleResult(poses, np.asarray(points), np.linalg.norm(r0.reshape(-1, 2), axis=1), cost_before, cost_before)
    problem = _Problem(R0, t0, free_index, obs_kf[use], obs_pt[use], obs_xy[use], K, len(points))
    result = least_squares(problem.residuals, x0, jac=problem.jacobian, method="trf", x_scale="jac", tr_solver="lsmr",
                           max_nfev=max_iterations, xtol=1e-6, ftol=1e-4,
                           tr_options={"maxiter": LSMR_ITERATIONS})
    p = result.x
    delta = p[: 6 * n_free].reshape(n_free, 6)
    out = poses.copy()
    if n_free:
        out[free_index, :3, :3] = Rotation.from_rotvec(delta[:, :3]).as_matrix() @ R0[free_index]
        out[free_index, :3, 3] = t0[free_index] + delta[:, 3:]
    r = residuals(p).reshape(-1, 2)
    return BundleResult(out, p[6 * n_free:].reshape(-1, 3), np.linalg.norm(r, axis=1), cost_before,
                        float(np.sum(r ** 2)))
