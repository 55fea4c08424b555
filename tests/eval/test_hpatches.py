"""HPatches evaluation: exact pairs score 1, shuffled descriptors score 0, the whole command on a tiny set."""

import csv
import json

import cv2
import numpy as np
import pytest
import torch

from fixtures.core import assert_one_line_error
from fixtures.hpatches import run_main
from slamfeat.eval.hpatches import HPatchesEvalConfig, evaluate, evaluate_pair, select_sequences
from slamfeat.features import Features, load_extractor
from slamfeat.geometry.homography import inside_image, warp_points
from slamfeat.matching import match_pair

SIZE = (160, 120)
H = np.array([[0.95, 0.08, 6.0], [-0.06, 1.02, 3.0], [3e-4, -2e-4, 1.0]])
CONFIG = HPatchesEvalConfig(max_size=160, max_keypoints=256, device="cpu")


def _features(keypoints, descriptors):
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    return Features(kp, torch.ones(len(kp)), torch.as_tensor(descriptors, dtype=torch.float32), SIZE)


@pytest.fixture
def exact_pair():
    """Keypoints of image 0 that H carries inside image 1, their exact copies in image 1 (in
    another order) and identical random descriptors."""
    rng = np.random.default_rng(0)
    gx, gy = np.meshgrid(np.arange(8, 150, 12.0), np.arange(8, 110, 12.0))
    kp0 = np.stack([gx.ravel(), gy.ravel()], 1)
    kp0 = kp0[inside_image(warp_points(H, kp0), SIZE, border=1)]
    desc = torch.nn.functional.normalize(torch.randn(len(kp0), 32, generator=torch.Generator().manual_seed(0)), dim=1)
    perm = rng.permutation(len(kp0))
    return kp0, warp_points(H, kp0)[perm], desc, perm


def _score(kp0, desc0, kp1, desc1):
    f0, f1 = _features(kp0, desc0), _features(kp1, desc1)
    m0, _ = match_pair(f0, f1, mutual=True)
    return evaluate_pair(f0, f1, m0.numpy(), H, CONFIG)


def test_exact_copy_scores_one(exact_pair):
    kp0, kp1, desc, perm = exact_pair
    s = _score(kp0, desc, kp1, desc[perm])
    assert len(kp0) > 50 and s["matches"] == len(kp0)
    assert np.allclose(s["mma"], 1.0) and np.allclose(s["mrs_curve"], 1.0)
    assert s["repeatability"] == pytest.approx(1.0)
    assert s["matching_score"] == pytest.approx(1.0)
    assert s["mrs"] == pytest.approx(1.0)
    assert s["corner_error"] < 0.1


def test_shuffled_descriptors_score_near_zero(exact_pair):
    kp0, kp1, desc, perm = exact_pair
    shuffled = desc[np.random.default_rng(3).permutation(len(desc))]
    s = _score(kp0, desc, kp1, shuffled)
    assert s["mma"][2] < 0.1 and s["mrs"] < 0.1 and s["corner_error"] > 5
    assert s["repeatability"] == pytest.approx(1.0)  # detection is still perfect


def test_points_outside_covisible_region_do_not_count(exact_pair):
    kp0, kp1, desc, perm = exact_pair
    # image 0 gets keypoints that H carries out of image 1, image 1 gets keypoints that come from
    # outside image 0: unseen by the other image, they change no score
    top_row = np.stack([np.arange(0, 160, 5.0), np.zeros(32)], 1)
    out0 = top_row[~inside_image(warp_points(H, top_row), SIZE)][:3]
    left_column = np.stack([np.zeros(24), np.arange(0, 120, 5.0)], 1)
    out1 = left_column[~inside_image(warp_points(np.linalg.inv(H), left_column), SIZE)][::4][:2]
    assert len(out0) == 3 and len(out1) == 2
    extra = torch.nn.functional.normalize(torch.randn(5, 32, generator=torch.Generator().manual_seed(1)), dim=1)
    s = _score(np.vstack([kp0, out0]), torch.cat([desc, extra[:3]]),
               np.vstack([kp1, out1]), torch.cat([desc[perm], extra[3:]]))
    assert s["repeatability"] == pytest.approx(1.0)
    assert s["mrs"] == pytest.approx(1.0)
    assert s["matching_score"] == pytest.approx(1.0)


