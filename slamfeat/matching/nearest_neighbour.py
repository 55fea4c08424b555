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

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import BadInput
from .fused import pick_backend
from .passes import ExactCudaMatmul, Pass, exact_keys, fused_nearest_pass, nearest_pass, refine_half
from .similarity import Prepared, check_inputs, prepare, ratio_pass, raw_bound, to_similarity

KERNELS = ("auto", "fused", "bmm", "reference")
# On the CPU, chunks this small stay in cache and run faster (never above max_memory_mb).
_CPU_CHUNK_MB = 16
_FLOAT32_EXACT = 2 ** 24


@dataclass(frozen=True)
class MatchRule:
    """Which nearest neighbours are matches: ``metric``, the mutual check, Lowe's ``ratio`` and
    the ``distance_threshold`` (see :func:`match_batch`)."""

    metric: str = "cosine"
    mutual: bool = True
    ratio: float | None = None
    distance_threshold: float | None = None


@dataclass(frozen=True)
class SlicePlan:
    """How one slice of the batch is computed: the memory ``budget_mb`` of a chunk, float16
    products (``half``), the ``dtype`` of exact keys, and the fused kernel's ``backend`` (None =
    blockwise products; see :mod:`.fused`)."""

    budget_mb: float
    half: bool
    dtype: torch.dtype
    backend: str | None = None


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
    check_inputs(desc0, desc1, mask0, mask1, metric)
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

    rule, plan = MatchRule(metric, mutual, ratio, distance_threshold), SlicePlan(budget, half, base, backend)

    def run(sl: slice) -> tuple[Tensor, Tensor]:
        return match_slice(desc0[sl], desc1[sl], None if mask0 is None else mask0[sl],
                           None if mask1 is None else mask1[sl], rule, plan)

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


def match_slice(desc0: Tensor, desc1: Tensor, mask0: Tensor | None, mask1: Tensor | None, rule: MatchRule,
                plan: SlicePlan) -> tuple[Tensor, Tensor]:
    """``match_batch`` of one slice of the batch (inputs already checked)."""
    prep = prepare(desc0, desc1.to(desc0.device), mask0, mask1, rule.metric, plan.dtype)
    raw_min = raw_bound(rule.metric, prep.dim, rule.distance_threshold) if rule.distance_threshold is not None else None
    if not plan.half and prep.a.device.type != "cuda":
        p = nearest_pass(prep, plan.dtype, plan.budget_mb, second=rule.ratio is not None)
        return decide(p, prep, rule.mutual, rule.ratio, raw_min)
    with ExactCudaMatmul():
        p = fused_nearest_pass(prep, plan.backend) if plan.backend else None
        if p is not None:
            refine_half(prep, p, rule.ratio, raw_min, plan.budget_mb)
        elif plan.half:
            p = nearest_pass(prep, torch.float16, plan.budget_mb, second=True, col_index=True, col_second=True)
            refine_half(prep, p, rule.ratio, raw_min, plan.budget_mb)
        else:  # the column argmax with indices is cheap on the GPU
            p = nearest_pass(prep, plan.dtype, plan.budget_mb, second=rule.ratio is not None, col_index=True)
        return decide(p, prep, rule.mutual, rule.ratio, raw_min)


def decide(p: Pass, prep: Prepared, mutual: bool, ratio: float | None,
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
        keep &= ratio_pass(prep.raw(p.best), prep.raw(p.second), prep.metric, prep.dim, ratio)
    raw = prep.raw(exact_keys(prep, p.arg))
    if raw_min is not None:
        keep &= raw >= raw_min
    matches0 = torch.where(keep, p.arg, -1)
    scores0 = torch.where(keep, to_similarity(raw, prep.metric, prep.dim), 0).float()
    return matches0, scores0
