"""Deployable students: ONNX and TorchScript files of a student's whole extraction.

The exported graph takes one ``1×C×H×W`` float image in [0, 1] (C = the student's input channels,
1 = gray; H×W fixed at export time) and returns ``keypoints`` ``N×2`` (pixel x, y, ``(0, 0)`` =
centre of the top-left pixel), ``scores`` ``N`` and unit ``descriptors`` ``N×D``: the same
network, non-maximum suppression, top-k, threshold and sub-pixel refinement as
:class:`slamfeat.features.student.SlamfeatStudent`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import BadInput
from .features import REGISTRY, load_extractor
from .features.student import SlamfeatStudent, decode, fuse_for_inference
from .io import atomic_path
from .io.checkpoint import ship_checkpoint

FORMATS = ("onnx", "torchscript")
OPSET = 17
MAX_EXPORT_SIDE = 8192  # px; the example image of a larger export alone would take gigabytes


class ExportableStudent(nn.Module):
    """A student's extraction as one traceable ``forward`` (one image, no Python-side lists)."""

    def __init__(self, student: SlamfeatStudent) -> None:
        super().__init__()
        if not student.one_pass:
            raise BadInput(f"scales {','.join(f'{s:g}' for s in student.conf['scales'])}: an exported graph runs one "
                           "scale; export without --scales (a checkpoint keeps them)", option="scales")
        self.net = fuse_for_inference(student.net)
        self.conf = dict(student.conf)
        self.descriptor_dim = student.descriptor_dim

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, w = image.shape[-2:]
        ph, pw = (-h) % 8, (-w) % 8
        x = F.pad(image, (0, pw, 0, ph), mode="replicate") if ph or pw else image
        cells, desc = self.net.cells(x)
        c = self.conf
        kp, scores, d, valid = decode(cells, desc, (w, h), int(c["nms_radius"]), float(c["detection_threshold"]),
                                      c["max_keypoints"], int(c["remove_borders"]), bool(c["subpixel"]))
        keep = valid[0]
        return kp[0][keep], scores[0][keep], d[0][keep]


def load_student_for_export(model: str, weights: str | os.PathLike | None = None, **conf) -> SlamfeatStudent:
    """A student by registry name (with its shipped weights, or ``weights``: a checkpoint of
    that student) or checkpoint path, on the CPU in eval mode.

    Raises:
        BadInput: the model is not a student, or ``weights`` is missing, corrupt or another model's.
    """
    if str(model) in REGISTRY and REGISTRY[str(model)].kind != "student":
        raise BadInput(f"model {model!r}: only students (slamfeat-lite, slamfeat-base, a student checkpoint) "
                       "can be exported", option="model")
    extractor = load_extractor(model, weights=weights, device="cpu", **conf)
    if not isinstance(extractor, SlamfeatStudent):
        raise BadInput(f"model {model!r}: only students (slamfeat-lite, slamfeat-base, a student checkpoint) "
                       "can be exported", option="model")
    return extractor


def export_student(student: SlamfeatStudent, fmt: str, out: str | os.PathLike,
                   size: tuple[int, int] = (480, 640)) -> Path:
    """Write a student as ONNX or TorchScript for ``size`` = (H, W) images; returns the path.

    Raises:
        BadInput: unknown format or a size below 16 px.
    """
    if fmt not in FORMATS:
        raise BadInput(f"export format {fmt!r}: choose onnx or torchscript", option="format")
    if min(size) < 16 or max(size) > MAX_EXPORT_SIDE:
        raise BadInput(f"export size {size[0]}×{size[1]}: expected 16 to {MAX_EXPORT_SIDE} px a side",
                       option="resolution")
    module = ExportableStudent(student.cpu().eval()).eval()
    example = torch.rand(1, student.input_channels, *size)
    out = Path(out)
    with atomic_path(out) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(module, (example,), str(tmp), input_names=["image"],
                              output_names=["keypoints", "scores", "descriptors"], opset_version=OPSET,
                              dynamo=False, dynamic_axes={"keypoints": {0: "n"}, "scores": {0: "n"},
                                                          "descriptors": {0: "n"}})
        else:
            traced = torch.jit.trace(module, (example,), check_trace=False)
            traced.save(str(tmp))
    return out


def ship_student(model: str, out: str | os.PathLike, weights: str | os.PathLike | None = None, **conf) -> Path:
    """Write a student checkpoint as it ships: the network and its extractor options (``conf``
    overrides those saved, e.g. ``detection_threshold``), without the training state.

    Raises:
        BadInput: the model is not a student, or its checkpoint is missing or corrupt.
    """
    student = load_student_for_export(model, weights, **conf)  # a bad source fails here
    ship_checkpoint(student.weights_path, out, **conf)
    return Path(out)


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session (``onnxruntime`` must be installed)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # no spin-waiting between runs: ONNX Runtime's idle threads would otherwise hold the cores for a
    # while after each run, slowing whatever runs next (torch, OpenCV, the matcher) by up to 2×
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
