"""Training: steps lower the loss, checkpoints round-trip, a run resumes, two processes train together."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from fixtures.distill import tiny_distill_args
from slamfeat.distill.data import folder_images
from slamfeat.distill.samples import label, make_pairs
from slamfeat.distill.teachers import Teacher
from slamfeat.distill.train import DistillConfig, DistillModel, distill, parse_losses
from slamfeat.errors import BadInput
from slamfeat.features import load_extractor
from slamfeat.features.student import build_student, load_student
from slamfeat.io.checkpoint import ship_checkpoint


@pytest.fixture(scope="module")
def teacher():
    return Teacher("aliked-t16")


@pytest.fixture
def one_thread():
    """Small batches train faster on one thread (no thread hand-offs on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_steps_on_tiny_images_lower_every_loss(distill_images, teacher, one_thread):
    torch.manual_seed(0)
    images = folder_images([distill_images], 16)
    batch = label(make_pairs(images, 2, 64, np.random.default_rng(0)), teacher, 24)
    cfg = DistillConfig("aliked-t16", "slamfeat-lite", "unused",
                        losses=parse_losses("det-ce,det-kl,det-l2,absolute,relative,desdis"))
    student = build_student("slamfeat-lite", descriptor_dim=32)
    model = DistillModel(student, teacher.descriptor_dim, cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    imgs = torch.cat([torch.stack([s.image_a for s in batch]), torch.stack([s.image_b for s in batch])]).float() / 255
    t_logits = torch.cat([torch.stack([s.logits_a for s in batch]), torch.stack([s.logits_b for s in batch])]).float()
    history = []
    for _ in range(15):
        parts = model(imgs, t_logits, batch, teacher.score_threshold)
        total = sum(parts.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append({k: float(v.detach()) for k, v in parts.items()})
    assert set(history[0]) == {"det-ce", "det-kl", "det-l2", "absolute", "relative", "desdis"}
    for k in history[0]:
        assert np.mean([h[k] for h in history[-3:]]) < history[0][k], (k, history[0][k], history[-1][k])


def test_checkpoint_round_trip_and_resume(distill_images, tmp_path, one_thread):
    out = tmp_path / "student.pt"
    cfg = DistillConfig("aliked-t16", "slamfeat-lite", str(out), images=[str(distill_images)], steps=2, batch=2,
                        crop=64, points=16, warmup=1, checkpoint_every=0, descriptor_dim=32)
    first = distill(cfg)
    assert first["start_step"] == 0 and out.is_file()
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["step"] == 2 and ckpt["optimizer"]["state"]

    student = load_student(out)  # the checkpoint is a model in its own right
    assert student.descriptor_dim == 32
    # it records its teacher and the absolute loss's projection into the teacher's 64-D space
    assert ckpt["teacher"] == "aliked-t16" and ckpt["teacher_dim"] == 64 and ckpt["descriptor_space"] == "teacher"
    assert ckpt["projection"]["weight"].shape == (64, 32) and student.teacher == "aliked-t16"
    d = student.extract(torch.rand(1, 3, 64, 80)).descriptors
    assert torch.allclose(student.to_teacher_space(d),
                          torch.nn.functional.normalize(d @ ckpt["projection"]["weight"].t(), dim=1))
    shipped = tmp_path / "shipped.pt"
    ship_checkpoint(out, shipped)
    kept = torch.load(shipped, weights_only=True)
    assert "optimizer" not in kept and torch.equal(kept["projection"]["weight"], ckpt["projection"]["weight"])
    assert load_student(shipped).teacher_space.projection is not None
    again = build_student("slamfeat-lite", descriptor_dim=32)
    again.net.load_state_dict(ckpt["state_dict"])
    image = torch.rand(1, 3, 64, 80)
    f1, f2 = student.extract(image), load_extractor(str(out)).extract(image)
    assert torch.equal(f1.keypoints, f2.keypoints) and torch.allclose(f1.descriptors, f2.descriptors)
    with torch.no_grad():
        assert torch.equal(student.net.eval()(image[:, :1])[0], again.net.eval()(image[:, :1])[0])

    cfg.steps, cfg.resume = 3, True
    second = distill(cfg)
    assert second["start_step"] == 2
    assert torch.load(out, weights_only=True)["step"] == 3
    steps = [json.loads(l).get("step") for l in open(str(out) + ".log.jsonl")]
    assert [s for s in steps if s is not None] == [1, 2, 3]

    before = out.read_bytes()
    assert distill(cfg)["start_step"] == 3  # finished: resuming again trains nothing, rewrites nothing
    assert out.read_bytes() == before
    cfg.steps = 2
    with pytest.raises(BadInput, match="already trained for 3 steps"):
        distill(cfg)
    assert out.read_bytes() == before


def test_torchrun_two_processes_train_two_steps(distill_images, tmp_path):
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "slamfeat", *tiny_distill_args(distill_images, out, steps=2)],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(l) for l in open(str(out) + ".log.jsonl")]
    assert lines[0]["world_size"] == 2
    assert [l["step"] for l in lines[1:]] == [1, 2]
    assert torch.load(out, weights_only=True)["step"] == 2


def test_prefetched_pairs_train_exactly_as_without(distill_images, tmp_path, one_thread):
    """The next step's pairs made in a thread are the pairs the step would have made itself."""
    logs = []
    for prefetch in (True, False):
        cfg = DistillConfig("aliked-t16", "slamfeat-lite", str(tmp_path / f"p{prefetch}.pt"),
                            images=[str(distill_images)], steps=3, batch=2, crop=64, points=16, warmup=1,
                            fresh=1, checkpoint_every=1e9, prefetch=prefetch)
        distill(cfg)
        logs.append([{k: v for k, v in json.loads(l).items() if k != "t"}
                     for l in open(str(cfg.out) + ".log.jsonl")][1:])
    assert len(logs[0]) == 3 and logs[0] == logs[1]
