"""Validation of a student during distillation, on held-out photographs under known homographies.

The pairs are made once, from folders that training never sees, with a fixed seed: the same crop
and warp machinery as the training pairs (:func:`slamfeat.distill.data.make_pair`), so the
numbers follow the model, not the draw. For each pair the model's mutual nearest-neighbour
matches are checked against the homography: MMA@3 is the share of matches whose keypoint in A,
warped by ``H``, lands within 3 px of its partner in B.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..features import Extractor
from ..matching import match_batch
from .data import Pair, folder_images, make_pair, warp_points

THRESHOLDS = (1, 3, 5)


@dataclass
class ValidationSet:
    """Fixed validation pairs (``size×size`` crops) and where they came from."""

    pairs: list[Pair]
    folders: list[str]
    images: int


def validation_set(folders: Sequence[str | os.PathLike], count: int, size: int, max_angle: float,
                   seed: int = 12345) -> ValidationSet:
    """``count`` pairs drawn with a fixed seed from the images of ``folders``.

    Raises:
        BadInput: a folder that is missing or holds no image.
    """
    images = [im for im in folder_images(folders, 16) if min(im.shape[:2]) >= size // 2]
    rng = np.random.default_rng(seed)
    pairs = [make_pair(images[int(rng.integers(len(images)))], size, rng, max_angle) for _ in range(count)]
    return ValidationSet(pairs, [str(f) for f in folders], len(images))


@torch.inference_mode()
def validate(model: Extractor, data: ValidationSet) -> dict[str, float]:
    """Mean matching accuracy at 1, 3 and 5 px, matches and keypoints per pair, over ``data``."""
    was_training = model.training
    model.eval()
    correct = {t: 0 for t in THRESHOLDS}
    matches = keypoints = 0
    try:
        for pair in data.pairs:
            batch = torch.stack([torch.from_numpy(pair.image_a), torch.from_numpy(pair.image_b)]).permute(0, 3, 1, 2)
            fa, fb = model(batch.contiguous())
            keypoints += len(fa) + len(fb)
            if len(fa) == 0 or len(fb) == 0:
                continue
            m, _ = match_batch(fa.descriptors[None].float(), fb.descriptors[None].float())
            i = torch.nonzero(m[0] >= 0)[:, 0].cpu()
            if len(i) == 0:
                continue
            warped = warp_points(fa.keypoints.cpu()[i].double().numpy(), pair.H)
            err = np.linalg.norm(warped - fb.keypoints.cpu()[m[0, i].cpu()].double().numpy(), axis=1)
            matches += len(i)
            for t in THRESHOLDS:
                correct[t] += int((err <= t).sum())
    finally:
        model.train(was_training)
    n = len(data.pairs)
    out = {f"mma@{t}": correct[t] / max(matches, 1) for t in THRESHOLDS}
    out.update({"matches_per_pair": matches / n, "keypoints_per_image": keypoints / (2 * n), "pairs": n})
    return out
