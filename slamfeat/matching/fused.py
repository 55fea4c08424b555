"""The fused nearest-neighbour pass: per-row best, its column and second-best, never the N0×N1 matrix.

Like flash attention, one program owns a block of rows of ``a`` and streams column blocks of
``b`` through them: a float16 product with float32 accumulators, plus the padding biases, then
a running merge of the block's row maximum (first column on ties) and second value into the
row's state. Run once ``a → b`` and once ``b → a``, it gives everything the mutual check, the
ratio test and the distance threshold need (:func:`nearest_neighbour.decide`); the float16
decisions that could differ from float32's are then redone in float32 exactly as the blockwise
path does (:func:`passes.refine_half`), so the matches are the float32 matches.

Two backends compute the same thing: ``triton`` (the kernel, CUDA tensors, Triton installed)
and ``reference``, the same block loop written with torch operations, which runs anywhere and
lets the CPU tests cover the kernel's logic.

Keys of padded keypoints: with the padding folded into two columns by ``similarity.prepare``, the key of
row ``i`` and column ``j`` is ``a_i·b_j + row_bias_i + col_bias_j`` (the biases are 0 for real
keypoints and the padding value otherwise; padded descriptors are zeros).
"""

from __future__ import annotations

import functools
import math
import warnings

import torch
from torch import Tensor

BACKENDS = ("triton", "reference")
BLOCK_N = 64  # columns per step of the stream (the reference uses the kernel's value)


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """True when Triton imports and a CUDA device is present (the kernel's requirements)."""
    if not torch.cuda.is_available():
        return False
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # ImportError, or a Triton that does not fit this torch
        return False
    return True


def row_top2(a: Tensor, b: Tensor, row_bias: Tensor, col_bias: Tensor, backend: str = "triton",
             block_n: int = BLOCK_N) -> tuple[Tensor, Tensor, Tensor]:
    """Best key, its column (the first on ties) and the second-best key of every row of ``a @ bᵀ + biases``.

    Args:
        a: ``B×N0×D`` float16 (contiguous).
        b: ``B×N1×D`` float16, ``N1 ≥ 1``.
        row_bias: ``B×N0`` float32, added to every key of a row.
        col_bias: ``B×N1`` float32, added to every key of a column.
        backend: ``triton`` or ``reference``.
        block_n: columns per step (the reference only; the kernel picks its own).

    Returns:
        ``best`` ``B×N0`` float32, ``arg`` ``B×N0`` int64, ``second`` ``B×N0`` float32 (−inf when
        ``N1 = 1``); a maximum reached twice is also the second value, as ``topk(2)`` gives it.
    """
    if backend == "triton":
        return _row_top2_triton(a, b, row_bias, col_bias)
    if backend == "reference":
        return _row_top2_reference(a, b, row_bias, col_bias, block_n)
    raise ValueError(f"backend {backend!r}: expected one of {BACKENDS}")


