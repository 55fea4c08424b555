"""``slamfeat vo`` / ``slamfeat demo`` from the command line: outputs, the report, and bad input."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fixtures.core import assert_one_line_error, run_cli
from fixtures.vo import VO_TEST_KEYPOINTS, VO_TEST_MODEL, run_in_process, write_frame_folder

CONTRACT_KEYS = {"source", "model", "frames", "tracked_frames", "keyframes", "fps", "trajectory_length",
                 "ate_rmse", "ate_rmse_rel", "rpe_trans", "rpe_rot_deg"}


VO_ARGS = ("--model", VO_TEST_MODEL, "--max-keypoints", str(VO_TEST_KEYPOINTS))


@pytest.fixture
def vo(capsys):
    """``slamfeat vo ARGS`` run in this process (no interpreter start-up)."""
    return lambda *args: run_in_process(capsys, "vo", *args, *VO_ARGS)


def test_vo_without_source_runs_the_cached_default_sequence(airsim_sequence, tmp_path, monkeypatch, vo):
    # a cache that already holds the default sequence: it is reused, not rendered again
    cache = tmp_path / "cache"
    shutil.copytree(airsim_sequence, cache / "default_sequence")
    monkeypatch.setenv("SLAMFEAT_CACHE", str(cache))
    out, report = tmp_path / "out", tmp_path / "r.json"
    proc = vo("--out", out, "--json", report, "--max-frames", "12")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert CONTRACT_KEYS <= set(data)
    assert data["frames"] == 12 and data["tracked_frames"] >= 11 and data["model"] == VO_TEST_MODEL
    assert 0 <= data["ate_rmse_rel"] < 0.05
    # the trajectory follows its keyframes' last poses; the report also scores the poses as tracked
    assert data["poses"] == "final" and 0 <= data["online"]["ate_rmse_rel"] < 0.05
    assert Path(data["source"]) == cache / "default_sequence"
    for name in ("trajectory.txt", "trajectory.png", "matches.mp4", "map.ply", "report.json", "config.json"):
        assert (out / name).stat().st_size > 0, name
    lines = [l for l in (out / "trajectory.txt").read_text().splitlines() if not l.startswith("#")]
    assert len(lines) == data["tracked_frames"] and all(len(l.split()) == 8 for l in lines)
    assert "trajectory.png" in proc.stdout and "ate_rmse" in proc.stdout
    assert not list(cache.glob(".default_sequence.*"))


def test_folder_without_ground_truth_guesses_intrinsics(vo_frames, tmp_path, vo):
    folder = write_frame_folder(vo_frames[:8], tmp_path / "frames")
    report = tmp_path / "r.json"
    proc = vo(folder, "--out", tmp_path / "out", "--json", report, "--no-video")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert "ate_rmse" not in data and data["frames"] == 8
    assert data["intrinsics"]["from"] == "guess" and "guessed" in proc.stdout


def test_video_that_does_not_open(tmp_path):
    # a real process: FFmpeg's own complaints must not reach stderr beside our one line
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    assert_one_line_error(run_cli("vo", bad, "--out", tmp_path / "out", *VO_ARGS), str(bad))


def test_folder_without_images(tmp_path, vo):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no frames here")
    assert_one_line_error(vo(empty, "--out", tmp_path / "out"), str(empty), "no images")


def test_frames_of_changing_size(vo_frames, tmp_path, vo):
    folder = write_frame_folder(vo_frames[:4], tmp_path / "frames")
    cv2.imwrite(str(folder / "frame_0002.png"), np.zeros((100, 120, 3), np.uint8))
    proc = vo(folder, "--out", tmp_path / "out", "--fov", "90")
    assert_one_line_error(proc, "frame 2", "120×100")
    assert not (tmp_path / "out" / "trajectory.txt").exists()


@pytest.mark.parametrize("flag", ["--calib=300,300,500,120", "--calib=-5,300,160,120", "--calib=300,300",
                                  "--calib=3,3,160,120", "--fov=200"])
def test_intrinsics_that_do_not_fit_the_image(vo_frames, tmp_path, flag, vo):
    folder = write_frame_folder(vo_frames[:2], tmp_path / "frames")
    assert_one_line_error(vo(folder, "--out", tmp_path / "out", flag), flag.split("=")[0])


def test_fallback_matcher_in_the_report_and_refused_where_it_cannot_serve(airsim_sequence, tmp_path, vo, capsys):
    report = tmp_path / "r.json"
    code = run_in_process(capsys, "vo", airsim_sequence, "--out", tmp_path / "ok", "--model", "slamfeat-lite",
                          "--fallback-matcher", "lightglue", "--max-frames", "6", "--no-video", "--json", report,
                          "--device", "cpu")
    assert code.returncode == 0, code.stderr
    r = json.loads(report.read_text())
    assert r["matcher"]["name"] == "nn" and r["fallback_matcher"]["name"] == "lightglue"
    assert 0 <= r["fallback_frames"] <= r["tracked_frames"]
    assert_one_line_error(vo(airsim_sequence, "--out", tmp_path / "a", "--fallback-matcher", "nn"),
                          "--fallback-matcher", "the matcher itself")
    # sift has no LightGlue: the fault is the fallback's, and says what would work
    assert_one_line_error(vo(airsim_sequence, "--out", tmp_path / "b", "--fallback-matcher", "lightglue"),
                          "--fallback-matcher", "LightGlue", "nn matcher")
    # by default (auto) a student gets its teacher's LightGlue behind mutual NN; none switches it off
    for flag, expected in ((), "lightglue"), (("--fallback-matcher", "none"), None):
        code = run_in_process(capsys, "vo", airsim_sequence, "--out", tmp_path / f"auto{len(flag)}", "--model",
                              "slamfeat-lite", *flag, "--max-frames", "4", "--no-video", "--json", report,
                              "--device", "cpu")
        assert code.returncode == 0, code.stderr
        assert json.loads(report.read_text()).get("fallback_matcher", {}).get("name") == expected
    # sift has none: auto leaves it without a fallback (no error)
    code = vo(airsim_sequence, "--out", tmp_path / "sift", "--max-frames", "4", "--no-video", "--json", report)
    assert code.returncode == 0 and "fallback_matcher" not in json.loads(report.read_text())


def test_local_map_option_reaches_the_tracker_and_the_report(airsim_sequence, tmp_path, vo):
    report = tmp_path / "r.json"
    proc = vo(airsim_sequence, "--out", tmp_path / "out", "--json", report, "--no-video", "--max-frames", "20",
              "--local-map", "3")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["local_map_keyframes"] == 3 and data["local_map_matches"] > 0
    assert json.loads((tmp_path / "out" / "config.json").read_text())["local_map_keyframes"] == 3
