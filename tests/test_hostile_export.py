"""``slamfeat export --weights`` (issue 16): the weights given are the weights exported, and
weights that are missing, corrupt, a folder or another model's are one line and exit 2."""

import pytest
import torch

from fixtures.airsim import run_cli_here
from fixtures.core import assert_one_line_error, small_image
from slamfeat.features import load_extractor
from slamfeat.features.weights import PACKAGE_WEIGHTS


@pytest.fixture(scope="module")
def changed_lite(tmp_path_factory):
    """A slamfeat-lite checkpoint with other weights than the shipped one."""
    ckpt = torch.load(PACKAGE_WEIGHTS / "slamfeat-lite.pt", weights_only=True)
    ckpt["state_dict"] = {k: (v * 0.5 if v.is_floating_point() and v.dim() > 1 else v)
                          for k, v in ckpt["state_dict"].items()}
    path = tmp_path_factory.mktemp("weights") / "changed-lite.pt"
    torch.save(ckpt, path)
    return path


def test_weights_given_to_export_are_the_weights_exported(changed_lite, tmp_path, capsys):
    out = tmp_path / "lite.ts"
    proc = run_cli_here(capsys, "export", "--model", "slamfeat-lite", "--weights", changed_lite, "--format",
                        "torchscript", "--out", out, "--resolution", "96", "128", "--detection-threshold", "0")
    assert proc.returncode == 0, proc.stderr
    image = torch.from_numpy(small_image("coffee", (128, 96))).permute(2, 0, 1)[None].float() / 255
    changed = load_extractor("slamfeat-lite", weights=changed_lite, detection_threshold=0.0)
    shipped = load_extractor("slamfeat-lite", detection_threshold=0.0)
    _, _, desc = torch.jit.load(str(out))(changed.preprocess(image)[0])
    want, other = changed.extract(image).descriptors, shipped.extract(image).descriptors
    assert desc.shape == want.shape and torch.allclose(desc, want, atol=1e-5)
    assert desc.shape != other.shape or not torch.allclose(desc, other, atol=1e-3)


def test_bad_weights_are_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00\x01 not a checkpoint" * 10)
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [(tmp_path / "missing.pt", "no such"), (junk, "not a readable"), (folder, "is a folder"),
             (PACKAGE_WEIGHTS / "slamfeat-base.pt", "not slamfeat-lite")]
    for weights, fragment in cases:
        proc = run_cli_here(capsys, "export", "--model", "slamfeat-lite", "--weights", weights, "--format", "onnx",
                            "--out", tmp_path / "x.onnx")
        assert_one_line_error(proc, str(weights), fragment)
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("model", ["sift", "orb"])
def test_weights_for_a_model_without_weights_are_refused(model, tmp_path, capsys, astronaut_small):
    import cv2
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), astronaut_small)
    proc = run_cli_here(capsys, "extract", image, "--model", model, "--weights", PACKAGE_WEIGHTS / "slamfeat-lite.pt",
                        "--out", tmp_path / "f.h5")
    assert_one_line_error(proc, model, "takes no weights")
