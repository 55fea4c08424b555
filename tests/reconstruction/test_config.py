import numpy as np
import pytest

from slamfeat.errors import BadInput
from slamfeat.reconstruction import ImageSet, ReconstructionConfig, camera_setup
from slamfeat.reconstruction.config import check_camera
from slamfeat.reconstruction.pipeline import image_pairs

NAMES = ["a.png", "b.png", "c.png", "d.png"]


def test_known_intrinsics_become_a_fixed_pinhole_camera_in_colmap_convention(tmp_path):
    K = np.array([[160.0, 0, 159.5], [0, 150.0, 119.5], [0, 0, 1]])
    camera = camera_setup(ReconstructionConfig(), ImageSet(tmp_path, NAMES, None, K))
    assert camera.model == "PINHOLE" and camera.single and camera.known
    assert [float(v) for v in camera.params.split(",")] == [160.0, 150.0, 160.0, 120.0]


def test_given_parameters_win_over_the_recording(tmp_path):
    config = ReconstructionConfig(camera_model="SIMPLE_PINHOLE", camera_params="200,160,120")
    camera = camera_setup(config, ImageSet(tmp_path, NAMES, None, np.eye(3)))
    assert (camera.model, camera.params, camera.single) == ("SIMPLE_PINHOLE", "200,160,120", False)
    assert not camera_setup(ReconstructionConfig(), ImageSet(tmp_path, NAMES)).known


@pytest.mark.parametrize("model, params, fragment", [("PINHOLES", "", "unknown"), ("PINHOLE", "1,2,3", "4"),
                                                     ("SIMPLE_RADIAL", "1,x,3,4", "4")])
def test_bad_cameras_are_named(model, params, fragment):
    with pytest.raises(BadInput, match=fragment):
        check_camera(model, params)


def test_pairs_from_modes_and_files(tmp_path):
    assert len(image_pairs(NAMES, "exhaustive")[0]) == 6
    assert image_pairs(NAMES, "sequential:1") == ([("a.png", "b.png"), ("b.png", "c.png"), ("c.png", "d.png")], None)
    listed = tmp_path / "pairs.txt"
    listed.write_text("a.png d.png\n# a comment\nb.png c.png\n")
    assert image_pairs(NAMES, str(listed)) == ([("a.png", "d.png"), ("b.png", "c.png")], listed)


def test_bad_pairs_are_named(tmp_path):
    listed = tmp_path / "pairs.txt"
    listed.write_text("a.png z.png\n")
    with pytest.raises(BadInput, match="z.png"):
        image_pairs(NAMES, str(listed))
    with pytest.raises(BadInput, match="nothing.txt"):
        image_pairs(NAMES, str(tmp_path / "nothing.txt"))
    with pytest.raises(BadInput, match="sequential"):
        image_pairs(NAMES, "sequential:x")
