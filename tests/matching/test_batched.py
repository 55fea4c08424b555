"""match_pair / match_many on Features, and matches_to_indices."""

import pytest
import torch

from fixtures.matching import brute_force_matches, correlated_pair
from slamfeat import match_features
from slamfeat.errors import BadInput
from slamfeat.features.base import Features
from slamfeat.matching import match_many, match_pair, matches_to_indices, pad_descriptors


def _features(desc, binary=False):
    n = len(desc)
    return Features(torch.rand(n, 2) * 100, torch.rand(n), desc, (120, 100), binary)


def test_match_many_keeps_order_and_equals_single_pairs():
    sizes = [(30, 40), (5, 60), (0, 7), (44, 44), (12, 0), (70, 20), (33, 31)]
    pairs = []
    for k, (n0, n1) in enumerate(sizes):
        binary = k % 3 == 1
        a, b = correlated_pair(n0, n1, 32, k, binary=binary)
        pairs.append((_features(a, binary), _features(b, binary)))
    many = match_many(pairs, batch_size=3, ratio=0.95)
    for (f0, f1), (m, s) in zip(pairs, many):
        assert m.shape == (len(f0),) and s.shape == (len(f0),)
        single = match_pair(f0, f1, ratio=0.95)
        assert torch.equal(m, single[0]) and torch.equal(s, single[1])
        ref, _ = brute_force_matches(f0.descriptors.numpy(), f1.descriptors.numpy(),
                                     "hamming" if f0.binary else "cosine", ratio=0.95)
        assert m.tolist() == ref.tolist()


def test_match_features_and_indices():
    a, b = correlated_pair(50, 45, 16, 1)
    m, s = match_features(_features(a), _features(b))
    idx = matches_to_indices(m)
    assert idx.shape[1] == 2 and len(idx) == int((m >= 0).sum()) > 20
    assert torch.equal(m[idx[:, 0]], idx[:, 1])
    assert torch.equal(matches_to_indices(torch.full((3,), -1)), torch.zeros(0, 2, dtype=torch.long))


def test_binary_against_float_is_bad_input():
    a, b = correlated_pair(10, 10, 16, 2)
    with pytest.raises(BadInput, match="binary"):
        match_pair(_features(a), _features((b > 0).float(), binary=True))
    with pytest.raises(BadInput, match="sizes differ"):
        match_pair(_features(a), _features(b[:, :8]))


def test_many_keypoints_not_a_multiple_of_sixteen():
    pairs = []
    for k, (n0, n1) in enumerate([(300, 270), (260, 301)]):
        a, b = correlated_pair(n0, n1, 16, k)
        pairs.append((_features(a), _features(b)))
    for (f0, f1), (m, _) in zip(pairs, match_many(pairs, ratio=0.9)):
        ref, _ = brute_force_matches(f0.descriptors.numpy(), f1.descriptors.numpy(), ratio=0.9)
        assert m.tolist() == ref.tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_padding_onto_the_gpu_is_staged_and_equal():
    sets = [torch.rand(5, 8), torch.rand(0, 8), torch.rand(17, 8)]
    cpu = pad_descriptors(sets, 8, "cpu", 16)
    gpu = pad_descriptors(sets, 8, "cuda", 16)
    assert gpu[0].device.type == "cuda" and gpu[1].device.type == "cuda"
    assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())
