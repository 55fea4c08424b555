"""The distilled students: ``slamfeat-lite`` (built for CPUs) and ``slamfeat-base`` (a teacher's size).

One network shape serves both, with different widths:

* a stride-4 stem (two strided 3×3 convolutions) brings the image to ¼ resolution early, where the
  work is cheap; blocks at ¼ and ⅛ (depthwise-separable for the lite model) add context, and the
  ⅛ map is added back onto the ¼ map;
* the detector head predicts ``cell²`` logits per ¼-resolution position which a pixel shuffle turns
  into a full-resolution ``B×1×H×W`` logit map, so keypoints are found at full resolution;
* the descriptor head gives a ``B×D×H/4×W/4`` map that is sampled bilinearly at the keypoints.

Keypoints are the peaks of ``sigmoid(logits)`` after a simple non-maximum suppression, refined to
sub-pixel positions by a soft-argmax over their 3×3 neighbourhood, then the ``max_keypoints``
highest. A student checkpoint (``*.pt``, written by ``slamfeat distill``) is a dictionary of plain
values and tensors: ``format``, ``arch`` (the name), ``arch_conf`` (the widths), ``state_dict`` and
the training state it was saved with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInput
from .base import Extractor, Features
from .superpoint import sample_descriptors, simple_nms

CHECKPOINT_FORMAT = "slamfeat-student"
CELL = 4  # the detector head predicts one value per pixel of each 4×4 cell of the ¼ map

# Architecture presets. ``channels`` = widths at ½, ¼ and ⅛ resolution; ``blocks`` = blocks at ¼ and ⅛.
ARCHS: dict[str, dict[str, Any]] = {
    "slamfeat-lite": {"channels": [24, 48, 96], "blocks": [1, 3], "descriptor_dim": 64,
                      "separable": True, "input_channels": 1},
    "slamfeat-base": {"channels": [32, 64, 128], "blocks": [2, 3], "descriptor_dim": 128,
                      "separable": False, "input_channels": 1},
}


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Convolution (no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Block(nn.Module):
    """A residual block: depthwise 3×3 + pointwise 1×1 (``separable``) or a plain 3×3 convolution."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, separable: bool = True) -> None:
        super().__init__()
        if separable:
            self.body = nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in), conv_bn(c_in, c_out, 1))
        else:
            self.body = conv_bn(c_in, c_out, 3, stride)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class StudentNet(nn.Module):
    """The student network: image ``B×C×H×W`` (H, W multiples of 8) → detection logits
    ``B×1×H×W`` and raw descriptors ``B×D×H/4×W/4``."""

    def __init__(self, channels=(16, 32, 64), blocks=(1, 2), descriptor_dim: int = 64,
                 separable: bool = True, input_channels: int = 1) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.stem = nn.Sequential(conv_bn(input_channels, c1, 3, 2), conv_bn(c1, c2, 3, 2))
        self.stage4 = nn.Sequential(*[Block(c2, c2, 1, separable) for _ in range(blocks[0])])
        self.stage8 = nn.Sequential(Block(c2, c3, 2, separable),
                                    *[Block(c3, c3, 1, separable) for _ in range(blocks[1])])
        self.lateral = nn.Conv2d(c3, c2, 1)
        self.detector = nn.Sequential(Block(c2, c2, 1, separable), nn.Conv2d(c2, CELL * CELL, 1))
        self.descriptor = nn.Sequential(Block(c2, c2, 1, separable), nn.Conv2d(c2, descriptor_dim, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x4 = self.stage4(self.stem(images))
        x8 = self.stage8(x4)
        x4 = x4 + F.interpolate(self.lateral(x8), size=x4.shape[-2:], mode="bilinear", align_corners=False)
        logits = F.pixel_shuffle(self.detector(x4), CELL)
        return logits, self.descriptor(x4)


def refine_subpixel(logits: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """Soft-argmax refinement of integer keypoints over their 3×3 neighbourhood.

    Args:
        logits: ``H×W`` detection logits.
        keypoints: ``N×2`` integer pixel (x, y).
    Returns:
        ``N×2`` float keypoints, each moved by less than one pixel.
    """
    h, w = logits.shape
    padded = F.pad(logits[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    idx = keypoints[:, 1].long() * w + keypoints[:, 0].long()
    values, offsets = [], []
    for dy in (-1, 0, 1):  # nine shifted views, gathered at the keypoints (exports to ONNX as it is)
        for dx in (-1, 0, 1):
            values.append(padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w].reshape(-1)[idx])
            offsets.append((dx, dy))
    p = torch.stack(values, dim=1)  # N×9
    weights = torch.softmax(p - p.max(dim=1, keepdim=True).values, dim=1)
    return keypoints.float() + weights @ torch.tensor(offsets, dtype=logits.dtype, device=logits.device)


def detect(logits: torch.Tensor, nms_radius: int, threshold: float, max_keypoints: int,
           border: int, subpixel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints of one image from its ``H×W`` detection logits.

    Returns:
        ``N×2`` pixel (x, y) keypoints and their ``N`` scores (``sigmoid(logit)``), highest first.
    """
    h, w = logits.shape
    scores = simple_nms(torch.sigmoid(logits)[None], nms_radius)[0]
    if border > 0:
        mask = torch.zeros_like(scores, dtype=torch.bool)
        mask[border:h - border, border:w - border] = True
        scores = torch.where(mask, scores, torch.zeros_like(scores))
    flat = scores.reshape(-1)
    k = min(int(max_keypoints), flat.numel()) if max_keypoints and max_keypoints > 0 else flat.numel()
    values, idx = torch.topk(flat, k)
    keep = values > threshold
    values, idx = values[keep], idx[keep]
    kp = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], -1)
    kp = refine_subpixel(logits, kp) if subpixel and len(kp) else kp.float()
    return kp, values


class SlamfeatStudent(Extractor):
    """A distilled detector-descriptor (see the module docstring)."""

    kind = "student"
    default_conf = {**Extractor.default_conf, "detection_threshold": 0.05, "nms_radius": 2,
                    "remove_borders": 4, "subpixel": True}

    def __init__(self, arch: str = "slamfeat-lite", arch_conf: dict[str, Any] | None = None, **conf) -> None:
        super().__init__(**conf)
        self.arch = arch
        self.arch_conf = {**ARCHS.get(arch, ARCHS["slamfeat-lite"]), **(arch_conf or {})}
        a = self.arch_conf
        self.net = StudentNet(tuple(a["channels"]), tuple(a["blocks"]), int(a["descriptor_dim"]),
                              bool(a["separable"]), int(a["input_channels"]))
        self.eval()

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.arch

    @property
    def descriptor_dim(self) -> int:  # type: ignore[override]
        return int(self.arch_conf["descriptor_dim"])

    @property
    def input_channels(self) -> int:  # type: ignore[override]
        return int(self.arch_conf["input_channels"])

    def dense(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``B×C×H×W`` (H, W multiples of 8) → logits ``B×1×H×W`` and raw descriptors ``B×D×H/4×W/4``."""
        return self.net(images)

    def _extract(self, images: torch.Tensor) -> list[Features]:
        h, w = images.shape[-2:]
        ph, pw = (-h) % 8, (-w) % 8
        logits, desc = self.net(F.pad(images, (0, pw, 0, ph), mode="replicate"))
        logits = logits[:, 0, :h, :w]
        out = []
        for i in range(images.shape[0]):
            kp, scores = detect(logits[i], int(self.conf["nms_radius"]), float(self.conf["detection_threshold"]),
                                int(self.conf["max_keypoints"]), int(self.conf["remove_borders"]),
                                bool(self.conf["subpixel"]))
            d = sample_descriptors(kp, desc[i], CELL) if len(kp) else desc.new_zeros(0, self.descriptor_dim)
            out.append(Features(kp, scores, d, (int(w), int(h))))
        return out


def build_student(arch: str, descriptor_dim: int | None = None, **conf) -> SlamfeatStudent:
    """A freshly initialised student of a preset architecture (``slamfeat-lite`` or ``slamfeat-base``)."""
    if arch not in ARCHS:
        raise BadInput(f"unknown student architecture {arch!r}; known: {', '.join(ARCHS)}")
    if descriptor_dim is not None and not 8 <= int(descriptor_dim) <= 1024:
        raise BadInput(f"--descriptor-dim {descriptor_dim}: must be between 8 and 1024")
    arch_conf = {} if descriptor_dim is None else {"descriptor_dim": int(descriptor_dim)}
    return SlamfeatStudent(arch, arch_conf, **conf)


def student_checkpoint(model: SlamfeatStudent, **extra: Any) -> dict[str, Any]:
    """The dictionary that a student ``*.pt`` file holds (``extra``: training state, metadata)."""
    return {"format": CHECKPOINT_FORMAT, "version": 1, "arch": model.arch, "arch_conf": dict(model.arch_conf),
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()}, **extra}


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a student checkpoint file.

    Raises:
        BadInput: missing, unreadable, or not a slamfeat student checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such student checkpoint")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt file
        raise BadInput(f"{path}: not a readable checkpoint (corrupt or truncated: {type(e).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT or "state_dict" not in obj:
        raise BadInput(f"{path}: not a slamfeat student checkpoint (write one with slamfeat distill)")
    if obj.get("arch") not in ARCHS or not isinstance(obj.get("arch_conf"), dict):
        raise BadInput(f"{path}: unknown student architecture {obj.get('arch')!r}")
    return obj


def load_student(path: str | os.PathLike, **conf: Any) -> SlamfeatStudent:
    """A student extractor from a checkpoint written by ``slamfeat distill`` (or shipped in the package).

    Raises:
        BadInput: missing, corrupt or foreign file, or weights that do not fit the architecture.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    try:
        saved = {k: v for k, v in (ckpt.get("conf") or {}).items() if k in SlamfeatStudent.default_conf}
        model = SlamfeatStudent(ckpt["arch"], ckpt["arch_conf"], **{**saved, **conf})
    except (TypeError, ValueError, KeyError) as e:
        if isinstance(e, BadInput):
            raise
        raise BadInput(f"{path}: architecture settings do not build a student ({e})") from None
    own = model.net.state_dict()
    sd = ckpt["state_dict"]
    if set(own) != set(sd) or any(own[k].shape != sd[k].shape for k in own):
        raise BadInput(f"{path}: weights do not fit architecture {ckpt['arch']}")
    model.net.load_state_dict(sd)
    model.weights_path = path
    return model.eval()
