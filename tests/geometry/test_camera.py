import numpy as np
import pytest

from slamfeat.errors import BadInput
from slamfeat.geometry.camera import (check_fov, intrinsics_from_fov, project, sample_depth, unproject,
                                      warp_keypoints_with_depth)


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


@pytest.mark.parametrize("fov", [0, 180, -5, 200, "wide"])
def test_one_field_of_view_check_names_the_value(fov):
    with pytest.raises(BadInput, match="field of view") as err:
        check_fov(fov)
    assert err.value.option == "fov"
    with pytest.raises(BadInput):
        intrinsics_from_fov(640, 480, fov)
    assert check_fov(179.5) == 179.5

