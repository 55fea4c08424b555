"""Metrics on point sets with a known transfer (here a similarity, applied with numpy)."""

import numpy as np
import pytest

from slamfeat.geometry import metrics
from slamfeat.geometry.metrics import pose_auc


def _transfer(points, angle=0.3, scale=1.2, shift=(10.0, -5.0)):
    c, s = np.cos(angle), np.sin(angle)
    R = scale * np.array([[c, -s], [s, c]])
    return points @ R.T + np.asarray(shift)


def _inverse_transfer(points, angle=0.3, scale=1.2, shift=(10.0, -5.0)):
    c, s = np.cos(angle), np.sin(angle)
    R = scale * np.array([[c, -s], [s, c]])
    return (points - np.asarray(shift)) @ np.linalg.inv(R).T


@pytest.fixture
def exact_pair():
    rng = np.random.default_rng(0)
    # a jittered grid: no two keypoints within 15 px, so nearest neighbours are unambiguous
    gx, gy = np.meshgrid(np.arange(15) * 25.0 + 20, np.arange(10) * 25.0 + 20)
    kp0 = np.stack([gx.ravel(), gy.ravel()], 1) + rng.uniform(-3, 3, size=(150, 2))
    kp1 = _transfer(kp0)
    perm = rng.permutation(len(kp1))  # keypoints of image 1 in another order
    kp1 = kp1[perm]
    matches0 = np.argsort(perm)  # kp0[i] ↔ kp1[matches0[i]]
    return kp0, kp1, matches0


def _args(kp0, kp1):
    return _transfer(kp0), _inverse_transfer(kp1), np.ones(len(kp0), bool), np.ones(len(kp1), bool)


def test_exact_copy_scores_one(exact_pair):
    kp0, kp1, m = exact_pair
    p01, p10, c0, c1 = _args(kp0, kp1)
    assert metrics.correct_matches(kp0, kp1, m, p01, 1.0).all()
    assert np.allclose(metrics.mean_matching_accuracy(kp0, kp1, m, p01, [1, 3]), 1.0)
    assert metrics.repeatability(kp0, kp1, p01, p10, c0, c1, 3) == pytest.approx(1.0)
    assert metrics.matching_score(kp0, kp1, m, p01, p10, c0, c1, 3) == pytest.approx(1.0)
    assert metrics.mrs(kp0, kp1, m, p01, c0, c1, 3) == pytest.approx(1.0)


def test_shuffled_matches_are_wrong(exact_pair):
    kp0, kp1, m = exact_pair
    p01, p10, c0, c1 = _args(kp0, kp1)
    wrong = np.random.default_rng(1).permutation(m)
    assert metrics.mean_matching_accuracy(kp0, kp1, wrong, p01, [3])[0] < 0.1
    assert metrics.mrs(kp0, kp1, wrong, p01, c0, c1, 3) < 0.1
    # detection is untouched by wrong matches
    assert metrics.repeatability(kp0, kp1, p01, p10, c0, c1, 3) == pytest.approx(1.0)


def test_correct_matches_follow_row_order_and_threshold(exact_pair):
    kp0, kp1, m = exact_pair
    p01 = _transfer(kp0)
    m = m.copy()
    m[:10] = -1
    p01 = p01.copy()
    p01[10] += [2.0, 0.0]  # 2 px off
    ok1 = metrics.correct_matches(kp0, kp1, m, p01, 1.0)
    ok3 = metrics.correct_matches(kp0, kp1, m, p01, 3.0)
    assert ok1.shape == (len(kp0) - 10,)
    assert not ok1[0] and ok3[0] and ok1[1:].all()


