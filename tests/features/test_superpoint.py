"""SuperPoint: the original architecture, loading state dicts with the released key names."""

import pytest
import torch

import slamfeat
from slamfeat.features.superpoint import SuperPoint, SuperPointNet
from fixtures.core import assert_one_line_error


RELEASED_KEYS = {f"{n}.{p}" for n in ["conv1a", "conv1b", "conv2a", "conv2b", "conv3a", "conv3b", "conv4a", "conv4b",
                                      "convPa", "convPb", "convDa", "convDb"] for p in ["weight", "bias"]}


def test_state_dict_keys_match_the_released_file():
    assert set(SuperPointNet().state_dict()) == RELEASED_KEYS


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(0)
    net = SuperPointNet()
    path = tmp_path_factory.mktemp("sp") / "superpoint_v1.pth"
    torch.save(net.state_dict(), path)
    return path, net


def test_loads_a_state_dict_saved_from_itself(weights_file, astronaut_small):
    path, net = weights_file
    model = slamfeat.load_extractor("superpoint", weights=path, detection_threshold=0.0, max_keypoints=200)
    for k, v in net.state_dict().items():
        assert torch.equal(model.net.state_dict()[k], v)
    f = model.extract(astronaut_small)
    assert f.descriptors.shape == (len(f), 256) and len(f) == 200
    assert torch.allclose(f.descriptors.norm(dim=1), torch.ones(len(f)), atol=1e-4)


def test_needs_weights():
    with pytest.raises(slamfeat.BadInput, match="weights file"):
        slamfeat.load_extractor("superpoint")


def test_weights_of_another_model_are_rejected(cli, tmp_path, astronaut_small):
    import cv2
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), astronaut_small)
    from slamfeat.features.weights import find_weights
    disk_weights = find_weights("disk-depth-save.pth")
    proc = cli("extract", image, "--model", "superpoint", "--weights", disk_weights, "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, "do not fit model superpoint")
    proc = cli("extract", image, "--model", "aliked-n16", "--weights", find_weights("aliked-t16.pth"), "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, "do not fit model aliked-n16")
