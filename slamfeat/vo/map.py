"""The local map of visual odometry: keyframes and the 3-D points they observe.

Poses are stored as ``T_cam_world`` (world-to-camera, ``4×4``), the form that projects points;
the trajectory is written as its inverse, ``T_world_cam``. Camera axes are OpenCV's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..features import Features


@dataclass
class Frame:
    """One image as the tracker sees it.

    Attributes:
        index: position in the stream (0-based).
        timestamp: seconds.
        features: what the extractor found (pixel keypoints as detected).
        keypoints: ``N×2`` float64 undistorted pixel ``(x, y)`` used for geometry.
        image: ``H×W×3`` RGB uint8, kept only while it is needed for colours and drawings.
    """

    index: int
    timestamp: float
    features: Features
    keypoints: np.ndarray
    image: np.ndarray | None = None


@dataclass
class Keyframe:
    """A frame with a pose that anchors map points.

    Attributes:
        frame: the frame.
        T_cam_world: ``4×4`` world-to-camera pose.
        point_ids: ``N`` int64 map-point id per keypoint, −1 where none.
        segment: map segment (a new one starts at every re-initialisation).
        first_tracked: points tracked in the first frame after this keyframe (the yardstick of
            when the next keyframe is due).
    """

    frame: Frame
    T_cam_world: np.ndarray
    point_ids: np.ndarray
    segment: int = 0
    first_tracked: int | None = None

    @property
    def index(self) -> int:
        return self.frame.index

    def num_points(self) -> int:
        return int((self.point_ids >= 0).sum())


@dataclass
class PointMap:
    """Growing arrays of map points (world coordinates) and the keyframes that observe them.

    ``views`` counts the keyframes that have observed each point: two made it, and every keyframe that
    tracks it later adds one (:meth:`observe`).
    """

    xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    colors: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.uint8))
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    views: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    keyframes: list[Keyframe] = field(default_factory=list)

    def add_points(self, xyz: np.ndarray, colors: np.ndarray | None = None) -> np.ndarray:
        """Append ``P×3`` points (with ``P×3`` uint8 RGB colours), each seen by the two keyframes that
        triangulated it; return their ids."""
        xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
        if colors is None:
            colors = np.full((len(xyz), 3), 200, np.uint8)
        start = len(self.xyz)
        self.xyz = np.concatenate([self.xyz, xyz])
        self.colors = np.concatenate([self.colors, np.asarray(colors, np.uint8).reshape(-1, 3)])
        self.alive = np.concatenate([self.alive, np.ones(len(xyz), bool)])
        self.views = np.concatenate([self.views, np.full(len(xyz), 2, np.int64)])
        return np.arange(start, start + len(xyz), dtype=np.int64)

    def observe(self, ids: np.ndarray) -> None:
        """Points ``ids`` observed by one more keyframe."""
        self.views[np.asarray(ids, np.int64)] += 1

    def remove_points(self, ids: np.ndarray) -> None:
        """Mark points dead and drop every keyframe observation of them."""
        ids = np.asarray(ids, np.int64)
        if len(ids) == 0:
            return
        self.alive[ids] = False
        for kf in self.keyframes[-8:]:
            hit = kf.point_ids >= 0
            hit[hit] = ~self.alive[kf.point_ids[hit]]
            kf.point_ids[hit] = -1

    def window(self, size: int) -> list[Keyframe]:
        """The last ``size`` keyframes of the current segment, oldest first."""
        if not self.keyframes:
            return []
        seg = self.keyframes[-1].segment
        out = [kf for kf in self.keyframes[-size:] if kf.segment == seg]
        return out

    def observed_points(self) -> tuple[np.ndarray, np.ndarray]:
        """``(xyz M×3, colors M×3)`` of the live points that some keyframe still observes."""
        seen = np.zeros(len(self.xyz), bool)
        for kf in self.keyframes:
            ids = kf.point_ids[kf.point_ids >= 0]
            seen[ids] = True
        keep = seen & self.alive
        return self.xyz[keep], self.colors[keep]
