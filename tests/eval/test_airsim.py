import json
import shutil

import numpy as np
import pytest
import torch

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error
from slamfeat.datasets.airsim import read_recording, write_pfm
from slamfeat.eval.airsim import AirSimEvalConfig, evaluate_recording, frame_pairs
from slamfeat.features import Features
from slamfeat.geometry.camera import project, sample_depth, unproject
from slamfeat.geometry.pose import invert_pose, transform


class Oracle:
    """Perfect correspondences: world points seen by every frame, each with its own descriptor."""

    def __init__(self, rec, step=12, seed=0):
        self.rec = rec
        points = []
        for k in range(0, len(rec), 10):
            y, x = np.mgrid[6:rec.image_size[1] - 6:step, 6:rec.image_size[0] - 6:step]
            kp = np.stack([x.ravel(), y.ravel()], 1).astype(np.float64)
            d = rec.read_depth(k)[kp[:, 1].astype(int), kp[:, 0].astype(int)]
            points.append(transform(rec.frames[k].T_world_cam, unproject(kp[d > 0], d[d > 0], rec.K)))
        self.points = np.concatenate(points)
        desc = np.random.default_rng(seed).normal(size=(len(self.points), 32))
        self.desc = desc / np.linalg.norm(desc, axis=1, keepdims=True)

    def __call__(self, i):
        X = transform(invert_pose(self.rec.frames[i].T_world_cam), self.points)
        kp = project(X, self.rec.K)
        w, h = self.rec.image_size
        with np.errstate(invalid="ignore"):
            ok = (X[:, 2] > 0.1) & (kp[:, 0] >= 0) & (kp[:, 0] <= w - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= h - 1)
        z = sample_depth(self.rec.read_depth(i), kp[ok])
        visible = np.flatnonzero(ok)[np.abs(z - X[ok, 2]) <= 0.05 * X[ok, 2]]
        return Features(torch.from_numpy(kp[visible]).float(), torch.ones(len(visible)),
                        torch.from_numpy(self.desc[visible]).float(), self.rec.image_size)


def test_frame_pairs():
    assert frame_pairs(12, (1, 5), 5) == [(0, 1), (5, 6), (10, 11), (0, 5), (5, 10)]
    assert frame_pairs(12, (1, 5), 5, max_pairs=1) == [(0, 1), (0, 5)]


def test_perfect_correspondences_score_one(airsim_sequence):
    rec = read_recording(airsim_sequence)
    config = AirSimEvalConfig(gaps=(1, 5, 10), stride=5)
    r = evaluate_recording(rec, Oracle(rec), config, device="cpu")
    assert r["pairs"] == len(frame_pairs(len(rec), (1, 5, 10), 5))
    # a few keypoints on depth edges take the other surface's depth: not exactly 1
    assert r["repeatability"]["3"] > 0.99 and r["matching_score"]["3"] > 0.99 and r["mrs"] > 0.99
    assert r["pose_auc"]["5"] > 0.97 and r["pose_auc"]["20"] > 0.99
    assert r["matches_per_pair"] > 100


def test_displaced_keypoints_score_lower(airsim_sequence):
    rec = read_recording(airsim_sequence)
    oracle = Oracle(rec)
    rng = np.random.default_rng(1)

    def noisy(i):
        f = oracle(i)
        shift = torch.from_numpy(rng.uniform(-6, 6, f.keypoints.shape)).float()
        return Features(f.keypoints + shift, f.scores, f.descriptors, f.image_size)

    r = evaluate_recording(rec, noisy, AirSimEvalConfig(gaps=(5,), stride=10), device="cpu")
    assert r["repeatability"]["3"] < 0.8 and r["mrs"] < 0.6 and r["pose_auc"]["5"] < 0.9


def test_cli_sift_report(airsim_sequence, tmp_path, capsys):
    report = tmp_path / "r.json"
    proc = run_cli_here(capsys, "eval", "airsim", "--root", airsim_sequence, "--model", "sift", "--gaps", "1,5",
                        "--stride", "10", "--max-keypoints", "300", "--device", "cpu", "--json", report)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(report.read_text())["results"]["sift"]
    assert set(r["pose_auc"]) == {"5", "10", "20"} and r["pairs"] == 6
    assert 0.2 < r["repeatability"]["3"] <= 1 and 0 < r["matching_score"]["3"] <= 1 and 0 < r["mrs"] <= 1
    assert r["pose_auc"]["20"] > 0.3
    assert "sift" in proc.stdout


def _broken(airsim_sequence, tmp_path, how):
    root = shutil.copytree(airsim_sequence, tmp_path / "rec")
    rec = read_recording(root)
    lines = (root / "airsim_rec.txt").read_text().splitlines()
    if how == "missing":
        rec.frames[2].image_path.unlink()
    elif how == "malformed":
        lines[4] = "Drone1\t123\tnot-a-number"
    elif how == "depth-size":
        write_pfm(rec.frames[1].depth_path, np.ones((10, 12), np.float32))
    (root / "airsim_rec.txt").write_text("\n".join(lines) + "\n")
    return root, rec


@pytest.mark.parametrize("how", ["missing", "malformed", "depth-size"])
def test_cli_bad_recordings(airsim_sequence, tmp_path, capsys, how):
    root, rec = _broken(airsim_sequence, tmp_path, how)
    fragment = {"missing": rec.frames[2].image_path.name, "malformed": "airsim_rec.txt:5",
                "depth-size": rec.frames[1].depth_path.name}[how]
    proc = run_cli_here(capsys, "eval", "airsim", "--root", root, "--model", "sift", "--device", "cpu")
    assert_one_line_error(proc, fragment)
