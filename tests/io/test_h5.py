"""features.h5 and matches.h5 in hloc's layout round-trip."""

import h5py
import numpy as np
import torch

from slamfeat.features import Features
from slamfeat.io.h5 import pair_key, read_features, read_matches, write_features, write_matches_group


def test_features_round_trip_in_hloc_layout(tmp_path):
    g = torch.Generator().manual_seed(0)
    f = Features(torch.rand(7, 2, generator=g) * 100, torch.rand(7, generator=g),
                 torch.nn.functional.normalize(torch.randn(7, 32, generator=g), dim=1), (120, 80))
    orb = Features(torch.rand(3, 2) * 50, torch.rand(3), (torch.rand(3, 256) > 0.5).float(), (60, 40), binary=True)
    empty = Features.empty(32, (10, 20))
    path = tmp_path / "features.h5"
    write_features(path, [("a.png", f), ("seq/b.png", orb), ("c.png", empty)])
    with h5py.File(path) as h:
        assert h["a.png/descriptors"].shape == (32, 7)  # D×N, transposed as hloc stores them
        assert h["a.png/keypoints"].dtype == np.float32
        assert list(h["a.png/image_size"][()]) == [120, 80]
    back = read_features(path)
    assert set(back) == {"a.png", "seq/b.png", "c.png"}
    assert torch.equal(back["a.png"].keypoints, f.keypoints)
    assert torch.allclose(back["a.png"].descriptors, f.descriptors)
    assert back["seq/b.png"].binary and torch.equal(back["seq/b.png"].descriptors, orb.descriptors)
    assert len(back["c.png"]) == 0 and back["c.png"].descriptors.shape == (0, 32)


def test_matches_round_trip(tmp_path):
    path = tmp_path / "matches.h5"
    m = np.array([3, -1, 0], np.int32)
    s = np.array([0.9, 0.0, 0.5], np.float32)
    with h5py.File(path, "w") as h:
        write_matches_group(h, "seq/a.png", "b.png", m, s)
    m2, s2 = read_matches(path, "seq/a.png", "b.png")
    assert pair_key("seq/a.png", "b.png") == "seq-a.png/b.png"
    assert m2.dtype == np.int32 and np.array_equal(m2, m) and np.allclose(s2, s)
