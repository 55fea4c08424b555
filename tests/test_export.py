"""Exported students (ONNX, TorchScript, slim checkpoint) give the PyTorch model's keypoints and descriptors."""

import numpy as np
import pytest
import torch

from fixtures.core import run_cli, small_image
from slamfeat.distill.train import DistillConfig, distill
from slamfeat.export import export_student, load_student_for_export, onnx_session
from slamfeat.features import load_extractor


@pytest.fixture(scope="module")
def student_and_image():
    student = load_student_for_export("slamfeat-lite", max_keypoints=200, detection_threshold=0.0)
    image = torch.from_numpy(small_image("coffee", (128, 96))).permute(2, 0, 1)[None].float() / 255
    return student, image


def test_onnx_matches_pytorch(student_and_image, tmp_path):
    pytest.importorskip("onnxruntime")
    student, image = student_and_image
    path = export_student(student, "onnx", tmp_path / "lite.onnx", (96, 128))
    ref = student.extract(image)
    x, _ = student.preprocess(image)
    session = onnx_session(path, threads=2)
    # idle threads do not spin between runs (they would slow whatever runs next on a small CPU)
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    kp, scores, desc = session.run(None, {"image": x.numpy()})
    assert kp.shape == (len(ref), 2) and len(ref) > 50
    np.testing.assert_allclose(kp, ref.keypoints.numpy(), atol=1e-3)
    np.testing.assert_allclose(scores, ref.scores.numpy(), atol=1e-4)
    np.testing.assert_allclose(desc, ref.descriptors.numpy(), atol=1e-4)


def test_torchscript_through_the_command_line(student_and_image, tmp_path):
    student, image = student_and_image
    out = tmp_path / "lite.ts"
    run_cli("export", "--model", "slamfeat-lite", "--format", "torchscript", "--out", out, "--resolution", "96", "128",
            "--max-keypoints", "200", "--detection-threshold", "0", check_rc=0)
    kp, scores, desc = torch.jit.load(str(out))(student.preprocess(image)[0])
    ref = student.extract(image)
    assert torch.allclose(kp, ref.keypoints, atol=1e-4) and torch.allclose(desc, ref.descriptors, atol=1e-5)


def test_checkpoint_export_drops_training_state_and_keeps_the_options(distill_images, tmp_path):
    trained = tmp_path / "trained.pt"
    distill(DistillConfig("aliked-t16", "slamfeat-lite", str(trained), images=[str(distill_images)], steps=1, batch=1,
                          crop=64, points=8, warmup=1, checkpoint_every=0))
    assert torch.load(trained, weights_only=True)["optimizer"]["state"]
    out = tmp_path / "shipped.pt"
    run_cli("export", "--model", str(trained), "--format", "checkpoint", "--out", out,
            "--detection-threshold", "0.3", check_rc=0)
    ckpt = torch.load(out, weights_only=True)
    assert "optimizer" not in ckpt and ckpt["conf"]["detection_threshold"] == 0.3 and ckpt["step"] == 1
    image = torch.from_numpy(small_image("coffee", (128, 96))).permute(2, 0, 1)[None].float() / 255
    shipped, ref = load_extractor(str(out)), load_extractor(str(trained), detection_threshold=0.3)
    a, b = shipped.extract(image), ref.extract(image)
    assert torch.equal(a.keypoints, b.keypoints) and torch.equal(a.descriptors, b.descriptors)
    bad = run_cli("export", "--model", "sift", "--format", "checkpoint", "--out", tmp_path / "x.pt")
    assert bad.returncode == 2 and not (tmp_path / "x.pt").exists()
