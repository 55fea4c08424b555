"""What every extractor does through ``Extractor``: image types converted alike, keypoints of a
resized image mapped back to the image as given, unknown options refused."""

import cv2
import numpy as np
import pytest
import torch

import slamfeat


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


def test_unknown_option_is_bad_input():
    with pytest.raises(slamfeat.BadInput, match="unknown option"):
        slamfeat.load_extractor("sift", max_kpts=10)
