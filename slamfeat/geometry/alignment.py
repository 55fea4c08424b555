"""Alignment of point sets and camera trajectories: similarity (Sim(3), Umeyama), rotation-only
(chordal mean) and scale-and-translation. Pure numpy."""

from __future__ import annotations

import numpy as np

from ..errors import BadInput


def umeyama_sim3(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """The similarity ``target ≈ s R source + t`` minimising the squared position error.

    Args:
        source, target: ``N×3`` corresponding points, ``N ≥ 3`` and not all on one line.
    Returns:
        ``R`` (3×3 rotation), ``t`` (3,), ``s`` (scale; 1 when ``with_scale`` is False).
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3 or len(source) < 3:
        raise BadInput(f"trajectory alignment: need two N×3 position sets with N ≥ 3, got {source.shape} and {target.shape}")
    mu_s, mu_t = source.mean(0), target.mean(0)
    ds, dt = source - mu_s, target - mu_t
    var_s = (ds ** 2).sum() / len(source)
    cov = dt.T @ ds / len(source)
    u, d, vt = np.linalg.svd(cov)
    if np.count_nonzero(d > 1e-12 * max(d[0], 1e-300)) < 2:
        raise BadInput("trajectory alignment: positions are degenerate (all on a point or a line)")
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1.0
    R = u @ sign @ vt
    s = float(np.trace(np.diag(d) @ sign) / var_s) if with_scale else 1.0
    t = mu_t - s * R @ mu_s
    return R, t, s


def apply_sim3(poses: np.ndarray, R: np.ndarray, t: np.ndarray, s: float) -> np.ndarray:
    """``N×4×4`` camera-to-world poses moved by ``x ↦ s R x + t`` (rotations stay rotations)."""
    out = np.array(poses, dtype=np.float64, copy=True)
    out[:, :3, :3] = R @ out[:, :3, :3]
    out[:, :3, 3] = s * out[:, :3, 3] @ R.T + t
    return out


def rotation_alignment(R_estimate: np.ndarray, R_truth: np.ndarray) -> np.ndarray:
    """The rotation ``R`` minimising ``Σ‖R_truth_i − R·R_estimate_i‖²`` (chordal L2 mean of
    ``R_truth_i·R_estimate_iᵀ``) for ``N×3×3`` camera-to-world rotations; ``3×3``."""
    U, _, Vt = np.linalg.svd((R_truth @ np.swapaxes(R_estimate, 1, 2)).sum(0))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return U @ D @ Vt


def scale_translation(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``s, t`` minimising ``Σ‖y_i − (s·x_i + t)‖²`` for ``N×3`` points."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    norm = float((xc ** 2).sum())
    s = float((xc * yc).sum()) / norm if norm > 0 else 0.0
    return s, y.mean(0) - s * x.mean(0)
