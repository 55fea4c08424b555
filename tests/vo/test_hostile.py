"""Hostile input to ``slamfeat vo`` (issue 16): nonsense values and outputs that cannot be written
are one line and exit 2 before any work, and no file of an earlier run stays beside new ones."""

import pytest

from fixtures.core import assert_one_line_error, run_cli
from fixtures.vo import VO_TEST_KEYPOINTS, VO_TEST_MODEL, run_in_process

VO_ARGS = ("--model", VO_TEST_MODEL, "--max-keypoints", str(VO_TEST_KEYPOINTS))


@pytest.fixture
def vo(capsys):
    return lambda *args: run_in_process(capsys, "vo", *args, *VO_ARGS)


@pytest.mark.parametrize("args, fragment", [
    (("--fps", "nan"), "--fps: frame rate nan"),
    (("--calib", "300,300,160,120", "--fov", "90"), "give one of the two"),
    (("--calib", "-100,300,160,120"), "focal lengths must be positive"),
    (("--local-map", "-1"), "local map -1: expected 0 (off)"),
])
def test_nonsense_values(airsim_sequence, tmp_path, vo, args, fragment):
    proc = vo(airsim_sequence / "images", "--out", tmp_path / "out", *args)
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "out").exists()


def test_negative_calibration_is_one_line_not_the_usage(airsim_sequence, tmp_path):
    proc = run_cli("vo", airsim_sequence / "images", "--out", tmp_path / "out", "--calib", "-100,300,160,120",
                   "--model", "sift")
    assert_one_line_error(proc, "-100")


def test_an_output_that_is_a_file_is_refused_first(airsim_sequence, tmp_path, vo):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_one_line_error(vo(airsim_sequence, "--out", blocker, "--max-frames", "3"), str(blocker), "is a file")
    assert_one_line_error(vo(airsim_sequence, "--out", tmp_path / "out", "--json", tmp_path),
                          str(tmp_path), "folder")
    assert not (tmp_path / "out").exists()


def test_no_file_of_an_earlier_run_stays_beside_the_new_ones(airsim_sequence, tmp_path, vo):
    out = tmp_path / "out"
    assert vo(airsim_sequence, "--out", out, "--max-frames", "6").returncode == 0
    assert (out / "matches.mp4").is_file()
    assert vo(airsim_sequence, "--out", out, "--max-frames", "6", "--no-video").returncode == 0
    assert not (out / "matches.mp4").exists() and (out / "trajectory.txt").is_file()
