"""Trajectory error metrics with evo's definitions.

Poses are ``4×4`` camera-to-world matrices ``T_world_cam``. Monocular odometry knows its path only
up to a similarity, so the estimate is first aligned to the ground truth with Umeyama's
closed-form Sim(3) (rotation, translation and scale from the camera positions), as
``evo_ape --align --correct_scale`` does.

- ATE: RMSE of the position differences after alignment (evo APE, ``translation_part``).
- RPE: for consecutive pose pairs ``(i, i+1)``, the error ``E = (Q_i⁻¹ Q_j)⁻¹ (P_i⁻¹ P_j)``
  of the aligned estimate ``P`` against the reference ``Q``; RMSE of ``‖t(E)‖`` and of the
  angle of ``R(E)`` in degrees (evo RPE, ``delta=1`` frame, after the same alignment).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadInput
from ..geometry.alignment import apply_sim3, umeyama_sim3
from ..geometry.pose import rotation_angle_deg


def path_length(poses: np.ndarray) -> float:
    """Sum of the distances between consecutive camera positions of ``N×4×4`` poses."""
    p = np.asarray(poses)[:, :3, 3]
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) if len(p) > 1 else 0.0


@dataclass
class TrajectoryErrors:
    """ATE/RPE of one estimate against its reference, in the reference's units."""

    ate_rmse: float
    rpe_trans: float
    rpe_rot_deg: float
    trajectory_length: float
    scale: float  # the Sim(3) scale that maps the estimate onto the reference
    aligned: np.ndarray  # N×4×4 aligned estimate

    @property
    def ate_rmse_rel(self) -> float:
        return self.ate_rmse / self.trajectory_length if self.trajectory_length > 0 else float("nan")


def absolute_trajectory_error(estimate: np.ndarray, reference: np.ndarray) -> tuple[float, np.ndarray, float]:
    """ATE RMSE after Sim(3) alignment of ``estimate`` onto ``reference`` (both ``N×4×4``, same instants).

    Returns:
        ``(rmse, aligned N×4×4, scale)``.
    """
    R, t, s = umeyama_sim3(estimate[:, :3, 3], reference[:, :3, 3])
    aligned = apply_sim3(estimate, R, t, s)
    err = np.linalg.norm(aligned[:, :3, 3] - reference[:, :3, 3], axis=1)
    return float(np.sqrt(np.mean(err ** 2))), aligned, s


def relative_pose_error(estimate: np.ndarray, reference: np.ndarray, delta: int = 1) -> tuple[float, float]:
    """RPE RMSE between poses ``delta`` frames apart: ``(translation, rotation in degrees)``.

    Both inputs ``N×4×4`` camera-to-world, already aligned and in the same units.
    """
    i = np.arange(len(estimate) - delta)
    if len(i) == 0:
        return float("nan"), float("nan")
    rel_est = np.linalg.inv(estimate[i]) @ estimate[i + delta]
    rel_ref = np.linalg.inv(reference[i]) @ reference[i + delta]
    E = np.linalg.inv(rel_ref) @ rel_est
    trans = np.linalg.norm(E[:, :3, 3], axis=1)
    rot = rotation_angle_deg(E[:, :3, :3])
    return float(np.sqrt(np.mean(trans ** 2))), float(np.sqrt(np.mean(rot ** 2)))


def associate(est_times: np.ndarray, ref_times: np.ndarray, max_difference: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i_est, i_ref)`` of the nearest timestamps closer than ``max_difference`` seconds."""
    est_times, ref_times = np.asarray(est_times, np.float64), np.asarray(ref_times, np.float64)
    if len(est_times) == 0 or len(ref_times) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(ref_times)
    sorted_ref = ref_times[order]
    pos = np.clip(np.searchsorted(sorted_ref, est_times), 1, len(sorted_ref) - 1) if len(sorted_ref) > 1 else np.zeros(len(est_times), np.int64)
    left = np.clip(pos - 1, 0, len(sorted_ref) - 1)
    pick = np.where(np.abs(sorted_ref[left] - est_times) <= np.abs(sorted_ref[pos] - est_times), left, pos)
    keep = np.abs(sorted_ref[pick] - est_times) <= max_difference
    return np.nonzero(keep)[0], order[pick[keep]]


def trajectory_errors(est_times: np.ndarray, estimate: np.ndarray, ref_times: np.ndarray, reference: np.ndarray,
                      max_difference: float = 0.01) -> TrajectoryErrors | None:
    """ATE and RPE of an estimate against ground truth, matched by timestamp (seconds).

    Returns None when fewer than three poses can be matched.
    """
    ie, ir = associate(est_times, ref_times, max_difference)
    if len(ie) < 3:
        return None
    est, ref = np.asarray(estimate, np.float64)[ie], np.asarray(reference, np.float64)[ir]
    try:
        ate, aligned, s = absolute_trajectory_error(est, ref)
    except BadInput:
        return None
    rpe_t, rpe_r = relative_pose_error(aligned, ref)
    return TrajectoryErrors(ate, rpe_t, rpe_r, path_length(ref), s, aligned)
