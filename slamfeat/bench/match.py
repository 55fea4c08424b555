"""The matching benchmark: slamfeat's batched matcher beside OpenCV and kornia on identical inputs.

Every contender matches the same ``B`` pairs of ``N×D`` unit descriptors (half of the second
side are noisy, shuffled copies of the first, the rest unrelated), and must return the same
mutual nearest neighbours; a bare batched matrix product of the same size is the ceiling.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ..errors import BadInput
from ..features.base import Features
from ..matching.fused import pick_backend
from ..matching.matcher import Matcher, MatcherConfig
from ..matching.nearest_neighbour import match_batch
from ..progress import progress


def benchmark_descriptors(batch: int, n: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two ``B×N×D`` float32 batches of unit descriptors with ``N/2`` true correspondences a pair."""
    desc0, desc1, _ = _benchmark_pairs(batch, n, dim, seed)
    return desc0, desc1


def _benchmark_pairs(batch: int, n: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`benchmark_descriptors` and the permutation of side 1 (``desc1[:, j]`` copies ``desc0[:, perm[j]]``
    for ``perm[j] < N/2``)."""
    g = torch.Generator().manual_seed(seed)
    desc0 = torch.randn(batch, n, dim, generator=g)
    desc1 = torch.randn(batch, n, dim, generator=g)
    k = n // 2
    desc1[:, :k] = desc0[:, :k] + 0.35 * torch.randn(batch, k, dim, generator=g)
    perm = torch.randperm(n, generator=g)
    desc1 = desc1[:, perm]
    return torch.nn.functional.normalize(desc0, dim=-1), torch.nn.functional.normalize(desc1, dim=-1), perm


def benchmark_features(batch: int, n: int, dim: int, seed: int = 0,
                       size: tuple[int, int] = (640, 480)) -> list[tuple[Features, Features]]:
    """The pairs of :func:`benchmark_descriptors` as :class:`Features` for LightGlue: keypoints uniform in a
    ``size`` (w, h) image, the true correspondences moved by one shift per pair plus 1 px of noise."""
    desc0, desc1, perm = _benchmark_pairs(batch, n, dim, seed)
    g = torch.Generator().manual_seed(seed + 1)
    w, h = size
    scale = torch.tensor([w - 1.0, h - 1.0])
    kp0 = torch.rand(batch, n, 2, generator=g) * scale
    kp1 = torch.rand(batch, n, 2, generator=g) * scale
    shift = (torch.rand(batch, 1, 2, generator=g) - 0.5) * 40
    k = n // 2
    kp1[:, :k] = (kp0[:, :k] + shift + torch.randn(batch, k, 2, generator=g)).clamp(torch.zeros(2), scale)
    kp1 = kp1[:, perm]
    scores = torch.ones(n)
    return [(Features(kp0[b], scores, desc0[b], size), Features(kp1[b], scores, desc1[b], size)) for b in range(batch)]


def _best_time(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """The best wall-clock and process CPU seconds of ``repeats`` runs after a warm-up, and the result.

    CPU seconds (all threads together) are the steadier measure on a machine shared with other jobs.
    """
    out = fn()  # warm-up (allocations, kernels, caches)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    return best, best_cpu, out


def _as_sets(pairs_per_batch: list[np.ndarray]) -> list[set[tuple[int, int]]]:
    return [set(map(tuple, np.asarray(p, dtype=np.int64).reshape(-1, 2).tolist())) for p in pairs_per_batch]


def _from_matches0(m0: torch.Tensor) -> list[np.ndarray]:
    out = []
    for row in m0.cpu():
        i = torch.nonzero(row >= 0, as_tuple=True)[0]
        out.append(torch.stack([i, row[i]], 1).numpy())
    return out


def _kernel_name(device: torch.device) -> str:
    if device.type != "cuda":
        return "bmm"
    return "fused-triton" if pick_backend(device, "auto") == "triton" else "bmm-float16"


def run_benchmark(n: int = 2048, dim: int = 128, batch: int = 16, threads: int | None = None,
                  device: str | torch.device = "cpu", repeats: int = 3, ratio: float = 0.95,
                  max_memory_mb: float = 256, matcher: str = "nn", lightglue_features: str = "aliked-n16") -> dict:
    """Pairs per second of each matcher on the same inputs, and whether their matches agree.

    With ``matcher="lightglue"`` LightGlue (the weights of ``lightglue_features``) joins on the same
    descriptors, with keypoints from :func:`benchmark_features`: ``lightglue`` matches the pairs as
    :meth:`~slamfeat.matching.Matcher.match_many` does (batched where kornia allows), ``lightglue_per_pair``
    one call per pair; ``lightglue`` in the report gives its settings and matches per pair.

    Returns the ``bench match`` report: ``device``, ``threads``, ``n``, ``dim``, ``batch``,
    ``pairs_per_s`` (``slamfeat``, ``opencv_bf``, ``kornia`` = per-pair ``match_mnn``,
    ``kornia_smnn``, ``kornia_smnn_batched``, ``kornia_mnn_batched`` = ``match_smnn_batched``
    with ratio 1, ``matmul_ceiling``, ``matmul_preallocated`` (the product into a reused buffer),
    ``slamfeat_ratio``), ``seconds`` per batch, ``agree`` and
    the per-contender agreement in ``agreement``; ``cpu_pairs_per_s`` and ``cpu_speedup`` measure the
    same from process CPU time (all threads), steadier on a shared machine.
    """
    import cv2
    import kornia.feature as KF

    if matcher not in ("nn", "lightglue"):
        raise BadInput(f"matcher {matcher!r}: expected nn or lightglue")
    if matcher == "lightglue" and dim != 128:
        raise BadInput(f"dim {dim}: LightGlue's released weights take 128-dimensional descriptors")
    if threads:
        torch.set_num_threads(int(threads))
    cv2.setNumThreads(torch.get_num_threads())
    device = torch.device(device)
    desc0, desc1 = benchmark_descriptors(batch, n, dim)
    d0, d1 = desc0.to(device), desc1.to(device)
    np0, np1 = desc0.numpy(), desc1.numpy()
    bf = cv2.BFMatcher(cv2.NORM_L2, crossCheck=True)

    def opencv():
        return [np.array([(m.queryIdx, m.trainIdx) for m in bf.match(np0[b], np1[b])]) for b in range(batch)]

    def kornia_mnn():
        return [KF.match_mnn(d0[b], d1[b])[1].cpu().numpy() for b in range(batch)]

    def kornia_smnn():
        return [KF.match_smnn(d0[b], d1[b], ratio)[1].cpu().numpy() for b in range(batch)]

    def kornia_batched(th):
        def run():
            idx = KF.match_smnn_batched(d0, d1, th)[1].cpu()
            return [idx[idx[:, 0] == b, 1:].numpy() for b in range(batch)]
        return run

    def slamfeat_symmetric_ratio():
        # kornia's smnn: mutual, and the ratio test passed from both sides
        m01 = match_batch(d0, d1, ratio=ratio, max_memory_mb=max_memory_mb)[0]
        m10 = match_batch(d1, d0, ratio=ratio, max_memory_mb=max_memory_mb)[0]
        back = torch.gather(m10, 1, m01.clamp_min(0))
        return _from_matches0(torch.where((m01 >= 0) & (back == torch.arange(n, device=device)), m01, -1))

    contenders = {
        "slamfeat": lambda: _from_matches0(match_batch(d0, d1, max_memory_mb=max_memory_mb)[0]),
        "slamfeat_ratio": lambda: _from_matches0(match_batch(d0, d1, ratio=ratio, max_memory_mb=max_memory_mb)[0]),
        "opencv_bf": opencv,
        "kornia": kornia_mnn,
        "kornia_smnn": kornia_smnn,
        "kornia_mnn_batched": kornia_batched(1.0),
        "kornia_smnn_batched": kornia_batched(ratio),
        "matmul_ceiling": lambda: torch.bmm(d0, d1.transpose(1, 2)),
        # the same product into a buffer allocated once: no page faults for a fresh B×N×N result
        "matmul_preallocated": lambda: torch.bmm(d0, d1.transpose(1, 2), out=product),
    }
    if device.type == "cuda":  # the blockwise float16 products beside the fused kernel
        contenders["slamfeat_bmm"] = lambda: _from_matches0(
            match_batch(d0, d1, max_memory_mb=max_memory_mb, kernel="bmm")[0])
    lightglue_info = None
    if matcher == "lightglue":
        lg = Matcher(MatcherConfig("lightglue"), lightglue_features, device)
        pairs = benchmark_features(batch, n, dim)
        contenders["lightglue"] = lambda: [m for m, _ in lg.match_many(pairs, batch_size=batch)]
        contenders["lightglue_per_pair"] = lambda: [lg.match(f0, f1)[0] for f0, f1 in pairs]
        lightglue_info = lg.describe()
    product = torch.empty(batch, n, n, device=device)
    seconds, cpu_seconds, results = {}, {}, {}
    for name, fn in progress(contenders.items(), desc="bench match", total=len(contenders)):
        seconds[name], cpu_seconds[name], results[name] = _best_time(fn, repeats)
    mutual_ref = _as_sets(results["slamfeat"])
    smnn_ref = _as_sets(slamfeat_symmetric_ratio())
    agreement = {name: _as_sets(results[name]) == mutual_ref
                 for name in ("opencv_bf", "kornia", "kornia_mnn_batched", "slamfeat_bmm") if name in results}
    agreement.update({name: _as_sets(results[name]) == smnn_ref for name in ("kornia_smnn", "kornia_smnn_batched")})
    if lightglue_info is not None:
        lightglue_info["matches_per_pair"] = float(np.mean([int((m >= 0).sum()) for m in results["lightglue"]]))
        lightglue_info["fast_attention"] = bool(lg.lightglue.net.conf.flash)
        results["lightglue"] = results["lightglue_per_pair"] = None
    pairs_per_s = {name: batch / s for name, s in seconds.items()}
    cpu_pairs_per_s = {name: batch / max(s, 1e-9) for name, s in cpu_seconds.items()}
    return {
        "device": str(device), "threads": torch.get_num_threads(), "n": n, "dim": dim, "batch": batch,
        "kernel": _kernel_name(device),  # named after the runs: a kernel that failed shows as bmm-float16
        "pairs_per_s": pairs_per_s, "seconds": seconds, "ratio": ratio,
        "pairs_per_s": pairs_per_s, "seconds": seconds, "ratio": ratio, "matcher": matcher,
        **({"lightglue": lightglue_info} if lightglue_info is not None else {}),
        "cpu_pairs_per_s": cpu_pairs_per_s, "cpu_seconds": cpu_seconds,
        "mutual_matches_per_pair": float(np.mean([len(s) for s in mutual_ref])),
        "agree": all(agreement.values()), "agreement": agreement,
        "speedup": {"vs_opencv_bf": pairs_per_s["slamfeat"] / pairs_per_s["opencv_bf"],
                    "vs_kornia": pairs_per_s["slamfeat"] / pairs_per_s["kornia"],
                    "ceiling_fraction": pairs_per_s["slamfeat"] / pairs_per_s["matmul_ceiling"]},
        "cpu_speedup": {"vs_opencv_bf": cpu_pairs_per_s["slamfeat"] / cpu_pairs_per_s["opencv_bf"],
                        "vs_kornia": cpu_pairs_per_s["slamfeat"] / cpu_pairs_per_s["kornia"],
                        "ceiling_fraction": cpu_pairs_per_s["slamfeat"] / cpu_pairs_per_s["matmul_ceiling"]},
    }
