"""Stereo evaluation: the disparity transfer, the scores of a pair built with known answers, and the
command on the real Middlebury pair of scikit-image."""

import json

import numpy as np
import pytest
import torch

from fixtures.core import assert_one_line_error, small_image
from fixtures.hpatches import run_main
from slamfeat.errors import BadInput
from slamfeat.eval.stereo import (StereoEvalConfig, StereoPair, evaluate, evaluate_stereo_pair, left_to_right,
                                  middlebury_pair)
from slamfeat.features import Features


def test_left_to_right_reads_the_nearest_pixel_and_skips_unknown_disparity():
    disparity = np.full((4, 6), 2.0)
    disparity[1, 2], disparity[2, 2], disparity[3, 2] = np.nan, np.inf, 0.0
    points = np.array([[3.4, 0.2], [2.0, 1.0], [2.0, 2.0], [1.6, 3.0], [9.0, 0.0], [0.0, 0.0]])
    out = left_to_right(points, disparity)
    assert np.allclose(out[0], [1.4, 0.2]) and np.allclose(out[5], [-2.0, 0.0])
    assert np.isnan(out[1:5]).all(), "NaN, inf, zero disparity and a point outside have no ground truth"


def _features(points):
    n = len(points)
    return Features(torch.tensor(points, dtype=torch.float32), torch.ones(n), torch.eye(n, 8)[:, :8], (20, 10))


def test_scores_of_a_pair_with_known_answers():
    disparity = np.full((10, 20), 4.0)
    disparity[:, 10:12] = np.nan
    left = [[5, 5], [6, 2], [8, 8], [10.2, 3], [1, 1], [15, 5]]
    # right: the true positions (x − 4, y) of left 0 (+0.5 px in x), of left 1 (+2 px in y), of
    # left 2 (−4 px in y), of left 5 (exact), and two more points
    right = [[1.5, 5], [2, 4], [4, 4], [11, 5], [0, 9], [19, 0]]
    f0, f1 = _features(left), _features(right)
    matches0 = np.array([0, 1, 2, 4, -1, 3])  # left 3 has no ground truth (disparity NaN)
    r = evaluate_stereo_pair(f0, f1, matches0, disparity, 3.0)
    assert r["matches"] == 5 and r["matches_with_ground_truth"] == 4
    # errors of the judged matches: 0.5, 2, 4, 0 px
    assert r["precision"] == {"1": 0.5, "3": 0.75, "5": 1.0}
    # covisible left points: 0, 1, 2, 5 (left 4 lands at x = −3, left 3 has no disparity); with a
    # right point within 3 px: 0, 1, 5 (left 2 lands at (4, 8), 4 px from the nearest)
    assert r["repeatability"] == {"3": 0.75}
    assert r["matching_score"] == {"3": 0.75} and r["keypoints"] == [6, 6]


def test_evaluate_on_a_shifted_photograph_and_bad_input():
    big = small_image("astronaut", (206, 150))
    disparity = np.full((150, 200), 6.0)
    disparity[:, 100:110] = np.inf  # an unknown band
    pair = StereoPair("shifted", big[:, :200].copy(), big[:, 6:].copy(), disparity)  # left x ↔ right x − 6
    report = evaluate(["sift"], StereoEvalConfig(max_keypoints=300, device="cpu"), pairs=[pair])
    r = report["results"]["sift"]
    # SIFT is matched as COLMAP does: mutual nearest neighbours with Lowe's ratio 0.8
    assert report["dataset"]["pairs"] == ["shifted"] and r["matcher"] == "mutual nearest neighbour, ratio 0.8"
    assert r["precision"]["1"] > 0.95 and r["matches_per_pair"] > 100
    assert r["matches_with_ground_truth"] < r["matches_per_pair"], "matches in the unknown band are not judged"
    assert r["repeatability"]["3"] > 0.9
    with pytest.raises(BadInput, match="same height and width"):
        evaluate(["sift"], StereoEvalConfig(device="cpu"), pairs=[StereoPair("bad", big, big, disparity)])
    with pytest.raises(BadInput, match="ratio 1.5"):
        evaluate(["sift"], StereoEvalConfig(ratio=1.5, device="cpu"), pairs=[pair])


def test_middlebury_pair_is_real_and_its_disparity_holds():
    pair = middlebury_pair()
    assert pair.left.shape == (500, 741, 3) and pair.disparity.shape == (500, 741)
    known = np.isfinite(pair.disparity)
    assert 0.8 < known.mean() < 1.0 and pair.disparity[known].min() > 0


def test_command_on_the_middlebury_pair(tmp_path, capsys):
    out = tmp_path / "stereo.json"
    proc = run_main(capsys, "eval", "stereo", "--model", "sift", "--model", "xfeat", "--max-keypoints", "512",
                    "--device", "cpu", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "mutual nearest neighbour" in proc.stdout and "xfeat" in proc.stdout
    report = json.loads(out.read_text())
    assert report["dataset"]["real_images"] is True
    assert report["results"]["xfeat"]["matcher"] == "mutual nearest neighbour"
    assert report["results"]["sift"]["matcher"] == "mutual nearest neighbour, ratio 0.8"
    for model in ("sift", "xfeat"):
        r = report["results"][model]
        assert set(r["precision"]) == {"1", "3", "5"} and r["keypoints_per_image"] == 512
        assert r["precision"]["5"] > 0.6 and r["matches_per_pair"] > 150 and 0.3 < r["repeatability"]["3"] <= 1
    lg = tmp_path / "lg.json"
    proc = run_main(capsys, "eval", "stereo", "--model", "xfeat", "--matcher", "lightglue", "--max-keypoints", "512",
                    "--device", "cpu", "--json", lg)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(lg.read_text())
    assert report["settings"]["matcher"] == "lightglue (xfeat-lighterglue.pt)"
    assert report["results"]["xfeat"]["precision"]["3"] > 0.7
    assert_one_line_error(run_main(capsys, "eval", "stereo", "--model", "sift", "--matcher", "lightglue"),
                          "no LightGlue weights", "sift")
    assert_one_line_error(run_main(capsys, "eval", "stereo", "--model", "sift", "--ratio", "0"), "ratio 0")
