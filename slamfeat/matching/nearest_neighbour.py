"""Batched nearest-neighbour matching: mutual check, Lowe's ratio test, distance threshold.

One code path serves float descriptors (cosine similarity of unit vectors, or L2 distance) and
binary descriptors (Hamming distance of 0/1 bits): with ``s, t = 2b − 1`` the Hamming distance of
two bit vectors is ``(D − s·t) / 2``, so every metric is a batched matrix product followed by a
row-wise top-2 and a column-wise maximum. The similarity matrix is built in chunks of rows so that
no temporary exceeds ``max_memory_mb``.

Conventions (hloc's): ``matches0[b, i] = j`` when keypoint ``i`` of image 0 of pair ``b`` matches
keypoint ``j`` of image 1, ``−1`` when unmatched; ``matching_scores0`` is the similarity of the
match (cosine, ``1 − d²/2`` for ``metric="l2"``, ``1 − hamming/D`` for bits), 0 where unmatched.
Ties are broken towards the lowest index on both sides: exactly for bits (a tie-breaking term
rides in the matrix product), and for floats wherever two similarities are not bit-identical.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import BadInput
from .fused import fused_pass, pick_backend

METRICS = ("cosine", "l2", "hamming")
KERNELS = ("auto", "fused", "bmm", "reference")
# Bound on |similarity(half) − similarity(float32)| in units of |a|·|b|: two float16 roundings of
# the inputs (2^-11 relative each), products accumulated in float32.
_HALF_ERROR = 2.0 ** -10 + 1e-5
# On the CPU, chunks this small stay in cache and run faster (never above max_memory_mb).
_CPU_CHUNK_MB = 16
_FLOAT32_EXACT = 2 ** 24


@dataclass(frozen=True)
class _Prepared:
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

    def swapped(self) -> "_Prepared":
        return _Prepared(self.b, self.a, self.dim, self.metric, self.pad, self.tie_scale, self.scale)


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
        # two reductions, no B×N×D temporary: max and min are NaN or ±inf when any value is
        if d.is_floating_point() and d.numel() and not bool(torch.isfinite(torch.stack([d.amax(), d.amin()])).all()):
            raise BadInput(f"{name}: descriptors contain NaN or infinite values")


def _max_norm(x: Tensor) -> float:
    return float(x.float().norm(dim=-1).max()) if x.numel() else 0.0


def _prepare(desc0: Tensor, desc1: Tensor, mask0: Tensor | None, mask1: Tensor | None, metric: str,
             dtype: torch.dtype) -> _Prepared:
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
    return _Prepared(a.contiguous(), b.contiguous(), d, metric, pad, tie, scale)


def _to_similarity(raw: Tensor, metric: str, dim: int) -> Tensor:
    """The reported score from a raw similarity (cosine, 1 − d²/2, or 1 − hamming/D)."""
    if metric == "hamming":
        return 0.5 + raw / (2.0 * dim)
    if metric == "l2":
        return 1.0 + raw  # raw = −d²/2
    return raw


def _raw_bound(metric: str, dim: int, distance_threshold: float) -> float:
    """The smallest raw similarity a match may have under ``distance_threshold``."""
    if metric == "hamming":
        return dim - 2.0 * distance_threshold
    if metric == "l2":
        return -0.5 * distance_threshold ** 2
    return 1.0 - 0.5 * distance_threshold ** 2


def _ratio_pass(best: Tensor, second: Tensor, metric: str, dim: int, ratio: float) -> Tensor:
    """Lowe's test ``d1 ≤ ratio·d2`` on L2 or Hamming distances, from raw similarities."""
    if metric == "hamming":
        return (dim - best) <= ratio * (dim - second)  # s·t = D − 2·hamming
    if metric == "l2":
        return -2.0 * best <= ratio ** 2 * (-2.0 * second)
    # squared distances of unit vectors: 2 − 2·cos (rounding below zero clamped)
    return (2.0 - 2.0 * best).clamp_min(0) <= ratio ** 2 * (2.0 - 2.0 * second).clamp_min(0)