def test_evaluate_tiny_set_in_python(tiny_hpatches):
    sift = load_extractor("sift")
    report = evaluate(tiny_hpatches, ["orb", sift], CONFIG)
    assert report["dataset"]["pairs"] == 10 and report["dataset"]["sequences_i"] == 1
    assert set(report["results"]) == {"orb", "sift"}
    for r in report["results"].values():
        assert set(r["mma"]) == {str(t) for t in range(1, 11)}
        mma = np.array(list(r["mma"].values()))
        assert np.all(np.diff(mma) >= 0) and 0 <= mma[0] and mma[-1] <= 1
        assert min(r["mma_i"]["3"], r["mma_v"]["3"]) <= r["mma"]["3"] <= max(r["mma_i"]["3"], r["mma_v"]["3"])
        assert set(r["homography_accuracy"]) == {"1", "3", "5"}
        for v in (r["repeatability"]["3"], r["matching_score"]["3"], r["mrs"], r["homography_accuracy"]["5"]):
            assert 0 <= v <= 1
        assert 0 < r["keypoints_per_image"] <= 256 and r["matches_per_pair"] > 0 and r["ms_per_image"] > 0
    # identity geometry, photometric change only: real detectors match most keypoints correctly
    assert report["results"]["sift"]["mma_i"]["3"] > 0.6
    assert len(report["sequences"]) == 4
    assert select_sequences(evaluate.__globals__["load_hpatches"](tiny_hpatches), 1)[0].kind == "i"


def test_command_on_synthetic_set_writes_json_png_csv(tmp_path, capsys):
    out = tmp_path / "r.json"
    proc = run_main(capsys, "eval", "hpatches", "--model", "orb", "--sequences", "2", "--max-size", "128",
                    "--max-keypoints", "200", "--device", "cpu", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "orb" in proc.stdout and "MRS@3" in proc.stdout
    report = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON report"))
    assert report["dataset"]["synthetic"] is True and report["dataset"]["root"] is None
    r = report["results"]["orb"]
    for key in ("mma", "mma_i", "mma_v", "homography_accuracy", "repeatability", "matching_score", "mrs",
                "keypoints_per_image", "matches_per_pair", "ms_per_image", "mrs_curve"):
        assert key in r
    png = cv2.imread(str(tmp_path / "r_mma.png"))
    assert png is not None and png.shape[1] > png.shape[0]
    rows = list(csv.DictReader((tmp_path / "r_sequences.csv").open()))
    assert [row["sequence"] for row in rows] == ["i_astronaut", "v_coffee"]


@pytest.mark.parametrize("damage, fragment", [
    (lambda root: (root / "v_coffee" / "5.ppm").unlink(), "v_coffee/5.ppm"),
    (lambda root: (root / "i_astronaut" / "H_1_3").unlink(), "i_astronaut/H_1_3"),
    (lambda root: (root / "v_coffee" / "H_1_2").write_text("1 0 0\n0 1 zero\n0 0 1\n"), "v_coffee/H_1_2"),
    (lambda root: (root / "v_coffee" / "2.ppm").write_bytes(b"P6\n160 120\n255\n"), "v_coffee/2.ppm"),
])
def test_broken_set_exit_2_naming_the_file(hpatches_copy, capsys, damage, fragment):
    damage(hpatches_copy)
    proc = run_main(capsys, "eval", "hpatches", "--root", hpatches_copy, "--model", "orb", "--device", "cpu")
    assert_one_line_error(proc, fragment)


def test_scales_reach_the_students_and_the_report(tiny_hpatches, tmp_path, capsys):
    """``--scales``: the students extract at each scale (more keypoints survive on these small
    images), the report's settings name them; a model without scales or a bad factor: one line, 2."""
    runs = {}
    for scales in (None, "1,0.6"):
        out = tmp_path / f"{scales}.json"
        flags = [] if scales is None else ["--scales", scales]
        proc = run_main(capsys, "eval", "hpatches", "--root", tiny_hpatches, "--model", "slamfeat-lite", "--device",
                        "cpu", "--json", out, *flags)
        assert proc.returncode == 0, proc.stderr
        runs[scales] = json.loads(out.read_text())
    assert runs[None]["settings"]["scales"] is None and runs["1,0.6"]["settings"]["scales"] == [1.0, 0.6]
    single, both = (runs[k]["results"]["slamfeat-lite"] for k in (None, "1,0.6"))
    assert both["keypoints_per_image"] > single["keypoints_per_image"]
    proc = run_main(capsys, "eval", "hpatches", "--root", tiny_hpatches, "--model", "orb", "--scales", "1,0.6")
    assert_one_line_error(proc, "orb", "one scale only")
    proc = run_main(capsys, "eval", "hpatches", "--root", tiny_hpatches, "--model", "slamfeat-lite", "--scales", "1,5")
    assert_one_line_error(proc, "scales 1,5")
