"""Batched nearest-neighbour matching: mutual check, Lowe's ratio test, distance threshold.

One code path serves float descriptors (cosine similarity of unit vectors, or L2 distance) and
binary descriptors (Hamming distance of 0/1 bits): with ``s, t = 2b − 1`` the Hamming distance of
two bit vectors is ``(D − s·t) / 2``, so every metric is a batched matrix product followed by a
row-wise top-2 and a column-wise maximum. The similarity matrix is built in chunks of rows so that
no temporary exceeds ``max_memory_mb``.

Conventions (hloc's): ``matches0[b, i] = j`` when keypoint ``i`` of image 0 of pair ``b`` matches
keypoint ``j`` of image 1, ``−1`` when unmatched; ``matching_scores0`` is the similarity of the
match (cosine, ``1 − d²/2`` for ``metric="l2"``, ``1 − hamming/D`` for bits), 0 where unmatched.
Ties are broken towards the lowest index on both sides (``torch.max`` returns the first maximum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import BadInput

METRICS = ("cosine", "l2", "hamming")
# A padded row or column gets this similarity (finite: it travels through the matrix product).
_PAD = -1.0e4
# Bound on |similarity(half) − similarity(float32)| for unit vectors, in units of |a|·|b|:
# two fp16 roundings of the inputs (2^-11 each), products accumulated in float32.
_HALF_ERROR = 2.0 ** -10 + 1e-5


@dataclass(frozen=True)
class _Prepared:
    """Descriptors ready for one matrix product: ``sim = a @ bᵀ`` in the metric's own units."""

    a: Tensor  # B×N0×D'
    b: Tensor  # B×N1×D'
    dim: int  # original D
    metric: str
    scale: float  # the bound of |a_i|·|b_j| (for the half-precision error bound)


def _check_inputs(desc0: Tensor, desc1: Tensor, mask0: Tensor | None, mask1: Tensor | None, metric: str) -> None:
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
        if d.is_floating_point() and d.numel() and not bool(torch.isfinite(d).all()):
            raise BadInput(f"{name}: descriptors contain NaN or infinite values")


def _prepare(desc0: Tensor, desc1: Tensor, mask0: Tensor | None, mask1: Tensor | None, metric: str,
             dtype: torch.dtype) -> _Prepared:
    """Descriptors for the matrix product, with padding folded into two extra columns.

    Padded keypoints get zero descriptors and one extra coordinate each so that
    ``a_i·b_j = _PAD`` (or ``2·_PAD``) whenever ``i`` or ``j`` is padding, exactly the true
    similarity otherwise (the extra products are exact zeros).
    """
    d = desc0.shape[-1]
    a, b = desc0.to(dtype), desc1.to(dtype)
    scale = 1.0
    if metric == "hamming":
        a, b = 2 * a - 1, 2 * b - 1  # s·t = D − 2·hamming
        scale = float(d)
    elif metric == "l2":
        # −|a − b|²/2 = a·b − |a|²/2 − |b|²/2: two extra columns carry the norms
        na = (a.float() ** 2).sum(-1, keepdim=True).to(dtype)
        nb = (b.float() ** 2).sum(-1, keepdim=True).to(dtype)
        a = torch.cat([a, -0.5 * na, torch.ones_like(na)], -1)
        b = torch.cat([b, torch.ones_like(nb), -0.5 * nb], -1)
    elif a.is_cuda:  # cosine: the half-precision error bound scales with the largest norms
        scale = float(a.norm(dim=-1).max() * b.norm(dim=-1).max())
    if mask0 is not None or mask1 is not None:
        m0 = mask0.to(a.device) if mask0 is not None else torch.ones(a.shape[:2], dtype=torch.bool, device=a.device)
        m1 = mask1.to(b.device) if mask1 is not None else torch.ones(b.shape[:2], dtype=torch.bool, device=b.device)
        a = a * m0[..., None]
        b = b * m1[..., None]
        f0, f1 = m0[..., None].to(dtype), m1[..., None].to(dtype)
        # column 1: a = 1, b = PAD on padded columns; column 2: a = PAD on padded rows, b = 1
        a = torch.cat([a, torch.ones_like(f0), _PAD * (1 - f0)], -1)
        b = torch.cat([b, _PAD * (1 - f1), torch.ones_like(f1)], -1)
    return _Prepared(a.contiguous(), b.contiguous(), d, metric, scale)


