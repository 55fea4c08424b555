"""Every registered extractor on a real photograph: keypoints inside the image, descriptors of the
documented size and norm, deterministic output, and a matched warped copy."""

import cv2
import numpy as np
import pytest
import torch

import slamfeat
from slamfeat.features import REGISTRY
from fixtures.core import small_image

MODELS = ["sift", "orb", "disk", "aliked-n16", "aliked-t16", "aliked-n32", "xfeat"]


@pytest.fixture(scope="module")
def extractors():
    return {m: slamfeat.load_extractor(m, max_keypoints=512) for m in MODELS}


@pytest.mark.parametrize("name", MODELS)
def test_features_inside_image_with_documented_descriptors(extractors, astronaut_small, name):
    f = extractors[name].extract(astronaut_small)
    h, w = astronaut_small.shape[:2]
    assert 50 <= len(f) <= 512
    assert f.image_size == (w, h)
    assert f.keypoints.dtype == torch.float32 and f.keypoints.shape == (len(f), 2)
    assert (f.keypoints[:, 0] >= -0.5).all() and (f.keypoints[:, 0] <= w - 0.5).all()
    assert (f.keypoints[:, 1] >= -0.5).all() and (f.keypoints[:, 1] <= h - 0.5).all()
    assert f.descriptors.shape == (len(f), REGISTRY[name].descriptor_dim)
    assert (f.scores[:-1] >= f.scores[1:]).all(), "scores sorted, highest first"
    if f.binary:
        assert set(torch.unique(f.descriptors).tolist()) <= {0.0, 1.0}
    else:
        assert torch.allclose(f.descriptors.norm(dim=1), torch.ones(len(f)), atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_deterministic(extractors, astronaut_small, name):
    a = extractors[name].extract(astronaut_small)
    b = extractors[name].extract(astronaut_small.copy())
    assert torch.equal(a.keypoints, b.keypoints)
    assert torch.allclose(a.descriptors, b.descriptors, atol=1e-6)


def test_gray_rgb_uint8_float_inputs_agree(extractors, astronaut_small):
    e = extractors["aliked-t16"]
    as_uint8 = e.extract(astronaut_small)
    as_float = e.extract(astronaut_small.astype(np.float32) / 255.0)
    as_tensor = e.extract(torch.from_numpy(astronaut_small).permute(2, 0, 1))
    assert torch.allclose(as_uint8.keypoints, as_float.keypoints) and torch.allclose(as_uint8.keypoints, as_tensor.keypoints)
    gray = cv2.cvtColor(astronaut_small, cv2.COLOR_RGB2GRAY)
    assert len(e.extract(gray)) > 50


def test_resize_maps_keypoints_back_to_the_original_frame(astronaut_small):
    full = slamfeat.load_extractor("sift", max_keypoints=300).extract(astronaut_small)
    big = cv2.resize(astronaut_small, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    resized = slamfeat.load_extractor("sift", max_keypoints=300, resize_max=320).extract(big)
    assert resized.image_size == (640, 480)
    # keypoints found at 320×240 come back in 640×480 coordinates: (x + 0.5) * 2 − 0.5
    d = torch.cdist((full.keypoints + 0.5) * 2 - 0.5, resized.keypoints)
    assert (d.min(dim=1).values < 1.0).float().mean() > 0.8


def warp_pair(image, seed=0):
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    dst = (src + rng.uniform(-0.08, 0.08, size=(4, 2)) * [w, h]).astype(np.float32)
    H = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, H, (w, h), flags=cv2.INTER_LINEAR), H


@pytest.mark.parametrize("name", ["disk", "aliked-n16"])
def test_warped_copy_is_matched_accurately(extractors, name):
    image = small_image("astronaut", (320, 240))
    warped, H = warp_pair(image)
    e = extractors[name]
    f0, f1 = e.extract(image), e.extract(warped)
    m0, _ = slamfeat.match_features(f0, f1)
    i0 = torch.nonzero(m0 >= 0).squeeze(1)
    assert len(i0) >= 60
    p = cv2.perspectiveTransform(f0.keypoints[i0].numpy()[None].astype(np.float64), H)[0]
    err = np.linalg.norm(p - f1.keypoints[m0[i0]].numpy(), axis=1)
    assert np.mean(err < 3) > 0.8, np.mean(err < 3)


def test_textureless_image_is_not_an_error(extractors):
    blank = np.full((240, 320, 3), 128, np.uint8)
    for name in ("sift", "orb"):
        assert len(extractors[name].extract(blank)) == 0
    f = extractors["aliked-t16"].extract(blank)
    assert f.descriptors.shape[1] == 64


def test_unknown_option_is_bad_input():
    with pytest.raises(slamfeat.BadInput, match="unknown option"):
        slamfeat.load_extractor("sift", max_kpts=10)
