import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from slamfeat.errors import BadInput
from slamfeat.io.tum import read_tum, write_tum


def _poses(n=5):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(rng.normal(size=3)).as_matrix()
        T[:3, 3] = rng.normal(size=3) * 10
        out.append(T)
    return out


def test_round_trip_and_evo_reads_it(tmp_path):
    poses = _poses()
    stamps = 1_700_000_000.0 + np.arange(5) * 0.1
    path = write_tum(tmp_path / "traj.txt", stamps, poses)
    ts, back = read_tum(path)
    assert np.allclose(ts, stamps)
    assert all(np.allclose(a, b, atol=1e-7) for a, b in zip(back, poses))
    from evo.tools import file_interface

    traj = file_interface.read_tum_trajectory_file(str(path))
    assert np.allclose(traj.positions_xyz, [T[:3, 3] for T in poses], atol=1e-6)
    assert np.allclose(traj.poses_se3[2], poses[2], atol=1e-6)


def test_failed_write_leaves_old_file(tmp_path):
    path = write_tum(tmp_path / "traj.txt", [0.0], _poses(1))
    before = path.read_text()
    with pytest.raises(ValueError):
        write_tum(path, [0.0, 1.0], _poses(1))
    assert path.read_text() == before


def test_bad_lines(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("0 1 2 3 0 0 0\n")
    with pytest.raises(BadInput, match="7 values"):
        read_tum(p)
    p.write_text("0 1 2 3 0 0 0 x\n")
    with pytest.raises(BadInput, match="not a number"):
        read_tum(p)
    with pytest.raises(BadInput, match="no such"):
        read_tum(tmp_path / "missing.txt")
