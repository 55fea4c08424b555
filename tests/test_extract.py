"""extract_to_h5: images already extracted are kept, a stopped run resumes from its partial file."""

import cv2
import numpy as np
import h5py
import pytest
import torch

import slamfeat
import slamfeat.io.h5
from slamfeat.errors import BadInput
from slamfeat.extract import collect_images, extract_to_h5


@pytest.fixture
def folder(tmp_path, astronaut_small):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), astronaut_small[:, i * 10:])
    return tmp_path


def test_second_run_extracts_only_new_images(folder, tmp_path):
    sift = slamfeat.load_extractor("sift", max_keypoints=100)
    images = collect_images([folder])
    out = tmp_path / "out" / "f.h5"
    assert extract_to_h5(images[:2], sift, out)["extracted"] == 2
    report = extract_to_h5(images, sift, out)
    assert report["extracted"] == 1 and report["images"] == 3
    assert extract_to_h5(images, sift, out, overwrite=True)["extracted"] == 3
    assert (out.stat().st_mode & 0o777) != 0o600


def test_failed_run_resumes_from_partial_file(folder, tmp_path):
    sift = slamfeat.load_extractor("sift", max_keypoints=100)
    (folder / "z_broken.png").write_text("not an image")
    out = tmp_path / "f.h5"
    with pytest.raises(BadInput, match="z_broken.png"):
        extract_to_h5(collect_images([folder]), sift, out)
    assert not out.exists()
    with h5py.File(tmp_path / "f.h5.partial") as f:
        assert sorted(f) == ["0.png", "1.png", "2.png"]
    (folder / "z_broken.png").unlink()
    assert extract_to_h5(collect_images([folder]), sift, out)["extracted"] == 0
    with h5py.File(out) as f:
        assert sorted(f) == ["0.png", "1.png", "2.png"]


def _datasets(path):
    """Every dataset of an h5 file as (dtype, shape, bytes), and every group's attributes."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = (obj.dtype.str, obj.shape, obj[()].tobytes())
        else:
            out[name] = dict(obj.attrs)
    with h5py.File(path) as f:
        f.visititems(visit)
    return out


@pytest.fixture
def sized_folder(tmp_path, astronaut_small):
    """Seven images of three sizes, gray, colour and 16-bit, interleaved so that batches must be grouped."""
    folder = tmp_path / "images"
    folder.mkdir()
    shapes = [(96, 128), (80, 120), (96, 128), (96, 128), (80, 120), (64, 64), (96, 128)]
    for i, (h, w) in enumerate(shapes):
        image = astronaut_small[i * 3:i * 3 + h, i * 5:i * 5 + w]
        if i == 5:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        elif i == 6:
            image = image.astype(np.uint16) * 257
        cv2.imwrite(str(folder / f"{i}.png"), image)
    return folder


@pytest.mark.parametrize("model", ["slamfeat-lite", "sift"])
def test_batches_give_the_features_of_one_image_at_a_time(sized_folder, tmp_path, model, monkeypatch):
    extractor = slamfeat.load_extractor(model, max_keypoints=200)
    images = collect_images([sized_folder])
    one = extract_to_h5(images, extractor, tmp_path / "one.h5", batch_size=1, workers=1)
    sizes = []
    forward = type(extractor).forward
    monkeypatch.setattr(type(extractor), "forward", lambda self, x: (sizes.append(tuple(x.shape)), forward(self, x))[1])
    many = extract_to_h5(images, extractor, tmp_path / "many.h5", batch_size=3, workers=3)
    assert one["extracted"] == many["extracted"] == 7 and many["batch_size"] == 3
    if model == "sift":  # no network: the very same bytes
        assert _datasets(tmp_path / "one.h5") == _datasets(tmp_path / "many.h5")
    else:  # a batched convolution may round differently in the last bit, nothing more
        first, batched = slamfeat.io.h5.read_features(tmp_path / "one.h5"), slamfeat.io.h5.read_features(tmp_path / "many.h5")
        assert first.keys() == batched.keys()
        for name, f in first.items():
            g = batched[name]
            assert f.keypoints.shape == g.keypoints.shape and f.image_size == g.image_size
            assert torch.allclose(f.keypoints, g.keypoints, atol=1e-3)
            assert torch.allclose(f.scores, g.scores, rtol=1e-4) and torch.allclose(f.descriptors, g.descriptors, atol=1e-5)
    # 96×128: three 8-bit (a full batch) and one 16-bit (a batch of its own); 80×120: two; 64×64: one
    assert sorted(s[0] for s in sizes) == [1, 1, 2, 3] and len({s[2:] for s in sizes}) == 3
    assert one["keypoints_per_image"] > 20
    written = slamfeat.io.h5.read_features(tmp_path / "one.h5")
    for name in ("5.png", "6.png"):  # what extract() gives for the same file (gray; 16-bit)
        alone = extractor.extract(sized_folder / name)
        assert torch.equal(alone.keypoints, written[name].keypoints)
        assert torch.equal(alone.descriptors, written[name].descriptors)


def test_batched_run_keeps_what_was_read_before_a_broken_image(sized_folder, tmp_path):
    (sized_folder / "3.png").write_text("not an image")
    extractor = slamfeat.load_extractor("sift", max_keypoints=50)
    out = tmp_path / "f.h5"
    with pytest.raises(BadInput, match="3.png"):
        extract_to_h5(collect_images([sized_folder]), extractor, out, batch_size=4, workers=2)
    with h5py.File(tmp_path / "f.h5.partial") as f:
        assert {"0.png", "1.png", "2.png"} <= set(f)
    cv2.imwrite(str(sized_folder / "3.png"), np.zeros((64, 64), np.uint8) + 128)
    report = extract_to_h5(collect_images([sized_folder]), extractor, out, batch_size=4)
    assert report["extracted"] <= 4
    with h5py.File(out) as f:
        assert len(f) == 7


@pytest.mark.parametrize("bad", [dict(batch_size=0), dict(workers=0)])
def test_bad_batch_or_workers(sized_folder, tmp_path, bad):
    with pytest.raises(BadInput, match="expected ≥ 1"):
        extract_to_h5(collect_images([sized_folder]), slamfeat.load_extractor("sift"), tmp_path / "f.h5", **bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_give_the_features_of_one_image_at_a_time(sized_folder, tmp_path):
    extractor = slamfeat.load_extractor("slamfeat-lite", max_keypoints=200, detection_threshold=0.0, device="cuda")
    images = collect_images([sized_folder])
    extract_to_h5(images, extractor, tmp_path / "one.h5", batch_size=1)
    extract_to_h5(images, extractor, tmp_path / "many.h5", batch_size=4, workers=4)
    first, batched = slamfeat.io.h5.read_features(tmp_path / "one.h5"), slamfeat.io.h5.read_features(tmp_path / "many.h5")
    for name, f in first.items():
        g = batched[name]
        # cuDNN may pick another algorithm for a batch: rounding differs, near-ties may flip
        assert abs(len(f) - len(g)) <= max(2, len(f) // 50) and len(f) > 20
        found = torch.cdist(f.keypoints, g.keypoints).min(1).values < 1e-2
        assert found.float().mean() > 0.95
