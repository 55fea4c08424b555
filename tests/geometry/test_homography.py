"""Homography helpers checked against OpenCV's own warps and against each other."""

import cv2
import numpy as np
import pytest

from slamfeat.geometry import homography as hg

H = np.array([[0.9, 0.1, 12.0], [-0.05, 1.1, -4.0], [2e-4, -1e-4, 1.0]])


def test_warp_points_matches_opencv_and_inverts():
    pts = np.random.default_rng(0).uniform(0, 300, (50, 2))
    ours = hg.warp_points(H, pts)
    theirs = cv2.perspectiveTransform(pts[None], H)[0]
    assert np.allclose(ours, theirs)
    assert np.allclose(hg.warp_points(np.linalg.inv(H), ours), pts)


def test_warp_points_behind_camera_is_nan():
    Hp = np.array([[1, 0, 0], [0, 1, 0], [-0.01, 0, 1.0]])
    out = hg.warp_points(Hp, [[50.0, 5.0], [200.0, 5.0]])
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()


def test_pixel_centre_convention_agrees_with_warp_perspective():
    # a single bright pixel moved by H lands where warp_points says
    img = np.zeros((120, 160), np.float32)
    img[40, 50] = 1.0
    T = np.array([[1, 0, 7.0], [0, 1, 3.0], [0, 0, 1]])
    out = cv2.warpPerspective(img, T, (160, 120))
    y, x = np.unravel_index(np.argmax(out), out.shape)
    assert np.allclose(hg.warp_points(T, [[50, 40]])[0], [x, y])


def test_inside_and_covisible():
    size = (100, 50)
    pts = np.array([[-0.5, -0.5], [99.5, 49.5], [-0.6, 10], [10, 49.6], [np.nan, 1]])
    assert hg.inside_image(pts, size).tolist() == [True, True, False, False, False]
    shift = np.array([[1, 0, 50.0], [0, 1, 0], [0, 0, 1]])
    cov = hg.covisible_mask(shift, [[10, 10], [60, 10]], size)
    assert cov.tolist() == [True, False]


def test_corner_error():
    size = (200, 100)
    assert hg.corner_error(H, H, size) == pytest.approx(0.0)
    T = np.array([[1, 0, 3.0], [0, 1, 4.0], [0, 0, 1]])
    assert hg.corner_error(np.eye(3), T, size) == pytest.approx(5.0)
    assert hg.corner_error(np.eye(3), None, size) == np.inf


def test_estimate_homography_recovers_h_with_outliers():
    rng = np.random.default_rng(1)
    p0 = rng.uniform(0, 300, (120, 2))
    p1 = hg.warp_points(H, p0) + rng.normal(0, 0.3, (120, 2))
    p1[:30] = rng.uniform(0, 300, (30, 2))  # 25 % outliers
    Hest, inl = hg.estimate_homography(p0, p1, threshold=2.0)
    assert hg.corner_error(H, Hest, (300, 300)) < 1.5
    assert inl[30:].mean() > 0.9 and inl[:30].mean() < 0.2
    assert hg.estimate_homography(p0[:3], p1[:3])[0] is None


def test_rescale_homography_keeps_pixel_centres():
    s0, s1 = (0.5, 0.5), (0.25, 0.4)
    Hs = hg.rescale_homography(H, s0, s1)
    p = np.array([[10.0, 20.0], [150.0, 80.0]])
    p_small = (p + 0.5) * np.array(s0) - 0.5
    expected = (hg.warp_points(H, p) + 0.5) * np.array(s1) - 0.5
    assert np.allclose(hg.warp_points(Hs, p_small), expected)
