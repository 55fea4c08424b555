"""``slamfeat reconstruct`` end to end on a short rendered AirSim recording with known poses."""

import json
import os
import shutil
from pathlib import Path

import cv2
import pycolmap
import pytest

from fixtures.core import assert_one_line_error, small_image
from fixtures.reconstruction import RECONSTRUCTION_ARGS

CONTRACT_KEYS = {"model", "num_images", "registered_images", "points3D", "mean_reproj_error",
                 "mean_track_length", "time_s"}


def test_every_image_registers_with_small_error(sift_reconstruction):
    out, report = sift_reconstruction
    assert CONTRACT_KEYS <= set(report) and report["model"] == "sift"
    assert report["num_images"] == 10 and report["registered_images"] == 10
    assert report["points3D"] > 300
    assert report["mean_reproj_error"] < 1.5
    assert report["mean_track_length"] > 3
    assert set(report["time_s"]) >= {"extract", "match", "database", "mapping", "total"}


def test_poses_match_the_truth_after_alignment(sift_reconstruction):
    pose = sift_reconstruction[1]["pose_error"]
    assert pose["images"] == 10
    assert pose["median_position_error_rel"] < 0.02
    assert pose["median_rotation_error_deg"] < 1.0


def test_model_and_point_cloud_are_saved(sift_reconstruction):
    out, report = sift_reconstruction
    model = pycolmap.Reconstruction(out / "model")
    assert model.num_reg_images() == report["registered_images"]
    assert model.num_points3D() == report["points3D"]
    import open3d as o3d
    cloud = o3d.io.read_point_cloud(str(out / "points.ply"))
    assert len(cloud.points) == report["points3D"]
    for name in ("features.h5", "matches.h5", "database.db", "pairs.txt", "config.json"):
        assert (out / name).is_file(), name


def test_pycolmap_sift_side_by_side(sift_reconstruction):
    sift = sift_reconstruction[1]["sift"]
    assert CONTRACT_KEYS <= set(sift) and sift["model"] == "colmap-sift"
    assert sift["registered_images"] == 10 and sift["mean_reproj_error"] < 1.5
    assert sift["pose_error"]["median_rotation_error_deg"] < 1.0
    assert (sift_reconstruction[0] / "sift" / "model" / "images.bin").is_file()
    # slamfeat's SIFT registers as many images as COLMAP's, matched as COLMAP does (mutual, Lowe's ratio 0.8)
    report = sift_reconstruction[1]
    assert report["registered_images"] >= sift["registered_images"]
    assert report["matcher"]["name"] == "nn" and report["matcher"]["ratio"] == 0.8 and report["matcher"]["mutual"]


def test_second_run_reuses_the_saved_files(sift_reconstruction, reconstruction_sequence, tmp_path, capsys):
    from fixtures.airsim import run_cli_here
    out = Path(shutil.copytree(sift_reconstruction[0], tmp_path / "out"))
    extracted = (out / "features.h5").stat().st_mtime_ns
    proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", out, *RECONSTRUCTION_ARGS,
                        "--mapper", "global", "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["reused"] == ["features", "matches", "database"]
    assert (out / "features.h5").stat().st_mtime_ns == extracted
    assert report["time_s"]["extract"] < 0.5 and report["time_s"]["database"] < 0.5
    assert report["registered_images"] == 10 and report["pose_error"]["median_rotation_error_deg"] < 1.0
    assert "sift" in proc.stdout and "registered" in proc.stdout  # the table


def test_another_model_in_the_same_folder_is_refused(sift_reconstruction, reconstruction_sequence, tmp_path, capsys):
    from fixtures.airsim import run_cli_here
    out = Path(shutil.copytree(sift_reconstruction[0], tmp_path / "out"))
    proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", out, "--model", "orb")
    assert_one_line_error(proc, str(out), "--overwrite")


def test_images_that_share_nothing_report_what_registered(tmp_path, capsys):
    from fixtures.airsim import run_cli_here
    folder = tmp_path / "unrelated"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(small_image(name), cv2.COLOR_RGB2BGR))
    proc = run_cli_here(capsys, "reconstruct", folder, "--out", tmp_path / "out", "--model", "sift",
                        "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["num_images"] == 3 and report["registered_images"] == 0 and report["points3D"] == 0
    assert not (tmp_path / "out" / "model").exists()


def test_one_image_is_bad_input(tmp_path, capsys):
    from fixtures.airsim import run_cli_here
    folder = tmp_path / "one"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), small_image())
    proc = run_cli_here(capsys, "reconstruct", folder, "--out", tmp_path / "out", "--model", "sift")
    assert_one_line_error(proc, str(folder), "at least 2")


def test_unwritable_output_folder_is_bad_input(reconstruction_sequence, tmp_path, capsys):
    from fixtures.airsim import run_cli_here
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", blocker / "out", "--model", "sift")
    assert_one_line_error(proc, str(blocker / "out"))


def test_wrong_camera_parameters_are_bad_input(reconstruction_sequence, tmp_path, capsys):
    from fixtures.airsim import run_cli_here
    proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", tmp_path / "out", "--model", "sift",
                        "--camera-model", "PINHOLE", "--camera-params", "100,120,60")
    assert_one_line_error(proc, "--camera-params", "100,120,60", "4")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_read_only_output_folder_is_bad_input(reconstruction_sequence, tmp_path, capsys):
    from fixtures.airsim import run_cli_here
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        proc = run_cli_here(capsys, "reconstruct", reconstruction_sequence, "--out", out, "--model", "sift")
    finally:
        out.chmod(0o700)
    assert_one_line_error(proc, str(out), "not writable")


def test_student_model_reconstructs(airsim_sequence, tmp_path, capsys):
    from slamfeat.features.weights import PACKAGE_WEIGHTS
    if not (PACKAGE_WEIGHTS / "slamfeat-lite.pt").is_file():
        pytest.skip("slamfeat-lite weights not trained yet")
    from fixtures.airsim import run_cli_here
    from fixtures.reconstruction import subsample_recording
    recording = subsample_recording(airsim_sequence, tmp_path / "rec", 6)  # 5 frames
    proc = run_cli_here(capsys, "reconstruct", recording, "--out", tmp_path / "out", "--max-keypoints", "1024",
                        "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["model"] == "slamfeat-lite" and report["num_images"] == 5
    assert report["registered_images"] >= 4 and report["mean_reproj_error"] < 1.5
