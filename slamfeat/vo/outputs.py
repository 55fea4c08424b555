"""What a VO run leaves behind: the trajectory plot, the drawn-match video and the map as a PLY."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..io import atomic_path
from ..viz import draw_matches
from .results import FrameResult


def plot_trajectory(path: str | os.PathLike, estimate: np.ndarray, reference: np.ndarray | None = None,
                    title: str = "", errors: np.ndarray | None = None) -> Path:
    """Top view of camera positions (``N×3``) beside the ground truth (same units, already aligned).

    The view is the plane of the two largest principal axes of the reference (or the estimate), so
    a flight in any world frame (NED, ENU, camera) shows its shape. ``errors`` (``N``) colours the
    estimate by its position error.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = reference if reference is not None and len(reference) >= 3 else estimate
    centre = base.mean(0)
    _, _, vt = np.linalg.svd(base - centre, full_matrices=False) if len(base) >= 2 else (None, None, np.eye(3))
    axes = vt[:2]
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    if reference is not None:
        r = (reference - centre) @ axes.T
        ax.plot(r[:, 0], r[:, 1], "-", color="0.4", lw=2, label="ground truth")
    e = (estimate - centre) @ axes.T
    ax.plot(e[:, 0], e[:, 1], "-", color="tab:blue", lw=1, label="estimate" + (" (Sim(3)-aligned)" if reference is not None else ""))
    if errors is not None:
        sc = ax.scatter(e[:, 0], e[:, 1], c=errors, s=6, cmap="viridis", zorder=3)
        fig.colorbar(sc, ax=ax, label="position error")
    if len(e):
        ax.plot(e[0, 0], e[0, 1], "go", label="start")
    ax.set_aspect("equal", adjustable="datalim")
    unit = " (m)" if reference is not None else " (map units)"
    ax.set_xlabel("first principal axis" + unit)
    ax.set_ylabel("second principal axis" + unit)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def write_ply(path: str | os.PathLike, xyz: np.ndarray, colors: np.ndarray) -> Path:
    """Map points ``P×3`` with ``P×3`` uint8 RGB colours as a PLY point cloud (open3d)."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud()
    cloud.points = o3d.utility.Vector3dVector(np.asarray(xyz, np.float64).reshape(-1, 3))
    cloud.colors = o3d.utility.Vector3dVector(np.asarray(colors, np.float64).reshape(-1, 3) / 255.0)
    path = Path(path)
    with atomic_path(path) as tmp:
        ply = tmp.with_suffix(".ply")
        if not o3d.io.write_point_cloud(str(ply), cloud, write_ascii=False):
            raise OSError(f"cannot write {path}")
        os.replace(ply, tmp)
    return path


def draw_result(result: FrameResult) -> np.ndarray | None:
    """The frame beside its reference keyframe with the matches that carried its pose (BGR)."""
    frame = result.frame
    if frame is None or frame.image is None:
        return None
    kp1 = frame.features.keypoints.cpu().numpy()
    if result.reference is not None and result.reference.frame.image is not None:
        ref = result.reference.frame
        kp0 = ref.features.keypoints.cpu().numpy()
        image0, matches = ref.image, result.matches
    else:
        image0, kp0, matches = np.zeros_like(frame.image), np.zeros((0, 2)), np.zeros((0, 2), np.int64)
    text = f"frame {frame.index}  {result.status}  {len(matches)} matches"
    if result.reference is not None:
        text += f"  (keyframe {result.reference.index})"
    return draw_matches(image0, frame.image, kp0, kp1, matches, text=text, max_lines=120)


class MatchVideo:
    """Drawn frames written to an MP4 (mp4v) as they come; renamed into place on ``close``."""

    def __init__(self, path: str | os.PathLike, fps: float = 15.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.fps = fps
        self.writer = None
        self.frames = 0

    def write(self, bgr: np.ndarray) -> None:
        if self.writer is None:
            h, w = bgr.shape[:2]
            self.size = (w, h)
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
        if bgr.shape[1::-1] != self.size:
            bgr = cv2.resize(bgr, self.size)
        self.writer.write(bgr)
        self.frames += 1

    def close(self, keep: bool = True) -> Path | None:
        if self.writer is None:
            return None
        self.writer.release()
        if keep and self.frames:
            os.replace(self.tmp, self.path)
            return self.path
        self.tmp.unlink(missing_ok=True)
        return None