def test_points_outside_covisible_region_do_not_count(exact_pair):
    kp0, kp1, m = exact_pair
    p01, p10, c0, c1 = _args(kp0, kp1)
    # extra keypoints in image 0 that image 1 does not see, unmatched: no effect
    extra = np.array([[500.0, 500.0], [600.0, 10.0]])
    kp0x = np.vstack([kp0, extra])
    p01x = np.vstack([p01, np.full((2, 2), np.nan)])
    c0x = np.r_[c0, False, False]
    mx = np.r_[m, -1, -1]
    assert metrics.repeatability(kp0x, kp1, p01x, p10, c0x, c1, 3) == pytest.approx(1.0)
    assert metrics.mrs(kp0x, kp1, mx, p01x, c0x, c1, 3) == pytest.approx(1.0)
    assert metrics.matching_score(kp0x, kp1, mx, p01x, p10, c0x, c1, 3) == pytest.approx(1.0)
    # the same extra keypoints counted as covisible lower every score
    c0y = np.r_[c0, True, True]
    assert metrics.repeatability(kp0x, kp1, p01x, p10, c0y, c1, 3) < 1.0
    assert metrics.mrs(np.vstack([kp0, kp0[:60]]), kp1, np.r_[m, -np.ones(60, int)],
                       np.vstack([p01, p01[:60] + 50]), np.r_[c0, np.ones(60, bool)], c1, 3) == pytest.approx(1.0)
    # marking half of image 1 not covisible: matches into it no longer count, nor its keypoints
    c1h = c1.copy()
    c1h[: len(c1) // 2] = False
    c0h = c1h[m]
    assert metrics.mrs(kp0, kp1, m, p01, c0h, c1h, 3) == pytest.approx(1.0)
    # only image 1 restricted: matches into the unseen half do not count, the smaller set is 75
    assert metrics.mrs(kp0, kp1, m, p01, c0, c1h, 3) == pytest.approx(1.0)
    n1 = c1h.sum()
    assert metrics.matching_score(kp0, kp1, m, p01, p10, c0, c1h, 3) == pytest.approx(n1 / ((len(kp0) + n1) / 2))


def test_mrs_divides_by_smaller_covisible_set(exact_pair):
    kp0, kp1, m = exact_pair
    p01, p10, c0, c1 = _args(kp0, kp1)
    # image 1 loses a third of its keypoints (not detected): the survivors are all matched
    keep = np.arange(len(kp1)) % 3 != 0
    new_index = np.cumsum(keep) - 1
    kp1k = kp1[keep]
    mk = np.where(keep[m], new_index[m], -1)
    assert metrics.mrs(kp0, kp1k, mk, p01, c0, c1[keep], 3) == pytest.approx(1.0)
    rep = metrics.repeatability(kp0, kp1k, p01, _inverse_transfer(kp1k), c0, c1[keep], 3)
    assert rep == pytest.approx((keep.sum() * 2) / (len(kp0) + keep.sum()))
    # many-to-one matches count once
    m2 = np.full(len(kp0), m[0])
    assert metrics.mrs(kp0, kp1, m2, p01, c0, c1, 3) == pytest.approx(1 / len(kp0))


def test_empty_inputs_score_zero():
    e = np.zeros((0, 2))
    none = np.zeros(0, bool)
    assert metrics.mrs(e, e, np.zeros(0, int), e, none, none, 3) == 0.0
    assert metrics.repeatability(e, e, e, e, none, none, 3) == 0.0
    assert metrics.matching_score(e, e, np.zeros(0, int), e, e, none, none, 3) == 0.0
    assert np.all(metrics.mean_matching_accuracy(e, e, np.zeros(0, int), e, [1, 2]) == 0)
    kp = np.array([[1.0, 2.0]])
    assert metrics.repeatability(kp, e, kp, e, np.ones(1, bool), none, 3) == 0.0


def test_mrs_curve_grows_with_threshold(exact_pair):
    kp0, kp1, m = exact_pair
    p01, _, c0, c1 = _args(kp0, kp1)
    noisy = p01 + np.random.default_rng(2).normal(0, 2.0, p01.shape)
    curve = metrics.mrs_curve(kp0, kp1, m, noisy, c0, c1, range(1, 11))
    assert np.all(np.diff(curve) >= 0) and curve[0] < 0.5 and curve[-1] > 0.95


def test_pose_auc_by_hand():
    assert pose_auc([0.0, 10.0], [5]) == pytest.approx([0.5])
    assert pose_auc([0.0, 0.0], [5, 10]) == pytest.approx([1.0, 1.0])
    assert pose_auc([2.0, np.inf], [4]) == pytest.approx([(0.5 * 2 * 0.5 + 2 * 0.5) / 4])  # ramp to 2°, then flat
    assert pose_auc([], [5]) == [0.0]
