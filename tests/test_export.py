"""Exported students (ONNX, TorchScript) give the PyTorch model's keypoints and descriptors."""

import numpy as np
import pytest
import torch

from fixtures.core import run_cli, small_image
from slamfeat.export import export_student, load_student_for_export


@pytest.fixture(scope="module")
def student_and_image():
    student = load_student_for_export("slamfeat-lite", max_keypoints=200, detection_threshold=0.0)
    image = torch.from_numpy(small_image("coffee", (128, 96))).permute(2, 0, 1)[None].float() / 255
    return student, image


def test_onnx_matches_pytorch(student_and_image, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    student, image = student_and_image
    path = export_student(student, "onnx", tmp_path / "lite.onnx", (96, 128))
    ref = student.extract(image)
    x, _ = student.preprocess(image)
    kp, scores, desc = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})
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
