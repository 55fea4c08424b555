"""ATE and RPE against evo itself on the same trajectories."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from slamfeat.errors import BadInput
from slamfeat.vo.metrics import (absolute_trajectory_error, associate, path_length, relative_pose_error,
                                 trajectory_errors, umeyama_sim3)


def _trajectory(n=60, seed=0):
    """A smooth flight: ``N×4×4`` camera-to-world poses."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 2 * np.pi, n)
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, :3, 3] = np.stack([10 * np.cos(s), 6 * np.sin(s), 0.5 * s], 1)
    angles = np.stack([0.2 * np.sin(s), 0.1 * s, s], 1) + rng.normal(0, 0.01, (n, 3))
    poses[:, :3, :3] = Rotation.from_euler("xyz", angles).as_matrix()
    return poses


def _distorted(reference, seed=1, noise=0.05, rot_noise_deg=0.5):
    """The reference seen through an unknown similarity, with noise: what monocular VO gives."""
    rng = np.random.default_rng(seed)
    est = reference.copy()
    est[:, :3, 3] += rng.normal(0, noise, (len(est), 3))
    est[:, :3, :3] = Rotation.from_rotvec(rng.normal(0, np.radians(rot_noise_deg), (len(est), 3))).as_matrix() @ est[:, :3, :3]
    S = np.eye(4)
    S[:3, :3] = Rotation.from_euler("zyx", [40, -20, 10], degrees=True).as_matrix()
    S[:3, 3] = [3, -2, 7]
    scale = 0.37
    out = est.copy()
    out[:, :3, :3] = S[:3, :3] @ est[:, :3, :3]
    out[:, :3, 3] = scale * (est[:, :3, 3] @ S[:3, :3].T) + S[:3, 3]
    return out


def _evo(reference, estimate, times):
    from evo.core import metrics
    from evo.core.trajectory import PoseTrajectory3D

    ref = PoseTrajectory3D(poses_se3=list(reference), timestamps=times)
    est = PoseTrajectory3D(poses_se3=list(estimate), timestamps=times)
    est.align(ref, correct_scale=True)
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, est))
    out = {"ate": ape.get_statistic(metrics.StatisticsType.rmse), "length": ref.path_length}
    for key, relation in (("rpe_t", metrics.PoseRelation.translation_part),
                          ("rpe_r", metrics.PoseRelation.rotation_angle_deg)):
        rpe = metrics.RPE(relation, delta=1, delta_unit=metrics.Unit.frames, all_pairs=False)
        rpe.process_data((ref, est))
        out[key] = rpe.get_statistic(metrics.StatisticsType.rmse)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_ate_and_rpe_equal_evo(seed):
    reference = _trajectory()
    estimate = _distorted(reference, seed=seed)
    times = np.arange(len(reference)) * 0.1
    ours = trajectory_errors(times, estimate, times, reference)
    theirs = _evo(reference, estimate, times)
    assert ours.ate_rmse == pytest.approx(theirs["ate"], rel=1e-6)
    assert ours.rpe_trans == pytest.approx(theirs["rpe_t"], rel=1e-6)
    assert ours.rpe_rot_deg == pytest.approx(theirs["rpe_r"], rel=1e-6)
    assert ours.trajectory_length == pytest.approx(theirs["length"], rel=1e-9)
    assert ours.scale == pytest.approx(1 / 0.37, rel=0.05)


def test_sim3_alignment_is_exact_without_noise():
    reference = _trajectory()
    estimate = _distorted(reference, noise=0.0, rot_noise_deg=0.0)
    ate, aligned, scale = absolute_trajectory_error(estimate, reference)
    assert ate < 1e-9 and scale == pytest.approx(1 / 0.37)
    assert np.allclose(aligned, reference, atol=1e-9)
    assert relative_pose_error(aligned, reference) == pytest.approx((0.0, 0.0), abs=1e-6)


def test_umeyama_rejects_degenerate_positions():
    line = np.zeros((10, 3))
    line[:, 0] = np.arange(10)
    with pytest.raises(BadInput):
        umeyama_sim3(line, line)


def test_association_by_timestamp():
    ref_times = np.arange(0, 10, 0.1)
    est_times = np.array([0.003, 0.5, 0.55, 2.0049, 20.0])
    ie, ir = associate(est_times, ref_times, max_difference=0.01)
    assert ie.tolist() == [0, 1, 3]
    assert np.allclose(ref_times[ir], [0.0, 0.5, 2.0])
    assert path_length(_trajectory()[:2]) > 0
