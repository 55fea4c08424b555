"""Teachers: every registered teacher gives the same typed outputs, and a new one is one class plus
one registry line (a toy teacher written here is registered and distilled from). XFeat's logit map
and point descriptors are the extractor's own, and students of its size or another train from it."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fixtures.core import small_image
from slamfeat.distill.teachers import Teacher, peak_map, top_peaks
from slamfeat.distill.train import DistillConfig, distill
from slamfeat.errors import BadInput
from slamfeat.features import REGISTRY, Extractor, Features, ModelInfo, TeacherOutputs, load_extractor, teachers
from slamfeat.features.ops import sample_descriptors, simple_nms
from slamfeat.features.student import SlamfeatStudent
from slamfeat.io.checkpoint import read_checkpoint


class ToyTeacher(Extractor):
    """A teacher without weights: corners are where the Laplacian of the gray image is strong;
    descriptors are the 4×4 pixel blocks around each cell (16-D)."""

    name = "toy-teacher"
    kind = "teacher"
    descriptor_dim = 16
    input_channels = 1
    needs_weights = False
    score_threshold = 0.3

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        kernel = images.new_tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]])[None, None]
        return 20.0 * (F.conv2d(images, kernel, padding=1).abs() - 0.05)

    def teacher_outputs(self, images: torch.Tensor) -> TeacherOutputs:
        return TeacherOutputs(self._logits(images), F.pixel_unshuffle(images, 4), 4)

    def _extract(self, images: torch.Tensor) -> list[Features]:
        out = []
        scores = simple_nms(torch.sigmoid(self._logits(images))[:, 0], 2)
        blocks = F.pixel_unshuffle(images, 4)
        for i in range(len(images)):
            ys, xs = torch.nonzero(scores[i] > self.score_threshold, as_tuple=True)
            kp = torch.stack([xs, ys], -1).float()
            out.append(Features(kp, scores[i, ys, xs], sample_descriptors(kp, blocks[i], 4),
                                (images.shape[-1], images.shape[-2])))
        return out


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy-teacher", ModelInfo("toy-teacher", ToyTeacher, "a teacher for the test"))


def test_a_registered_toy_teacher_trains_a_student(toy_registered, distill_images, tmp_path):
    assert "toy-teacher" in teachers()
    out = tmp_path / "toy.pt"
    cfg = DistillConfig("toy-teacher", "slamfeat-lite", str(out), images=[str(distill_images)], steps=3, batch=2,
                        crop=64, points=16, warmup=1, checkpoint_every=0, prefetch=False, device="cpu")
    summary = distill(cfg)
    assert summary["steps"] == 3 and all(np.isfinite(v) for v in summary["losses"].values())
    ckpt = read_checkpoint(out)
    # the student keeps its own threshold, not the teacher's 0.3 (its scores are not on the teacher's scale)
    assert ckpt["teacher"] == "toy-teacher"
    assert ckpt["conf"]["detection_threshold"] == SlamfeatStudent.default_conf["detection_threshold"] != 0.3
    image = torch.rand(1, 1, 64, 80)
    features = load_extractor(str(out)).extract(image)
    assert features.descriptors.shape[1] == 64 and features.keypoints.shape[1] == 2


def test_toy_teacher_describes_by_sampling_its_map(toy_registered):
    teacher = Teacher("toy-teacher")
    images = torch.rand(2, 3, 64, 64)
    out = teacher(images)
    assert out.logits.shape == (2, 1, 64, 64) and out.stride == 4
    points = torch.tensor([[10.0, 20.0], [33.5, 40.0]])
    desc = teacher.describe(out, 1, points)
    assert desc.shape == (2, 16)
    assert torch.allclose(desc.norm(dim=1), torch.ones(2))


@pytest.mark.parametrize("name", ["disk", "aliked-t16"])
def test_pretrained_teachers_give_full_resolution_logits(name):
    teacher = Teacher(name)
    images = torch.rand(2, 3, 64, 96)
    out = teacher(images)
    assert out.logits.shape == (2, 1, 64, 96)
    assert teacher.score_threshold == teacher.model.score_threshold
    points = top_peaks(out.logits[0], 12)
    desc = teacher.describe(out, 0, points)
    assert desc.shape == (12, teacher.descriptor_dim)
    assert torch.allclose(desc.norm(dim=1), torch.ones(12), atol=1e-4)


def test_a_model_that_cannot_teach_is_refused():
    with pytest.raises(BadInput, match="not a teacher"):
        Teacher("sift")
    with pytest.raises(BadInput, match="not a teacher"):
        Teacher("slamfeat-lite")


def test_peak_map_keeps_only_local_maxima_above_the_threshold():
    logits = torch.full((1, 1, 16, 16), -10.0)
    logits[0, 0, 4, 4], logits[0, 0, 4, 5], logits[0, 0, 10, 12] = 3.0, 2.0, -1.0
    peaks = peak_map(logits, threshold=0.5)
    assert torch.nonzero(peaks[0, 0]).tolist() == [[4, 4]]


@pytest.fixture(scope="module")
def xfeat_teacher():
    return Teacher("xfeat")


def test_xfeat_logits_and_descriptors_are_its_features(xfeat_teacher):
    teacher = xfeat_teacher
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
