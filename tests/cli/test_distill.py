"""``slamfeat distill`` and ``slamfeat export`` on bad input: exit status 2 and one line naming the fault."""

from fixtures.core import assert_one_line_error, run_cli
from fixtures.distill import tiny_distill_args


def test_image_folder_without_images(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    proc = run_cli(*tiny_distill_args(empty, tmp_path / "s.pt"))
    assert_one_line_error(proc, str(empty), "no images")
    assert not (tmp_path / "s.pt").exists()


def test_corrupt_checkpoint_to_resume_or_load(distill_images, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a torch checkpoint")
    assert_one_line_error(run_cli(*tiny_distill_args(distill_images, bad), "--resume"), str(bad), "corrupt")
    assert bad.read_bytes().startswith(b"PK")  # left as it was
    assert_one_line_error(run_cli("export", "--model", str(bad), "--format", "onnx", "--out", str(tmp_path / "x.onnx")),
                          str(bad))


def test_descriptor_size_that_does_not_fit_the_losses(distill_images, tmp_path):
    proc = run_cli("distill", "--teacher", "aliked-n16", "--student", "slamfeat-lite", "--descriptor-dim", "64",
                   "--losses", "absolute", "--projection", "none", "--images", str(distill_images),
                   "--out", str(tmp_path / "s.pt"))
    assert_one_line_error(proc, "--descriptor-dim", "descriptor size 64", "absolute", "128")


def test_zoom_range_out_of_bounds(distill_images, tmp_path):
    proc = run_cli(*tiny_distill_args(distill_images, tmp_path / "s.pt"), "--max-scale", "5")
    assert_one_line_error(proc, "--max-scale", "max_scale 5", "between 1 and 4")
    assert not (tmp_path / "s.pt").exists()
