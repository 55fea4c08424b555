"""DISK on a real photograph: keypoints inside the image, documented descriptors, deterministic
output, and a matched warped copy."""

from fixtures.features import assert_deterministic, assert_documented_features, assert_warped_copy_matched


def test_features_inside_image_with_documented_descriptors(extractors, astronaut_small):
    assert_documented_features(extractors["disk"], astronaut_small, "disk")


def test_deterministic(extractors, astronaut_small):
    assert_deterministic(extractors["disk"], astronaut_small)


def test_warped_copy_is_matched_accurately(extractors):
    assert_warped_copy_matched(extractors["disk"])
