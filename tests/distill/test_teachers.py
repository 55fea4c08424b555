"""XFeat as a teacher: its logit map and point descriptors are the extractor's own, and a student
(of its size or, through the absolute loss's projection, of another) trains from it."""

import json

import pytest
import torch

from fixtures.core import small_image
from slamfeat.distill.teachers import Teacher
from slamfeat.distill.train import DistillConfig, distill
from slamfeat.features import load_extractor


@pytest.fixture(scope="module")
def teacher():
    return Teacher("xfeat")


def test_xfeat_logits_and_descriptors_are_its_features(teacher):
    image = small_image("astronaut", (160, 128))  # multiples of 32: the teacher's input size
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    out = teacher(batch)
    assert out.logits.shape == (1, 1, 128, 160) and teacher.descriptor_dim == 64
    features = load_extractor("xfeat", max_keypoints=64).extract(image)
    x, y = features.keypoints.long().unbind(-1)
    # sigmoid of the map at XFeat's keypoints is the score XFeat gives them (heatmap × reliability)
    assert torch.allclose(torch.sigmoid(out.logits[0, 0, y, x]), features.scores, atol=1e-4)
    assert torch.allclose(teacher.describe(out, 0, features.keypoints), features.descriptors, atol=1e-5)
    # and those keypoints are among the map's strongest peaks
    assert torch.sigmoid(out.logits).flatten().topk(500).values[-1] <= features.scores.min() + 1e-6


@pytest.mark.parametrize("student, dim", [("slamfeat-lite", 64), ("slamfeat-base", 128)])
def test_students_train_from_xfeat(distill_images, tmp_path, student, dim):
    out = tmp_path / f"{student}.pt"
    cfg = DistillConfig("xfeat", student, str(out), images=[str(distill_images)], steps=2, batch=2, crop=64,
                        points=16, warmup=1, checkpoint_every=0, descriptor_dim=dim,
                        losses={"det-ce": 1.0, "absolute": 1.0, "desdis": 1.0})
    report = distill(cfg)
    assert report["teacher"] == "xfeat" and report["steps"] == 2
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["teacher"] == "xfeat" and ckpt["step"] == 2
    # a 128-D student needs the absolute loss's 128 → 64 projection; a 64-D one does not
    projection = ckpt["projection"]
    if dim == 64:
        assert projection == {}
    else:
        assert projection["weight"].shape == (64, 128)
    log = [json.loads(line) for line in open(str(out) + ".log.jsonl")][1:]
    assert [l["step"] for l in log] == [1, 2]
    for line in log:
        losses = {k: v for k, v in line.items() if k in ("det-ce", "absolute", "desdis")}
        assert len(losses) == 3 and all(0 <= v < 1e3 for v in losses.values()), line
    features = load_extractor(str(out)).extract(small_image("coffee", (96, 64)))
    assert features.descriptors.shape[1] == dim
