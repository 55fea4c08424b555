"""What the front end says: its state, and what became of each frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..geometry.pose import invert_pose
from .map import Frame, Keyframe


class _Named(str, Enum):
    """An enum whose members are their names' strings (``StrEnum`` came with Python 3.11)."""

    def __str__(self) -> str:
        return str(self.value)


class TrackerState(_Named):
    """The front end's state (see ``vo/frontend.py``'s docstring)."""

    INITIALISING = "initialising"
    TRACKING = "tracking"
    LOST = "lost"


class FrameStatus(_Named):
    """What became of a frame; compares equal to its value (``"lost"`` …) as reports write it."""

    TRACKED = "tracked"
    KEYFRAME = "keyframe"
    INITIALISING = "initialising"
    LOST = "lost"


@dataclass
class FrameResult:
    """What became of one frame.

    Attributes:
        status: tracked, keyframe, initialising or lost.
        T_world_cam: ``4×4`` camera-to-world pose, None when not tracked.
        reference: the keyframe the frame was matched against (for drawing), or None.
        matches: ``M×2`` (reference keypoint, frame keypoint) pairs that supported the pose.
        anchor: the keyframe whose later moves the pose follows (the reference, or the frame's own keyframe).
        T_cam_anchor: ``4×4`` the pose relative to ``anchor`` when the frame was tracked.
    """

    index: int
    timestamp: float
    status: FrameStatus
    T_world_cam: np.ndarray | None = None
    reference: Keyframe | None = None
    matches: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    frame: Frame | None = None
    anchor: Keyframe | None = None
    T_cam_anchor: np.ndarray | None = None

    def anchored(self, anchor: Keyframe) -> "FrameResult":
        """This result, its pose kept relative to ``anchor`` as it stands now; returns itself."""
        if self.T_world_cam is not None:
            self.anchor = anchor
            self.T_cam_anchor = invert_pose(self.T_world_cam) @ invert_pose(anchor.T_cam_world)
        return self

    def final_pose(self) -> np.ndarray | None:
        """``4×4`` camera-to-world pose as the map stands now: the pose relative to the anchor keyframe on that
        keyframe's pose (bundle adjustment moves keyframes after their frames were tracked, as ORB-SLAM writes
        its trajectories); ``T_world_cam`` without an anchor."""
        if self.T_world_cam is None or self.anchor is None:
            return self.T_world_cam
        return invert_pose(self.T_cam_anchor @ self.anchor.T_cam_world)

    @classmethod
    def lost(cls, frame: Frame) -> "FrameResult":
        """The result of a frame that could not be tracked."""
        return cls(frame.index, frame.timestamp, FrameStatus.LOST, frame=frame)
