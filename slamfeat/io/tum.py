"""Camera trajectories in the TUM format: ``timestamp tx ty tz qx qy qz qw`` a line (readable by evo).

A line gives the camera-to-world pose ``T_world_cam`` at ``timestamp`` (seconds): the camera
centre ``t`` and the rotation as a unit quaternion ``(qx, qy, qz, qw)`` (Hamilton, scalar last).
Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import BadInput
from .files import write_text_atomic


def pose_to_tum(T_world_cam: np.ndarray) -> np.ndarray:
    """``(tx, ty, tz, qx, qy, qz, qw)`` of a ``4×4`` pose."""
    q = Rotation.from_matrix(T_world_cam[:3, :3]).as_quat()  # x y z w
    return np.concatenate([T_world_cam[:3, 3], q])


def tum_to_pose(values: Sequence[float]) -> np.ndarray:
    """``4×4`` pose of ``(tx, ty, tz, qx, qy, qz, qw)``."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(np.asarray(values[3:7], dtype=np.float64)).as_matrix()
    T[:3, 3] = values[:3]
    return T


def format_tum(timestamps: Sequence[float], poses: Sequence[np.ndarray]) -> str:
    if len(timestamps) != len(poses):
        raise ValueError(f"{len(timestamps)} timestamps for {len(poses)} poses")
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    for ts, T in zip(timestamps, poses):
        lines.append(f"{float(ts):.6f} " + " ".join(f"{v:.9g}" for v in pose_to_tum(np.asarray(T))))
    return "\n".join(lines) + "\n"


def write_tum(path: str | os.PathLike, timestamps: Sequence[float], T_world_cam: Sequence[np.ndarray]) -> Path:
    """Write a TUM trajectory atomically; returns the path."""
    write_text_atomic(path, format_tum(timestamps, T_world_cam))
    return Path(path)


def read_tum(path: str | os.PathLike) -> tuple[np.ndarray, list[np.ndarray]]:
    """Timestamps ``N`` (seconds) and ``N`` 4×4 camera-to-world poses of a TUM trajectory file.

    Raises:
        BadInput: missing file, a line without 8 numbers, or a zero quaternion.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such trajectory file")
    stamps, poses = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.replace(",", " ").split()
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise BadInput(f"{path}:{n}: not a number in {line!r}") from None
        if len(values) != 8:
            raise BadInput(f"{path}:{n}: {len(values)} values, expected 8 (timestamp tx ty tz qx qy qz qw)")
        if np.linalg.norm(values[4:8]) < 1e-9 or not np.all(np.isfinite(values)):
            raise BadInput(f"{path}:{n}: invalid pose")
        stamps.append(values[0])
        poses.append(tum_to_pose(values[1:]))
    return np.asarray(stamps, dtype=np.float64), poses


__all__ = ["write_tum", "read_tum", "pose_to_tum", "tum_to_pose", "format_tum"]
