"""SIFT through OpenCV, with RootSIFT descriptors (unit L2 norm)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .base import Extractor, Features, top_k
from .ops import to_gray_uint8


class SIFT(Extractor):
    name = "sift"
    kind = "classical"
    descriptor_dim = 128
    needs_weights = False
    # Lowe's ratio test at 0.8 with the mutual check, as COLMAP's and hloc's SIFT matching
    matcher_defaults = {"ratio": 0.8}
    input_channels = 1
    default_conf = {
        **Extractor.default_conf,
        # COLMAP's peak threshold (0.02 / octave resolution 3), half OpenCV's contrastThreshold default: COLMAP finds
        # and registers more with it on the rendered sequences (and users compare with COLMAP)
        "detection_threshold": 0.02 / 3,
        "rootsift": True,
    }

    def _extract(self, images: torch.Tensor) -> list[Features]:
        sift = cv2.SIFT_create(contrastThreshold=float(self.conf["detection_threshold"]) * 3)
        out = []
        for image in images:
            gray = to_gray_uint8(image)
            kps, desc = sift.detectAndCompute(gray, None)
            size = (gray.shape[1], gray.shape[0])
            if not kps:
                out.append(Features.empty(self.descriptor_dim, size))
                continue
            xy = torch.tensor([k.pt for k in kps], dtype=torch.float32)
            scores = torch.tensor([k.response for k in kps], dtype=torch.float32)
            d = torch.from_numpy(desc.astype(np.float32))
            if self.conf["rootsift"]:
                d = torch.sqrt(d / d.sum(dim=1, keepdim=True).clamp_min(1e-8))
            d = torch.nn.functional.normalize(d, dim=-1)
            # OpenCV can return the same point twice with different orientations; keep the first
            f = top_k(Features(xy, scores, d, size), self.conf["max_keypoints"])
            out.append(f)
        return out
