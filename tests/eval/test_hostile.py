"""Hostile input to the evaluations (issue 16): nonsense thresholds, impossible cameras and poses
in a pairs file, and reports that cannot be written are one line and exit 2 before any work."""

import numpy as np
import pytest

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error
from slamfeat.io.pairs import PosePair, format_pose_pair


@pytest.mark.parametrize("command", [("eval", "hpatches", "--sequences", "1"), ("eval", "pairs")])
def test_negative_ransac_threshold(airsim_sequence, tmp_path, capsys, command):
    extra = ("--pairs", airsim_sequence / "pairs.txt", "--images", airsim_sequence / "images") \
        if command[1] == "pairs" else ()
    proc = run_cli_here(capsys, *command, *extra, "--model", "sift", "--ransac-threshold", "-1")
    assert_one_line_error(proc, "-1")
    proc = run_cli_here(capsys, "eval", "airsim", "--root", airsim_sequence, "--model", "sift",
                        "--ransac-threshold", "nan")
    assert_one_line_error(proc, "ransac_threshold nan")


def _pair_file(path, K, T):
    path.write_text(format_pose_pair(PosePair("a.png", "b.png", 0, 0, K, K, T)) + "\n")
    return path


@pytest.mark.parametrize("what", ["zero K", "zero pose"])
def test_impossible_camera_or_pose_in_a_pairs_file(airsim_sequence, tmp_path, capsys, what):
    K, T = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]]), np.eye(4)
    if what == "zero K":
        K = np.zeros((3, 3))
    else:
        T = np.zeros((4, 4))
    pairs = _pair_file(tmp_path / "p.txt", K, T)
    proc = run_cli_here(capsys, "eval", "pairs", "--pairs", pairs, "--images", airsim_sequence / "images",
                        "--model", "sift")
    assert_one_line_error(proc, f"{pairs}:1", "K0" if what == "zero K" else "T_0to1")


def test_a_report_onto_a_folder_is_refused_before_the_work(airsim_sequence, tmp_path, capsys):
    proc = run_cli_here(capsys, "eval", "airsim", "--root", airsim_sequence, "--model", "sift", "--json", tmp_path)
    assert_one_line_error(proc, str(tmp_path), "folder")
    proc = run_cli_here(capsys, "eval", "hpatches", "--sequences", "1", "--model", "sift", "--json", tmp_path)
    assert_one_line_error(proc, str(tmp_path), "folder")
    assert not list(tmp_path.glob("*.png"))
