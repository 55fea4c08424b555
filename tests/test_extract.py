"""extract_to_h5: images already extracted are kept, a stopped run resumes from its partial file."""

import cv2
import h5py
import pytest

import slamfeat
from slamfeat.errors import BadInput
from slamfeat.extract import collect_images, extract_to_h5


@pytest.fixture
def folder(tmp_path, astronaut_small):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), astronaut_small[:, i * 10:])
    return tmp_path


def test_second_run_extracts_only_new_images(folder, tmp_path):
    sift = slamfeat.load_extractor("sift", max_keypoints=100)
    images = collect_images([folder])
    out = tmp_path / "out" / "f.h5"
    assert extract_to_h5(images[:2], sift, out)["extracted"] == 2
    report = extract_to_h5(images, sift, out)
    assert report["extracted"] == 1 and report["images"] == 3
    assert extract_to_h5(images, sift, out, overwrite=True)["extracted"] == 3
    assert (out.stat().st_mode & 0o777) != 0o600


def test_failed_run_resumes_from_partial_file(folder, tmp_path):
    sift = slamfeat.load_extractor("sift", max_keypoints=100)
    (folder / "z_broken.png").write_text("not an image")
    out = tmp_path / "f.h5"
    with pytest.raises(BadInput, match="z_broken.png"):
        extract_to_h5(collect_images([folder]), sift, out)
    assert not out.exists()
    with h5py.File(tmp_path / "f.h5.partial") as f:
        assert sorted(f) == ["0.png", "1.png", "2.png"]
    (folder / "z_broken.png").unlink()
    assert extract_to_h5(collect_images([folder]), sift, out)["extracted"] == 0
    with h5py.File(out) as f:
        assert sorted(f) == ["0.png", "1.png", "2.png"]
