"""Matching :class:`~slamfeat.features.Features` pairs: padding into batches, one pair or many."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from ..errors import BadInput
from ..features.base import Features
from .nearest_neighbour import match_batch


def pad_descriptors(descriptors: Sequence[Tensor], dim: int | None = None,
                    device: torch.device | str | None = None, multiple: int = 1) -> tuple[Tensor, Tensor]:
    """Stack ``N_b×D`` descriptor sets into a zero-padded ``B×N×D`` batch and its ``B×N`` mask.

    ``N`` is the largest ``N_b`` rounded up to a ``multiple``; ``mask[b, i]`` is True for the real keypoints.
    """
    if dim is None:
        dim = max((int(d.shape[1]) for d in descriptors), default=0)
    n = max((int(d.shape[0]) for d in descriptors), default=0)
    n = -(-n // multiple) * multiple
    target = torch.device(device) if device is not None else None
    # CPU descriptors bound for a GPU are padded in pinned memory and copied once, not set by set
    staged = target is not None and target.type == "cuda" and all(d.device.type == "cpu" for d in descriptors)
    where = torch.device("cpu") if staged else target
    out = torch.zeros((len(descriptors), n, dim), dtype=torch.float32, device=where, pin_memory=staged)
    mask = torch.zeros((len(descriptors), n), dtype=torch.bool, device=where, pin_memory=staged)
    for b, d in enumerate(descriptors):
        out[b, :d.shape[0]] = d.to(device=out.device, dtype=torch.float32)
        mask[b, :d.shape[0]] = True
    if staged:
        out, mask = out.to(target, non_blocking=True), mask.to(target, non_blocking=True)
    return out, mask


def _metric_of(f0: Features, f1: Features, metric: str | None) -> str:
    if f0.binary != f1.binary:
        raise BadInput("features: one side has binary descriptors, the other float ones")
    d0, d1 = f0.descriptors.shape[-1], f1.descriptors.shape[-1]
    if len(f0) and len(f1) and d0 != d1:
        raise BadInput(f"features: descriptor sizes differ between the two sides ({d0} and {d1})")
    if f0.binary:
        return "hamming"
    return metric or "cosine"


def match_many(pairs: Sequence[tuple[Features, Features]], *, batch_size: int = 16,
               device: torch.device | str | None = None, **options: Any) -> list[tuple[Tensor, Tensor]]:
    """Nearest-neighbour matches of many feature pairs, ``batch_size`` pairs per padded batch.

    Pairs of similar sizes are batched together to keep the padding small; the result keeps the
    order of ``pairs``. ``options`` go to :func:`match_batch` (``mutual``, ``ratio``,
    ``distance_threshold``, ``max_memory_mb``, ``half``, ``metric`` for float descriptors).

    Returns:
        One ``(matches0 N0 int64, matching_scores0 N0 float32)`` per pair, on the CPU.
    """
    if batch_size < 1:
        raise BadInput(f"batch size {batch_size}: expected ≥ 1")
    metric = options.pop("metric", None)
    metrics = [_metric_of(f0, f1, metric) for f0, f1 in pairs]
    order = sorted(range(len(pairs)), key=lambda k: (metrics[k], len(pairs[k][0]), len(pairs[k][1])))
    results: list[tuple[Tensor, Tensor] | None] = [None] * len(pairs)
    start = 0
    while start < len(order):
        chunk = [order[start]]
        while (len(chunk) < batch_size and start + len(chunk) < len(order)
               and metrics[order[start + len(chunk)]] == metrics[chunk[0]]):
            chunk.append(order[start + len(chunk)])
        start += len(chunk)
        for k, result in zip(chunk, _match_padded([pairs[k] for k in chunk], metrics[chunk[0]], device, options)):
            results[k] = result
    return results  # type: ignore[return-value]


def _match_padded(pairs: list[tuple[Features, Features]], metric: str, device, options: dict) -> list[tuple[Tensor, Tensor]]:
    dev = torch.device(device) if device is not None else pairs[0][0].descriptors.device
    dim = max(max(int(f0.descriptors.shape[-1]), int(f1.descriptors.shape[-1])) for f0, f1 in pairs)
    desc0, mask0 = pad_descriptors([f0.descriptors for f0, _ in pairs], dim, dev)
    # a row length in multiples of 16 takes the CPU's fast row maximum (see row_maximum)
    n1 = max(len(f1) for _, f1 in pairs)
    desc1, mask1 = pad_descriptors([f1.descriptors for _, f1 in pairs], dim, dev, 16 if n1 >= 256 else 1)
    full = bool(mask0.all()) and bool(mask1.all())
    m0, s0 = match_batch(desc0, desc1, None if full else mask0, None if full else mask1, metric=metric, **options)
    m0, s0 = m0.cpu(), s0.cpu()
    return [(m0[b, :len(f0)].clone(), s0[b, :len(f0)].clone()) for b, (f0, _) in enumerate(pairs)]


def match_pair(f0: Features, f1: Features, *, mutual: bool = True, ratio: float | None = None,
               distance_threshold: float | None = None, device: torch.device | str | None = None,
               **options: Any) -> tuple[Tensor, Tensor]:
    """Nearest-neighbour matches of two images' features (Hamming when ``f0.binary``).

    Returns:
        ``matches0`` ``N0`` int64 (−1 unmatched) and ``matching_scores0`` ``N0`` float32, on the CPU.
    """
    return match_many([(f0, f1)], batch_size=1, device=device, mutual=mutual, ratio=ratio,
                      distance_threshold=distance_threshold, **options)[0]


def matches_to_indices(matches0: Tensor) -> Tensor:
    """``M×2`` int64 ``(i0, i1)`` index pairs of the matched keypoints of an ``N0`` ``matches0``."""
    matches0 = torch.as_tensor(matches0)
    i0 = torch.nonzero(matches0 >= 0, as_tuple=True)[0]
    return torch.stack([i0, matches0[i0].long()], 1)
