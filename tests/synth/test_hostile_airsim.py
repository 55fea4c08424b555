"""Hostile input to ``slamfeat synth airsim`` (issue 16)."""

from pathlib import Path

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error


def frames_of(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "images").iterdir())


def test_a_shorter_run_leaves_no_frame_of_the_earlier_one(tmp_path, capsys):
    out = tmp_path / "rec"
    args = ("synth", "airsim", "--out", out, "--size", "64x48")
    assert run_cli_here(capsys, *args, "--frames", "3").returncode == 0
    assert len(frames_of(out)) == 6
    assert run_cli_here(capsys, *args, "--frames", "2").returncode == 0
    assert len(frames_of(out)) == 4
    listed = {n for line in (out / "airsim_rec.txt").read_text().splitlines()[1:]
              for n in line.split("\t")[-1].split(";")}
    assert set(frames_of(out)) == listed


def test_outputs_that_cannot_be_written_and_huge_sizes(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(run_cli_here(capsys, "synth", "airsim", "--out", blocker, "--frames", "2"),
                          str(blocker), "is a file")
    proc = run_cli_here(capsys, "synth", "airsim", "--out", tmp_path / "rec", "--size", "100000x100000")
    assert_one_line_error(proc, "100000x100000")
    proc = run_cli_here(capsys, "synth", "airsim", "--out", tmp_path / "rec", "--frames", "2", "--size", "64x48",
                        "--pairs-out", tmp_path / "rec")
    assert_one_line_error(proc, str(tmp_path / "rec"))
