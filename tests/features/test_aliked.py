"""ALIKED (each variant) on a real photograph: keypoints inside the image, documented descriptors,
deterministic output, a matched warped copy, and a textureless image that is not an error."""

import numpy as np
import pytest

from fixtures.features import assert_deterministic, assert_documented_features, assert_warped_copy_matched

VARIANTS = ["aliked-n16", "aliked-t16", "aliked-n32"]


@pytest.mark.parametrize("name", VARIANTS)
def test_features_inside_image_with_documented_descriptors(extractors, astronaut_small, name):
    assert_documented_features(extractors[name], astronaut_small, name)


@pytest.mark.parametrize("name", VARIANTS)
def test_deterministic(extractors, astronaut_small, name):
    assert_deterministic(extractors[name], astronaut_small)


def test_warped_copy_is_matched_accurately(extractors):
    assert_warped_copy_matched(extractors["aliked-n16"])


def test_textureless_image_is_not_an_error(extractors):
    blank = np.full((240, 320, 3), 128, np.uint8)
    f = extractors["aliked-t16"].extract(blank)
    assert f.descriptors.shape[1] == 64
