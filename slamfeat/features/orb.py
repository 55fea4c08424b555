"""ORB through OpenCV. Its 256-bit descriptors are kept as bits (0/1 floats) and matched by
Hamming distance."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .base import Extractor, Features
from .ops import to_gray_uint8


class ORB(Extractor):
    name = "orb"
    kind = "classical"
    descriptor_dim = 256
    needs_weights = False
    binary = True
    input_channels = 1
    default_conf = {**Extractor.default_conf, "detection_threshold": 20}  # FAST threshold

    def _extract(self, images: torch.Tensor) -> list[Features]:
        orb = cv2.ORB_create(nfeatures=int(self.conf["max_keypoints"]), fastThreshold=int(self.conf["detection_threshold"]))
        out = []
        for image in images:
            gray = to_gray_uint8(image)
            kps, desc = orb.detectAndCompute(gray, None)
            size = (gray.shape[1], gray.shape[0])
            if not kps or desc is None:
                out.append(Features.empty(self.descriptor_dim, size, binary=True))
                continue
            xy = torch.tensor([k.pt for k in kps], dtype=torch.float32)
            scores = torch.tensor([k.response for k in kps], dtype=torch.float32)
            bits = torch.from_numpy(np.unpackbits(desc, axis=1).astype(np.float32))
            order = torch.argsort(scores, descending=True)
            out.append(Features(xy[order], scores[order], bits[order], size, binary=True))
        return out
