"""Descriptors as the two sides of one matrix product, for every metric of the matcher.

With ``s, t = 2b − 1`` the Hamming distance of two bit vectors is ``(D − s·t) / 2``, so cosine,
L2 and Hamming all become a batched product ``a @ bᵀ`` of prepared descriptors (:class:`Prepared`);
this module prepares them, checks them, and turns raw keys back into similarities, distance
bounds and the ratio test.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import BadInput

METRICS = ("cosine", "l2", "hamming")
# Bound on |similarity(half) − similarity(float32)| in units of |a|·|b|: two float16 roundings of
# the inputs (2^-11 relative each), products accumulated in float32.
HALF_ERROR = 2.0 ** -10 + 1e-5


@dataclass(frozen=True)
class Prepared:
    """Descriptors ready for one matrix product ``key = a @ bᵀ``.

    ``key`` is the raw similarity (cosine, ``−d²/2``, or ``s·t = D − 2·hamming``), except for bits
    where ``key = tie_scale·s·t − i − j``: distinct within every row and column, it breaks ties
    towards the lowest index and gives back ``s·t = ceil(key / tie_scale)``.
    """

    a: Tensor  # B×N0×D'
    b: Tensor  # B×N1×D'
    dim: int  # the descriptor size D
    metric: str
    pad: float  # a key at or below pad/2 involves a padded keypoint
    tie_scale: int  # 0: keys are raw similarities
    scale: float  # bound of |a_i|·|b_j| (float16 error bound)

    def raw(self, key: Tensor) -> Tensor:
        if not self.tie_scale:
            return key
        return torch.ceil(key.double() / self.tie_scale)

    def swapped(self) -> "Prepared":
        return Prepared(self.b, self.a, self.dim, self.metric, self.pad, self.tie_scale, self.scale)


def check_inputs(desc0: Tensor, desc1: Tensor, mask0: Tensor | None, mask1: Tensor | None, metric: str) -> None:
    if metric not in METRICS:
        raise BadInput(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    if desc0.dim() != 3 or desc1.dim() != 3:
        raise BadInput(f"descriptors: expected B×N×D batches, got shapes {tuple(desc0.shape)} and {tuple(desc1.shape)}")
    if desc0.shape[0] != desc1.shape[0]:
        raise BadInput(f"descriptors: batch sizes differ ({desc0.shape[0]} and {desc1.shape[0]})")
    if desc0.shape[2] != desc1.shape[2]:
        raise BadInput(f"descriptors: sizes differ between the two sides ({desc0.shape[2]} and {desc1.shape[2]})")
    for name, m, d in (("mask0", mask0, desc0), ("mask1", mask1, desc1)):
        if m is not None and tuple(m.shape) != tuple(d.shape[:2]):
            raise BadInput(f"{name}: shape {tuple(m.shape)} does not fit descriptors {tuple(d.shape)}")
    for name, d in (("desc0", desc0), ("desc1", desc1)):
        # two reductions, no B×N×D temporary: max and min are NaN or ±inf when any value is
        if d.is_floating_point() and d.numel() and not bool(torch.isfinite(torch.stack([d.amax(), d.amin()])).all()):
            raise BadInput(f"{name}: descriptors contain NaN or infinite values")


def _max_norm(x: Tensor) -> float:
    return float(x.float().norm(dim=-1).max()) if x.numel() else 0.0


def prepare(desc0: Tensor, desc1: Tensor, mask0: Tensor | None, mask1: Tensor | None, metric: str,
             dtype: torch.dtype) -> Prepared:
    """Descriptors for the matrix product, with padding folded into two extra columns.

    Padded keypoints get zero descriptors and one extra coordinate each so that ``a_i·b_j ≤ pad``
    whenever ``i`` or ``j`` is padding, and exactly the true key otherwise (the extra products
    are exact zeros).
    """
    batch, n0, d = desc0.shape
    n1 = desc1.shape[1]
    a, b = desc0.to(dtype), desc1.to(dtype)
    tie, scale = 0, _max_norm(a) * _max_norm(b)
    if metric == "hamming":
        tie = n0 + n1
        i = torch.arange(n0, device=a.device, dtype=dtype)[None, :, None].expand(batch, -1, -1)
        j = torch.arange(n1, device=b.device, dtype=dtype)[None, :, None].expand(batch, -1, -1)
        a = torch.cat([tie * (2 * a - 1), -i, torch.ones_like(i)], -1)
        b = torch.cat([2 * b - 1, torch.ones_like(j), -j], -1)
        pad = -4.0 * tie * (d + 2)
    elif metric == "l2":
        # −|a − b|²/2 = a·b − |a|²/2 − |b|²/2: two extra columns carry the norms
        na, nb = (a ** 2).sum(-1, keepdim=True), (b ** 2).sum(-1, keepdim=True)
        a = torch.cat([a, -0.5 * na, torch.ones_like(na)], -1)
        b = torch.cat([b, torch.ones_like(nb), -0.5 * nb], -1)
        pad = -1.0e4 - 8.0 * max(_max_norm(desc0), _max_norm(desc1)) ** 2
    else:
        pad = -1.0e4 if scale <= 100 else -4.0 * scale  # −1e4 is exact in float16
    if mask0 is not None or mask1 is not None:
        m0 = mask0.to(a.device) if mask0 is not None else torch.ones(a.shape[:2], dtype=torch.bool, device=a.device)
        m1 = mask1.to(b.device) if mask1 is not None else torch.ones(b.shape[:2], dtype=torch.bool, device=b.device)
        f0, f1 = m0[..., None].to(dtype), m1[..., None].to(dtype)
        # column 1: a = 1, b = pad on padded columns; column 2: a = pad on padded rows, b = 1
        a = torch.cat([a * f0, torch.ones_like(f0), pad * (1 - f0)], -1)
        b = torch.cat([b * f1, pad * (1 - f1), torch.ones_like(f1)], -1)
    return Prepared(a.contiguous(), b.contiguous(), d, metric, pad, tie, scale)


def to_similarity(raw: Tensor, metric: str, dim: int) -> Tensor:
    """The reported score from a raw similarity (cosine, 1 − d²/2, or 1 − hamming/D)."""
    if metric == "hamming":
        return 0.5 + raw / (2.0 * dim)
    if metric == "l2":
        return 1.0 + raw  # raw = −d²/2
    return raw


def raw_bound(metric: str, dim: int, distance_threshold: float) -> float:
    """The smallest raw similarity a match may have under ``distance_threshold``."""
    if metric == "hamming":
        return dim - 2.0 * distance_threshold
    if metric == "l2":
        return -0.5 * distance_threshold ** 2
    return 1.0 - 0.5 * distance_threshold ** 2


def ratio_pass(best: Tensor, second: Tensor, metric: str, dim: int, ratio: float) -> Tensor:
    """Lowe's test ``d1 ≤ ratio·d2`` on L2 or Hamming distances, from raw similarities."""
    if metric == "hamming":
        return (dim - best) <= ratio * (dim - second)  # s·t = D − 2·hamming
    if metric == "l2":
        return -2.0 * best <= ratio ** 2 * (-2.0 * second)
    # squared distances of unit vectors: 2 − 2·cos (rounding below zero clamped)
    return (2.0 - 2.0 * best).clamp_min(0) <= ratio ** 2 * (2.0 - 2.0 * second).clamp_min(0)