class _Pass:
    """Running results of one pass over the row chunks of the key matrix.

    Rows: best key, its column (first maximum) and, on request, the second-best key. Columns:
    the best key; its row too when ``col_index`` (on the CPU, a strided ``max`` with indices
    costs more than the matrix product, and the mutual check does without it); the second-best
    key when ``col_second``, which needs ``col_index`` (it masks out the best row).
    """

    def __init__(self, batch: int, n0: int, n1: int, device: torch.device, dtype: torch.dtype, *,
                 second: bool, columns: bool, col_index: bool, col_second: bool):
        if col_second and not col_index:
            raise ValueError("col_second needs col_index")
        def full(n):
            return torch.full((batch, n), -math.inf, device=device, dtype=dtype)
        self.best, self.arg = full(n0), torch.zeros((batch, n0), dtype=torch.long, device=device)
        self.second = full(n0) if second else None
        self.columns = columns
        self.col_best = full(n1) if columns else None
        self.col_arg = torch.zeros((batch, n1), dtype=torch.long, device=device) if col_index else None
        self.col_second = full(n1) if col_second else None

    def add(self, sim: Tensor, r0: int) -> None:
        """Fold in ``sim``: rows ``r0 … r0 + R`` of the ``B×N0×N1`` key matrix."""
        r1 = r0 + sim.shape[1]
        best, arg = row_maximum(sim)
        self.best[:, r0:r1], self.arg[:, r0:r1] = best, arg
        # the GPU's topk is slow; a masked maximum gives the same second value (the CPU's topk,
        # in cache, beats the copy that the mask costs). The column-index path is the GPU's, so it
        # takes the masked maximum wherever it runs, and the CPU tests of that path cover it.
        masked = sim.device.type != "cpu" or self.col_arg is not None
        if self.second is not None and sim.shape[2] >= 2:
            self.second[:, r0:r1] = second_maximum(sim, arg, 2) if masked else sim.topk(2, dim=2).values[..., 1]
        if not self.columns:
            return
        if self.col_arg is not None:
            cv, ci = sim.max(dim=1)
            cv = cv.to(self.col_best.dtype)
            better = cv > self.col_best  # strict: an earlier row keeps a tie
            self.col_arg = torch.where(better, ci + r0, self.col_arg)
        else:
            cv = sim.amax(dim=1).to(self.col_best.dtype)
        if self.col_second is not None:
            chunk_second = second_maximum(sim, ci, 1).to(cv.dtype) if sim.shape[1] >= 2 \
                else torch.full_like(cv, -math.inf)
            self.col_second = torch.maximum(torch.maximum(self.col_second, chunk_second),
                                            torch.minimum(self.col_best, cv))
        self.col_best = torch.maximum(self.col_best, cv)


def second_maximum(sim: Tensor, arg: Tensor, dim: int) -> Tensor:
    """``sim.topk(2, dim).values`` 's second value, given ``arg``, the index of a maximum along
    ``dim`` (``dim`` 1 or 2 of a 3-D tensor): the maximum with that one entry masked out, so a
    tied maximum is also the second value."""
    index = torch.arange(sim.shape[dim], device=sim.device).view([1, -1, 1] if dim == 1 else [1, 1, -1])
    return sim.masked_fill(index == arg.unsqueeze(dim), -math.inf).amax(dim)


_ROW_BLOCKS = 16


def row_maximum(sim: Tensor) -> tuple[Tensor, Tensor]:
    """``sim.max(dim=2)`` of a ``B×R×N`` tensor (values, first index of the maximum), faster on the CPU.

    The CPU's maximum-with-index is about ten times slower than a plain maximum, so the row is cut
    into 16 blocks: a plain maximum across the blocks (vectorised along the row) leaves N/16
    values, whose maximum-with-index gives the column within a block; a gather of that column of
    the 16 blocks gives the block. Rows where either step meets a tie are redone with ``max``
    (the first index must win).
    """
    batch, rows, n = sim.shape
    if sim.device.type != "cpu" or n % _ROW_BLOCKS or n < 16 * _ROW_BLOCKS:
        return sim.max(dim=2)
    width = n // _ROW_BLOCKS
    blocks = sim.view(batch, rows, _ROW_BLOCKS, width)
    across = blocks.amax(2)  # B×R×W
    best, within = across.max(2)
    column = torch.gather(blocks, 3, within[:, :, None, None].expand(-1, -1, _ROW_BLOCKS, 1))[..., 0]  # B×R×16
    block = column.argmax(2)
    arg = block * width + within
    tie = ((across == best[..., None]).sum(2) > 1) | ((column == best[..., None]).sum(2) > 1)
    if bool(tie.any()):
        bi, ri = tie.nonzero(as_tuple=True)
        arg[bi, ri] = sim[bi, ri].argmax(1)
    return best, arg