def _to_similarity(raw: Tensor, metric: str, dim: int) -> Tensor:
    """The reported score from the product's units (cosine, 1 − d²/2, or 1 − hamming/D)."""
    if metric == "hamming":
        return 0.5 + raw / (2.0 * dim)
    if metric == "l2":
        return 1.0 + raw  # raw = −d²/2
    return raw


def _raw_distance_bound(metric: str, dim: int, distance_threshold: float) -> float:
    """The smallest raw product value a match may have under ``distance_threshold``."""
    if metric == "hamming":
        return dim - 2.0 * distance_threshold
    if metric == "l2":
        return -0.5 * distance_threshold ** 2
    return 1.0 - 0.5 * distance_threshold ** 2


def _ratio_pass(best: Tensor, second: Tensor, metric: str, dim: int, ratio: float) -> Tensor:
    """Lowe's test ``d1 ≤ ratio·d2`` on L2 (unit vectors) or Hamming distances, from raw products."""
    if metric == "hamming":
        return (dim - best) <= ratio * (dim - second)
    if metric == "l2":
        return -2.0 * best <= ratio ** 2 * (-2.0 * second)
    # squared distances of unit vectors: 2 − 2·cos; clamp rounding below zero
    return (2.0 - 2.0 * best).clamp_min(0) <= ratio ** 2 * (2.0 - 2.0 * second).clamp_min(0)


