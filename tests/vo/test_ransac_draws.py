"""scripts/vo_matcher_ablation.py --ransac-seed: OpenCV's RANSACs see shuffled rows, and their answers come
back in the caller's row order."""

import cv2
import numpy as np
import pytest

from fixtures.core import load_script
from slamfeat.geometry.pose import pose_matrix


@pytest.fixture
def ablation():
    module = load_script("vo_matcher_ablation")
    yield module
    module.shuffle_ransac(None)
    assert cv2.solvePnPRansac is module.OPENCV[0] and cv2.findEssentialMat is module.OPENCV[1]


def scene(n=300, outliers=60, seed=0):
    """Points in front of two cameras 1 m apart, their pixels, and which rows were corrupted."""
    rng = np.random.default_rng(seed)
    K = np.array([[320.0, 0, 320], [0, 320, 240], [0, 0, 1]])
    X = rng.uniform([-3, -2, 4], [3, 2, 12], (n, 3))
    T1 = pose_matrix(cv2.Rodrigues(np.array([0.0, 0.05, 0.0]))[0], np.array([-1.0, 0.0, 0.1]))
    x0 = X @ K.T
    x0 = x0[:, :2] / x0[:, 2:]
    x1 = (X @ T1[:3, :3].T + T1[:3, 3]) @ K.T
    x1 = x1[:, :2] / x1[:, 2:]
    bad = rng.choice(n, outliers, replace=False)
    x1[bad] += rng.uniform(30, 60, (outliers, 2)) * rng.choice([-1, 1], (outliers, 2))
    return K, X, T1, x0, x1, bad


def test_pnp_inliers_come_back_in_the_callers_rows(ablation):
    K, X, T1, _, x1, bad = scene()
    ablation.shuffle_ransac(3)
    assert cv2.solvePnPRansac is not ablation.OPENCV[0]
    ok, rvec, tvec, inliers = cv2.solvePnPRansac(X, x1, K, None, iterationsCount=200, reprojectionError=2.0)
    assert ok
    inliers = inliers.ravel()
    assert set(inliers) == set(range(len(X))) - set(bad)  # the clean rows, by their original index
    assert np.allclose(tvec.ravel(), T1[:3, 3], atol=1e-3)


def test_essential_mask_comes_back_in_the_callers_rows(ablation):
    K, _, _, x0, x1, bad = scene(seed=1)
    ablation.shuffle_ransac(5)
    E, mask = cv2.findEssentialMat(x0, x1, K, method=cv2.USAC_ACCURATE, prob=0.999, threshold=1.0)
    outlier = np.zeros(len(x0), bool)
    outlier[bad] = True
    assert not mask.ravel()[outlier].any()
    assert mask.ravel()[~outlier].mean() > 0.95


def test_another_seed_draws_another_sample(ablation):
    K, X, _, _, x1, _ = scene(n=200, outliers=0, seed=2)
    x1 = x1 + np.random.default_rng(9).normal(0, 1.0, x1.shape)  # noise: each draw's best sample differs
    poses = []
    for seed in (0, 1):
        ablation.shuffle_ransac(seed)
        # a few iterations and no refinement inside: the pose is the best minimal sample's
        _, rvec, tvec, _ = cv2.solvePnPRansac(X, x1, K, None, iterationsCount=5, reprojectionError=0.5,
                                              flags=cv2.SOLVEPNP_P3P)
        poses.append(np.concatenate([rvec.ravel(), tvec.ravel()]))
    assert not np.allclose(poses[0], poses[1])