def _merge(best: Tensor, arg: Tensor, second: Tensor, block_best: Tensor, block_arg: Tensor,
           block_second: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The running state after one more column block (the kernel does the same, element-wise).

    A strictly better block takes the row (an earlier column keeps a tie); the second value is
    then the larger of the old best and the block's second, else the larger of the old second
    and the block's best.
    """
    better = block_best > best
    second = torch.where(better, torch.maximum(best, block_second), torch.maximum(second, block_best))
    arg = torch.where(better, block_arg, arg)
    return torch.maximum(best, block_best), arg, second


def _row_top2_reference(a: Tensor, b: Tensor, row_bias: Tensor, col_bias: Tensor,
                        block_n: int) -> tuple[Tensor, Tensor, Tensor]:
    batch, n0, _ = a.shape
    n1 = b.shape[1]
    # products of float16 values are exact in float32: float32 products of the rounded inputs
    # are what the kernel's tensor cores compute, up to the order of the float32 sums
    a32, b32 = a.float(), b.float()
    best = torch.full((batch, n0), -math.inf, device=a.device)
    second = torch.full_like(best, -math.inf)
    arg = torch.zeros((batch, n0), dtype=torch.long, device=a.device)
    for c0 in range(0, n1, block_n):
        c1 = min(c0 + block_n, n1)
        s = torch.bmm(a32, b32[:, c0:c1].transpose(1, 2)) + row_bias[:, :, None] + col_bias[:, None, c0:c1]
        block_best, block_arg = s.max(dim=2)  # the first maximum
        cols = torch.arange(c1 - c0, device=a.device)
        block_second = s.masked_fill(cols[None, None, :] == block_arg[..., None], -math.inf).amax(2)
        best, arg, second = _merge(best, arg, second, block_best, block_arg + c0, block_second)
    return best, arg, second


_KERNEL = None
_WARNED = False
_BROKEN = False  # the kernel failed once in this process: the blockwise products from then on


def _kernel():
    """The Triton kernel, compiled on first use (Triton is imported only here)."""
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    import triton
    import triton.language as tl

    @triton.jit
    def row_top2_kernel(a_ptr, b_ptr, rb_ptr, cb_ptr, best_ptr, arg_ptr, second_ptr, n0, n1, dim,
                        stride_ab, stride_am, stride_bb, stride_bn,
                        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
        pid_m = tl.program_id(0)
        pair = tl.program_id(1).to(tl.int64)
        rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        ks = tl.arange(0, BLOCK_D)
        row_ok = rows < n0
        a = tl.load(a_ptr + pair * stride_ab + rows[:, None] * stride_am + ks[None, :],
                    mask=row_ok[:, None] & (ks[None, :] < dim), other=0.0)
        rb = tl.load(rb_ptr + pair * n0 + rows, mask=row_ok, other=0.0)
        best = tl.full([BLOCK_M], float("-inf"), tl.float32)
        second = tl.full([BLOCK_M], float("-inf"), tl.float32)
        arg = tl.zeros([BLOCK_M], dtype=tl.int32)
        for c0 in range(0, n1, BLOCK_N):
            cols = c0 + tl.arange(0, BLOCK_N)
            col_ok = cols < n1
            bt = tl.load(b_ptr + pair * stride_bb + cols[None, :] * stride_bn + ks[:, None],
                         mask=col_ok[None, :] & (ks[:, None] < dim), other=0.0)
            cb = tl.load(cb_ptr + pair * n1 + cols, mask=col_ok, other=0.0)
            s = tl.dot(a, bt, out_dtype=tl.float32) + rb[:, None] + cb[None, :]
            s = tl.where(col_ok[None, :], s, float("-inf"))
            block_best = tl.max(s, axis=1)
            block_arg = tl.min(tl.where(s == block_best[:, None], cols[None, :], n1 + BLOCK_N), axis=1)
            block_second = tl.max(tl.where(cols[None, :] == block_arg[:, None], float("-inf"), s), axis=1)
            better = block_best > best
            second = tl.where(better, tl.maximum(best, block_second), tl.maximum(second, block_best))
            arg = tl.where(better, block_arg, arg)
            best = tl.maximum(best, block_best)
        tl.store(best_ptr + pair * n0 + rows, best, mask=row_ok)
        tl.store(second_ptr + pair * n0 + rows, second, mask=row_ok)
        tl.store(arg_ptr + pair * n0 + rows, arg, mask=row_ok)

    _KERNEL = (triton, row_top2_kernel)
    return _KERNEL


def _row_top2_triton(a: Tensor, b: Tensor, row_bias: Tensor, col_bias: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    triton, kernel = _kernel()
    batch, n0, dim = a.shape
    n1 = b.shape[1]
    a, b = a.contiguous(), b.contiguous()
    row_bias, col_bias = row_bias.float().contiguous(), col_bias.float().contiguous()
    best = torch.empty((batch, n0), device=a.device, dtype=torch.float32)
    second = torch.empty_like(best)
    arg = torch.empty((batch, n0), device=a.device, dtype=torch.int32)
    block_d = max(16, triton.next_power_of_2(dim))
    # fixed tiles (no autotuning: its trial runs cost more than a matching batch): 128 rows a
    # program fill the GPU once there are enough of them, else 64; wider descriptors, smaller tiles
    block_m = 128 if batch * n0 >= 128 * 256 and block_d <= 128 else 64
    grid = (triton.cdiv(n0, block_m), batch)
    kernel[grid](a, b, row_bias, col_bias, best, arg, second, n0, n1, dim,
                 a.stride(0), a.stride(1), b.stride(0), b.stride(1),
                 BLOCK_M=block_m, BLOCK_N=BLOCK_N, BLOCK_D=block_d, num_warps=8 if block_m == 128 else 4,
                 num_stages=3)
    return best, arg.long(), second


def pick_backend(device: torch.device, kernel: str) -> str | None:
    """The backend of the fused pass for ``match_batch(kernel=…)``, None for the blockwise products.

    ``auto`` takes Triton on a CUDA device when it is installed (and has not failed in this
    process); ``fused`` asks for it and falls back (with one warning) where it is absent;
    ``reference`` runs the kernel's torch mirror.
    """
    if kernel == "reference":
        return "reference"
    if kernel == "bmm" or device.type != "cuda":
        return None
    if triton_available() and not _BROKEN:
        return "triton"
    if kernel == "fused":
        _warn_once("Triton is not installed: matching with the blockwise products instead of the fused kernel")
    return None


def _warn_once(message: str) -> None:
    global _WARNED
    if not _WARNED:
        _WARNED = True
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def fused_pass(a: Tensor, b: Tensor, dim: int, backend: str):
    """Row and column passes of the key matrix of ``similarity.prepare``'s ``a``, ``b`` (``B×N×D`` or ``B×N×(D+2)``
    with the padding columns), as ``(best, arg, second, col_best, col_arg, col_second)``.

    A Triton failure (a compiler that does not support this GPU) is warned about once and
    returns None: the caller takes the blockwise path.
    """
    a16, b16 = a[..., :dim].to(torch.float16).contiguous(), b[..., :dim].to(torch.float16).contiguous()
    if a.shape[2] == dim + 2:  # padding folded in: key = core + a[D]·b[D] + a[D+1]·b[D+1], a[D] = b[D+1] = 1
        row_bias, col_bias = a[..., dim + 1].float(), b[..., dim].float()
    else:
        row_bias = torch.zeros(a.shape[:2], device=a.device)
        col_bias = torch.zeros(b.shape[:2], device=b.device)
    try:
        rows = row_top2(a16, b16, row_bias, col_bias, backend)
        cols = row_top2(b16, a16, col_bias, row_bias, backend)
    except Exception as e:  # only the Triton backend can fail here
        if backend != "triton":
            raise
        global _BROKEN
        _BROKEN = True
        _warn_once(f"the fused Triton matcher failed ({type(e).__name__}: {e}); using the blockwise products")
        return None
    return (*rows, *cols)
