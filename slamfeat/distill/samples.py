"""Training samples with their teacher targets, and the cache that reuses them.

A :class:`Sample` is one pair (see :mod:`slamfeat.distill.data`) with what the teacher says about
it: detection logits of both images and unit descriptors at corresponding points. Running the
teacher costs more than a student step, so each step labels only a few fresh pairs and draws the
rest of its batch from a ring buffer of earlier ones (:class:`SampleCache`), each drawn pair
possibly swapped (B → A through ``H⁻¹``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import Pair, make_pair, warp_points
from .teachers import Teacher, top_peaks


@dataclass
class Sample:
    """One labelled pair. Images ``3×S×S`` uint8; logits ``1×S×S`` float16; ``points_a`` ↔
    ``points_b`` ``N×2`` pixel (x, y); ``desc_a``/``desc_b`` ``N×Dt`` float16 teacher descriptors."""

    image_a: torch.Tensor
    image_b: torch.Tensor
    logits_a: torch.Tensor
    logits_b: torch.Tensor
    points_a: torch.Tensor
    points_b: torch.Tensor
    desc_a: torch.Tensor
    desc_b: torch.Tensor

    def swapped(self) -> "Sample":
        return Sample(self.image_b, self.image_a, self.logits_b, self.logits_a, self.points_b, self.points_a,
                      self.desc_b, self.desc_a)


def _to_uint8(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.round(x * 255).astype(np.uint8)).permute(2, 0, 1).contiguous()


def make_pairs(images: list[np.ndarray], count: int, size: int, rng: np.random.Generator,
               max_angle: float = 30.0, max_scale: float | None = None) -> list[Pair]:
    """``count`` pairs from random images (the CPU part of a step, which can run ahead in a thread)."""
    return [make_pair(images[int(rng.integers(len(images)))], size, rng, max_angle, max_scale) for _ in range(count)]


def label(pairs: list[Pair], teacher: Teacher, points: int, border: int = 8) -> list[Sample]:
    """Run the teacher on made pairs: ``points`` correspondences per pair, the teacher's strongest
    peaks in A whose warp lands at least ``border`` px inside B."""
    if not pairs:
        return []
    count, size = len(pairs), pairs[0].image_a.shape[0]
    a = torch.stack([_to_uint8(p.image_a) for p in pairs])
    b = torch.stack([_to_uint8(p.image_b) for p in pairs])
    batch = torch.cat([a, b]).float().div(255).to(teacher.device)
    out = teacher(batch)
    samples = []
    for i, p in enumerate(pairs):
        cand = top_peaks(out.logits[i], 3 * points, border=border).cpu().numpy()
        warped = warp_points(cand, p.H)
        inside = np.all((warped >= border) & (warped <= size - 1 - border), axis=1)
        pa = torch.from_numpy(cand[inside][:points]).float()
        pb = torch.from_numpy(warped[inside][:points]).float()
        da = teacher.describe(out, i, pa.to(teacher.device)).cpu().half()
        db = teacher.describe(out, count + i, pb.to(teacher.device)).cpu().half()
        samples.append(Sample(a[i], b[i], out.logits[i].cpu().half(), out.logits[count + i].cpu().half(),
                              pa, pb, da, db))
    return samples


class SampleCache:
    """A ring buffer of at most ``capacity`` labelled samples."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(int(capacity), 0)
        self.items: list[Sample] = []
        self._next = 0

    def __len__(self) -> int:
        return len(self.items)

    def add(self, samples: list[Sample]) -> None:
        for s in samples:
            if self.capacity == 0:
                return
            if len(self.items) < self.capacity:
                self.items.append(s)
            else:
                self.items[self._next] = s
                self._next = (self._next + 1) % self.capacity

    def draw(self, count: int, rng: np.random.Generator) -> list[Sample]:
        if not self.items or count <= 0:
            return []
        idx = rng.integers(len(self.items), size=count)
        return [self.items[i].swapped() if rng.random() < 0.5 else self.items[i] for i in idx]
