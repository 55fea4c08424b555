"""match_h5 and the ``slamfeat match`` command: results, resuming, bad input."""

import subprocess

import h5py
import numpy as np
import pytest
import torch

from fixtures.core import assert_one_line_error, run_cli
from fixtures.matching import correlated_pair
from slamfeat.cli import main
from slamfeat.errors import BadInput
from slamfeat.features.base import Features
from slamfeat.io.h5 import read_matches, write_features
from slamfeat.matching import match_h5, match_pair


def _features(desc, binary=False):
    n = len(desc)
    g = torch.Generator().manual_seed(n)
    return Features(torch.rand(n, 2, generator=g) * 100, torch.rand(n, generator=g), desc, (120, 100), binary)


@pytest.fixture
def feature_file(tmp_path):
    a, b = correlated_pair(60, 50, 32, 0)
    c, _ = correlated_pair(40, 1, 32, 1)
    bits0, bits1 = correlated_pair(30, 35, 64, 2, binary=True)
    feats = {"a.png": _features(a), "seq/b.png": _features(b), "c.png": _features(c),
             "empty.png": _features(torch.zeros(0, 32)),
             "o0.png": _features(bits0, True), "o1.png": _features(bits1, True)}
    path = tmp_path / "features.h5"
    write_features(path, feats.items())
    pairs = [("a.png", "seq/b.png"), ("a.png", "c.png"), ("seq/b.png", "c.png"), ("c.png", "empty.png"),
             ("o0.png", "o1.png")]
    pairs_path = tmp_path / "pairs.txt"
    pairs_path.write_text("".join(f"{x} {y}\n" for x, y in pairs))
    return path, pairs_path, feats, pairs


def _cli(capsys, *args):
    """The command line in this process (fast): a CompletedProcess of exit code and output."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_match_h5_equals_match_pair_and_resumes(feature_file, tmp_path):
    path, pairs_path, feats, pairs = feature_file
    out = tmp_path / "m.h5"
    report = match_h5(path, pairs_path, out, batch_size=2, ratio=0.95)
    assert report["matched"] == len(pairs) and report["skipped"] == 0
    for n0, n1 in pairs:
        m0, s0 = read_matches(out, n0, n1)
        assert m0.dtype == np.int32 and s0.dtype == np.float32
        ref_m, ref_s = match_pair(feats[n0], feats[n1], ratio=0.95)
        assert m0.tolist() == ref_m.tolist() and np.allclose(s0, ref_s.numpy())
    again = match_h5(path, pairs_path, out, ratio=0.95)
    assert again["matched"] == 0 and again["skipped"] == len(pairs)
    redo = match_h5(path, [pairs[0]], out, overwrite=True, ratio=0.95)
    assert redo["matched"] == 1
    assert read_matches(out, *pairs[2])[0].shape == (50,)  # the other pairs, made alike, are kept
    # other options would put matches made otherwise beside these: refused, unless overwriting
    with pytest.raises(BadInput, match=r"holds matches made with options.mutual True \(now False\)"):
        match_h5(path, pairs_path, out, mutual=False)
    match_h5(path, [pairs[0]], out, overwrite=True, mutual=False)
    m0, _ = read_matches(out, *pairs[0])
    assert m0.tolist() == match_pair(feats[pairs[0][0]], feats[pairs[0][1]], mutual=False)[0].tolist()
    with pytest.raises(BadInput, match="no matches"):
        read_matches(out, *pairs[2])


def test_interrupted_run_resumes_from_partial_file(feature_file, tmp_path):
    path, pairs_path, feats, pairs = feature_file
    out = tmp_path / "m.h5"
    match_h5(path, pairs[:2], out.with_name("m.h5.partial.tmp"))
    (tmp_path / "m.h5.partial.tmp").rename(tmp_path / "m.h5.partial")  # as a killed run leaves it
    report = match_h5(path, pairs_path, out)
    assert report["skipped"] == 2 and report["matched"] == len(pairs) - 2
    assert not (tmp_path / "m.h5.partial").exists()
    with h5py.File(out) as f:
        assert "seq-b.png" in f["a.png"]


def test_cli_match(feature_file, tmp_path):
    path, pairs_path, _, pairs = feature_file
    proc = run_cli("match", "--features", path, "--pairs", pairs_path, "--out", tmp_path / "m.h5",
                   "--json", tmp_path / "r.json", "--device", "cpu", check_rc=0)
    assert "pairs/s" in proc.stdout
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["pairs"] == len(pairs) and report["matches_per_pair"] > 0


def test_cli_bad_input(feature_file, tmp_path, capsys):
    path, pairs_path, feats, _ = feature_file
    out = tmp_path / "m.h5"
    missing = tmp_path / "missing.txt"
    missing.write_text("a.png nowhere.png\n")
    assert_one_line_error(_cli(capsys, "match", "--features", path, "--pairs", missing, "--out", out),
                          str(path), "nowhere.png")
    bad = tmp_path / "bad.h5"
    write_features(bad, [("a.png", feats["a.png"]), ("d.png", _features(torch.rand(20, 16))),
                         ("nan.png", _features(torch.full((5, 32), float("nan"))))])
    sizes = tmp_path / "sizes.txt"
    sizes.write_text("a.png d.png\n")
    assert_one_line_error(_cli(capsys, "match", "--features", bad, "--pairs", sizes, "--out", out),
                          str(bad), "descriptor sizes differ")
    nan = tmp_path / "nan.txt"
    nan.write_text("a.png nan.png\n")
    assert_one_line_error(_cli(capsys, "match", "--features", bad, "--pairs", nan, "--out", out),
                          str(bad), "nan.png", "NaN")
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("a.png o0.png\n")
    assert_one_line_error(_cli(capsys, "match", "--features", path, "--pairs", mixed, "--out", out),
                          "binary")
    assert not out.exists()


def test_partial_file_cut_short_is_started_again(feature_file, tmp_path):
    path, pairs_path, _, pairs = feature_file
    (tmp_path / "m.h5.partial").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)  # a write cut short
    report = match_h5(path, pairs_path, tmp_path / "m.h5")
    assert report["matched"] == len(pairs) and report["skipped"] == 0
