"""``--matcher``, ``--ratio``, ``--distance-threshold`` on the commands that match, and their bad input."""

import json

import pytest

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error
from slamfeat.io.pairs import read_pose_pairs, write_pose_pairs


def test_eval_pairs_student_with_its_teachers_lightglue(airsim_sequence, tmp_path, capsys):
    write_pose_pairs(tmp_path / "few.txt", read_pose_pairs(airsim_sequence / "pairs.txt")[::4])
    results = {}
    for matcher in ("nn", "lightglue"):
        report = tmp_path / f"{matcher}.json"
        proc = run_cli_here(capsys, "eval", "pairs", "--pairs", tmp_path / "few.txt", "--images", airsim_sequence / "images",
                            "--model", "slamfeat-base", "--max-keypoints", "384", "--device", "cpu",
                            "--matcher", matcher, "--json", report)
        assert proc.returncode == 0, proc.stderr
        results[matcher] = json.loads(report.read_text())["results"]["slamfeat-base"]
        assert matcher in proc.stdout  # the table names the matcher
    lg, nn = results["lightglue"], results["nn"]
    assert lg["matcher"]["name"] == "lightglue" and lg["matcher"]["teacher"] == "aliked-n16"
    assert lg["matcher"]["weights"] == "aliked_lightglue.pth"
    assert nn["matcher"]["name"] == "nn" and nn["matcher"]["ratio"] is None
    assert lg["precision"] > nn["precision"] and lg["pose_auc"]["20"] > 0.3


@pytest.mark.parametrize("command", ["hpatches", "airsim", "pairs"])
def test_evaluations_refuse_a_matcher_that_does_not_fit(command, airsim_sequence, tmp_path, capsys):
    where = {"hpatches": ["--sequences", "1"], "airsim": ["--root", airsim_sequence],
             "pairs": ["--pairs", airsim_sequence / "pairs.txt", "--images", airsim_sequence / "images"]}[command]
    proc = run_cli_here(capsys, "eval", command, *where, "--model", "orb", "--matcher", "lightglue", "--device", "cpu")
    assert_one_line_error(proc, "orb", "disk", "--matcher", "nn matcher")
    proc = run_cli_here(capsys, "eval", command, *where, "--model", "sift", "--ratio", "1.5", "--device", "cpu")
    assert_one_line_error(proc, "ratio 1.5", "(0, 1]")


def test_vo_and_reconstruct_refuse_lightglue_without_projection(airsim_sequence, tmp_path, capsys):
    import torch

    from slamfeat.features.student import build_student
    from slamfeat.io.checkpoint import student_checkpoint

    lite = tmp_path / "lite_without_projection.pt"  # a 64-D student of aliked-n16 that lost its projection
    torch.save(student_checkpoint(build_student("slamfeat-lite"), teacher="aliked-n16", descriptor_space="teacher"),
               lite)
    proc = run_cli_here(capsys, "vo", airsim_sequence, "--out", tmp_path / "vo", "--model", lite,
                        "--matcher", "lightglue", "--max-frames", "2", "--device", "cpu")
    assert_one_line_error(proc, "64-D", "projection", "--matcher", "nn matcher")
    proc = run_cli_here(capsys, "reconstruct", airsim_sequence, "--out", tmp_path / "rec", "--model", "aliked-t16",
                        "--matcher", "lightglue", "--device", "cpu")
    assert_one_line_error(proc, "128-D", "64-D")
    assert not (tmp_path / "rec").exists()
    proc = run_cli_here(capsys, "reconstruct", airsim_sequence, "--out", tmp_path / "rec", "--model", "sift",
                        "--ratio", "0", "--device", "cpu")
    assert_one_line_error(proc, "ratio 0")


def test_match_command_names_the_matcher_and_refuses_bad_options(tmp_path, capsys):
    from fixtures.core import small_image
    from slamfeat import load_extractor
    from slamfeat.io.h5 import read_matches, write_features

    sift = load_extractor("sift", max_keypoints=300)
    img = small_image("astronaut", (192, 144))
    write_features(tmp_path / "f.h5", [("a.png", sift.extract(img)), ("b.png", sift.extract(img[4:, 7:].copy()))])
    (tmp_path / "p.txt").write_text("a.png b.png\n")
    base = ("match", "--features", tmp_path / "f.h5", "--pairs", tmp_path / "p.txt", "--device", "cpu")
    proc = run_cli_here(capsys, *base, "--out", tmp_path / "m.h5", "--features-model", "sift", "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["options"]["ratio"] == 0.8 and "ratio 0.8 (default)" in proc.stdout
    loose = run_cli_here(capsys, *base, "--out", tmp_path / "m1.h5", "--features-model", "sift", "--ratio", "1")
    assert loose.returncode == 0
    strict = (read_matches(tmp_path / "m.h5", "a.png", "b.png")[0] >= 0).sum()
    assert (read_matches(tmp_path / "m1.h5", "a.png", "b.png")[0] >= 0).sum() > strict > 50
    assert_one_line_error(run_cli_here(capsys, *base, "--out", tmp_path / "x.h5", "--features-model", "orb",
                                       "--matcher", "lightglue"), "orb", "--matcher", "nn matcher")
    assert_one_line_error(run_cli_here(capsys, *base, "--out", tmp_path / "x.h5", "--distance-threshold", "-2"),
                          "distance threshold -2")
    assert not (tmp_path / "x.h5").exists()
