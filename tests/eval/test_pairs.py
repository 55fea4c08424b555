import json

import numpy as np
import pytest
import torch

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error
from slamfeat.datasets.airsim import read_recording
from slamfeat.io.pairs import PosePair, read_pose_pairs, write_pose_pairs
from slamfeat.errors import BadInput
from slamfeat.eval.pairs import PairsEvalConfig, evaluate_pairs, unrotate_keypoints
from slamfeat.features import Features
from slamfeat.geometry.camera import project, sample_depth, unproject
from slamfeat.geometry.pose import invert_pose, transform


def test_pairs_file_round_trip_and_bad_lines(tmp_path):
    rng = np.random.default_rng(0)
    K = np.array([[300.0, 0, 160], [0, 310, 120], [0, 0, 1]])
    T = np.eye(4)
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    T[:3, :3] = R * np.sign(np.linalg.det(R))  # a rotation (det +1)
    T[:3, 3] = rng.normal(size=3)
    pair = PosePair("a/x.png", "b/y.jpg", 1, 3, K, K * [[1], [1.1], [1]], T)
    write_pose_pairs(tmp_path / "p.txt", [pair, pair])
    back = read_pose_pairs(tmp_path / "p.txt")
    assert len(back) == 2 and back[0].name1 == "b/y.jpg" and (back[0].rot0, back[0].rot1) == (1, 3)
    assert np.allclose(back[1].K1, pair.K1) and np.allclose(back[1].T_0to1, pair.T_0to1)
    (tmp_path / "bad.txt").write_text("x.png y.png 0 0 1 2 3\n")
    with pytest.raises(BadInput, match="bad.txt:1: 7 fields"):
        read_pose_pairs(tmp_path / "bad.txt")


@pytest.mark.parametrize("rot", [1, 2, 3])
def test_unrotate_keypoints(rot):
    image = np.zeros((5, 8), np.uint8)
    points = np.array([[1, 2], [7, 0], [3, 4]])
    for x, y in points:
        image[y, x] = 1
    turned = np.rot90(image, rot)
    ys, xs = np.nonzero(turned)
    back = unrotate_keypoints(np.stack([xs, ys], 1), rot, (8, 5))
    assert sorted(map(tuple, back.astype(int))) == sorted(map(tuple, points))


def _oracle(rec):
    """Perfect correspondences from the recording's depth: features by image name."""
    index = {f.image_path.name: i for i, f in enumerate(rec.frames)}
    y, x = np.mgrid[6:rec.image_size[1] - 6:10, 6:rec.image_size[0] - 6:10]
    kp = np.stack([x.ravel(), y.ravel()], 1).astype(np.float64)
    rows, cols = kp[:, 1].astype(int), kp[:, 0].astype(int)
    points = np.concatenate([transform(rec.frames[k].T_world_cam, unproject(kp, rec.read_depth(k)[rows, cols], rec.K))
                             for k in range(0, len(rec), 10)])
    desc = np.random.default_rng(0).normal(size=(len(points), 16))

    def features_of(name, rot):
        i = index[name]
        X = transform(invert_pose(rec.frames[i].T_world_cam), points)
        p = project(X, rec.K)
        z = sample_depth(rec.read_depth(i), p)
        keep = np.flatnonzero((X[:, 2] > 0) & (np.abs(z - X[:, 2]) < 0.05 * X[:, 2]))
        return Features(torch.from_numpy(p[keep]).float(), torch.ones(len(keep)),
                        torch.nn.functional.normalize(torch.from_numpy(desc[keep]).float(), dim=1), rec.image_size)
    return features_of


def test_perfect_correspondences_score_one(airsim_sequence):
    rec = read_recording(airsim_sequence)
    pairs = read_pose_pairs(airsim_sequence / "pairs.txt")
    r = evaluate_pairs(pairs, _oracle(rec), PairsEvalConfig(), device="cpu")
    assert r["pairs"] == len(pairs)
    assert r["precision"] > 0.99 and r["pose_auc"]["5"] > 0.97 and r["matches_per_pair"] > 100


def test_cli_on_rendered_pairs(airsim_sequence, tmp_path, capsys):
    pairs = read_pose_pairs(airsim_sequence / "pairs.txt")
    write_pose_pairs(tmp_path / "few.txt", pairs[::4])
    proc = run_cli_here(capsys, "eval", "pairs", "--pairs", tmp_path / "few.txt", "--images", airsim_sequence / "images",
                        "--model", "sift", "--max-keypoints", "400", "--device", "cpu", "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "r.json").read_text())["results"]["sift"]
    assert r["pairs"] == len(pairs[::4]) and set(r["pose_auc"]) == {"5", "10", "20"}
    assert r["precision"] > 0.5 and r["matches_per_pair"] > 20 and r["pose_auc"]["20"] > 0.3


def test_cli_bad_input(airsim_sequence, tmp_path, capsys):
    pairs = read_pose_pairs(airsim_sequence / "pairs.txt")[:2]
    pairs[1].name1 = "missing.png"
    write_pose_pairs(tmp_path / "p.txt", pairs)
    args = ("--images", airsim_sequence / "images", "--model", "sift", "--device", "cpu")
    assert_one_line_error(run_cli_here(capsys, "eval", "pairs", "--pairs", tmp_path / "p.txt", *args), "missing.png")
    (tmp_path / "m.txt").write_text("a.png b.png 0 0 1 0 0\n")
    assert_one_line_error(run_cli_here(capsys, "eval", "pairs", "--pairs", tmp_path / "m.txt", *args), "m.txt:1")
