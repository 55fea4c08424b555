"""ORB on a real photograph: keypoints inside the image, documented (binary) descriptors,
deterministic output, and nothing (not an error) on a textureless image."""

import numpy as np

from fixtures.features import assert_deterministic, assert_documented_features


def test_features_inside_image_with_documented_descriptors(extractors, astronaut_small):
    assert_documented_features(extractors["orb"], astronaut_small, "orb")


def test_deterministic(extractors, astronaut_small):
    assert_deterministic(extractors["orb"], astronaut_small)


def test_textureless_image_is_not_an_error(extractors):
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert len(extractors["orb"].extract(blank)) == 0
