"""A pretrained extractor as a teacher: frozen, in eval mode, seen through the one interface every
teacher implements (:meth:`slamfeat.features.Extractor.teacher_outputs` and ``describe``).

Every teacher's detection output is a full-resolution logit map ``z`` with ``sigmoid(z)`` its
keypoint score; how a model gets there is written in its own file.
"""

from __future__ import annotations

import torch

from ..errors import BadInput
from ..features import REGISTRY, TeacherOutputs, load_extractor, teachers
from ..features.ops import simple_nms


class Teacher:
    """A registered teacher model, frozen, on ``device``."""

    def __init__(self, name: str, weights: str | None = None, device: str | torch.device = "cpu") -> None:
        if name not in REGISTRY or REGISTRY[name].kind != "teacher":
            raise BadInput(f"teacher {name!r}: not a teacher; choose one of {', '.join(teachers())}")
        self.name = name
        self.model = load_extractor(name, weights=weights, device=device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.descriptor_dim = int(self.model.descriptor_dim)
        self.score_threshold = float(self.model.score_threshold)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> TeacherOutputs:
        """Dense outputs of a ``B×3×H×W`` batch in [0, 1] (H, W multiples of 32)."""
        x, _ = self.model.preprocess(images)
        return self.model.teacher_outputs(x)

    @torch.no_grad()
    def describe(self, out: TeacherOutputs, index: int, points: torch.Tensor) -> torch.Tensor:
        """``N×D`` unit descriptors of image ``index`` at pixel points ``N×2`` (x, y)."""
        return self.model.describe(out, index, points)


def peak_map(logits: torch.Tensor, threshold: float, nms_radius: int = 2) -> torch.Tensor:
    """``B×1×H×W`` logits → the scores ``sigmoid(z)`` at local maxima above ``threshold``, 0 elsewhere."""
    scores = simple_nms(torch.sigmoid(logits[:, 0]), nms_radius)
    return torch.where(scores > threshold, scores, torch.zeros_like(scores))[:, None]


def top_peaks(logits: torch.Tensor, k: int, nms_radius: int = 2, border: int = 8) -> torch.Tensor:
    """The ``k`` strongest local maxima of one ``1×H×W`` logit map as ``k×2`` pixel (x, y)
    (whatever their score, so there are always ``k`` unless the image is tiny)."""
    h, w = logits.shape[-2:]
    scores = simple_nms(torch.sigmoid(logits.reshape(1, h, w)), nms_radius)[0]
    inner = torch.zeros_like(scores, dtype=torch.bool)
    inner[border:h - border, border:w - border] = True
    # non-maxima get -1 so that flat maps still yield k distinct points (peaks first)
    ranked = torch.where(inner, torch.where(scores > 0, scores, scores - 1), torch.full_like(scores, -2.0))
    idx = torch.topk(ranked.reshape(-1), min(k, ranked.numel())).indices
    return torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], -1).float()