def _chunk_rows(batch: int, n0: int, n1: int, elem_bytes: int, budget_mb: float, copies: int) -> int:
    """Rows of image 0 per chunk so that the chunk (and ``copies`` more of it) fits the budget."""
    per_row = batch * max(n1, 1) * elem_bytes * (1 + copies)
    return int(max(1, min(n0, budget_mb * 2 ** 20 // per_row)))


def _nearest_pass(prep: _Prepared, dtype: torch.dtype, budget_mb: float, *, second: bool, columns: bool = True,
                  col_index: bool = False, col_second: bool = False) -> _Pass:
    a, b = prep.a.to(dtype), prep.b.to(dtype)
    batch, n0, n1 = a.shape[0], a.shape[1], b.shape[1]
    value_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    out = _Pass(batch, n0, n1, a.device, value_dtype, second=second, columns=columns, col_index=col_index,
                col_second=col_second)
    rows = _chunk_rows(batch, n0, n1, a.element_size(), budget_mb, 1 if (col_second or col_index) else 0)
    bt = b.transpose(1, 2)
    # one buffer for every chunk: a fresh allocation of this size costs page faults each time
    buffer = torch.empty(batch * rows * n1, dtype=dtype, device=a.device)
    for r0 in range(0, n0, rows):
        r = min(rows, n0 - r0)
        sim = buffer[:batch * r * n1].view(batch, r, n1)
        torch.bmm(a[:, r0:r0 + r], bt, out=sim)
        out.add(sim, r0)
    return out


def _exact_rows(prep: _Prepared, rows: Tensor, budget_mb: float):
    """Float32 best, argmax and second-best over all columns for the rows flagged in ``rows`` (B×N0 bool).

    Returns the flat batch and row indices of those rows and their three results.
    """
    counts = rows.sum(1)
    k = int(counts.max().item())
    idx = torch.argsort((~rows).to(torch.int8), dim=1, stable=True)[:, :k]  # flagged rows first
    valid = torch.arange(k, device=rows.device)[None] < counts[:, None]
    a = torch.gather(prep.a.float(), 1, idx[..., None].expand(-1, -1, prep.a.shape[2]))
    sub = _Prepared(a, prep.b.float(), prep.dim, prep.metric, prep.pad, prep.tie_scale, prep.scale)
    p = _nearest_pass(sub, torch.float32, budget_mb, second=True, columns=False)
    bi = torch.arange(idx.shape[0], device=idx.device)[:, None].expand_as(idx)
    return bi[valid], idx[valid], p.best[valid], p.arg[valid], p.second[valid]


def _refine_half(prep: _Prepared, p: _Pass, ratio: float | None, raw_min: float | None, budget_mb: float) -> None:
    """Redo in float32 the rows and columns whose float16 decision could differ from float32's.

    A decision is sure when its margin exceeds the error bound of the values it compares.
    """
    eps = _HALF_ERROR * max(prep.scale, 1e-6)
    rows_unsure = (p.best - p.second) <= 2 * eps
    if raw_min is not None:
        rows_unsure |= (p.best - raw_min).abs() <= eps
    if ratio is not None:  # margin of d1² ≤ r²·d2² with d² = 2 − 2s
        margin = ratio ** 2 * (2 - 2 * p.second) - (2 - 2 * p.best)
        rows_unsure |= margin.abs() <= 2 * (1 + ratio ** 2) * eps
    rows_unsure &= p.best > prep.pad / 2
    cols_unsure = ((p.col_best - p.col_second) <= 2 * eps) & (p.col_best > prep.pad / 2)
    if rows_unsure.any():
        bi, ii, best, arg, second = _exact_rows(prep, rows_unsure, budget_mb)
        p.best[bi, ii], p.arg[bi, ii], p.second[bi, ii] = best, arg, second
    if cols_unsure.any():
        bi, jj, best, arg, _ = _exact_rows(prep.swapped(), cols_unsure, budget_mb)
        p.col_best[bi, jj], p.col_arg[bi, jj] = best, arg


def _exact_keys(prep: _Prepared, arg: Tensor) -> Tensor:
    """The key of each row with its chosen column, one product per row: ``B×N0``.

    Independent of the chunking and of float16, so the reported scores are too.
    """
    dtype = torch.float64 if prep.a.dtype == torch.float64 else torch.float32
    b = torch.gather(prep.b.to(dtype), 1, arg[..., None].expand(-1, -1, prep.b.shape[2]))
    return torch.linalg.vecdot(prep.a.to(dtype), b)


class _ExactCudaMatmul:
    """Within the block cuBLAS computes float32 products in float32 (no TF32: the integer keys of
    bits must stay exact) and accumulates float16 products in float32 (the error bound assumes it)."""

    def __enter__(self):
        m = torch.backends.cuda.matmul
        self.saved = (m.allow_tf32, m.allow_fp16_reduced_precision_reduction)
        m.allow_tf32, m.allow_fp16_reduced_precision_reduction = False, False

    def __exit__(self, *exc):
        m = torch.backends.cuda.matmul
        m.allow_tf32, m.allow_fp16_reduced_precision_reduction = self.saved


@torch.no_grad()  # matching is not differentiable; descriptors that require grad are fine
def match_batch(desc0: Tensor, desc1: Tensor, mask0: Tensor | None = None, mask1: Tensor | None = None, *,
                metric: str = "cosine", mutual: bool = True, ratio: float | None = None,
                distance_threshold: float | None = None, max_memory_mb: float = 256,
                half: bool | None = None, kernel: str = "auto") -> tuple[Tensor, Tensor]:
    """Nearest-neighbour matches of a batch of ``B`` descriptor pairs, padded to common sizes.

    Args:
        desc0: ``B×N0×D`` descriptors of the first images (unit-norm floats for ``cosine``,
            any floats for ``l2``, 0/1 bits for ``hamming``).
        desc1: ``B×N1×D`` descriptors of the second images, on the device of ``desc0``.
        mask0: ``B×N0`` bool, True = a real keypoint (None = all real).
        mask1: ``B×N1`` bool.
        metric: ``cosine``, ``l2`` or ``hamming``.
        mutual: keep only mutual nearest neighbours.
        ratio: Lowe's ratio ``d1/d2`` threshold (L2 or Hamming distances), None = no test.
        distance_threshold: largest L2 distance (floats) or number of differing bits (binary).
        max_memory_mb: bound of the similarity chunk (and its temporaries) held at once.
        half: compute cosine similarities in float16 (None = on cuda only); decisions within the
            float16 error bound are redone in float32, so the result is the float32 one. Bits are
            matched in float32 (their keys are exact integers), float64 inputs in float64.
        kernel: how the float16 pass runs: ``auto`` (the fused Triton kernel of
            :mod:`.fused` on CUDA when Triton is installed, else blockwise matrix products),
            ``fused`` (the same, warning once when it falls back), ``bmm`` (blockwise products),
            ``reference`` (the fused kernel's torch mirror, on any device: float16 decisions and
            their float32 re-check on the CPU too, for tests). The matches are the same.

    Returns:
        ``matches0`` ``B×N0`` int64 (−1 unmatched) and ``matching_scores0`` ``B×N0`` float32.
    """
    _check_inputs(desc0, desc1, mask0, mask1, metric)
    if ratio is not None and not 0 < ratio <= 1:  # NaN fails too
        raise BadInput(f"ratio {ratio}: expected a value in (0, 1]")
    if distance_threshold is not None and not distance_threshold >= 0:  # NaN fails too
        raise BadInput(f"distance threshold {distance_threshold}: expected a value ≥ 0")
    if not max_memory_mb > 0:  # NaN fails too
        raise BadInput(f"max_memory_mb {max_memory_mb}: expected a positive budget")
    if kernel not in KERNELS:
        raise BadInput(f"kernel {kernel!r}: expected one of {', '.join(KERNELS)}")
    batch, n0, d = desc0.shape
    n1, device = desc1.shape[1], desc0.device
    if batch == 0 or n0 == 0 or n1 == 0:
        return (torch.full((batch, n0), -1, dtype=torch.long, device=device),
                torch.zeros((batch, n0), dtype=torch.float32, device=device))
    base = torch.float64 if desc0.dtype == torch.float64 else torch.float32
    if metric == "hamming" and (n0 + n1) * (d + 2) >= _FLOAT32_EXACT:
        base = torch.float64  # the tie-breaking keys would no longer be exact in float32
    backend = pick_backend(device, kernel) if metric == "cosine" and base == torch.float32 else None
    half = (device.type == "cuda" if half is None else bool(half)) and device.type == "cuda" \
        and metric == "cosine" and base == torch.float32
    if backend == "reference":
        half = True  # the mirror of a float16 kernel: float16 decisions wherever it runs
    elif not half:
        backend = None
    budget = max_memory_mb if device.type == "cuda" else min(max_memory_mb, _CPU_CHUNK_MB)
    workers = _cpu_workers(device, batch, n0 * n1 * d)
    budget /= workers  # the workers' chunks live at the same time
    # pairs per slice: one row of every pair of a slice (with a copy) must fit the budget
    per_pair = n1 * (2 if half else base.itemsize) * 2
    step = int(max(1, min(-(-batch // workers), budget * 2 ** 20 // per_pair)))
    slices = [slice(s, s + step) for s in range(0, batch, step)]

    def run(sl: slice) -> tuple[Tensor, Tensor]:
        return _match_slice(desc0[sl], desc1[sl], None if mask0 is None else mask0[sl],
                            None if mask1 is None else mask1[sl], metric, mutual, ratio, distance_threshold,
                            budget, half, base, backend)

    if workers == 1:
        out = [run(sl) for sl in slices]
    else:
        out = _run_in_threads(run, slices, workers)
    return torch.cat([m for m, _ in out]), torch.cat([s for _, s in out])


def _cpu_workers(device: torch.device, batch: int, work: int) -> int:
    """Threads that match slices of the batch side by side on the CPU (1 = torch's own threading).

    Pairs are independent: one single-threaded slice per core runs the product and the many
    small reductions that follow without a synchronisation barrier after each of them, which is
    what costs most when the cores are shared with other jobs.
    """
    if device.type != "cpu" or batch < 2 or work < 2 ** 22:
        return 1
    return max(1, min(torch.get_num_threads(), batch))


_THREADS_LOCK = threading.Lock()


def _run_in_threads(fn, items: list, workers: int) -> list:
    """``[fn(x) for x in items]`` on ``workers`` Python threads, torch's ops single-threaded meanwhile."""
    with _THREADS_LOCK:  # torch's thread count is process-wide: one such section at a time
        saved = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(workers) as pool:
                return list(pool.map(fn, items))
        finally:
            torch.set_num_threads(saved)


def _match_slice(desc0, desc1, mask0, mask1, metric, mutual, ratio, distance_threshold, budget, half, base,
                 backend=None):
    prep = _prepare(desc0, desc1.to(desc0.device), mask0, mask1, metric, base)
    raw_min = _raw_bound(metric, prep.dim, distance_threshold) if distance_threshold is not None else None
    if not half and prep.a.device.type != "cuda":
        p = _nearest_pass(prep, base, budget, second=ratio is not None)
        return _decide(p, prep, mutual, ratio, raw_min)
    with _ExactCudaMatmul():
        p = _fused_pass(prep, backend) if backend else None
        if p is not None:
            _refine_half(prep, p, ratio, raw_min, budget)
        elif half:
            p = _nearest_pass(prep, torch.float16, budget, second=True, col_index=True, col_second=True)
            _refine_half(prep, p, ratio, raw_min, budget)
        else:  # the column argmax with indices is cheap on the GPU
            p = _nearest_pass(prep, base, budget, second=ratio is not None, col_index=True)
        return _decide(p, prep, mutual, ratio, raw_min)


def _fused_pass(prep: _Prepared, backend: str) -> _Pass | None:
    """The float16 pass of the fused kernel (:mod:`.fused`) as a :class:`_Pass`; None when it failed."""
    out = fused_pass(prep.a, prep.b, prep.dim, backend)
    if out is None:
        return None
    batch, n0, n1 = prep.a.shape[0], prep.a.shape[1], prep.b.shape[1]
    p = _Pass(batch, n0, n1, prep.a.device, torch.float32, second=True, columns=True, col_index=True,
              col_second=True)
    p.best, p.arg, p.second, p.col_best, p.col_arg, p.col_second = out
    return p


def _decide(p: _Pass, prep: _Prepared, mutual: bool, ratio: float | None,
            raw_min: float | None) -> tuple[Tensor, Tensor]:
    """Matches and scores from the pass: the mutual check, the ratio test, the threshold."""
    batch, n0 = p.best.shape
    rows = torch.arange(n0, device=p.best.device)[None]
    keep = p.best > prep.pad / 2  # the row is real and has a real column
    if mutual and p.col_arg is not None:
        keep &= torch.gather(p.col_arg, 1, p.arg) == rows
    elif mutual:
        # i is mutual when its key is its column's best, and no earlier row reached that best
        # with this column as its own nearest neighbour (exact ties among rows)
        keep &= p.best == torch.gather(p.col_best, 1, p.arg)
        first = torch.full_like(p.col_best, n0, dtype=torch.long).scatter_reduce(
            1, p.arg, torch.where(keep, rows, n0).expand(batch, -1), "amin")
        keep &= torch.gather(first, 1, p.arg) == rows
    if ratio is not None:
        keep &= _ratio_pass(prep.raw(p.best), prep.raw(p.second), prep.metric, prep.dim, ratio)
    raw = prep.raw(_exact_keys(prep, p.arg))
    if raw_min is not None:
        keep &= raw >= raw_min
    matches0 = torch.where(keep, p.arg, -1)
    scores0 = torch.where(keep, _to_similarity(raw, prep.metric, prep.dim), 0).float()
    return matches0, scores0
