"""The nearest-neighbour passes over a similarity matrix built in chunks of rows: the row-wise
best (and second best), the column-wise best, and the float32 re-check of float16 decisions, so
that no temporary exceeds the memory budget.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .fused import fused_pass
from .similarity import HALF_ERROR, Prepared


class Pass:
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


def nearest_pass(prep: Prepared, dtype: torch.dtype, budget_mb: float, *, second: bool, columns: bool = True,
                  col_index: bool = False, col_second: bool = False) -> Pass:
    a, b = prep.a.to(dtype), prep.b.to(dtype)
    batch, n0, n1 = a.shape[0], a.shape[1], b.shape[1]
    value_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    out = Pass(batch, n0, n1, a.device, value_dtype, second=second, columns=columns, col_index=col_index,
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


def _exact_rows(prep: Prepared, rows: Tensor, budget_mb: float):
    """Float32 best, argmax and second-best over all columns for the rows flagged in ``rows`` (B×N0 bool).

    Returns the flat batch and row indices of those rows and their three results.
    """
    counts = rows.sum(1)
    k = int(counts.max().item())
    idx = torch.argsort((~rows).to(torch.int8), dim=1, stable=True)[:, :k]  # flagged rows first
    valid = torch.arange(k, device=rows.device)[None] < counts[:, None]
    a = torch.gather(prep.a.float(), 1, idx[..., None].expand(-1, -1, prep.a.shape[2]))
    sub = Prepared(a, prep.b.float(), prep.dim, prep.metric, prep.pad, prep.tie_scale, prep.scale)
    p = nearest_pass(sub, torch.float32, budget_mb, second=True, columns=False)
    bi = torch.arange(idx.shape[0], device=idx.device)[:, None].expand_as(idx)
    return bi[valid], idx[valid], p.best[valid], p.arg[valid], p.second[valid]


def refine_half(prep: Prepared, p: Pass, ratio: float | None, raw_min: float | None, budget_mb: float) -> None:
    """Redo in float32 the rows and columns whose float16 decision could differ from float32's.

    A decision is sure when its margin exceeds the error bound of the values it compares.
    """
    eps = HALF_ERROR * max(prep.scale, 1e-6)
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


def exact_keys(prep: Prepared, arg: Tensor) -> Tensor:
    """The key of each row with its chosen column, one product per row: ``B×N0``.

    Independent of the chunking and of float16, so the reported scores are too.
    """
    dtype = torch.float64 if prep.a.dtype == torch.float64 else torch.float32
    b = torch.gather(prep.b.to(dtype), 1, arg[..., None].expand(-1, -1, prep.b.shape[2]))
    return torch.linalg.vecdot(prep.a.to(dtype), b)


class ExactCudaMatmul:
    """Within the block cuBLAS computes float32 products in float32 (no TF32: the integer keys of
    bits must stay exact) and accumulates float16 products in float32 (the error bound assumes it)."""

    def __enter__(self):
        m = torch.backends.cuda.matmul
        self.saved = (m.allow_tf32, m.allow_fp16_reduced_precision_reduction)
        m.allow_tf32, m.allow_fp16_reduced_precision_reduction = False, False

    def __exit__(self, *exc):
        m = torch.backends.cuda.matmul
        m.allow_tf32, m.allow_fp16_reduced_precision_reduction = self.saved


def fused_nearest_pass(prep: Prepared, backend: str) -> Pass | None:
    """The float16 pass of the fused kernel (:mod:`.fused`) as a :class:`Pass`; None when it failed."""
    out = fused_pass(prep.a, prep.b, prep.dim, backend)
    if out is None:
        return None
    batch, n0, n1 = prep.a.shape[0], prep.a.shape[1], prep.b.shape[1]
    p = Pass(batch, n0, n1, prep.a.device, torch.float32, second=True, columns=True, col_index=True,
             col_second=True)
    p.best, p.arg, p.second, p.col_best, p.col_arg, p.col_second = out
    return p
