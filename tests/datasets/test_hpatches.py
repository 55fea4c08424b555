"""The HPatches loader on a set written by ``synth hpatches``, and its checks of broken sets."""

import shutil

import numpy as np
import pytest

from slamfeat.datasets.hpatches import LARGE_SEQUENCES, load_hpatches, read_homography
from slamfeat.errors import BadInput
from slamfeat.io import read_image


def test_loader_reads_synthetic_set(tiny_hpatches):
    seqs = load_hpatches(tiny_hpatches)
    assert [s.kind for s in seqs] == ["i", "v"]
    for s in seqs:
        assert [p.name for p in s.images] == [f"{k}.ppm" for k in range(1, 7)]
        assert read_image(s.images[5]).shape == (120, 160, 3)
        pairs = list(s.pairs())
        assert [(a, b) for a, b, _ in pairs] == [(1, k) for k in range(2, 7)]
        for _, k, H in pairs:
            assert H.shape == (3, 3)
            assert np.allclose(H, np.loadtxt(s.folder / f"H_1_{k}"))
    i_seq, v_seq = seqs
    assert all(np.allclose(H, np.eye(3)) for _, _, H in i_seq.pairs())
    assert not any(np.allclose(H, np.eye(3), atol=1e-3) for _, _, H in v_seq.pairs())


def test_exclude_large_and_filters(hpatches_copy):
    shutil.copytree(hpatches_copy / "v_coffee", hpatches_copy / "v_talent")
    shutil.copytree(hpatches_copy / "i_astronaut", hpatches_copy / "i_dc")
    (hpatches_copy / "notes").mkdir()  # not a sequence: ignored
    assert {"v_talent", "i_dc"} <= LARGE_SEQUENCES
    assert len(load_hpatches(hpatches_copy)) == 4
    assert [s.name for s in load_hpatches(hpatches_copy, exclude_large=True)] == ["i_astronaut", "v_coffee"]
    assert [s.name for s in load_hpatches(hpatches_copy, kinds=("v",))] == ["v_coffee", "v_talent"]
    assert [s.name for s in load_hpatches(hpatches_copy, names=["i_dc"])] == ["i_dc"]


@pytest.mark.parametrize("content", ["1 0 0\n0 1 0\n0 0\n", "not a homography\n", "1 0 0\n0 1 0\n0 0 nan\n",
                                     "0 0 0\n0 0 0\n0 0 0\n"])
def test_unreadable_homography(tmp_path, content):
    p = tmp_path / "H_1_2"
    p.write_text(content)
    with pytest.raises(BadInput, match="H_1_2"):
        read_homography(p)
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BadInput, match="unreadable"):
        read_homography(p)


def test_broken_sets_name_the_file(hpatches_copy, tmp_path):
    (hpatches_copy / "v_coffee" / "4.ppm").unlink()
    with pytest.raises(BadInput, match=r"v_coffee/4\.ppm: missing image"):
        load_hpatches(hpatches_copy)
    shutil.copy(hpatches_copy / "v_coffee" / "3.ppm", hpatches_copy / "v_coffee" / "4.ppm")
    (hpatches_copy / "i_astronaut" / "H_1_5").unlink()
    with pytest.raises(BadInput, match=r"i_astronaut/H_1_5: missing homography"):
        load_hpatches(hpatches_copy)
    with pytest.raises(BadInput, match="no such HPatches folder"):
        load_hpatches(tmp_path / "nowhere")
    with pytest.raises(BadInput, match="no HPatches sequences"):
        load_hpatches(tmp_path)
