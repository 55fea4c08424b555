"""Teachers seen the same way: a full-resolution detection-logit map and descriptors at any points.

Each teacher's detection output becomes per-pixel logits ``z`` with ``sigmoid(z)`` its keypoint
score: DISK's heatmap logits as they are; ALIKED's score map ``s`` as ``log(s / (1 − s))``;
SuperPoint's 65-way cell logits as each pixel's logit minus the dustbin's (so ``sigmoid(z)`` is the
pixel's probability against "no keypoint"); XFeat's keypoint score (cell heatmap × reliability) as
``log(s / (1 − s))``, computed by the model itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import BadInput
from ..features import load_extractor
from ..features.superpoint import sample_descriptors, simple_nms

TEACHERS = ("disk", "aliked-n32", "aliked-n16", "aliked-t16", "superpoint", "xfeat")
# the teachers' own detection thresholds, as scores sigmoid(z); XFeat thresholds its heatmap at 0.05
# before weighting by reliability, and 0.01 on the product keeps about as many peaks on photographs
SCORE_THRESHOLDS = {"disk": 0.5, "aliked-n32": 0.2, "aliked-n16": 0.2, "aliked-t16": 0.2, "superpoint": 0.005,
                    "xfeat": 0.01}


@dataclass
class TeacherOutput:
    """Dense teacher outputs of a batch: ``logits`` ``B×1×H×W`` and the model's own dense
    descriptor state (kept to describe points later)."""

    logits: torch.Tensor
    dense: torch.Tensor


class Teacher:
    """A pretrained extractor used as a teacher (frozen, in eval mode)."""

    def __init__(self, name: str, weights: str | None = None, device: str | torch.device = "cpu") -> None:
        if name not in TEACHERS:
            raise BadInput(f"--teacher {name}: not a teacher; choose one of {', '.join(TEACHERS)}")
        self.name = name
        self.model = load_extractor(name, weights=weights, device=device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.descriptor_dim = int(self.model.descriptor_dim)
        self.score_threshold = SCORE_THRESHOLDS[name]

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> TeacherOutput:
        """Dense outputs of a ``B×3×H×W`` batch in [0, 1] (H, W multiples of 32)."""
        x, _ = self.model.preprocess(images)
        if self.name in ("disk", "xfeat"):
            logits, desc = self.model.dense(x)
            return TeacherOutput(logits.float(), desc)
        if self.name == "superpoint":
            cells, desc = self.model.dense(x)
            logits = F.pixel_shuffle(cells[:, :-1] - cells[:, -1:], 8)
            return TeacherOutput(logits, desc)
        score, feature_map = self.model.dense(x)
        s = score.clamp(1e-4, 1 - 1e-4)
        return TeacherOutput(torch.log(s) - torch.log1p(-s), feature_map)

    @torch.no_grad()
    def describe(self, out: TeacherOutput, index: int, points: torch.Tensor) -> torch.Tensor:
        """``N×D`` unit descriptors of image ``index`` at pixel points ``N×2`` (x, y)."""
        dense = out.dense[index]
        if self.name == "disk":
            return sample_descriptors(points, dense, 1)
        if self.name == "superpoint":
            return sample_descriptors(points, dense, 8)
        if self.name == "xfeat":
            return self.model.describe(dense, points)
        h, w = dense.shape[-2:]
        norm = points / points.new_tensor([w - 1, h - 1]) * 2 - 1
        desc, _ = self.model.net.desc_head(dense[None], [norm])
        return F.normalize(desc[0], dim=-1)


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
