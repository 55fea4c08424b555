"""Operations that several extractors share: non-maximum suppression, sampling a descriptor map at
keypoints, unit-normalising descriptors, and the gray uint8 image that OpenCV's detectors take.

Coordinates are pixels ``(x, y)`` with ``(0, 0)`` the centre of the top-left pixel.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def l2_normalise(descriptors: torch.Tensor) -> torch.Tensor:
    """Unit L2 norm along the last dimension (zero vectors stay zero)."""
    return F.normalize(descriptors, p=2, dim=-1)


def simple_nms(scores: torch.Tensor, radius: int) -> torch.Tensor:
    """Zero every score that is not the maximum of its ``(2r+1)²`` window. ``scores``: ``B×H×W``."""
    size = 2 * radius + 1
    peaks = scores == F.max_pool2d(scores[:, None], size, stride=1, padding=radius)[:, 0]
    return torch.where(peaks, scores, torch.zeros_like(scores))


def sample_descriptor_map(keypoints: torch.Tensor, descriptors: torch.Tensor, cell: int) -> torch.Tensor:
    """Bilinearly sample a batch of coarse descriptor maps at pixel keypoints.

    Args:
        keypoints: ``B×K×2`` pixel (x, y) in the full-resolution image.
        descriptors: ``B×D×Hc×Wc`` maps with one cell per ``cell×cell`` pixels (``cell`` = 1: full
            resolution).
    Returns:
        ``B×K×D`` unit-norm descriptors.
    """
    b, d, hc, wc = descriptors.shape
    # cell centres sit at (i + 0.5) * cell - 0.5 in pixel-centre coordinates; the scale is made of
    # Python numbers (no host tensor), so a CUDA graph can hold this
    grid = (keypoints + 0.5) / cell - 0.5
    grid = torch.stack([grid[..., 0] / max(wc - 1, 1), grid[..., 1] / max(hc - 1, 1)], dim=-1) * 2 - 1
    out = F.grid_sample(descriptors, grid[:, None], mode="bilinear", align_corners=True)  # B×D×1×K
    return l2_normalise(out[:, :, 0].transpose(1, 2))


def sample_descriptors(keypoints: torch.Tensor, descriptors: torch.Tensor, cell: int) -> torch.Tensor:
    """:func:`sample_descriptor_map` of one image: ``N×2`` keypoints, a ``D×Hc×Wc`` map → ``N×D``."""
    return sample_descriptor_map(keypoints[None], descriptors[None], cell)[0]


def to_gray_uint8(image: torch.Tensor) -> np.ndarray:
    """A ``C×H×W`` float image in [0, 1] as an ``H×W`` uint8 array (ITU-R 601 luma for RGB)."""
    a = image.detach().cpu().float()
    if a.shape[0] == 3:
        a = 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2]
    else:
        a = a[0]
    return (a.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()


__all__ = ["l2_normalise", "simple_nms", "sample_descriptor_map", "sample_descriptors", "to_gray_uint8"]