def _chunk_rows(batch: int, n0: int, n1: int, elem_bytes: int, max_memory_mb: float, need_top2: bool) -> int:
    """Rows of image 0 per chunk so that the chunk's temporaries stay within the budget."""
    # the product itself, plus topk's or max's work space (about one more matrix when top-2 is needed)
    per_row = batch * max(n1, 1) * (elem_bytes + (4 if elem_bytes < 4 else 0)) * (2 if need_top2 else 1)
    budget = max_memory_mb * 2 ** 20
    return int(max(1, min(n0, budget // max(per_row, 1))))


class _Pass:
    """Running results of one pass over the row chunks of the similarity matrix."""

    def __init__(self, batch: int, n0: int, n1: int, device, need_second: bool, dtype: torch.dtype):
        self.best = torch.full((batch, n0), -math.inf, device=device, dtype=dtype)
        self.arg = torch.zeros((batch, n0), dtype=torch.long, device=device)
        self.second = torch.full((batch, n0), -math.inf, device=device, dtype=dtype) if need_second else None
        self.col_best = torch.full((batch, n1), -math.inf, device=device, dtype=dtype)
        self.col_arg = torch.zeros((batch, n1), dtype=torch.long, device=device)
        self.col_second = None

    def add(self, sim: Tensor, r0: int, need_col_second: bool) -> None:
        """Fold in ``sim`` = rows ``r0 … r0 + R`` of the ``B×N0×N1`` matrix (any float dtype)."""
        r1 = r0 + sim.shape[1]
        if sim.shape[2] == 0:
            return
        if self.second is not None and sim.shape[2] >= 2:
            top = sim.topk(2, dim=2)
            self.best[:, r0:r1], self.arg[:, r0:r1] = sim.max(dim=2)
            self.second[:, r0:r1] = top.values[..., 1]
        else:
            self.best[:, r0:r1], self.arg[:, r0:r1] = sim.max(dim=2)
        cv, ci = sim.max(dim=1)
        cv = cv.to(self.col_best.dtype)
        if need_col_second:
            # second-best per column (for the half-precision check): the best of the rest
            if self.col_second is None:
                self.col_second = torch.full_like(self.col_best, -math.inf)
            if sim.shape[1] >= 2:
                chunk_second = sim.topk(2, dim=1).values[:, 1].to(cv.dtype)
            else:
                chunk_second = torch.full_like(cv, -math.inf)
            self.col_second = torch.maximum(torch.maximum(self.col_second, chunk_second),
                                            torch.minimum(self.col_best, cv))
        better = cv > self.col_best  # strict: an earlier row keeps a tie
        self.col_best = torch.where(better, cv, self.col_best)
        self.col_arg = torch.where(better, ci + r0, self.col_arg)


def _nearest_pass(prep: _Prepared, dtype: torch.dtype, need_second: bool, need_col_second: bool,
                  max_memory_mb: float) -> _Pass:
    a, b = prep.a.to(dtype), prep.b.to(dtype)
    batch, n0, n1 = a.shape[0], a.shape[1], b.shape[1]
    out = _Pass(batch, n0, n1, a.device, need_second, torch.float64 if dtype == torch.float64 else torch.float32)
    elem = torch.finfo(dtype).bits // 8
    rows = _chunk_rows(batch, n0, n1, elem, max_memory_mb, need_second or need_col_second)
    bt = b.transpose(1, 2)
    for r0 in range(0, n0, rows):
        sim = torch.bmm(a[:, r0:r0 + rows], bt)
        out.add(sim, r0, need_col_second)
        del sim
    return out


def _refine_half(prep: _Prepared, p: _Pass, ratio: float | None, raw_min: float | None, max_memory_mb: float) -> None:
    """Redo in float32 the rows and columns whose half-precision decision could be wrong.

    Only cosine needs this: ±1 bits and their integer sums are exact in float16.
    """
    eps = _HALF_ERROR * prep.scale  # bound of the error of one similarity value
    rows_unsure = (p.best - p.second) <= 2 * eps
    if raw_min is not None:
        rows_unsure |= (p.best - raw_min).abs() <= eps
    if ratio is not None:  # margin of d1² ≤ r²·d2² with d² = 2 − 2s
        margin = ratio ** 2 * (2 - 2 * p.second) - (2 - 2 * p.best)
        rows_unsure |= margin.abs() <= 2 * (1 + ratio ** 2) * eps
    rows_unsure &= p.best > _PAD / 2
    cols_unsure = ((p.col_best - p.col_second) <= 2 * eps) & (p.col_best > _PAD / 2)
    if rows_unsure.any():
        bi, ii, best, arg, second = _exact_rows(prep, rows_unsure, max_memory_mb)
        p.best[bi, ii], p.arg[bi, ii] = best, arg
        if p.second is not None:
            p.second[bi, ii] = second
    if cols_unsure.any():
        swapped = _Prepared(prep.b, prep.a, prep.dim, prep.metric, prep.scale)
        bi, jj, best, arg, _ = _exact_rows(swapped, cols_unsure, max_memory_mb)
        p.col_best[bi, jj], p.col_arg[bi, jj] = best, arg


def _exact_rows(prep: _Prepared, rows: Tensor, max_memory_mb: float):
    """Float32 best, argmax and second-best over all columns for the rows flagged in ``rows`` (B×N0 bool).

    Returns the flat batch and row indices of those rows and their three results.
    """
    counts = rows.sum(1)
    k = int(counts.max().item())
    idx = torch.argsort((~rows).to(torch.int8), dim=1, stable=True)[:, :k]  # flagged rows first
    valid = torch.arange(k, device=rows.device)[None] < counts[:, None]
    a = torch.gather(prep.a.float(), 1, idx[..., None].expand(-1, -1, prep.a.shape[2]))
    sub = _Prepared(a, prep.b.float(), prep.dim, prep.metric, prep.scale)
    p = _nearest_pass(sub, torch.float32, True, False, max_memory_mb)
    bi = torch.arange(idx.shape[0], device=idx.device)[:, None].expand_as(idx)
    return bi[valid], idx[valid], p.best[valid], p.arg[valid], p.second[valid]


def _exact_scores(prep: _Prepared, arg: Tensor) -> Tensor:
    """Float32 raw similarity of each row with its chosen column: ``B×N0``."""
    dtype = torch.float64 if prep.a.dtype == torch.float64 else torch.float32
    b = torch.gather(prep.b.to(dtype), 1, arg[..., None].expand(-1, -1, prep.b.shape[2]))
    return (prep.a.to(dtype) * b).sum(-1)


class _Float32Reduction:
    """Within the block, cuBLAS accumulates float16 products in float32 (the error bound assumes it)."""

    def __enter__(self):
        self.saved = torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = self.saved


def match_batch(desc0: Tensor, desc1: Tensor, mask0: Tensor | None = None, mask1: Tensor | None = None, *,
                metric: str = "cosine", mutual: bool = True, ratio: float | None = None,
                distance_threshold: float | None = None, max_memory_mb: float = 256,
                half: bool | None = None) -> tuple[Tensor, Tensor]:
    """Nearest-neighbour matches of a batch of ``B`` descriptor pairs, padded to common sizes.

    Args:
        desc0: ``B×N0×D`` descriptors of the first images (unit-norm floats for ``cosine``,
            any floats for ``l2``, 0/1 bits for ``hamming``).
        desc1: ``B×N1×D`` descriptors of the second images.
        mask0: ``B×N0`` bool, True = a real keypoint (None = all real).
        mask1: ``B×N1`` bool.
        metric: ``cosine``, ``l2`` or ``hamming``.
        mutual: keep only mutual nearest neighbours.
        ratio: Lowe's ratio ``d1/d2`` threshold (L2 or Hamming distances), None = no test.
        distance_threshold: largest L2 distance (float) or number of differing bits (binary).
        max_memory_mb: bound of the similarity chunk (and its temporaries) held at once.
        half: compute the product in float16 (None = on cuda only); decisions within the
            float16 error bound are redone in float32, so the result is the float32 one.

    Returns:
        ``matches0`` ``B×N0`` int64 (−1 unmatched) and ``matching_scores0`` ``B×N0`` float32.
    """
    _check_inputs(desc0, desc1, mask0, mask1, metric)
    batch, n0, n1 = desc0.shape[0], desc0.shape[1], desc1.shape[1]
    device = desc0.device
    if batch == 0 or n0 == 0 or n1 == 0:
        return (torch.full((batch, n0), -1, dtype=torch.long, device=device),
                torch.zeros((batch, n0), dtype=torch.float32, device=device))
    if ratio is not None and not 0 < ratio <= 1:
        raise BadInput(f"ratio {ratio}: expected a value in (0, 1]")
    if distance_threshold is not None and distance_threshold < 0:
        raise BadInput(f"distance_threshold {distance_threshold}: expected a value ≥ 0")
    if half is None:
        half = device.type == "cuda"
    # no fast half matrix product on the CPU; L2 of unnormalised vectors may overflow float16
    half = bool(half) and device.type == "cuda" and metric != "l2" and desc0.dtype != torch.float64
    base = torch.float64 if desc0.dtype == torch.float64 else torch.float32
    prep = _prepare(desc0, desc1.to(device), mask0, mask1, metric, base)
    raw_min = _raw_distance_bound(metric, prep.dim, distance_threshold) if distance_threshold is not None else None
    if not half:
        p = _nearest_pass(prep, base, ratio is not None, False, max_memory_mb)
        # one product per match, independent of the chunking (so scores are too)
        p.best = torch.where(p.best > _PAD / 2, _exact_scores(prep, p.arg), p.best)
        return _decide(p, prep, mutual, ratio, raw_min)
    with _Float32Reduction():
        exact = metric == "hamming"  # ±1 sums are integers, exact in float16
        p = _nearest_pass(prep, torch.float16, ratio is not None or not exact, not exact, max_memory_mb)
        if not exact:
            _refine_half(prep, p, ratio, raw_min, max_memory_mb)
        p.best = torch.where(p.best > _PAD / 2, _exact_scores(prep, p.arg), p.best)  # scores in float32
    return _decide(p, prep, mutual, ratio, raw_min)


def _decide(p: _Pass, prep: _Prepared, mutual: bool, ratio: float | None, raw_min: float | None) -> tuple[Tensor, Tensor]:
    best = p.best
    keep = best > _PAD / 2  # a real column exists and this row is real
    if mutual:
        back = torch.gather(p.col_arg, 1, p.arg)
        keep &= back == torch.arange(best.shape[1], device=best.device)[None]
    if ratio is not None:
        keep &= _ratio_pass(best, p.second, prep.metric, prep.dim, ratio)
    if raw_min is not None:
        keep &= best >= raw_min
    matches0 = torch.where(keep, p.arg, torch.full_like(p.arg, -1))
    scores0 = torch.where(keep, _to_similarity(best.double() if best.dtype == torch.float64 else best, prep.metric, prep.dim),
                          torch.zeros_like(best)).float()
    return matches0, scores0
