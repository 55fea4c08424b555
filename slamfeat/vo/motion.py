"""The constant-velocity motion model that gives tracking its first guess."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry.pose import invert_pose


@dataclass
class MotionModel:
    """The last tracked pose and the motion from the frame before it.

    Attributes:
        T_cam_world: ``4×4`` world-to-camera pose of the last tracked frame, None before the first.
        index: that frame's index (−10 before the first, so no frame follows it).
        velocity: ``4×4`` pose change per frame, ``T_k = velocity @ T_{k-1}``; identity when unknown.
        speeds: the last 20 per-frame translations (map units), the scale of a re-initialisation.
    """

    T_cam_world: np.ndarray | None = None
    index: int = -10
    velocity: np.ndarray = field(default_factory=lambda: np.eye(4))
    speeds: list[float] = field(default_factory=list)

    def predict(self) -> np.ndarray:
        """``4×4`` world-to-camera guess for the frame after the last tracked one."""
        return self.velocity @ self.T_cam_world

    def update(self, T_cam_world: np.ndarray, index: int) -> None:
        """Frame ``index`` was tracked at ``T_cam_world``; the velocity is known only between neighbours."""
        if self.T_cam_world is not None and self.index == index - 1:
            self.velocity = T_cam_world @ invert_pose(self.T_cam_world)
            self.speeds = (self.speeds + [float(np.linalg.norm(self.velocity[:3, 3]))])[-20:]
        else:
            self.velocity = np.eye(4)
        self.T_cam_world, self.index = T_cam_world, index

    def refine(self, T_cam_world: np.ndarray) -> None:
        """The last pose, moved by bundle adjustment (the frame is the same)."""
        self.T_cam_world = T_cam_world

    def restart(self, T_cam_world: np.ndarray, index: int) -> None:
        """A new map begins at frame ``index``; the velocity is not carried over."""
        self.T_cam_world, self.index, self.velocity = T_cam_world, index, np.eye(4)

    def stop(self) -> None:
        """Tracking was lost: forget the velocity (the pose stays as the last known one)."""
        self.velocity = np.eye(4)
